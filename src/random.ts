import seedrandom from 'seedrandom';

/**
 * A seeded random stream. `derive(name)` gives an independent stream whose numbers depend only on the root seed
 * and the path of names, so adding a component never shifts another component's numbers.
 * Uses seedrandom's xor4096, which gives the same numbers on every platform.
 */
export class Random {
  private readonly prng: seedrandom.PRNG;

  /** @param seed the root seed; any integer or string. */
  constructor(readonly seed: number | string, readonly path = '') {
    this.prng = seedrandom.xor4096(`${seed}${path === '' ? '' : `/${path}`}`);
  }

  /** An independent stream named `name` below this one. Deriving the same name twice gives the same numbers. */
  derive(name: string): Random {
    return new Random(this.seed, this.path === '' ? name : `${this.path}/${name}`);
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.prng.double();
  }

  /** Uniform in [min, max). */
  uniform(min: number, max: number): number {
    return min + (max - min) * this.prng.double();
  }

  /** Uniform integer in [min, max] (inclusive). */
  int(min: number, max: number): number {
    return min + Math.floor(this.prng.double() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return p > 0 && this.prng.double() < p;
  }

  /** One element of a non-empty array, chosen uniformly. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick: expected a non-empty array, got an empty one');
    return items[Math.floor(this.prng.double() * items.length)] as T;
  }

  /** An index chosen with probability proportional to its weight. Weights must be non-negative, not all zero. */
  weightedIndex(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    let x = this.prng.double() * total;
    for (let i = 0; i < weights.length; i++) {
      x -= weights[i] as number;
      if (x < 0) return i;
    }
    return weights.length - 1;
  }

  /** Standard normal via Box–Muller (one draw of the pair; the other is discarded to keep streams simple). */
  normal(mean = 0, stdDev = 1): number {
    let u = 0;
    while (u === 0) u = this.prng.double();
    const v = this.prng.double();
    return mean + stdDev * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Exponential with the given mean. */
  exponential(mean: number): number {
    let u = 0;
    while (u === 0) u = this.prng.double();
    return -mean * Math.log(u);
  }
}
