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

/** 32-bit FNV-1a of a string (UTF-16 code units), mixed with a starting value. Deterministic, not random. */
export function hashString(s: string, start = 0x811c9dc5): number {
  let h = start >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The murmur3 finaliser: a cheap, well-spread mix of a 32-bit value. */
export function mix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
