import { describe, expect, it } from 'vitest';
import { Random } from '../../src/random.js';
import { meanOf, sample, sampleInt, type DistSpec } from './dist.js';

function mean(spec: DistSpec, n = 50_000, seed = 1): number {
  const r = new Random(seed);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sample(spec, r);
  return sum / n;
}

describe('distributions', () => {
  it.each<DistSpec>([
    7,
    { kind: 'constant', value: 3 },
    { kind: 'uniform', min: 10, max: 30 },
    { kind: 'normal', mean: 100, stdDev: 10 },
    { kind: 'exponential', mean: 250 },
    { kind: 'lognormal', median: 1000, sigma: 0.8 },
    { kind: 'empirical', values: [1, 10, 100], weights: [0.5, 0.3, 0.2] },
  ])('sample mean matches meanOf for %j', (spec) => {
    expect(Math.abs(mean(spec) - meanOf(spec)) / meanOf(spec)).toBeLessThan(0.02);
  });

  it('clamps to min and max', () => {
    const r = new Random(2);
    for (let i = 0; i < 10_000; i++) {
      const x = sample({ kind: 'lognormal', median: 100, sigma: 2, min: 10, max: 500 }, r);
      expect(x).toBeGreaterThanOrEqual(10);
      expect(x).toBeLessThanOrEqual(500);
    }
  });

  it('sampleInt rounds and enforces its floor', () => {
    const r = new Random(3);
    const xs = Array.from({ length: 1000 }, () => sampleInt({ kind: 'normal', mean: 0, stdDev: 5 }, r, 1));
    expect(xs.every((x) => Number.isInteger(x) && x >= 1)).toBe(true);
    expect(xs.filter((x) => x === 1).length).toBeGreaterThan(400); // half the normal's mass sits below the floor
  });
});
