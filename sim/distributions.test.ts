import { describe, expect, it } from 'vitest';
import { Random } from '../src/random.js';
import { ValidationError } from '../src/errors.js';
import { meanOf, parseDistribution, sampler, type DistributionSpec } from './distributions.js';

function moments(spec: DistributionSpec, n = 200_000, seed = 1): { mean: number; variance: number; min: number } {
  const draw = sampler(spec, new Random(seed).derive('d'));
  let sum = 0;
  let sumSq = 0;
  let min = Infinity;
  for (let i = 0; i < n; i++) {
    const x = draw();
    sum += x;
    sumSq += x * x;
    if (x < min) min = x;
  }
  const mean = sum / n;
  return { mean, variance: sumSq / n - mean * mean, min };
}

describe('distributions', () => {
  const cases: Array<[string, DistributionSpec, number, number]> = [
    ['constant', { kind: 'constant', value: 7 }, 7, 0],
    ['uniform', { kind: 'uniform', min: 2, max: 10 }, 6, 64 / 12],
    ['normal', { kind: 'normal', mean: 100, stdDev: 15 }, 100, 225],
    ['lognormal', { kind: 'lognormal', median: 100, sigma: 0.5 }, 100 * Math.exp(0.125), (Math.exp(0.25) - 1) * 100 ** 2 * Math.exp(0.25)],
    ['pareto a=3', { kind: 'pareto', scale: 10, shape: 3 }, 15, (100 * 3) / (4 * 1)],
    ['exponential', { kind: 'exponential', mean: 40 }, 40, 1600],
    ['gamma k=2.5', { kind: 'gamma', shape: 2.5, scale: 4 }, 10, 40],
    ['gamma k=0.5', { kind: 'gamma', shape: 0.5, scale: 2 }, 1, 2],
    ['mixture', { kind: 'mixture', components: [{ weight: 3, dist: { kind: 'constant', value: 10 } }, { weight: 1, dist: { kind: 'constant', value: 50 } }] }, 20, 0.75 * 100 + 0.25 * 900],
    ['empirical', { kind: 'empirical', values: [1, 2, 3, 10] }, 4, (1 + 4 + 9 + 100) / 4 - 16],
    ['empirical interpolated', { kind: 'empirical', values: [0, 10], interpolate: true }, 5, 100 / 12],
  ];
  for (const [name, spec, mean, variance] of cases) {
    it(`${name}: sample mean and variance match the analytic ones`, () => {
      const m = moments(spec);
      expect(Math.abs(m.mean - mean)).toBeLessThanOrEqual(0.01 * Math.max(1, Math.abs(mean)));
      expect(Math.abs(m.variance - variance)).toBeLessThanOrEqual(0.05 * Math.max(1, variance));
      expect(meanOf(spec)).toBeCloseTo(mean, 6);
    });
  }

  it('is deterministic per seed and differs across seeds', () => {
    const spec: DistributionSpec = { kind: 'lognormal', median: 50, sigma: 1 };
    const a = sampler(spec, new Random(9));
    const b = sampler(spec, new Random(9));
    const c = sampler(spec, new Random(10));
    const xa = [a(), a(), a()];
    expect([b(), b(), b()]).toEqual(xa);
    expect([c(), c(), c()]).not.toEqual(xa);
  });

  it('a truncated normal never goes below min; a capped Pareto never above max', () => {
    expect(moments({ kind: 'normal', mean: 5, stdDev: 10, min: 0 }, 20_000).min).toBeGreaterThanOrEqual(0);
    const draw = sampler({ kind: 'pareto', scale: 1, shape: 0.8, max: 1000 }, new Random(3));
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < 10_000; i++) {
      const x = draw();
      lo = Math.min(lo, x);
      hi = Math.max(hi, x);
    }
    expect(lo).toBeGreaterThanOrEqual(1);
    expect(hi).toBe(1000);
  });

  it('validation errors name the field, the expectation and the value', () => {
    const bad = (x: unknown): string => {
      try {
        parseDistribution(x, 'faults.ttftMs');
      } catch (e) {
        expect(e).toBeInstanceOf(ValidationError);
        return (e as Error).message;
      }
      throw new Error('expected a ValidationError');
    };
    expect(bad({ kind: 'lognormal', median: -1, sigma: 1 })).toBe('faults.ttftMs.median: expected number to be >0, got -1');
    expect(bad({ kind: 'uniform', min: 5, max: 1 })).toBe('faults.ttftMs.max: expected max >= min, got 1');
    expect(bad({ kind: 'mixture', components: [{ weight: 1, dist: { kind: 'gamma', shape: 0, scale: 1 } }] })).toMatch(
      /^faults\.ttftMs\.components\[0\]\.dist\.shape: expected/,
    );
    expect(bad({ kind: 'weibull' })).toMatch(/^faults\.ttftMs\.kind: expected one of 'constant'.*got "weibull"$/);
    expect(bad({ kind: 'constant', value: 1, vlaue: 2 })).toBe('faults.ttftMs.vlaue: expected no such field (a known field name), got 2');
    expect(parseDistribution({ kind: 'exponential', mean: 3 })).toEqual({ kind: 'exponential', mean: 3 });
  });
});
