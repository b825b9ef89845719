import { describe, expect, it } from 'vitest';
import { Random } from '../src/random.js';
import { ValidationError } from '../src/errors.js';
import { VirtualClock } from '../src/time/virtual-clock.js';
import { BadRequestError, ConnectionRefusedError, OverloadedError, RateLimitedError } from '../src/upstream/errors.js';
import { MockModel, MockOverloadedError, MockRateLimitedError, type MockModelEvent, type MockModelOptions } from './mock-model.js';
import type { GenerateRequest, Generation, GenerationEvent } from './types.js';

/** A signal that never aborts, for single calls (drain() makes one per call: concurrent drains would pile listeners on one). */
const never = new AbortController().signal;

function setup(o: Partial<MockModelOptions> = {}) {
  const clock = new VirtualClock();
  const model = new MockModel({ name: 'm', profile: 'h100-llama3-8b', clock, random: new Random(11), ...o });
  const events: MockModelEvent[] = [];
  model.onEvent((e) => events.push(e));
  const req = (id: string, extra: Partial<GenerateRequest> = {}): GenerateRequest => ({
    id,
    model: 'm',
    kind: 'completion',
    prompt: 'x',
    promptTokens: 100,
    outputTokens: 20,
    ...extra,
  });
  const drain = async (id: string, extra: Partial<GenerateRequest> = {}, signal = new AbortController().signal): Promise<GenerationEvent[]> => {
    const g = await model.generate(req(id, extra), signal);
    const out: GenerationEvent[] = [];
    for await (const ev of g.events) out.push(ev);
    return out;
  };
  return { clock, model, events, req, drain };
}

describe('MockModel', () => {
  it('TTFT and queue time come from queueing: more load, later first tokens', async () => {
    const { clock, events, drain } = setup({ profile: { base: 'h100-llama3-8b', maxNumSeqs: 8 } });
    await clock.run(Promise.all(Array.from({ length: 32 }, (_, i) => drain(`r${i}`))));
    const done = events.filter((e): e is Extract<MockModelEvent, { type: 'request-done' }> => e.type === 'request-done');
    expect(done).toHaveLength(32);
    const ttft = done.map((e) => e.ttftMs ?? NaN);
    const queue = done.map((e) => e.queueMs ?? NaN);
    expect(Math.max(...queue)).toBeGreaterThan(3 * Math.min(...ttft));
    expect(Math.max(...ttft)).toBeGreaterThan(4 * Math.min(...ttft));
    for (const e of done) {
      expect(e.outcome).toBe('stop');
      expect(e.itlMs).toHaveLength(19);
      expect(e.e2eMs).toBeGreaterThan(e.ttftMs ?? Infinity);
    }
    expect(clock.pendingTimers).toBe(0);
  });

  it('a full waiting queue answers 503 by default, or 429 when the plan says, with Retry-After', async () => {
    const { clock, model, drain } = setup({ profile: { base: 'h100-llama3-8b', maxNumSeqs: 1, maxWaiting: 2 } });
    // Sequences submitted in the same instant all wait until the first step starts; so start one first.
    const first = [drain('a')];
    await clock.advanceBy(1);
    first.push(drain('b'), drain('c'));
    await expect(drain('d')).rejects.toBeInstanceOf(MockOverloadedError);
    model.setFaults({ queueFull: { status: 429, retryAfterMs: 250 } });
    const e = await drain('e').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RateLimitedError);
    expect((e as MockRateLimitedError).headers).toEqual({ 'retry-after': '1', 'retry-after-ms': '250' });
    await clock.run(Promise.all(first));
    expect(model.metrics().faultCounts['queue-full']).toBe(2);
  });

  it('preempts under KV pressure; every stream still completes, and the recompute is counted as waste', async () => {
    const { clock, model, drain } = setup({ profile: { base: 'h100-llama3-8b', kvBlocks: 600, contextWindow: 8192 } });
    const all = await clock.run(Promise.all(Array.from({ length: 6 }, (_, i) => drain(`p${i}`, { promptTokens: 1000, outputTokens: 800 }))));
    for (const evs of all) expect(evs.at(-1)).toMatchObject({ type: 'done', completionTokens: 800 });
    const m = model.metrics();
    expect(m.preemptions).toBeGreaterThan(0);
    expect(m.wastedTokens).toBeGreaterThan(0);
    expect(m.outputTokens).toBe(6 * 800);
    expect(m.kvCacheUsage).toBe(0);
  });

  it('random faults from the plan are counted and reported as events', async () => {
    const { clock, model, events, drain } = setup({ faults: { serverError: { probability: 0.5 } } });
    const results = await clock.run(Promise.all(Array.from({ length: 200 }, (_, i) => drain(`f${i}`).then(() => 'ok', () => 'err'))));
    const errs = results.filter((r) => r === 'err').length;
    expect(errs).toBeGreaterThan(70);
    expect(errs).toBeLessThan(130);
    expect(model.metrics().faultCounts['status-500']).toBe(errs);
    expect(events.filter((e) => e.type === 'fault' && e.kind === 'status-500')).toHaveLength(errs);
    expect(model.metrics().rejected).toBe(errs);
    expect(model.metrics().requests).toBe(200);
  });

  it('a brownout phase multiplies step time only while active', async () => {
    const { clock, model, drain } = setup();
    const base = await clock.run(drain('b0'));
    expect(base.at(-1)?.type).toBe('done');
    const t0 = clock.now();
    await clock.run(drain('b1'));
    const normal = clock.now() - t0;
    model.setFaults({ timeline: [{ atMs: 0, durationMs: 10_000, fault: { brownoutMultiplier: 3 } }] });
    const t1 = clock.now();
    await clock.run(drain('b2'));
    expect(clock.now() - t1).toBeCloseTo(3 * normal, 6);
    await clock.advanceBy(10_000);
    const t2 = clock.now();
    await clock.run(drain('b3'));
    expect(clock.now() - t2).toBeCloseTo(normal, 6);
  });

  it('a brownout lasts as long as its phase: steps are cut at its edges, so 0.25 s and 0.5 s differ', async () => {
    const timeFor = async (durationMs: number | undefined): Promise<number> => {
      const { clock, model, drain } = setup();
      if (durationMs !== undefined) model.setFaults({ timeline: [{ atMs: 0, durationMs, fault: { brownoutMultiplier: 10 } }] });
      await clock.run(drain('long', { outputTokens: 400 }));
      return clock.now();
    };
    const normal = await timeFor(undefined);
    const quarter = await timeFor(250);
    const half = await timeFor(500);
    // Inside the phase the GPU does 1/10 of the work per ms: each ms of brownout costs 0.9 ms more, no more no less.
    expect(quarter - normal).toBeCloseTo(250 * 0.9, 6);
    expect(half - normal).toBeCloseTo(500 * 0.9, 6);
  });

  it('a timeline crash fires at its time; the model can start in cold start', async () => {
    const { clock, model, events, drain } = setup({ coldStartMs: 300, faults: { timeline: [{ atMs: 1000, durationMs: 0, fault: { crash: { downtimeMs: 200, coldStartMs: 100 } } }] } });
    expect(model.health()).toEqual({ ready: false, state: 'cold-start' });
    await expect(drain('c0')).rejects.toBeInstanceOf(OverloadedError);
    await clock.advanceBy(300);
    expect(model.health().ready).toBe(true);
    const victim = drain('c1', { outputTokens: 1000 }).catch((e: unknown) => e);
    await clock.advanceBy(700);
    const v = await victim;
    expect(Array.isArray(v) ? v.at(-1) : v).toMatchObject({ type: 'disconnect', form: 'reset' });
    expect(events.find((e) => e.type === 'crash')).toEqual({ type: 'crash', downtimeMs: 200, coldStartMs: 100 });
    await expect(drain('c2')).rejects.toBeInstanceOf(ConnectionRefusedError);
    await clock.advanceBy(300);
    expect((await clock.run(drain('c3'))).at(-1)?.type).toBe('done');
    expect(events.filter((e) => e.type === 'ready')).toHaveLength(2);
    expect(clock.pendingTimers).toBe(0);
  });

  it('provider rate limits: headers on success, a 429 with the exact wait on refusal', async () => {
    const { clock, model, req } = setup({ rateLimits: { rpm: 2, tpm: 1000 } });
    const g = await model.generate(req('k1', { maxTokens: 100 }), never);
    expect(g.headers).toMatchObject({ 'x-ratelimit-limit-requests': '2', 'x-ratelimit-remaining-requests': '1', 'x-ratelimit-remaining-tokens': '800' });
    await clock.run((async () => {
      for await (const _ of g.events);
    })());
    const e = (await model.generate(req('k2', { maxTokens: 900 }), never).catch((x: unknown) => x)) as MockRateLimitedError;
    expect(e).toBeInstanceOf(MockRateLimitedError);
    expect(e.retryAfterMs).toBe(Math.ceil((1000 - (800 + (clock.now() * 1000) / 60_000)) / (1000 / 60_000)));
    expect(e.headers['x-ratelimit-limit-tokens']).toBe('1000');
  });

  it('embeddings: one forward pass per call, so batching pays; bad items fail alone', async () => {
    const { clock, model } = setup();
    const inputs = Array.from({ length: 16 }, (_, i) => `text number ${i} `.repeat(5));
    const t0 = clock.now();
    const batched = await clock.run(model.embed({ id: 'e', model: 'm', inputs }, never));
    const batchMs = clock.now() - t0;
    const t1 = clock.now();
    for (const [i, text] of inputs.entries()) await clock.run(model.embed({ id: `e${i}`, model: 'm', inputs: [text] }, never));
    const singleMs = clock.now() - t1;
    expect(batchMs * 5).toBeLessThan(singleMs);
    expect(batched.items).toHaveLength(16);
    const first = batched.items[0];
    expect(first?.ok && first.embedding.length).toBe(16);
    expect(first?.ok && Math.hypot(...first.embedding)).toBeCloseTo(1, 9);
    const mixed = await clock.run(model.embed({ id: 'x', model: 'm', inputs: ['fine', ''] }, never));
    expect(mixed.items[0]?.ok).toBe(true);
    expect(mixed.items[1]?.ok).toBe(false);
    expect(model.metrics().embeddingCalls).toBe(18);
  });

  it('setFaults validates and getFaults returns the plan', () => {
    const { model } = setup();
    expect(() => model.setFaults({ hang: { probability: -1 } })).toThrow(ValidationError);
    model.setFaults({ hang: { probability: 0.25 } });
    expect(model.getFaults()).toEqual({ hang: { probability: 0.25 } });
  });

  it('close() ends everything and refuses new work', async () => {
    const { clock, model, drain } = setup();
    const p = drain('z', { outputTokens: 5000 });
    await clock.advanceBy(100);
    model.close();
    expect((await p).at(-1)).toMatchObject({ type: 'disconnect' });
    await expect(drain('y')).rejects.toBeInstanceOf(ConnectionRefusedError);
    expect(clock.pendingTimers).toBe(0);
  });

  it('a disconnect phase also hits streams already open when it starts, counting tokens from then', async () => {
    const { clock, model, drain } = setup();
    model.setFaults({ timeline: [{ atMs: 200, durationMs: 1000, fault: { disconnect: { probability: 1, afterTokens: 3, forms: ['clean-close'] } } }] });
    // Long streams that start before the phase: without mid-stream injection they would all complete.
    const runs = Array.from({ length: 4 }, (_, i) => drain(`long${i}`, { outputTokens: 2000 }));
    const out = await clock.run(Promise.all(runs));
    for (const events of out) {
      const last = events[events.length - 1];
      expect(last?.type).toBe('disconnect');
      const sent = last?.type === 'disconnect' ? last.tokensSent : -1;
      // They were mid-stream at t=200 ms (dozens of tokens in), and broke 3 tokens later: never at the very start.
      expect(sent).toBeGreaterThan(3);
      expect(sent).toBeLessThan(2000);
      if (last?.type === 'disconnect') expect(last.form).toBe('clean-close');
    }
    expect(model.metrics().faultCounts['disconnect']).toBe(4);
  });

  it('a stall phase freezes open streams until it says they resume', async () => {
    const { clock, model, drain } = setup();
    model.setFaults({ timeline: [{ atMs: 100, durationMs: 500, fault: { stall: { probability: 1, afterTokens: 0, forMs: 2000 } } }] });
    const start = clock.now();
    const [events] = await clock.run(Promise.all([drain('s', { outputTokens: 100 })]));
    expect(events?.[events.length - 1]?.type).toBe('done');
    // 100 tokens take well under a second on an H100; the stall adds its 2 s.
    expect(clock.now() - start).toBeGreaterThan(2000);
    expect(model.metrics().faultCounts['stall']).toBe(1);
  });

  it('an empty prompt is a 400, not a request that is never scheduled', async () => {
    const { clock, drain } = setup();
    const err = await clock.run(drain('empty', { promptTokens: 0 }).catch((e: unknown) => e));
    expect(err).toBeInstanceOf(BadRequestError);
    expect((err as Error).message).toBe('prompt: expected at least 1 token, got 0');
  });

  it('start() refuses synchronously, without asking for a signal, with the same typed error as generate()', async () => {
    const { clock, model, req } = setup({ rateLimits: { rpm: 1 } });
    let asked = 0;
    const signal = {
      get signal(): AbortSignal {
        asked++;
        return new AbortController().signal;
      },
    };
    const first = model.start(req('a', { apiKey: 'k' }), signal);
    expect(first).not.toBeInstanceOf(Promise); // admitted at once: no fault made it wait
    expect(asked).toBe(1);
    let thrown: unknown;
    try {
      model.start(req('b', { apiKey: 'k' }), signal);
    } catch (e) {
      thrown = e;
    }
    expect(asked).toBe(1);
    expect(thrown).toBeInstanceOf(MockRateLimitedError);
    const viaGenerate = await model.generate(req('c', { apiKey: 'k' }), never).catch((e: unknown) => e);
    expect(viaGenerate).toBeInstanceOf(MockRateLimitedError);
    const [t, g] = [thrown as MockRateLimitedError, viaGenerate as MockRateLimitedError];
    expect([t.code, t.status, t.message, t.retryAfterMs]).toEqual([g.code, g.status, g.message, g.retryAfterMs]);
    expect(Object.keys(t.headers)).toEqual(Object.keys(g.headers));
    // An expected refusal carries no stack frames: only the "Name: message" line.
    expect(t.stack?.split('\n')).toHaveLength(1);
    expect(model.metrics().rejected).toBe(2);
    // A fault that makes the request wait (a network delay) makes start() asynchronous.
    model.setFaults({ networkDelayMs: 5 });
    const delayed = model.start(req('d', { apiKey: 'other' }), signal);
    expect(delayed).toBeInstanceOf(Promise);
    expect(asked).toBe(2);
    const gen = await clock.run(delayed as Promise<Generation>);
    const drained = async (): Promise<GenerationEvent[]> => {
      const out: GenerationEvent[] = [];
      for await (const ev of gen.events) out.push(ev);
      return out;
    };
    expect((await clock.run(drained())).at(-1)).toMatchObject({ type: 'done', completionTokens: 20 });
  });
});
