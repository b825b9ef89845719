import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Random } from '../random.js';
import { backoffFromPolicy, constantBackoff, exponentialBackoff, noBackoff, type Backoff } from './backoff.js';

function delays(b: Backoff, n: number): number[] {
  const out: number[] = [];
  for (let s = b, i = 0; i < n; i++, s = s.next()) out.push(s.delayMs);
  return out;
}

describe('backoff', () => {
  it('none and constant', () => {
    expect(delays(noBackoff.start(new Random(1)), 3)).toEqual([0, 0, 0]);
    expect(delays(constantBackoff(70).start(new Random(1)), 3)).toEqual([70, 70, 70]);
  });

  it('exponential without jitter doubles up to the cap', () => {
    const b = exponentialBackoff({ baseMs: 50, maxMs: 1000, jitter: 'none' }).start(new Random(1));
    expect(delays(b, 7)).toEqual([50, 100, 200, 400, 800, 1000, 1000]);
  });

  it('steps are immutable: next() is memoised, so a step always leads to the same delay', () => {
    const b = exponentialBackoff({ jitter: 'full' }).start(new Random(7));
    const a1 = b.next().delayMs;
    const a2 = b.next().delayMs;
    expect(a1).toBe(a2);
    expect(b.next()).toBe(b.next());
  });

  it('is seeded: the same seed gives the same delays, another seed different ones', () => {
    const s = exponentialBackoff({ jitter: 'full' });
    expect(delays(s.start(new Random(42)), 8)).toEqual(delays(s.start(new Random(42)), 8));
    expect(delays(s.start(new Random(42)), 8)).not.toEqual(delays(s.start(new Random(43)), 8));
  });

  it('jitter kinds stay in their ranges (property)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 200 }), fc.integer({ min: 200, max: 10_000 }), (seed, baseMs, maxMs) => {
        const r = new Random(seed);
        const full = delays(exponentialBackoff({ baseMs, maxMs, jitter: 'full' }).start(r), 12);
        const equal = delays(exponentialBackoff({ baseMs, maxMs, jitter: 'equal' }).start(r), 12);
        const deco = delays(exponentialBackoff({ baseMs, maxMs, jitter: 'decorrelated' }).start(r), 12);
        full.forEach((d, n) => {
          expect(d).toBeGreaterThanOrEqual(0);
          expect(d).toBeLessThan(Math.min(maxMs, baseMs * 2 ** n) + 1e-9);
        });
        equal.forEach((d, n) => {
          const t = Math.min(maxMs, baseMs * 2 ** n);
          expect(d).toBeGreaterThanOrEqual(t / 2);
          expect(d).toBeLessThanOrEqual(t);
        });
        let prev = baseMs;
        for (const d of deco) {
          expect(d).toBeGreaterThanOrEqual(baseMs);
          expect(d).toBeLessThanOrEqual(Math.min(maxMs, Math.max(baseMs, prev * 3)));
          prev = d;
        }
      }),
      { numRuns: 200 },
    );
  });

  it('full jitter spreads delays across [0, cap): mean near half the cap', () => {
    const s = exponentialBackoff({ baseMs: 50, maxMs: 5000, jitter: 'full' });
    const r = new Random('spread');
    let sum = 0;
    for (let i = 0; i < 2000; i++) sum += delays(s.start(r), 10)[9] as number; // 10th step: capped at 5000
    expect(sum / 2000).toBeGreaterThan(2300);
    expect(sum / 2000).toBeLessThan(2700);
  });

  it('rejects bad options with clear messages', () => {
    expect(() => exponentialBackoff({ baseMs: -1 })).toThrow('baseMs: expected a finite number >= 0, got -1');
    expect(() => exponentialBackoff({ baseMs: 100, maxMs: 10 })).toThrow('baseMs: expected a number <= maxMs (10), got 100');
    expect(() => exponentialBackoff({ factor: 0.5 })).toThrow('factor: expected a finite number >= 1, got 0.5');
  });

  it('builds from a policy group', () => {
    const b = backoffFromPolicy({ backoff: 'exponential', jitter: 'none', baseMs: 10, maxMs: 35, factor: 3 }).start(new Random(1));
    expect(delays(b, 4)).toEqual([10, 30, 35, 35]);
    expect(delays(backoffFromPolicy({ backoff: 'none', jitter: 'full', baseMs: 10, maxMs: 35, factor: 3 }).start(new Random(1)), 2)).toEqual([0, 0]);
  });
});
