/**
 * Seeded distributions for latencies and lengths, described as JSON (`DistributionSpec`) so that fault plans,
 * profiles and scenarios can carry them. Every sampler draws from a `RandomSource` it is given, never from
 * ambient randomness, so the same seed gives the same numbers.
 */
import { z } from 'zod';
import { ValidationError } from '../src/errors.js';

/** The part of `Random` a sampler needs: uniform numbers in [0, 1). `Random` satisfies it. */
export interface RandomSource {
  next(): number;
}

/** A distribution, described as data. All parameters are in the unit of the field that holds the spec. */
export type DistributionSpec =
  | { readonly kind: 'constant'; readonly value: number }
  | { readonly kind: 'uniform'; readonly min: number; readonly max: number }
  /** Normal, truncated below at `min` (redrawn) when given: latencies must not go negative. */
  | { readonly kind: 'normal'; readonly mean: number; readonly stdDev: number; readonly min?: number }
  /** Lognormal by its median (e^mu) and sigma, the shape parameter; mean = median·e^(sigma²/2). */
  | { readonly kind: 'lognormal'; readonly median: number; readonly sigma: number }
  /** Pareto type I: P(X > x) = (scale/x)^shape for x ≥ scale. Mean is finite only when shape > 1. */
  | { readonly kind: 'pareto'; readonly scale: number; readonly shape: number; readonly max?: number }
  | { readonly kind: 'exponential'; readonly mean: number }
  /** Gamma by shape k and scale θ (mean kθ, variance kθ²), drawn with Marsaglia–Tsang. */
  | { readonly kind: 'gamma'; readonly shape: number; readonly scale: number }
  /** Draws a component by weight, then draws from it. */
  | { readonly kind: 'mixture'; readonly components: readonly { readonly weight: number; readonly dist: DistributionSpec }[] }
  /**
   * Resamples observed values. With `interpolate`, draws from the piecewise-linear CDF through the sorted values
   * (a smooth version of the sample); otherwise picks one of them uniformly.
   */
  | { readonly kind: 'empirical'; readonly values: readonly number[]; readonly interpolate?: boolean };

const finite = z.number().finite();
const positive = finite.positive();
const nonNegative = finite.nonnegative();

/** The zod schema of a DistributionSpec (recursive through mixtures). */
export const distributionSpecSchema: z.ZodType<DistributionSpec> = z.lazy(() =>
  z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('constant'), value: finite }).strict(),
    z
      .object({ kind: z.literal('uniform'), min: finite, max: finite })
      .strict()
      .refine((d) => d.max >= d.min, { message: 'expected max >= min', path: ['max'] }),
    z.object({ kind: z.literal('normal'), mean: finite, stdDev: nonNegative, min: finite.optional() }).strict(),
    z.object({ kind: z.literal('lognormal'), median: positive, sigma: nonNegative }).strict(),
    z
      .object({ kind: z.literal('pareto'), scale: positive, shape: positive, max: positive.optional() })
      .strict()
      .refine((d) => d.max === undefined || d.max >= d.scale, { message: 'expected max >= scale', path: ['max'] }),
    z.object({ kind: z.literal('exponential'), mean: positive }).strict(),
    z.object({ kind: z.literal('gamma'), shape: positive, scale: positive }).strict(),
    z
      .object({
        kind: z.literal('mixture'),
        components: z.array(z.object({ weight: nonNegative, dist: distributionSpecSchema }).strict()).min(1),
      })
      .strict()
      .refine((d) => d.components.some((c) => c.weight > 0), {
        message: 'expected at least one positive weight',
        path: ['components'],
      }),
    z.object({ kind: z.literal('empirical'), values: z.array(finite).min(1), interpolate: z.boolean().optional() }).strict(),
  ]),
);

/**
 * Parses `input` with `schema`, or throws a ValidationError naming the first bad field as `root.a.b[2].c`
 * with what was expected and what was given.
 */
export function parseOrThrow<T>(schema: z.ZodType<T>, input: unknown, root: string): T {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  if (issue === undefined) throw new ValidationError(root, 'a valid value', input);
  let path = root;
  let received: unknown = input;
  for (const key of issue.path) {
    path += typeof key === 'number' ? `[${key}]` : `${path === '' ? '' : '.'}${String(key)}`;
    received = received !== null && typeof received === 'object' ? (received as Record<PropertyKey, unknown>)[key as PropertyKey] : undefined;
  }
  if (issue.code === 'unrecognized_keys') {
    const key = (issue as { keys?: string[] }).keys?.[0] ?? '?';
    const value = received !== null && typeof received === 'object' ? (received as Record<string, unknown>)[key] : undefined;
    throw new ValidationError(`${path}${path === '' ? '' : '.'}${key}`, 'no such field (a known field name)', value);
  }
  throw new ValidationError(path, expectation(issue.message), received);
}

/** zod's message reduced to what was expected ("a number >0", "one of 'a' | 'b'"). */
function expectation(message: string): string {
  const m = message
    .replace(/^Invalid (input|option): /, '')
    .replace(/^Too (small|big): /, '')
    .replace(/^expected /i, '')
    .replace(/, received .*$/, '')
    .replace(/^Invalid discriminator value\. Expected /, 'one of ');
  return m === '' ? 'a valid value' : m;
}

/** Validates a DistributionSpec; `path` names the field holding it in error messages. */
export function parseDistribution(input: unknown, path = 'distribution'): DistributionSpec {
  return parseOrThrow(distributionSpecSchema, input, path);
}

/** A draw from the standard normal (Box–Muller, one of the pair). */
export function standardNormal(r: RandomSource): number {
  let u = r.next();
  while (u === 0) u = r.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r.next());
}

/** Gamma(shape, 1) by Marsaglia and Tsang (2000); shape < 1 uses the boost X·U^(1/shape). */
export function standardGamma(shape: number, r: RandomSource): number {
  if (shape < 1) {
    let u = r.next();
    while (u === 0) u = r.next();
    return standardGamma(shape + 1, r) * Math.pow(u, 1 / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = standardNormal(r);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = r.next();
    if (u < 1 - 0.0331 * x * x * x * x) return d * v;
    if (u > 0 && Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** A sampler for a (valid) spec. Validate untrusted specs with `parseDistribution` first. */
export function sampler(spec: DistributionSpec, random: RandomSource): () => number {
  switch (spec.kind) {
    case 'constant': {
      const v = spec.value;
      return () => v;
    }
    case 'uniform': {
      const { min, max } = spec;
      return () => min + (max - min) * random.next();
    }
    case 'normal': {
      const { mean, stdDev, min } = spec;
      if (min === undefined) return () => mean + stdDev * standardNormal(random);
      // Redraw below the bound (a truncated normal), but never loop forever when the bound is far in the tail.
      return () => {
        for (let i = 0; i < 64; i++) {
          const x = mean + stdDev * standardNormal(random);
          if (x >= min) return x;
        }
        return min;
      };
    }
    case 'lognormal': {
      const mu = Math.log(spec.median);
      const sigma = spec.sigma;
      return () => Math.exp(mu + sigma * standardNormal(random));
    }
    case 'pareto': {
      const { scale, shape } = spec;
      const max = spec.max ?? Number.POSITIVE_INFINITY;
      return () => {
        let u = random.next();
        while (u === 0) u = random.next();
        return Math.min(max, scale / Math.pow(u, 1 / shape));
      };
    }
    case 'exponential': {
      const mean = spec.mean;
      return () => {
        let u = random.next();
        while (u === 0) u = random.next();
        return -mean * Math.log(u);
      };
    }
    case 'gamma': {
      const { shape, scale } = spec;
      return () => scale * standardGamma(shape, random);
    }
    case 'mixture': {
      const parts = spec.components.map((c) => sampler(c.dist, random));
      const cumulative: number[] = [];
      let total = 0;
      for (const c of spec.components) cumulative.push((total += c.weight));
      return () => {
        const x = random.next() * total;
        for (let i = 0; i < cumulative.length; i++) if (x < (cumulative[i] as number)) return (parts[i] as () => number)();
        return (parts[parts.length - 1] as () => number)();
      };
    }
    case 'empirical': {
      const values = [...spec.values].sort((a, b) => a - b);
      const n = values.length;
      if (!spec.interpolate || n === 1) return () => values[Math.floor(random.next() * n)] as number;
      return () => {
        const pos = random.next() * (n - 1);
        const i = Math.floor(pos);
        const lo = values[i] as number;
        const hi = values[Math.min(i + 1, n - 1)] as number;
        return lo + (hi - lo) * (pos - i);
      };
    }
  }
}

/** The analytic mean of a spec (Infinity for a heavy-tailed Pareto without `max`); used by tests and reports. */
export function meanOf(spec: DistributionSpec): number {
  switch (spec.kind) {
    case 'constant':
      return spec.value;
    case 'uniform':
      return (spec.min + spec.max) / 2;
    case 'normal':
      return spec.mean; // ignoring truncation
    case 'lognormal':
      return spec.median * Math.exp((spec.sigma * spec.sigma) / 2);
    case 'pareto':
      return spec.shape <= 1 ? Number.POSITIVE_INFINITY : (spec.shape * spec.scale) / (spec.shape - 1); // ignoring max
    case 'exponential':
      return spec.mean;
    case 'gamma':
      return spec.shape * spec.scale;
    case 'mixture': {
      let total = 0;
      let sum = 0;
      for (const c of spec.components) {
        total += c.weight;
        sum += c.weight * meanOf(c.dist);
      }
      return sum / total;
    }
    case 'empirical': {
      let s = 0;
      for (const v of spec.values) s += v;
      return s / spec.values.length;
    }
  }
}
