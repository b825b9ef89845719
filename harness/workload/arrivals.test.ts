import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Random } from '../../src/random.js';
import { arrivalTimes, expectedRatePerSec, type ArrivalSpec } from './arrivals.js';

function gaps(times: readonly number[]): number[] {
  return times.slice(1).map((t, i) => t - (times[i] as number));
}

function cv(xs: readonly number[]): number {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / xs.length;
  return Math.sqrt(variance) / mean;
}

function countIn(times: readonly number[], from: number, to: number): number {
  return times.filter((t) => t >= from && t < to).length;
}

const DURATION_MS = 1_000_000; // 1,000 s of virtual time

describe('arrivalTimes', () => {
  it('constant: exactly rate × duration arrivals, evenly spaced (CV 0)', () => {
    const times = arrivalTimes({ kind: 'constant', ratePerSec: 50 }, new Random(1), 10_000);
    expect(times).toHaveLength(500);
    expect(times[0]).toBe(0);
    expect(cv(gaps(times))).toBeLessThan(1e-9);
    expect(times.at(-1)).toBeCloseTo(9980, 6);
  });

  it('poisson: mean rate as set and inter-arrival CV ≈ 1', () => {
    const times = arrivalTimes({ kind: 'poisson', ratePerSec: 100 }, new Random(2), DURATION_MS);
    expect(times.length / (DURATION_MS / 1000)).toBeGreaterThan(99);
    expect(times.length / (DURATION_MS / 1000)).toBeLessThan(101);
    expect(cv(gaps(times))).toBeGreaterThan(0.98);
    expect(cv(gaps(times))).toBeLessThan(1.02);
  });

  it.each([0.5, 2, 4])('gamma: mean rate as set and inter-arrival CV ≈ %s', (target) => {
    const times = arrivalTimes({ kind: 'gamma', ratePerSec: 100, cv: target }, new Random(3), DURATION_MS);
    const rate = times.length / (DURATION_MS / 1000);
    expect(Math.abs(rate - 100) / 100).toBeLessThan(0.04);
    expect(Math.abs(cv(gaps(times)) - target) / target).toBeLessThan(0.08);
  });

  it('ramp: the count per window follows the linear rate, then holds at the end rate', () => {
    const spec: ArrivalSpec = { kind: 'ramp', fromPerSec: 0, toPerSec: 100, overMs: 100_000 };
    const times = arrivalTimes(spec, new Random(4), 150_000);
    // Expected counts: integral of the rate over each 25 s window: 312.5, 937.5, 1562.5, 2187.5, then 2500 twice.
    const expected = [312.5, 937.5, 1562.5, 2187.5, 2500, 2500];
    expected.forEach((e, i) => {
      const got = countIn(times, i * 25_000, (i + 1) * 25_000);
      expect(Math.abs(got - e)).toBeLessThan(5 * Math.sqrt(e)); // 5 sigma of a Poisson count
    });
    expect(countIn(times, 0, 10_000)).toBeLessThan(countIn(times, 90_000, 100_000) / 5);
    expect(expectedRatePerSec(spec, 50_000)).toBe(50);
  });

  it('spike: base rate outside the window, spike rate inside it', () => {
    const spec: ArrivalSpec = { kind: 'spike', baseRatePerSec: 10, spikeRatePerSec: 200, atMs: 30_000, durationMs: 10_000 };
    const times = arrivalTimes(spec, new Random(5), 60_000);
    const inside = countIn(times, 30_000, 40_000);
    const outside = times.length - inside;
    expect(Math.abs(inside - 2000)).toBeLessThan(5 * Math.sqrt(2000));
    expect(Math.abs(outside - 500)).toBeLessThan(5 * Math.sqrt(500));
    expect(countIn(times, 39_000, 40_000)).toBeGreaterThan(100);
    expect(countIn(times, 40_000, 41_000)).toBeLessThan(40);
  });

  it('burst: exactly N sessions within the window, whatever the run duration', () => {
    const times = arrivalTimes({ kind: 'burst', sessions: 1000, withinMs: 2000, atMs: 500 }, new Random(6), 1000);
    expect(times).toHaveLength(1000);
    expect(times[0]).toBeGreaterThanOrEqual(500);
    expect(times.at(-1)).toBeLessThan(2500);
    // Spread across the window, not bunched: each quarter holds roughly a quarter.
    for (let q = 0; q < 4; q++) expect(countIn(times, 500 + q * 500, 1000 + q * 500)).toBeGreaterThan(200);
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const spec: ArrivalSpec = { kind: 'gamma', ratePerSec: 20, cv: 3 };
    expect(arrivalTimes(spec, new Random(7), 60_000)).toEqual(arrivalTimes(spec, new Random(7), 60_000));
    expect(arrivalTimes(spec, new Random(7), 60_000)).not.toEqual(arrivalTimes(spec, new Random(8), 60_000));
  });

  it('property: every process yields sorted, finite times inside the run', () => {
    const rate = fc.double({ min: 0.1, max: 200, noNaN: true });
    const spec: fc.Arbitrary<ArrivalSpec> = fc.oneof(
      rate.map((ratePerSec) => ({ kind: 'constant' as const, ratePerSec })),
      rate.map((ratePerSec) => ({ kind: 'poisson' as const, ratePerSec })),
      fc.tuple(rate, fc.double({ min: 0.1, max: 10, noNaN: true })).map(([ratePerSec, c]) => ({ kind: 'gamma' as const, ratePerSec, cv: c })),
      fc.tuple(rate, rate, fc.integer({ min: 1, max: 20_000 })).map(([a, b, overMs]) => ({ kind: 'ramp' as const, fromPerSec: a, toPerSec: b, overMs })),
      fc
        .tuple(rate, rate, fc.integer({ min: 0, max: 20_000 }), fc.integer({ min: 1, max: 5000 }))
        .map(([a, b, atMs, durationMs]) => ({ kind: 'spike' as const, baseRatePerSec: a, spikeRatePerSec: b, atMs, durationMs })),
    );
    fc.assert(
      fc.property(spec, fc.integer({ min: 1, max: 20_000 }), fc.integer(), (s, durationMs, seed) => {
        const times = arrivalTimes(s, new Random(seed), durationMs);
        for (let i = 0; i < times.length; i++) {
          const t = times[i] as number;
          if (!Number.isFinite(t) || t < 0 || t >= durationMs) return false;
          if (i > 0 && t < (times[i - 1] as number)) return false;
        }
        return true;
      }),
      { numRuns: 200 },
    );
  });
});
