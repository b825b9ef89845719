import { describe, expect, it } from 'vitest';
import { AbortError } from '../errors.js';
import { Random } from '../random.js';
import { VirtualClock } from '../time/virtual-clock.js';
import {
  BadRequestError,
  ConnectionRefusedError,
  ContextLengthExceededError,
  DeadlineExceededError,
  IdleTimeoutError,
  OverloadedError,
  RateLimitedError,
  ServerError,
  StreamInterruptedError,
} from '../upstream/errors.js';
import { constantBackoff, exponentialBackoff, noBackoff } from './backoff.js';
import { classify, isRetryable } from './classify.js';
import { RetryPolicy } from './retry.js';
import { FinagleRetryBudget } from './retry-budget.js';

describe('classify', () => {
  it('retryable: 429, 503, 5xx, interrupted stream, idle timeout, connection refused', () => {
    for (const e of [new RateLimitedError(10), new OverloadedError(undefined), new ServerError(502), new StreamInterruptedError(3, 'reset'), new IdleTimeoutError(5, 0), new ConnectionRefusedError()]) {
      expect(classify(e).retryable).toBe(true);
    }
  });

  it('not retryable: bad request, context length, deadline, cancel, unknown', () => {
    expect(classify(new BadRequestError('x')).retryable).toBe(false);
    expect(classify(new ContextLengthExceededError(10, 5)).kind).toBe('context-length');
    expect(classify(new DeadlineExceededError(5)).final).toBe(true);
    expect(classify(new AbortError()).kind).toBe('cancelled');
    expect(classify(new TypeError('boom'))).toMatchObject({ kind: 'unknown', code: 'UNKNOWN', retryable: false });
  });

  it('429 is congestion but not a breaker failure; 503 is both; Retry-After is carried', () => {
    expect(classify(new RateLimitedError(1500))).toMatchObject({ breakerFailure: false, congestion: true, retryAfterMs: 1500 });
    expect(classify(new OverloadedError(200))).toMatchObject({ breakerFailure: true, congestion: true, retryAfterMs: 200 });
  });

  it('retryOn any retries everything except the final kinds', () => {
    expect(isRetryable(classify(new BadRequestError('x')), 'any')).toBe(true);
    expect(isRetryable(classify(new AbortError()), 'any')).toBe(false);
    expect(isRetryable(classify(new BadRequestError('x')), 'retryable')).toBe(false);
  });
});

describe('RetryPolicy', () => {
  const r = new Random(1);
  it('stops at maxAttempts', () => {
    const s = new RetryPolicy({ maxAttempts: 3, backoff: noBackoff }).begin(r);
    const c = classify(new ServerError(500));
    s.onAttempt();
    expect(s.decide(c, Infinity)).toEqual({ retry: true, delayMs: 0, cause: 'backoff' });
    s.onAttempt();
    expect(s.decide(c, Infinity).retry).toBe(true);
    s.onAttempt();
    expect(s.decide(c, Infinity)).toEqual({ retry: false, reason: 'max-attempts' });
  });

  it('honours Retry-After when longer than the backoff, or ignores it', () => {
    const c = classify(new RateLimitedError(800));
    const honour = new RetryPolicy({ maxAttempts: 5, backoff: constantBackoff(100) }).begin(r);
    honour.onAttempt();
    expect(honour.decide(c, Infinity)).toEqual({ retry: true, delayMs: 800, cause: 'retry-after' });
    const ignore = new RetryPolicy({ maxAttempts: 5, backoff: constantBackoff(100), honorRetryAfter: false }).begin(r);
    ignore.onAttempt();
    expect(ignore.decide(c, Infinity)).toEqual({ retry: true, delayMs: 100, cause: 'backoff' });
    const capped = new RetryPolicy({ maxAttempts: 5, backoff: constantBackoff(100), maxRetryAfterMs: 500 }).begin(r);
    capped.onAttempt();
    expect(capped.decide(c, Infinity)).toEqual({ retry: false, reason: 'retry-after-too-long' });
  });

  it('gives up when the wait would pass the deadline, before touching the budget', () => {
    const clock = new VirtualClock();
    const budget = new FinagleRetryBudget(clock, { ratio: 0, minRetriesPerSec: 0.1, ttlMs: 10_000 });
    const s = new RetryPolicy({ maxAttempts: 5, backoff: constantBackoff(100), budget }).begin(r);
    s.onAttempt();
    expect(s.decide(classify(new ServerError(500)), 100)).toEqual({ retry: false, reason: 'deadline' });
    expect(budget.level).toBe(1);
    expect(s.decide(classify(new ServerError(500)), 101).retry).toBe(true);
    expect(budget.level).toBe(0);
    expect(s.decide(classify(new ServerError(500)), 101)).toEqual({ retry: false, reason: 'budget' });
  });

  it('execute sleeps on the clock between attempts and rethrows the last error', async () => {
    const clock = new VirtualClock();
    const policy = new RetryPolicy({ maxAttempts: 3, backoff: exponentialBackoff({ baseMs: 100, jitter: 'none' }) });
    const at: number[] = [];
    const p = policy.execute(clock, r, async () => {
      at.push(clock.now());
      throw new ServerError(503);
    });
    await expect(clock.run(p)).rejects.toThrow('server error (503)');
    expect(at).toEqual([0, 100, 300]);
  });

  it('execute returns the first success', async () => {
    const clock = new VirtualClock();
    const policy = new RetryPolicy({ maxAttempts: 3, backoff: noBackoff });
    const v = await clock.run(policy.execute(clock, r, async (n) => {
      if (n < 2) throw new ConnectionRefusedError();
      return n;
    }));
    expect(v).toBe(2);
  });
});
