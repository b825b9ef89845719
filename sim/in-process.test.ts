import { describe, expect, it } from 'vitest';
import { Random } from '../src/random.js';
import { VirtualClock } from '../src/time/virtual-clock.js';
import {
  BadRequestError,
  ConnectionRefusedError,
  ContextLengthExceededError,
  OverloadedError,
  RateLimitedError,
  ServerError,
  StreamInterruptedError,
} from '../src/upstream/errors.js';
import type { ModelRequest, StreamEvent, StreamOptions } from '../src/upstream/model-client.js';
import { InProcessModelClient } from './in-process.js';
import { MockModel, type MockModelOptions } from './mock-model.js';
import { DISCONNECT_FORMS } from './types.js';

interface Outcome {
  text: string;
  tokens: number;
  chunks: Array<{ index: number; count: number; atMs: number }>;
  done?: Extract<StreamEvent, { type: 'done' }>;
  error?: Error;
  endMs: number;
}

/** Reads every stream by iterating it (`pull`) or through `pushTo` (`push`): both must behave the same. */
function baseSetup(o: Partial<MockModelOptions>, seed: number, mode: 'pull' | 'push') {
  const clock = new VirtualClock();
  const model = new MockModel({ name: 'primary', profile: 'h100-llama3-8b', clock, random: new Random(seed), ...o });
  const client = new InProcessModelClient(model);
  const pushed = (req: Partial<ModelRequest>, opts: StreamOptions): Promise<Outcome> =>
    new Promise((resolve) => {
      const out: Outcome = { text: '', tokens: 0, chunks: [], endMs: 0 };
      const end = (error?: unknown): void => {
        if (error !== undefined) out.error = error as Error;
        out.endMs = clock.now();
        resolve(out);
      };
      client.stream({ id: 'r1', model: 'primary', prompt: 'hi', promptTokens: 100, ...req }, opts).pushTo({
        tokens(index, count, text) {
          out.text += text;
          out.tokens += count;
          out.chunks.push({ index, count, atMs: clock.now() });
        },
        event(ev) {
          if (ev.type !== 'done') return;
          out.done = ev;
          end();
        },
        fail: end,
      });
    });
  const collect = async (req: Partial<ModelRequest>, opts: StreamOptions = {}): Promise<Outcome> => {
    if (mode === 'push') return pushed(req, opts);
    const out: Outcome = { text: '', tokens: 0, chunks: [], endMs: 0 };
    try {
      for await (const ev of client.stream({ id: 'r1', model: 'primary', prompt: 'hi', promptTokens: 100, ...req }, opts)) {
        if (ev.type === 'tokens') {
          out.text += ev.text;
          out.tokens += ev.count;
          out.chunks.push({ index: ev.index, count: ev.count, atMs: clock.now() });
        } else if (ev.type === 'done') out.done = ev;
      }
    } catch (e) {
      out.error = e as Error;
    }
    out.endMs = clock.now();
    return out;
  };
  return { clock, model, client, collect };
}

describe.each(['pull', 'push'] as const)('InProcessModelClient (%s)', (mode) => {
  const setup = (o: Partial<MockModelOptions> = {}, seed = 7) => baseSetup(o, seed, mode);

  it('streams chunks with contiguous indices, then done with usage', async () => {
    const { clock, collect } = setup();
    const r = await clock.run(collect({ outputTokens: 50 }));
    expect(r.error).toBeUndefined();
    expect(r.tokens).toBe(50);
    expect(r.chunks.map((c) => c.index)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(r.done).toEqual({ type: 'done', usage: { promptTokens: 100, completionTokens: 50, cachedPromptTokens: 0 }, finishReason: 'stop' });
    expect(clock.pendingTimers).toBe(0);
  });

  it('is deterministic: same seed, same text and timings; another seed, other text', async () => {
    const run = async (seed: number) => {
      const { clock, collect } = setup({}, seed);
      const all = Promise.all(Array.from({ length: 20 }, (_, i) => collect({ id: `q${i}`, promptTokens: 50 + i * 10 })));
      return (await clock.run(all)).map((r) => ({ text: r.text, at: r.chunks.map((c) => c.atMs), end: r.endMs }));
    };
    const a = await run(1);
    expect(await run(1)).toEqual(a);
    const c = await run(2);
    expect(c.map((x) => x.text)).not.toEqual(a.map((x) => x.text));
    // Output lengths come from the profile's distribution, not a constant.
    expect(new Set(a.map((x) => x.at.length)).size).toBeGreaterThan(5);
  });

  it('the same request id gets the same output length and text on every attempt', async () => {
    const { clock, collect } = setup();
    const a = await clock.run(collect({ id: 'same' }));
    const b = await clock.run(collect({ id: 'same' }));
    expect(b.text).toBe(a.text);
    expect(b.tokens).toBe(a.tokens);
  });

  for (const form of DISCONNECT_FORMS) {
    it(`disconnect form ${form}: StreamInterruptedError after N tokens, and a resume continues byte for byte`, async () => {
      const { clock, collect, model } = setup();
      const full = await clock.run(collect({ id: 'x', outputTokens: 60 }));
      const cut = await clock.run(collect({ id: 'x', outputTokens: 60, fault: `disconnect:after=20,form=${form}` }));
      expect(cut.error).toBeInstanceOf(StreamInterruptedError);
      expect((cut.error as StreamInterruptedError).tokensReceived).toBe(20);
      expect(cut.tokens).toBe(20);
      const rest = await clock.run(collect({ id: 'x', outputTokens: 60 }, { resumeFrom: 20 }));
      expect(rest.chunks[0]?.index).toBe(20);
      expect(rest.done?.usage.completionTokens).toBe(40);
      expect(cut.text + rest.text).toBe(full.text);
      expect(model.metrics().faultCounts['disconnect']).toBe(1);
    });
  }

  it('disconnect after T ms breaks the stream at that time', async () => {
    const { clock, collect } = setup();
    const r = await clock.run(collect({ outputTokens: 500, fault: 'disconnect:after-ms=100' }));
    expect(r.error).toBeInstanceOf(StreamInterruptedError);
    expect(r.endMs).toBe(100);
    expect(r.tokens).toBeGreaterThan(5);
    expect((r.error as StreamInterruptedError).tokensReceived).toBe(r.tokens);
  });

  it('injected statuses surface as typed errors carrying provider headers', async () => {
    const { clock, collect } = setup();
    const e429 = (await clock.run(collect({ fault: 'status:429,retry-after-ms=1500' }))).error;
    expect(e429).toBeInstanceOf(RateLimitedError);
    expect((e429 as RateLimitedError).retryAfterMs).toBe(1500);
    expect((e429 as unknown as { headers: Record<string, string> }).headers).toMatchObject({ 'retry-after': '2', 'retry-after-ms': '1500' });
    const e503 = (await clock.run(collect({ fault: 'status:503' }))).error;
    expect(e503).toBeInstanceOf(OverloadedError);
    const e500 = (await clock.run(collect({ fault: 'status:500' }))).error;
    expect(e500).toBeInstanceOf(ServerError);
    expect((e500 as ServerError).status).toBe(500);
    const bad = (await clock.run(collect({ fault: 'disconnect:form=sideways' }))).error;
    expect(bad).toBeInstanceOf(BadRequestError);
    expect(bad?.message).toBe('x-mock-fault.disconnect.form: expected one of reset, clean-close, error-event, truncated-chunk, got "sideways"');
  });

  it('context_length_exceeded when prompt + max_tokens exceed the window', async () => {
    const { clock, collect } = setup();
    const r = await clock.run(collect({ promptTokens: 8000, maxTokens: 500 }));
    expect(r.error).toBeInstanceOf(ContextLengthExceededError);
    expect(r.error?.message).toBe('context length exceeded: expected at most 8192 tokens, got 8500');
    const ok = await clock.run(collect({ promptTokens: 8000, maxTokens: 192, outputTokens: 1000 }));
    expect(ok.done?.finishReason).toBe('length');
    expect(ok.tokens).toBe(192);
  });

  it('a stall stops tokens with the stream open until the caller aborts; the held work is wasted', async () => {
    const { clock, collect, model } = setup();
    const ctl = new AbortController();
    const p = collect({ outputTokens: 100, fault: 'stall:after=10' }, { signal: ctl.signal });
    await clock.advanceBy(5_000);
    expect(model.metrics().inFlight).toBe(1);
    clock.setTimer(0, () => ctl.abort(new Error('idle timeout')));
    const r = await clock.run(p);
    expect(r.tokens).toBe(10);
    expect(r.error?.message).toBe('idle timeout');
    expect(model.metrics().inFlight).toBe(0);
    expect(model.metrics().wastedTokens).toBe(90);
  });

  it('a stall with ms resumes and completes', async () => {
    const { clock, collect } = setup();
    const r = await clock.run(collect({ outputTokens: 30, fault: 'stall:after=10,ms=2000' }));
    expect(r.done?.usage.completionTokens).toBe(30);
    const gap = (r.chunks[1]?.atMs ?? 0) - (r.chunks[0]?.atMs ?? 0);
    const c10 = r.chunks.find((c) => c.index + c.count > 10 && c.index >= 10);
    const c9 = r.chunks.find((c) => c.index + c.count === 10);
    expect((c10?.atMs ?? 0) - (c9?.atMs ?? 0)).toBeGreaterThanOrEqual(2000);
    expect(gap).toBeLessThan(50);
  });

  it('a hang never answers until the signal aborts', async () => {
    const { clock, collect, model } = setup();
    const ctl = new AbortController();
    clock.setTimer(30_000, () => ctl.abort(new Error('deadline')));
    const r = await clock.run(collect({ fault: 'hang' }, { signal: ctl.signal }));
    expect(r.endMs).toBe(30_000);
    expect(r.tokens).toBe(0);
    expect(r.error?.message).toBe('deadline');
    expect(model.metrics().faultCounts['hang']).toBe(1);
  });

  it('network delay, TTFT delay and jitter shift delivery', async () => {
    const base = await (async () => {
      const { clock, collect } = setup();
      return clock.run(collect({ outputTokens: 10 }));
    })();
    const { clock, collect } = setup();
    const r = await clock.run(collect({ outputTokens: 10, fault: 'delay:ms=100; ttft:ms=300; jitter:ms=7' }));
    expect(r.chunks[0]?.atMs).toBeCloseTo((base.chunks[0]?.atMs ?? 0) + 100 + 300 + 7, 6);
    expect(r.tokens).toBe(10);
    expect(r.endMs).toBeGreaterThan(base.endMs + 400);
  });

  it('crash: in-flight streams break, connections are refused, then 503 during cold start, then ready', async () => {
    const { clock, collect, model } = setup();
    const events: string[] = [];
    model.onEvent((e) => events.push(e.type));
    const victim = collect({ id: 'victim', outputTokens: 1000 });
    await clock.advanceBy(200);
    const trigger = await clock.run(collect({ id: 'trigger', fault: 'crash:downtime-ms=1000,cold-start-ms=500' }));
    expect(trigger.error).toBeInstanceOf(ConnectionRefusedError);
    const v = await clock.run(victim);
    expect(v.error).toBeInstanceOf(StreamInterruptedError);
    expect((v.error as StreamInterruptedError).tokensReceived).toBe(v.tokens);
    expect(v.tokens).toBeGreaterThan(0);
    expect(model.health()).toEqual({ ready: false, state: 'crashed' });
    expect((await clock.run(collect({ id: 'a' }))).error).toBeInstanceOf(ConnectionRefusedError);
    await clock.advanceBy(1000);
    expect(model.health().state).toBe('cold-start');
    const cold = (await clock.run(collect({ id: 'b' }))).error;
    expect(cold).toBeInstanceOf(OverloadedError);
    expect((cold as OverloadedError).retryAfterMs).toBe(500);
    await clock.advanceBy(500);
    expect(model.health()).toEqual({ ready: true, state: 'ready' });
    expect((await clock.run(collect({ id: 'c', outputTokens: 5 }))).tokens).toBe(5);
    expect(events).toContain('crash');
    expect(events).toContain('ready');
    expect(model.metrics().faultCounts).toMatchObject({ crash: 1, refused: 1, 'cold-start': 1 });
  });

  it('aborting the signal, or breaking out of the loop, frees the GPU slot', async () => {
    const { clock, client, model, collect } = setup({ profile: { base: 'h100-llama3-8b', maxNumSeqs: 1 } });
    const ctl = new AbortController();
    const long = collect({ id: 'long', outputTokens: 100_000 }, { signal: ctl.signal });
    const short = collect({ id: 'short', outputTokens: 5 });
    await clock.advanceBy(500);
    expect(model.metrics().running).toBe(1);
    expect(model.metrics().waiting).toBe(1);
    ctl.abort();
    const s = await clock.run(short);
    expect(s.tokens).toBe(5);
    expect(s.endMs).toBeLessThan(600);
    expect((await clock.run(long)).error?.name).toBe('AbortError');
    // break out of a loop early
    const loop = (async () => {
      for await (const ev of client.stream({ id: 'brk', model: 'primary', promptTokens: 10, outputTokens: 10_000 })) {
        if (ev.type === 'tokens' && ev.index >= 3) break;
      }
    })();
    await clock.run(loop);
    await clock.runUntilIdle();
    expect(model.metrics().running + model.metrics().waiting).toBe(0);
    expect(model.metrics().kvCacheUsage).toBe(0);
  });

  it('plan-driven disconnects draw the form and the point from seeded streams; every form throws StreamInterruptedError', async () => {
    const { clock, collect, model } = setup({
      faults: { disconnect: { probability: 1, afterTokens: { kind: 'uniform', min: 1, max: 30 }, forms: [...DISCONNECT_FORMS] } },
    });
    const rs = await clock.run(Promise.all(Array.from({ length: 40 }, (_, i) => collect({ id: `d${i}`, outputTokens: 50 }))));
    for (const r of rs) {
      expect(r.error).toBeInstanceOf(StreamInterruptedError);
      expect((r.error as StreamInterruptedError).tokensReceived).toBe(r.tokens);
      expect(r.tokens).toBeGreaterThanOrEqual(1);
      expect(r.tokens).toBeLessThanOrEqual(30);
    }
    const reasons = new Set(rs.map((r) => (r.error as StreamInterruptedError).reason));
    expect(reasons.size).toBe(4);
    expect(model.metrics().faultCounts['disconnect']).toBe(40);
  });

  it('plan jitter delays chunks but never reorders them', async () => {
    const { clock, collect } = setup({ faults: { tokenJitterMs: { kind: 'exponential', mean: 30 } } });
    const r = await clock.run(collect({ outputTokens: 200 }));
    expect(r.tokens).toBe(200);
    let next = 0;
    for (const c of r.chunks) {
      expect(c.index).toBe(next);
      next += c.count;
    }
    expect(r.chunks.length).toBeLessThan(200); // late chunks coalesce with the ones behind them
  });

  it('routes by model name over several models', async () => {
    const clock = new VirtualClock();
    const random = new Random(5);
    const primary = new MockModel({ name: 'primary', profile: 'h100-llama3-8b', clock, random: random.derive('p') });
    const fallback = new MockModel({ name: 'fallback', profile: 'fallback', clock, random: random.derive('f') });
    const client = new InProcessModelClient([primary, fallback]);
    const time = async (model: string): Promise<number> => {
      const t0 = clock.now();
      for await (const _ of client.stream({ id: 'x', model, promptTokens: 100, outputTokens: 100 }));
      return clock.now() - t0;
    };
    const p = await clock.run(time('primary'));
    const f = await clock.run(time('fallback'));
    expect(f).toBeLessThan(p / 2);
    expect(primary.metrics().requests).toBe(1);
    expect(fallback.metrics().requests).toBe(1);
  });

  it('unknown models are a 404 naming the known ones', async () => {
    const { clock, collect } = setup();
    const r = await clock.run(collect({ model: 'gpt-9' }));
    expect(r.error).toBeInstanceOf(BadRequestError);
    expect(r.error?.message).toBe('model: expected one of primary, got "gpt-9"');
  });

  it('1,000 concurrent sessions of 500 tokens: one timer per GPU step, none per token', async () => {
    const { clock, collect, model } = setup();
    const all = await clock.run(Promise.all(Array.from({ length: 1000 }, (_, i) => collect({ id: `s${i}`, promptTokens: 200, outputTokens: 500 }))));
    expect(all.every((r) => r.tokens === 500)).toBe(true);
    const m = model.metrics();
    expect(m.meanBatchSize).toBeGreaterThan(200);
    expect(m.outputTokens).toBe(500_000);
    // Every event the clock fired was a GPU step (plus the one kick that started the loop).
    expect(clock.eventsFired).toBe(m.steps + 1);
  });
});

describe('InProcessModelClient push path', () => {
  it('cancel() frees the GPU slot as breaking out of a loop does, and nothing reaches the sink after it', async () => {
    const { clock, client, model } = baseSetup({}, 7, 'push');
    const seen: number[] = [];
    let after = 0;
    let cancelled = false;
    const ended = new Promise<void>((resolve) => {
      const call = client.stream({ id: 'c', model: 'primary', promptTokens: 10, outputTokens: 10_000 }).pushTo({
        tokens(index) {
          if (cancelled) after++;
          seen.push(index);
          if (index >= 3 && !cancelled) {
            cancelled = true;
            call.cancel();
            resolve();
          }
        },
        event: () => after++,
        fail: () => after++,
      });
    });
    await clock.run(ended);
    await clock.runUntilIdle();
    expect(seen).toEqual([0, 1, 2, 3]);
    expect(after).toBe(0);
    expect(model.metrics().running + model.metrics().waiting).toBe(0);
    expect(model.metrics().kvCacheUsage).toBe(0);
  });

  it('an aborted signal or an unknown model fails the sink without starting a generation', async () => {
    const { client, model } = baseSetup({}, 7, 'push');
    const errors: unknown[] = [];
    const sink = { tokens: () => undefined, event: () => undefined, fail: (e: unknown) => errors.push(e) };
    const ctl = new AbortController();
    ctl.abort(new Error('gone'));
    client.stream({ id: 'a', model: 'primary', promptTokens: 10 }, { signal: ctl.signal }).pushTo(sink);
    client.stream({ id: 'b', model: 'gpt-9', promptTokens: 10 }).pushTo(sink);
    expect((errors[0] as Error).message).toBe('gone');
    expect(errors[1]).toBeInstanceOf(BadRequestError);
    expect(model.metrics().requests).toBe(0);
  });
});

describe('InProcessModelClient: a stream with nothing left to generate', () => {
  it('ends with done, pulled or pushed, even behind a TTFT delay', async () => {
    const clock = new VirtualClock();
    const model = new MockModel({ name: 'primary', profile: 'h100-llama3-8b', clock, random: new Random(1).derive('m') });
    const client = new InProcessModelClient(model);
    // A resume at the end of the output: the GPU finishes the sequence as it takes it, before any token.
    const request: ModelRequest = { id: 'a', model: 'primary', prompt: 'hi', promptTokens: 10, outputTokens: 20, fault: 'ttft:ms=150' };
    for (const mode of ['pull', 'push'] as const) {
      const events: string[] = [];
      const run = async (): Promise<void> => {
        const s = client.stream(request, { resumeFrom: 20, resumeText: 'x' });
        if (mode === 'pull') for await (const e of s) events.push(e.type);
        else await new Promise<void>((resolve, reject) => void s.pushTo({ tokens: () => void events.push('tokens'), event: (e) => (events.push(e.type), resolve()), fail: reject }));
      };
      await clock.run(run());
      expect(events).toEqual(['done']);
    }
  });
});
