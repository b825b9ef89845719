import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors.js';
import { parsePolicy, PRESET_NAMES, preset, resolvePolicy, setPolicyField, withOverrides } from './policy.js';

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return (e as Error).message;
  }
  throw new Error('expected a ValidationError');
}

describe('parsePolicy', () => {
  it('fills every default (the resilient shape) from an empty object', () => {
    const p = parsePolicy({});
    expect(p.retry).toMatchObject({ maxAttempts: 4, backoff: 'exponential', jitter: 'full', baseMs: 50, maxMs: 5000 });
    expect(p.retryBudget).toMatchObject({ mode: 'finagle', ratio: 0.2 });
    expect(p.breaker.enabled).toBe(true);
    expect(p.concurrency).toMatchObject({ mode: 'fixed', limit: 256 });
    expect(p.name).toBe('custom');
  });

  it('names the field, the expectation and the value in exact messages', () => {
    expect(messageOf(() => parsePolicy({ retry: { maxAttempts: 0 } }))).toBe('retry.maxAttempts: expected a number >= 1, got 0');
    expect(messageOf(() => parsePolicy({ retry: { maxAttempts: 1.5 } }))).toBe('retry.maxAttempts: expected an integer, got 1.5');
    expect(messageOf(() => parsePolicy({ concurrency: { limit: 'many' } }))).toBe('concurrency.limit: expected a number, got "many"');
    expect(messageOf(() => parsePolicy({ retryBudget: { ratio: -0.1 } }))).toBe('retryBudget.ratio: expected a number >= 0, got -0.1');
    expect(messageOf(() => parsePolicy({ queue: { order: 'random' } }))).toBe(
      'queue.order: expected one of "fifo" | "lifo-under-overload", got "random"',
    );
    expect(messageOf(() => parsePolicy({ breaker: { failureRatio: 0 } }))).toBe('breaker.failureRatio: expected a number > 0, got 0');
    expect(messageOf(() => parsePolicy({ retry: 3 }))).toBe('retry: expected an object, got 3');
    expect(messageOf(() => parsePolicy({ deadline: { timeoutMs: Infinity } }))).toBe(
      'deadline.timeoutMs: expected a finite number, got Infinity',
    );
  });

  it('rejects unknown keys by name', () => {
    expect(messageOf(() => parsePolicy({ retry: { maxAtempts: 3 } }))).toBe('retry.maxAtempts: expected no such field in retry, got 3');
    expect(messageOf(() => parsePolicy({ retries: {} }))).toBe('retries: expected no such field in the policy, got {}');
  });

  it('checks cross-field constraints', () => {
    expect(messageOf(() => parsePolicy({ concurrency: { minLimit: 10, maxLimit: 5 } }))).toBe(
      'concurrency.minLimit: expected a number <= concurrency.maxLimit (5), got 10',
    );
    expect(messageOf(() => parsePolicy({ retry: { baseMs: 9000 } }))).toBe('retry.baseMs: expected a number <= retry.maxMs (5000), got 9000');
  });

  it('carries a stable code and path', () => {
    try {
      parsePolicy({ breaker: { openMs: -1 } });
      expect.unreachable();
    } catch (e) {
      expect((e as ValidationError).code).toBe('INVALID_VALUE');
      expect((e as ValidationError).path).toBe('breaker.openMs');
    }
  });
});

describe('presets', () => {
  it('naive: unbounded, 3 immediate retries on any error, no jitter, Retry-After ignored, no breaker/budget/dedup', () => {
    const p = preset('naive');
    expect(p.name).toBe('naive');
    expect(p.concurrency.mode).toBe('unbounded');
    expect(p.queue.enabled).toBe(false);
    expect(p.retry).toMatchObject({ maxAttempts: 4, retryOn: 'any', backoff: 'none', jitter: 'none', honorRetryAfter: false });
    expect(p.breaker.enabled).toBe(false);
    expect(p.retryBudget.mode).toBe('off');
    expect(p.dedup.enabled).toBe(false);
    expect(p.resume.enabled).toBe(false);
    expect(p.deadline.enabled).toBe(false);
  });

  it('bounded: bounded queue, fixed semaphore, exponential full jitter 50 ms..5 s, Retry-After honoured, nothing else', () => {
    const p = preset('bounded');
    expect(p.queue.enabled).toBe(true);
    expect(p.concurrency.mode).toBe('fixed');
    expect(p.retry).toMatchObject({ retryOn: 'retryable', backoff: 'exponential', jitter: 'full', baseMs: 50, maxMs: 5000, honorRetryAfter: true });
    expect(p.retryBudget.mode).toBe('off');
    expect(p.breaker.enabled).toBe(false);
    expect(p.dedup.enabled).toBe(false);
    expect(p.batching.enabled).toBe(false);
    expect(p.idleTimeout.enabled).toBe(false);
  });

  it('resilient: bounded plus budget, breaker with fallback, deadlines, idle timeout, resume, dedup, batching', () => {
    const p = preset('resilient');
    const b = preset('bounded');
    // The same bounded queue, served newest-first under a standing queue, with SLO-aware admission.
    expect({ ...p.queue, order: null, lifoThresholdRatio: null, deadlineShed: null }).toEqual({ ...b.queue, order: null, lifoThresholdRatio: null, deadlineShed: null });
    expect(p.queue).toMatchObject({ order: 'lifo-under-overload', deadlineShed: true });
    expect(b.queue).toMatchObject({ order: 'fifo', deadlineShed: false });
    expect(p.retry).toEqual(b.retry);
    expect(p.retryBudget.mode).toBe('finagle');
    expect(p.breaker.enabled && p.fallback.enabled).toBe(true);
    expect(p.deadline.enabled && p.idleTimeout.enabled && p.resume.enabled).toBe(true);
    expect(p.dedup.enabled && p.batching.enabled && p.contextTrim.enabled).toBe(true);
    expect(p.concurrency.mode).toBe('fixed');
  });

  it('adaptive: resilient with an adaptive limit, and nothing else changed', () => {
    const a = preset('adaptive');
    const r = preset('resilient');
    expect(a.concurrency.mode).toBe('aimd');
    expect({ ...a, name: 'x', concurrency: null }).toEqual({ ...r, name: 'x', concurrency: null });
  });

  it('every preset parses to itself (round trip)', () => {
    for (const n of PRESET_NAMES) expect(parsePolicy(preset(n))).toEqual(preset(n));
  });
});

describe('resolvePolicy', () => {
  it('deep-merges overrides without disturbing siblings', () => {
    const p = resolvePolicy('bounded', { retry: { maxAttempts: 2 }, concurrency: { limit: 8 } });
    expect(p.retry.maxAttempts).toBe(2);
    expect(p.retry.jitter).toBe('full');
    expect(p.concurrency).toMatchObject({ mode: 'fixed', limit: 8 });
  });

  it('validates overrides and names unknown keys', () => {
    expect(messageOf(() => resolvePolicy('resilient', { breaker: { openMS: 100 } }))).toBe(
      'breaker.openMS: expected no such field in breaker, got 100',
    );
    expect(messageOf(() => resolvePolicy('resilient', { retryBudget: { ratio: 'x' } }))).toBe(
      'retryBudget.ratio: expected a number, got "x"',
    );
    expect(messageOf(() => resolvePolicy('fancy'))).toBe('preset: expected one of "naive" | "bounded" | "resilient" | "adaptive", got "fancy"');
    expect(messageOf(() => resolvePolicy('naive', [1]))).toBe('overrides: expected an object, got an array of 1');
  });

  it('setPolicyField sets by dotted path and validates', () => {
    const base = preset('resilient');
    const p = setPolicyField(base, 'retryBudget.ratio', 0.5);
    expect(p.retryBudget.ratio).toBe(0.5);
    expect(base.retryBudget.ratio).toBe(0.2);
    expect(withOverrides(base, { concurrency: { limit: 3 } }).concurrency.limit).toBe(3);
    expect(messageOf(() => setPolicyField(base, 'concurrency.limit', 0))).toBe('concurrency.limit: expected a number >= 1, got 0');
    expect(messageOf(() => setPolicyField(base, 'concurrency.limt', 3))).toBe('concurrency.limt: expected no such field in concurrency, got 3');
  });
});
