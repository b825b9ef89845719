import { describe, expect, it } from 'vitest';
import { Random } from '../../src/random.js';
import { ValidationError } from '../../src/errors.js';
import { bounded, distSchema, meanOf, sample, sampleInt, type DistSpec } from './dist.js';
import { parseWith } from './validate.js';

function mean(spec: DistSpec, n = 50_000, seed = 1): number {
  const r = new Random(seed);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sample(spec, r);
  return sum / n;
}

describe('workload distributions', () => {
  it.each<DistSpec>([
    7,
    { kind: 'constant', value: 3 },
    { kind: 'uniform', min: 10, max: 30 },
    { kind: 'lognormal', median: 1000, sigma: 0.8 },
    { kind: 'mixture', components: [{ weight: 0.9, dist: { kind: 'constant', value: 100 } }, { weight: 0.1, dist: { kind: 'constant', value: 1000 } }] },
    bounded({ kind: 'exponential', mean: 250 }),
  ])('sample mean matches meanOf for %j', (spec) => {
    expect(Math.abs(mean(spec) - meanOf(spec)) / meanOf(spec)).toBeLessThan(0.02);
  });

  it('bounded clamps to min and max, putting the tail on the bound', () => {
    const r = new Random(2);
    const xs = Array.from({ length: 10_000 }, () => sample(bounded({ kind: 'lognormal', median: 100, sigma: 2 }, 10, 500), r));
    expect(Math.min(...xs)).toBe(10);
    expect(Math.max(...xs)).toBe(500);
    expect(xs.filter((x) => x === 500).length).toBeGreaterThan(1000); // P(X > 500) ≈ 21%
  });

  it('sampleInt rounds and enforces its floor', () => {
    const r = new Random(3);
    const xs = Array.from({ length: 1000 }, () => sampleInt({ kind: 'normal', mean: 0, stdDev: 5 }, r, 1));
    expect(xs.every((x) => Number.isInteger(x) && x >= 1)).toBe(true);
    expect(xs.filter((x) => x === 1).length).toBeGreaterThan(400); // half the normal's mass sits below the floor
  });

  it('rejects bad specs with the field path', () => {
    const msg = (v: unknown) => {
      try {
        parseWith(distSchema, v, 'd');
      } catch (e) {
        expect(e).toBeInstanceOf(ValidationError);
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(msg(-1)).toBe('d: expected a number >= 0, got -1');
    expect(msg({ kind: 'bounded', dist: { kind: 'lognormal', median: 0, sigma: 1 } })).toBe('d.dist.median: expected a number > 0, got 0');
    expect(msg(bounded({ kind: 'constant', value: 1 }, 10, 5))).toBe('d.max: expected max >= min, got 5');
    expect(msg({ kind: 'zipf' })).toBe(
      'd.kind: expected one of "bounded" | "constant" | "uniform" | "normal" | "lognormal" | "pareto" | "exponential" | "gamma" | "mixture" | "empirical", got "zipf"',
    );
  });
});
