import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { VirtualClock } from '../time/virtual-clock.js';
import { FinagleRetryBudget, GrpcRetryThrottle } from './retry-budget.js';

describe('FinagleRetryBudget', () => {
  it('allows ratio·requests retries plus the reserve, then refuses', () => {
    const clock = new VirtualClock();
    const b = new FinagleRetryBudget(clock, { ratio: 0.2, minRetriesPerSec: 0, ttlMs: 10_000 });
    for (let i = 0; i < 50; i++) b.onRequest();
    expect(b.level).toBe(10);
    let granted = 0;
    while (b.tryWithdraw()) granted++;
    expect(granted).toBe(10);
    expect(b.level).toBe(0);
  });

  it('has a reserve of minRetriesPerSec · ttl with no traffic', () => {
    const b = new FinagleRetryBudget(new VirtualClock(), { ratio: 0.1, minRetriesPerSec: 2, ttlMs: 5000 });
    expect(b.level).toBe(10);
  });

  it('deposits and withdrawals expire after the TTL', async () => {
    const clock = new VirtualClock();
    const b = new FinagleRetryBudget(clock, { ratio: 1, minRetriesPerSec: 0, ttlMs: 1000, buckets: 10 });
    for (let i = 0; i < 5; i++) b.onRequest();
    expect(b.tryWithdraw()).toBe(true);
    expect(b.level).toBe(4);
    await clock.advanceBy(1000);
    expect(b.level).toBe(0);
    expect(b.tryWithdraw()).toBe(false);
  });

  it('a withdrawal outliving its deposit is a debt: level stays 0, never negative', async () => {
    const clock = new VirtualClock();
    const b = new FinagleRetryBudget(clock, { ratio: 1, minRetriesPerSec: 0, ttlMs: 1000, buckets: 10 });
    b.onRequest();
    await clock.advanceBy(500);
    expect(b.tryWithdraw()).toBe(true);
    await clock.advanceBy(600); // deposit expired, withdrawal still live
    b.onRequest();
    expect(b.level).toBe(0);
    expect(b.tryWithdraw()).toBe(false); // the debt absorbs the new deposit
    await clock.advanceBy(500); // withdrawal expired too
    expect(b.level).toBe(1);
  });

  it('property: level never negative, and withdrawals in any TTL window stay within ratio·requests + reserve', async () => {
    const op = fc.oneof(fc.constant('req' as const), fc.constant('wd' as const), fc.integer({ min: 1, max: 700 }));
    let refusals = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 20, maxLength: 300, size: 'max' }), fc.double({ min: 0, max: 2, noNaN: true }), fc.integer({ min: 0, max: 5 }), async (ops, ratio, minPerSec) => {
        const clock = new VirtualClock();
        const ttlMs = 1000;
        const b = new FinagleRetryBudget(clock, { ratio, minRetriesPerSec: minPerSec, ttlMs });
        const reqs: number[] = [];
        const wds: number[] = [];
        for (const o of ops) {
          if (o === 'req') {
            b.onRequest();
            reqs.push(clock.now());
          } else if (o === 'wd') {
            if (b.tryWithdraw()) wds.push(clock.now());
            else refusals++;
          } else await clock.advanceBy(o);
          expect(b.level).toBeGreaterThanOrEqual(0);
        }
        // Total bound over the run: ratio·R + reserve per TTL window started.
        const windows = Math.floor(clock.now() / ttlMs) + 1;
        expect(wds.length).toBeLessThanOrEqual(Math.round(ratio * 1000) * reqs.length / 1000 + minPerSec * windows + 1e-9);
      }),
      { numRuns: 150 },
    );
    expect(refusals).toBeGreaterThan(0);
  });
});

describe('GrpcRetryThrottle', () => {
  it('allows retries while tokens > maxTokens/2; failures drain 1, successes refill tokenRatio', () => {
    const t = new GrpcRetryThrottle({ maxTokens: 4, tokenRatio: 0.5 });
    expect(t.level).toBe(4);
    t.onFailure();
    expect(t.tryWithdraw()).toBe(true); // 3 > 2
    t.onFailure();
    expect(t.level).toBe(2);
    expect(t.tryWithdraw()).toBe(false); // 2 is not > 2
    t.onSuccess();
    expect(t.level).toBe(2.5);
    expect(t.tryWithdraw()).toBe(true);
    for (let i = 0; i < 10; i++) t.onSuccess();
    expect(t.level).toBe(4);
  });

  it('property: never negative, never above max', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 200, size: 'max' }), (outcomes) => {
        const t = new GrpcRetryThrottle({ maxTokens: 5, tokenRatio: 0.3 });
        for (const ok of outcomes) {
          if (ok) t.onSuccess();
          else t.onFailure();
          expect(t.level).toBeGreaterThanOrEqual(0);
          expect(t.level).toBeLessThanOrEqual(5);
        }
      }),
    );
  });

  it('rejects bad options', () => {
    expect(() => new GrpcRetryThrottle({ tokenRatio: 0 })).toThrow('tokenRatio: expected a number in (0, 1], got 0');
  });
});
