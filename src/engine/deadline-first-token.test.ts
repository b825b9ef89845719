/**
 * The policy's default deadline (for requests that carry none of their own) bounds the wait for the first token,
 * not a streaming answer that keeps making progress: burst-1000's 5,000-token generations were cut at 60 s with
 * ~2,400 tokens computed and delivered (33 timeouts), while naive and bounded, with no deadline, finished them.
 * A request's own deadline still bounds the whole request, and the idle timeout still guards a stalled stream.
 */
import { describe, expect, it } from 'vitest';
import { resolvePolicy } from '../policy.js';
import { Random } from '../random.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { ServerError } from '../upstream/errors.js';
import { Engine, type EngineRequest } from './engine.js';
import { expectedText, FakeModel, type StreamScript } from './testing/fake-model.js';

// A default deadline of 1 s; an idle timeout of 500 ms.
const BASE = { deadline: { timeoutMs: 1000 }, idleTimeout: { idleMs: 500 }, retry: { maxAttempts: 1 } };

function setup(script: (n: number) => StreamScript, overrides: object = BASE) {
  const clock = new VirtualClock();
  const primary = new FakeModel(clock, (_r, n) => script(n));
  const engine = new Engine({ clock, random: new Random(1), policy: resolvePolicy('resilient', overrides), primary });
  return { clock, engine, primary };
}

const chat = (id: string, tokens: number, deadlineMs?: number): EngineRequest => ({
  id,
  kind: 'chat',
  request: { id, model: 'm', prompt: 'hi', maxTokens: tokens },
  ...(deadlineMs !== undefined ? { deadlineMs } : {}),
});

describe('the default deadline bounds the wait for the first token', () => {
  // 30 tokens 100 ms apart after a 50 ms first token: the answer takes ~3 s, three times the default deadline.
  const LONG: StreamScript = { tokens: 30, ttftMs: 50, itlMs: 100 };

  it('a long answer that keeps streaming past the default deadline completes ok', async () => {
    const { clock, engine } = setup(() => LONG);
    const r = await clock.run(engine.submit(chat('long', 30)));
    expect(r).toMatchObject({ outcome: 'ok', tokens: 30, text: expectedText('long', 30) });
    expect(r.endAtMs).toBeGreaterThan(2900);
  });

  it('the same answer is cut at the default deadline with untilFirstToken off (the old behaviour)', async () => {
    const { clock, engine } = setup(() => LONG, { ...BASE, deadline: { timeoutMs: 1000, untilFirstToken: false } });
    const r = await clock.run(engine.submit(chat('long', 30)));
    expect(r).toMatchObject({ outcome: 'timeout', error: { code: 'DEADLINE_EXCEEDED' } });
    expect(r.endAtMs).toBe(1000);
    expect(r.tokens).toBe(10);
  });

  it("a request's own deadline still bounds the whole answer", async () => {
    const { clock, engine } = setup(() => LONG);
    const r = await clock.run(engine.submit(chat('own', 30, 1000)));
    expect(r).toMatchObject({ outcome: 'timeout', error: { code: 'DEADLINE_EXCEEDED' } });
    expect(r.endAtMs).toBe(1000);
  });

  it('a request with no first token by the default deadline times out there', async () => {
    // Slow to start (1.2 s to the first token) but within the idle timeout's reach only if it were longer: use a
    // 2 s idle timeout so that only the deadline can end it.
    const { clock, engine } = setup(() => ({ tokens: 3, ttftMs: 1200 }), { ...BASE, idleTimeout: { idleMs: 2000 } });
    const r = await clock.run(engine.submit(chat('slow', 3)));
    expect(r).toMatchObject({ outcome: 'timeout', error: { code: 'DEADLINE_EXCEEDED' }, tokens: 0 });
    expect(r.endAtMs).toBe(1000);
  });

  it('a stream that stalls after its first tokens is still ended by the idle timeout', async () => {
    const { clock, engine } = setup(() => ({ tokens: 30, ttftMs: 50, itlMs: 100, stallAfter: 5 }));
    const r = await clock.run(engine.submit(chat('stall', 30)));
    expect(r).toMatchObject({ outcome: 'degraded', degraded: 'partial', error: { code: 'IDLE_TIMEOUT' }, tokens: 5 });
  });

  it('a stream that breaks after the default deadline passed is resumed, not timed out', async () => {
    const { clock, engine, primary } = setup(
      (n) => (n === 0 ? { ...LONG, failAfter: { afterTokens: 15, error: new ServerError(503) } } : LONG),
      { ...BASE, retry: { maxAttempts: 2 } },
    );
    const r = await clock.run(engine.submit(chat('resumed', 30)));
    expect(r).toMatchObject({ outcome: 'ok', tokens: 30, resumes: 1, text: expectedText('resumed', 30) });
    expect(primary.calls.map((c) => c.resumeFrom)).toEqual([undefined, 15]);
  });

  it('a dedup twin following the long answer is not cut at the default deadline either', async () => {
    const { clock, engine, primary } = setup(() => LONG);
    const lead = engine.submit({ ...chat('L', 30), idempotencyKey: 'K' });
    const twin = engine.submit({ ...chat('T', 30), idempotencyKey: 'K' });
    const [a, b] = await clock.run(Promise.all([lead, twin]));
    expect(a).toMatchObject({ outcome: 'ok', tokens: 30 });
    expect(b).toMatchObject({ outcome: 'ok', tokens: 30, deduped: 'joined' });
    expect(primary.calls).toHaveLength(1);
  });

  it('a dedup twin that got no token by the default deadline times out there', async () => {
    const { clock, engine } = setup(() => ({ tokens: 3, ttftMs: 1200 }), { ...BASE, idleTimeout: { idleMs: 2000 } });
    const lead = engine.submit({ ...chat('L', 3), idempotencyKey: 'K' });
    const twin = engine.submit({ ...chat('T', 3), idempotencyKey: 'K' });
    const [, b] = await clock.run(Promise.all([lead, twin]));
    expect(b).toMatchObject({ outcome: 'timeout', error: { code: 'DEADLINE_EXCEEDED' } });
    expect(b.endAtMs).toBe(1000);
  });

  it('a started answer that stops making progress (broken, its upstream never back) still times out', async () => {
    // 5 tokens (the last at 90 ms), then the stream breaks and every later call fails: the breaker opens and the
    // request, locked to the primary, waits for it and probes it, with retries to spare.
    const { clock, engine } = setup(
      (n) => (n === 0 ? { tokens: 30, ttftMs: 50, itlMs: 10, failAfter: { afterTokens: 5, error: new ServerError(500) } } : { error: new ServerError(500), ttftMs: 5 }),
      {
        ...BASE,
        retry: { maxAttempts: 1000 },
        retryBudget: { mode: 'off' },
        breaker: { rule: 'consecutive', consecutiveFailures: 1, openMs: 300, halfOpenProbes: 1 },
      },
    );
    const r = await clock.run(engine.submit(chat('stuck', 30)));
    expect(r).toMatchObject({ outcome: 'timeout', error: { code: 'DEADLINE_EXCEEDED' }, tokens: 5 });
    // Checked at 1 s (progress since the start: go on), then at 2 s (none since): ended there.
    expect(r.endAtMs).toBe(2000);
  });
});
