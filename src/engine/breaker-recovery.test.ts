/**
 * Getting traffic back to the primary after a crash, in burst-1000's shape:
 * - a half-open probe succeeds when the upstream answers (its first event), not when its stream ends: a
 *   5,000-token probe kept the breaker half-open, and every request on the fallback, for 40 s after the crash;
 * - the streams a crash cuts all at once resume once the breaker lets them through: a retry that must wait for the
 *   open breaker is paced by it (probes, then slow start) and spends no retry budget, where before the budget
 *   refused most of them and they ended partial.
 */
import { describe, expect, it } from 'vitest';
import { resolvePolicy } from '../policy.js';
import { Random } from '../random.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { ServerError, StreamInterruptedError } from '../upstream/errors.js';
import { classify } from './classify.js';
import { constantBackoff } from './backoff.js';
import { Engine, type EngineEvent, type EngineRequest } from './engine.js';
import { RetryPolicy } from './retry.js';
import { FinagleRetryBudget } from './retry-budget.js';
import { expectedText, FakeModel, type StreamScript } from './testing/fake-model.js';

const chat = (id: string, tokens = 3): EngineRequest => ({ id, kind: 'chat', request: { id, model: 'm', prompt: 'hi', maxTokens: tokens } });

const BREAKER = { rule: 'consecutive', consecutiveFailures: 2, openMs: 1000, halfOpenProbes: 1, slowStartMs: 0 } as const;

describe('half-open probes succeed at their first event', () => {
  it('the breaker closes when a long probe starts answering, and the next request goes to the primary', async () => {
    const clock = new VirtualClock();
    let mode: 'fail' | 'slow' = 'fail';
    // Healthy again, the primary answers long streams: 100 tokens 100 ms apart (10 s each).
    const primary = new FakeModel(clock, (): StreamScript => (mode === 'fail' ? { error: new ServerError(500), ttftMs: 5 } : { tokens: 100, ttftMs: 20, itlMs: 100 }));
    const fallback = new FakeModel(clock, () => ({ tokens: 3 }));
    const engine = new Engine({
      clock,
      random: new Random(2),
      policy: resolvePolicy('resilient', { breaker: BREAKER, retry: { maxAttempts: 1 } }),
      primary,
      fallback,
    });
    const transitions: string[] = [];
    engine.onEvent((e: EngineEvent) => {
      if (e.type === 'breaker-state') transitions.push(`${e.from}->${e.to}@${Math.round(e.atMs)}`);
    });
    await clock.run(Promise.all([engine.submit(chat('a')), engine.submit(chat('b'))]));
    expect(engine.snapshot().breaker).toBe('open');
    mode = 'slow';
    await clock.advanceBy(1100 - clock.now());
    const probe = engine.submit(chat('probe', 100));
    await clock.advanceBy(400);
    // Closed 20 ms after the probe was sent (its first token), 10 s before its stream ends.
    expect(transitions).toEqual(['closed->open@5', 'open->half-open@1100', 'half-open->closed@1120']);
    const after = await clock.run(engine.submit(chat('after', 100)));
    expect(after).toMatchObject({ outcome: 'ok', model: 'primary', tokens: 100 });
    expect(await clock.run(probe)).toMatchObject({ outcome: 'ok', model: 'primary', tokens: 100 });
    expect(fallback.calls).toHaveLength(0);
  });

  it('a probe that fails before answering still reopens the breaker', async () => {
    const clock = new VirtualClock();
    const primary = new FakeModel(clock, () => ({ error: new ServerError(500), ttftMs: 5 }));
    const engine = new Engine({ clock, random: new Random(2), policy: resolvePolicy('resilient', { breaker: BREAKER, retry: { maxAttempts: 1 } }), primary });
    const transitions: string[] = [];
    engine.onEvent((e: EngineEvent) => {
      if (e.type === 'breaker-state') transitions.push(`${e.from}->${e.to}`);
    });
    await clock.run(Promise.all([engine.submit(chat('a')), engine.submit(chat('b'))]));
    await clock.advanceBy(1000);
    await clock.run(engine.submit(chat('probe')));
    expect(transitions).toEqual(['closed->open', 'open->half-open', 'half-open->open']);
  });
});

describe('retries gated by the open breaker spend no budget', () => {
  it('RetryPolicy: a gated retry goes ahead with an empty budget; an ungated one is refused', () => {
    const clock = new VirtualClock();
    const budget = new FinagleRetryBudget(clock, { ratio: 0, minRetriesPerSec: 0.1, ttlMs: 10_000 });
    const policy = new RetryPolicy({ maxAttempts: 5, backoff: constantBackoff(100), budget });
    const cut = classify(new StreamInterruptedError(5, 'cut'));
    expect(policy.begin(new Random(1)).decide(cut, 10_000)).toMatchObject({ retry: true });
    expect(budget.level).toBe(0);
    expect(policy.begin(new Random(1)).decide(cut, 10_000)).toEqual({ retry: false, reason: 'budget' });
    expect(policy.begin(new Random(1)).decide(cut, 10_000, undefined, true)).toMatchObject({ retry: true });
    expect(budget.level).toBe(0);
  });

  it('six streams cut at once by a crash all resume once the breaker closes, on a budget of one retry', async () => {
    const clock = new VirtualClock();
    // Every first call is cut after 5 tokens (all at the same instant); later calls answer in full.
    const primary = new FakeModel(clock, (_r, n): StreamScript =>
      n === 0 ? { tokens: 20, ttftMs: 10, itlMs: 10, failAfter: { afterTokens: 5, error: new StreamInterruptedError(5, 'crash') } } : { tokens: 20, ttftMs: 10, itlMs: 10 },
    );
    const engine = new Engine({
      clock,
      random: new Random(4),
      policy: resolvePolicy('resilient', {
        breaker: BREAKER,
        retry: { maxAttempts: 3 },
        retryBudget: { mode: 'finagle', ratio: 0, minRetriesPerSec: 0.1, ttlMs: 10_000 },
      }),
      primary,
    });
    const ids = ['r0', 'r1', 'r2', 'r3', 'r4', 'r5'];
    const results = await clock.run(Promise.all(ids.map((id) => engine.submit(chat(id, 20)))));
    for (const r of results) {
      expect(r, r.id).toMatchObject({ outcome: 'ok', model: 'primary', tokens: 20, resumes: 1, text: expectedText(r.id, 20) });
      // None went back before the breaker let probes through (~1 s after the cut).
      expect(primary.callsFor(r.id)[1]!.atMs, r.id).toBeGreaterThanOrEqual(1000);
      expect(primary.callsFor(r.id)[1]!.resumeFrom, r.id).toBe(5);
    }
    // The first cut was retried while the breaker was still closed: it spent the one retry the budget had.
    expect(engine.snapshot().counters.budgetDenied).toBe(0);
    expect(engine.snapshot().budgetLevel).toBe(0);
  });
});
