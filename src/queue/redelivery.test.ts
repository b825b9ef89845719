import { describe, expect, it } from 'vitest';
import type { EngineResult } from '../engine/engine-types.js';
import { FinagleRetryBudget } from '../engine/retry-budget.js';
import { resolvePolicy } from '../policy.js';
import { Random } from '../random.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { classifyResult, Redelivery } from './redelivery.js';

function failed(code: string, retryAfterMs?: number, outcome: EngineResult['outcome'] = 'failed'): EngineResult {
  return {
    id: 'j', outcome, text: '', tokens: 0, model: 'primary', attempts: 1, upstreamCalls: 1, resumes: 0, queuedMs: 0, backoffMs: 0, endAtMs: 0,
    error: { code, message: code }, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  };
}

const policy = resolvePolicy('resilient', { retry: { maxAttempts: 4, baseMs: 100, maxMs: 1000, maxRetryAfterMs: 5000 } });

describe('Redelivery', () => {
  it('retries retryable failures with the policy backoff, until the attempts run out', () => {
    const r = new Redelivery({ policy, random: new Random(1) });
    const caps = [100, 200, 400];
    for (let attempt = 1; attempt <= 3; attempt++) {
      const d = r.decide('job-a', failed('SERVER_ERROR'), attempt, Number.POSITIVE_INFINITY);
      expect(d.retry).toBe(true);
      if (d.retry) {
        expect(d.delayMs).toBeGreaterThanOrEqual(0);
        expect(d.delayMs).toBeLessThanOrEqual(caps[attempt - 1] as number);
      }
    }
    expect(r.decide('job-a', failed('SERVER_ERROR'), 4, Number.POSITIVE_INFINITY)).toEqual({ retry: false, reason: 'max-attempts' });
  });

  it('draws the same delay for the same job and attempt, whichever worker decides', () => {
    const a = new Redelivery({ policy, random: new Random(9) }).decide('job-x', failed('STREAM_INTERRUPTED'), 3, Number.POSITIVE_INFINITY);
    const b = new Redelivery({ policy, random: new Random(9) }).decide('job-x', failed('STREAM_INTERRUPTED'), 3, Number.POSITIVE_INFINITY);
    expect(a).toEqual(b);
  });

  it('honours Retry-After, and gives up when it is longer than allowed or than the deadline left', () => {
    const r = new Redelivery({ policy, random: new Random(1) });
    expect(r.decide('j', failed('RATE_LIMITED', 700), 1, Number.POSITIVE_INFINITY)).toEqual({ retry: true, delayMs: 700, cause: 'retry-after' });
    expect(r.decide('j', failed('OVERLOADED', 9000), 1, Number.POSITIVE_INFINITY)).toEqual({ retry: false, reason: 'retry-after-too-long' });
    expect(r.decide('j', failed('RATE_LIMITED', 700), 1, 500)).toEqual({ retry: false, reason: 'deadline' });
  });

  it('does not retry what cannot succeed: bad requests, unknown errors, cancellation, deadlines', () => {
    const r = new Redelivery({ policy, random: new Random(1) });
    expect(r.decide('j', failed('BAD_REQUEST'), 1, Number.POSITIVE_INFINITY)).toEqual({ retry: false, reason: 'not-retryable' });
    expect(r.decide('j', failed('SOMETHING_ELSE'), 1, Number.POSITIVE_INFINITY)).toEqual({ retry: false, reason: 'not-retryable' });
    expect(r.decide('j', failed('CANCELLED'), 1, Number.POSITIVE_INFINITY)).toEqual({ retry: false, reason: 'final' });
    expect(r.decide('j', failed('DEADLINE_EXCEEDED'), 1, Number.POSITIVE_INFINITY)).toEqual({ retry: false, reason: 'final' });
  });

  it('an open breaker is retried after its Retry-After', () => {
    const c = classifyResult(failed('BREAKER_OPEN', 2000));
    expect(c).toMatchObject({ code: 'BREAKER_OPEN', retryable: true, retryAfterMs: 2000 });
    expect(new Redelivery({ policy, random: new Random(1) }).decide('j', failed('BREAKER_OPEN', 2000), 1, Number.POSITIVE_INFINITY)).toEqual({ retry: true, delayMs: 2000, cause: 'retry-after' });
  });

  it('retries only while the retry budget allows', () => {
    const clock = new VirtualClock();
    const budget = new FinagleRetryBudget(clock, { ratio: 0.5, minRetriesPerSec: 0, ttlMs: 10_000 });
    const r = new Redelivery({ policy, random: new Random(1), budget });
    // Two requests deposit one retry's worth: one retry goes ahead, the next is refused.
    budget.onRequest();
    budget.onRequest();
    expect(r.decide('a', failed('SERVER_ERROR'), 1, Number.POSITIVE_INFINITY).retry).toBe(true);
    expect(r.decide('b', failed('SERVER_ERROR'), 1, Number.POSITIVE_INFINITY)).toEqual({ retry: false, reason: 'budget' });
    expect(budget.level).toBeGreaterThanOrEqual(0);
  });
});
