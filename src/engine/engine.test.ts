import { describe, expect, it } from 'vitest';
import { resolvePolicy } from '../policy.js';
import { Random } from '../random.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { ContextLengthExceededError, RateLimitedError, ServerError, StreamInterruptedError } from '../upstream/errors.js';
import type { ModelRequest } from '../upstream/model-client.js';
import { Engine, type EngineEvent, type EngineRequest, type TokenChunk } from './engine.js';
import { expectedText, FakeModel, type StreamScript } from './testing/fake-model.js';

function setup(preset: string, overrides: unknown, script: (r: ModelRequest, n: number) => StreamScript, fallbackScript?: (r: ModelRequest, n: number) => StreamScript) {
  const clock = new VirtualClock();
  const primary = new FakeModel(clock, script);
  const fallback = fallbackScript ? new FakeModel(clock, fallbackScript) : undefined;
  const engine = new Engine({ clock, random: new Random(1), policy: resolvePolicy(preset, overrides), primary, ...(fallback ? { fallback } : {}) });
  const events: EngineEvent[] = [];
  engine.onEvent((e) => events.push(e));
  return { clock, primary, fallback, engine, events };
}

function chat(id: string, extra: Partial<EngineRequest> = {}, chunks?: TokenChunk[]): EngineRequest {
  return { id, kind: 'chat', request: { id, model: 'm' }, ...(chunks ? { onTokens: (c) => chunks.push(c) } : {}), ...extra };
}

/** Asserts each token index was delivered once, in order, and the text is the expected text. */
function expectExactlyOnce(chunks: TokenChunk[], id: string, tokens: number): void {
  let next = 0;
  for (const c of chunks) {
    expect(c.index).toBe(next);
    next += c.count;
  }
  expect(next).toBe(tokens);
  expect(chunks.map((c) => c.text).join('')).toBe(expectedText(id, tokens));
}

describe('Engine', () => {
  it('serves a plain request: ok, all tokens once, timings', async () => {
    const { clock, engine } = setup('resilient', {}, () => ({ tokens: 5, ttftMs: 20, itlMs: 10 }));
    const chunks: TokenChunk[] = [];
    const r = await clock.run(engine.submit(chat('a', {}, chunks)));
    expect(r).toMatchObject({ id: 'a', outcome: 'ok', tokens: 5, model: 'primary', attempts: 1, upstreamCalls: 1, firstTokenAtMs: 20, endAtMs: 60 });
    expect(r.text).toBe(expectedText('a', 5));
    expectExactlyOnce(chunks, 'a', 5);
    expect(engine.snapshot()).toMatchObject({ inFlight: 0, queueDepth: 0, active: 0 });
  });
});

describe('Engine: retries', () => {
  it('honours Retry-After: the retry waits the server-given time, giving its slot back', async () => {
    const { clock, engine, primary, events } = setup('bounded', {}, (_r, n) => (n === 0 ? { error: new RateLimitedError(700), ttftMs: 10 } : { tokens: 3 }));
    const r = await clock.run(engine.submit(chat('a')));
    expect(r).toMatchObject({ outcome: 'ok', attempts: 2, upstreamCalls: 2, tokens: 3 });
    expect(primary.calls.map((c) => c.atMs)).toEqual([0, 710]);
    expect(r.backoffMs).toBe(700);
    expect(events.find((e) => e.type === 'retry')).toMatchObject({ delayMs: 700, cause: 'retry-after', code: 'RATE_LIMITED', holdsSlot: false });
  });

  it('naive ignores Retry-After and retries at once, maxAttempts times in all', async () => {
    const { clock, engine, primary } = setup('naive', {}, () => ({ error: new RateLimitedError(700), ttftMs: 10 }));
    const r = await clock.run(engine.submit(chat('a')));
    expect(r).toMatchObject({ outcome: 'failed', attempts: 4, error: { code: 'RATE_LIMITED' } });
    expect(primary.calls.map((c) => c.atMs)).toEqual([0, 10, 20, 30]);
  });

  it('stops when the retry budget is exhausted', async () => {
    const { clock, engine, primary, events } = setup(
      'resilient',
      { retryBudget: { ratio: 0, minRetriesPerSec: 0.1, ttlMs: 10_000 }, breaker: { enabled: false } },
      () => ({ error: new ServerError(500) }),
    );
    const [a, b] = await clock.run(Promise.all([engine.submit(chat('a')), engine.submit(chat('b'))]));
    // One retry in the reserve (0.1/s over 10 s): one request gets it, the other gives up after one attempt.
    expect([a?.attempts, b?.attempts].sort()).toEqual([1, 2]);
    expect(primary.calls).toHaveLength(3);
    expect(engine.snapshot().counters.budgetDenied).toBe(2);
    expect(events.filter((e) => e.type === 'give-up').map((e) => (e as { reason: string }).reason)).toEqual(['budget', 'budget']);
    expect(engine.snapshot().budgetLevel).toBe(0);
  });

  it('a waiting retry gives its slot back (others run meanwhile), or holds it when holdSlotWhileWaiting', async () => {
    const script = (r: ModelRequest, n: number): StreamScript => (r.id === 'a' && n === 0 ? { error: new RateLimitedError(500) } : { tokens: 2 });
    const run = async (hold: boolean) => {
      const { clock, engine, primary } = setup('bounded', { concurrency: { limit: 1 }, retry: { holdSlotWhileWaiting: hold } }, script);
      const results = await clock.run(Promise.all([engine.submit(chat('a')), engine.submit(chat('b'))]));
      return { b: primary.callsFor('b')[0]?.atMs, results };
    };
    const released = await run(false);
    const held = await run(true);
    expect(released.b).toBe(10); // b ran while a waited out its Retry-After
    expect(held.b).toBe(525); // b waited for a's retry to finish: 10 + 500 + 15
    expect(released.results.map((r) => r.outcome)).toEqual(['ok', 'ok']);
    expect(held.results[1]?.queuedMs).toBe(525);
  });
});

describe('Engine: breaker and fallback', () => {
  it('trips, serves from the fallback (degraded), probes after openMs, and closes after successful probes', async () => {
    let primaryDown = true;
    const { clock, engine, primary, fallback, events } = setup(
      'resilient',
      { breaker: { rule: 'consecutive', consecutiveFailures: 3, openMs: 1000, halfOpenProbes: 2 }, retry: { maxAttempts: 1 } },
      () => (primaryDown ? { error: new ServerError(503) } : { tokens: 2 }),
      () => ({ tokens: 2 }),
    );
    const first = await clock.run(Promise.all([0, 1, 2].map((i) => engine.submit(chat(`f${i}`)))));
    expect(first.map((r) => r.outcome)).toEqual(['failed', 'failed', 'failed']);
    expect(engine.snapshot().breaker).toBe('open');
    const during = await clock.run(engine.submit(chat('d')));
    expect(during).toMatchObject({ outcome: 'degraded', degraded: 'fallback', model: 'fallback' });
    expect(fallback?.calls).toHaveLength(1);
    primaryDown = false;
    await clock.advanceBy(1000);
    const probes = await clock.run(Promise.all([engine.submit(chat('p1')), engine.submit(chat('p2')), engine.submit(chat('p3'))]));
    // Two probes go to the primary; the third request arrives while both are out and goes to the fallback.
    expect(probes.map((r) => r.model)).toEqual(['primary', 'primary', 'fallback']);
    expect(engine.snapshot().breaker).toBe('closed');
    const after = await clock.run(engine.submit(chat('z')));
    expect(after).toMatchObject({ outcome: 'ok', model: 'primary' });
    expect(primary.calls).toHaveLength(6);
    const transitions = events.flatMap((e) => (e.type === 'breaker-state' ? [`${e.from}->${e.to}`] : []));
    expect(transitions).toEqual(['closed->open', 'open->half-open', 'half-open->closed']);
  });

  it('with no fallback and waitWhenOpen off, an open breaker fails fast with BREAKER_OPEN and a retryAfterMs', async () => {
    const { clock, engine, primary } = setup(
      'resilient',
      { breaker: { rule: 'consecutive', consecutiveFailures: 1, openMs: 800, waitWhenOpen: false }, retry: { maxAttempts: 1 } },
      () => ({ error: new ServerError(500), ttftMs: 0 }),
    );
    await clock.run(engine.submit(chat('a')));
    const r = await clock.run(engine.submit(chat('b')));
    expect(r).toMatchObject({ outcome: 'failed', error: { code: 'BREAKER_OPEN' }, retryAfterMs: 800, upstreamCalls: 0 });
    expect(primary.calls).toHaveLength(1);
  });
});

describe('Engine: streams', () => {
  it('resumes an interrupted stream from the last token: byte-identical text, each token once', async () => {
    const { clock, engine, primary } = setup('resilient', {}, (_r, n) =>
      n === 0 ? { tokens: 10, failAfter: { afterTokens: 4, error: new StreamInterruptedError(4, 'reset') } } : { tokens: 10 },
    );
    const chunks: TokenChunk[] = [];
    const r = await clock.run(engine.submit(chat('s', {}, chunks)));
    expect(r).toMatchObject({ outcome: 'ok', tokens: 10, resumes: 1, attempts: 2 });
    expect(primary.calls.map((c) => c.resumeFrom)).toEqual([undefined, 4]);
    expect(r.text).toBe(expectedText('s', 10));
    expectExactlyOnce(chunks, 's', 10);
    expect(engine.snapshot().counters.tokensDiscarded).toBe(0);
  });

  it('naive restarts from scratch, and the caller still sees each token once (straddling chunks cut)', async () => {
    const { clock, engine, primary } = setup('naive', {}, (_r, n) =>
      n === 0 ? { tokens: 10, chunk: 3, failAfter: { afterTokens: 4, error: new StreamInterruptedError(4, 'reset') } } : { tokens: 10, chunk: 3 },
    );
    const chunks: TokenChunk[] = [];
    const r = await clock.run(engine.submit(chat('n', {}, chunks)));
    expect(r).toMatchObject({ outcome: 'ok', tokens: 10, resumes: 0 });
    expect(primary.calls.map((c) => c.resumeFrom)).toEqual([undefined, undefined]);
    expectExactlyOnce(chunks, 'n', 10);
    expect(chunks.map((c) => [c.index, c.count])).toEqual([[0, 3], [3, 1], [4, 2], [6, 3], [9, 1]]);
    expect(engine.snapshot().counters.tokensDiscarded).toBe(4);
  });

  it('a stream that dies for good after some tokens is degraded partial, with the error', async () => {
    const { clock, engine } = setup('bounded', { retry: { maxAttempts: 2 }, resume: { enabled: true } }, () => ({
      tokens: 10,
      failAfter: { afterTokens: 3, error: new StreamInterruptedError(3, 'reset') },
    }));
    const r = await clock.run(engine.submit(chat('p')));
    expect(r).toMatchObject({ outcome: 'degraded', degraded: 'partial', tokens: 3, error: { code: 'STREAM_INTERRUPTED' } });
  });

  it('an idle stall is cut by the idle timeout and resumed', async () => {
    const { clock, engine, primary } = setup('resilient', { idleTimeout: { idleMs: 50 } }, (_r, n) => (n === 0 ? { tokens: 6, stallAfter: 3 } : { tokens: 6 }));
    const chunks: TokenChunk[] = [];
    const r = await clock.run(engine.submit(chat('i', {}, chunks)));
    expect(r).toMatchObject({ outcome: 'ok', resumes: 1, tokens: 6 });
    expect(primary.calls[0]?.aborted).toBe(true);
    expect(primary.calls[1]?.resumeFrom).toBe(3);
    expectExactlyOnce(chunks, 'i', 6);
  });

  it('retries a context-length rejection once with trimmed context: degraded context-trimmed', async () => {
    const { clock, engine, primary } = setup('resilient', {}, (r) =>
      (r.promptTokens ?? 0) > 100 ? { error: new ContextLengthExceededError((r.promptTokens ?? 0) + 50, 150) } : { tokens: 2 },
    );
    const messages = [
      { role: 'system' as const, content: 'S'.repeat(40) },
      { role: 'user' as const, content: 'old'.repeat(40) },
      { role: 'user' as const, content: 'new'.repeat(40) },
    ];
    const req: EngineRequest = { id: 'c', kind: 'chat', request: { id: 'c', model: 'm', messages, promptTokens: 140, maxTokens: 50 } };
    const r = await clock.run(engine.submit(req));
    expect(r).toMatchObject({ outcome: 'degraded', degraded: 'context-trimmed', attempts: 2 });
    const sent = primary.calls[1]?.request as ModelRequest;
    expect(sent.messages?.map((m) => m.content.slice(0, 3))).toEqual(['SSS', 'new']);
    expect(sent.promptTokens).toBeLessThanOrEqual(100);
  });
});

describe('Engine: deadlines, cancel, shedding, dedup, batching', () => {
  it('times out at the deadline and aborts the upstream call', async () => {
    const { clock, engine, primary } = setup('resilient', {}, () => ({ hang: true }));
    const r = await clock.run(engine.submit(chat('t', { deadlineMs: 100 })));
    expect(r).toMatchObject({ outcome: 'timeout', endAtMs: 100, error: { code: 'DEADLINE_EXCEEDED' } });
    expect(primary.calls[0]?.aborted).toBe(true);
    expect(primary.active).toBe(0);
  });

  it('cancels when the caller aborts, mid-stream, and aborts the upstream call', async () => {
    const { clock, engine, primary } = setup('resilient', {}, () => ({ tokens: 100, itlMs: 10 }));
    const ac = new AbortController();
    clock.setTimer(55, () => ac.abort());
    const r = await clock.run(engine.submit(chat('x'), ac.signal));
    expect(r).toMatchObject({ outcome: 'cancelled', endAtMs: 55, tokens: 5 });
    expect(primary.calls[0]?.aborted).toBe(true);
  });

  it('sheds fast with a Retry-After when the queue is full, and drops work that expires in the queue', async () => {
    const { clock, engine, events } = setup('bounded', { concurrency: { limit: 1 }, queue: { capacity: 1 } }, () => ({ tokens: 5 }));
    const ps = [engine.submit(chat('a')), engine.submit(chat('b', { deadlineMs: 20 })), engine.submit(chat('c'))];
    const [a, b, c] = await clock.run(Promise.all(ps));
    expect(c).toMatchObject({ outcome: 'shed', endAtMs: 0, error: { code: 'QUEUE_FULL' } });
    expect(c?.retryAfterMs).toBeGreaterThan(0);
    expect(b).toMatchObject({ outcome: 'shed', endAtMs: 20, attempts: 0, error: { code: 'DEADLINE_EXCEEDED' } });
    expect(a?.outcome).toBe('ok');
    expect(events.filter((e) => e.type === 'shed').map((e) => (e as { reason: string }).reason)).toEqual(['queue-full', 'expired']);
  });

  it('dedup: a twin joins the in-flight call and follows its tokens; a later one gets the stored result', async () => {
    const { clock, engine, primary } = setup('resilient', {}, () => ({ tokens: 4 }));
    const c1: TokenChunk[] = [];
    const c2: TokenChunk[] = [];
    const c3: TokenChunk[] = [];
    const first = engine.submit(chat('k', { idempotencyKey: 'K' }, c1));
    clock.setTimer(15, () => void engine.submit(chat('k', { idempotencyKey: 'K' }, c2)).then((r) => joined.push(r)));
    const joined: Array<Awaited<typeof first>> = [];
    const r1 = await clock.run(first);
    await clock.run(engine.onIdle());
    const r3 = await clock.run(engine.submit(chat('k', { idempotencyKey: 'K' }, c3)));
    expect(primary.calls).toHaveLength(1);
    expect(r1.deduped).toBeUndefined();
    expect(joined[0]).toMatchObject({ outcome: 'ok', deduped: 'joined', upstreamCalls: 0, tokens: 4, firstTokenAtMs: 15 });
    expect(r3).toMatchObject({ outcome: 'ok', deduped: 'cached', tokens: 4 });
    for (const cs of [c1, c2, c3]) expectExactlyOnce(cs, 'k', 4);
    expect(engine.snapshot().counters).toMatchObject({ dedupJoined: 1, dedupCached: 1 });
  });

  it('dedup: when the leader is cancelled, its twin carries on from the tokens it already has', async () => {
    const { clock, engine, primary } = setup('resilient', {}, () => ({ tokens: 6 }));
    const ac = new AbortController();
    clock.setTimer(22, () => ac.abort());
    const c2: TokenChunk[] = [];
    const lead = engine.submit(chat('L', { idempotencyKey: 'K' }), ac.signal);
    const twin = engine.submit(chat('T', { idempotencyKey: 'K' }, c2));
    const [l, t] = await clock.run(Promise.all([lead, twin]));
    expect(l).toMatchObject({ outcome: 'cancelled', tokens: 3 });
    expect(t).toMatchObject({ outcome: 'ok', tokens: 6, resumes: 1 });
    // The twin re-sent the leader's request, resuming at 3, so the text continues byte for byte.
    expect(primary.calls.map((c) => [c.id, c.resumeFrom])).toEqual([['L', undefined], ['L', 3]]);
    expect(t.text).toBe(expectedText('L', 6));
    let next = 0;
    for (const c of c2) {
      expect(c.index).toBe(next);
      next += c.count;
    }
    expect(c2.map((c) => c.text).join('')).toBe(expectedText('L', 6));
  });

  it('batches batchable embeddings into one upstream call and splits results, with per-item errors', async () => {
    const clock = new VirtualClock();
    const bad = new Map([['oops', new ServerError(500)]]);
    const primary = new FakeModel(clock, () => ({}), () => ({ latencyMs: 5, failInputs: bad }));
    const engine = new Engine({ clock, random: new Random(1), policy: resolvePolicy('resilient', { batching: { mode: 'time', maxWaitMs: 10 }, retry: { maxAttempts: 1 } }), primary });
    const emb = (id: string, inputs: string[]): EngineRequest => ({ id, kind: 'embedding', batchable: true, embedding: { id, model: 'e', inputs } });
    const rs = await clock.run(Promise.all([engine.submit(emb('a', ['x', 'yy'])), engine.submit(emb('b', ['oops'])), engine.submit(emb('c', ['zzz']))]));
    expect(primary.calls).toHaveLength(1);
    expect(rs.map((r) => r.outcome)).toEqual(['ok', 'failed', 'ok']);
    expect(rs[0]?.embeddings).toEqual([[1, 1], [2, 1]]);
    expect(rs[2]?.embeddings).toEqual([[3, 1]]);
    expect(engine.snapshot().counters).toMatchObject({ upstreamCalls: 1, batches: 1 });
  });

  it('adaptive: drops shrink the limit and emit limit events', async () => {
    const { clock, engine, events } = setup('adaptive', { concurrency: { limit: 20, minLimit: 2 }, retry: { maxAttempts: 1 }, breaker: { enabled: false } }, () => ({
      error: new RateLimitedError(undefined),
    }));
    await clock.run(Promise.all(Array.from({ length: 10 }, (_, i) => engine.submit(chat(`r${i}`)))));
    expect(engine.snapshot().concurrencyLimit).toBeLessThan(20);
    expect(events.some((e) => e.type === 'limit')).toBe(true);
  });

  it('adaptive: a call the client abandons before its first token is congestion; one abandoned after it is not', async () => {
    const run = async (ttftMs: number) => {
      const { clock, engine } = setup('adaptive', { concurrency: { limit: 20, minLimit: 2 }, breaker: { enabled: false } }, () => ({ tokens: 50, ttftMs, itlMs: 100 }));
      const ac = new AbortController();
      clock.setTimer(3_000, () => ac.abort(new Error('client timeout')));
      const r = await clock.run(engine.submit(chat('a'), ac.signal));
      return { outcome: r.outcome, limit: engine.snapshot().concurrencyLimit };
    };
    expect(await run(10_000)).toEqual({ outcome: 'cancelled', limit: 18 });
    expect(await run(100)).toEqual({ outcome: 'cancelled', limit: 20 });
  });
});
