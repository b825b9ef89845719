/**
 * Seeded distributions for the workload's lengths (tokens, turns, retrievers) and think times.
 * A small local helper: the workload needs only a few shapes, each JSON-describable and validated with zod.
 */
import { z } from 'zod';
import type { Random } from '../../src/random.js';

// zod 4's z.number() already rejects NaN and ±Infinity.
const finite = z.number();
const nonNeg = z.number().min(0);

/**
 * A distribution, as JSON. A bare number is a constant. Every shape accepts optional `min`/`max` clamps, applied
 * after the draw (so a clamped normal has a spike at its bound, which is what a token limit does to real lengths).
 * - `constant`: always `value`.
 * - `uniform`: uniform in [min, max].
 * - `normal`: mean and standard deviation.
 * - `exponential`: with the given mean.
 * - `lognormal`: `median` and `sigma` (the standard deviation of the log); heavy right tail, like real token lengths.
 * - `empirical`: one of `values`, with optional `weights` (uniform when absent).
 */
export const distSchema = z.union([
  nonNeg,
  z.object({ kind: z.literal('constant'), value: finite }).strict(),
  z
    .object({ kind: z.literal('uniform'), min: finite, max: finite })
    .strict()
    .refine((d) => d.max >= d.min, { message: 'max >= min', path: ['max'] }),
  z.object({ kind: z.literal('normal'), mean: finite, stdDev: nonNeg, min: finite.optional(), max: finite.optional() }).strict(),
  z.object({ kind: z.literal('exponential'), mean: nonNeg, min: finite.optional(), max: finite.optional() }).strict(),
  z
    .object({ kind: z.literal('lognormal'), median: z.number().positive(), sigma: nonNeg, min: finite.optional(), max: finite.optional() })
    .strict(),
  z
    .object({
      kind: z.literal('empirical'),
      values: z.array(finite).min(1),
      weights: z.array(nonNeg).optional(),
    })
    .strict()
    .refine((d) => d.weights === undefined || d.weights.length === d.values.length, {
      message: 'as many weights as values',
      path: ['weights'],
    }),
]);

/** A distribution spec; see {@link distSchema}. */
export type DistSpec = z.infer<typeof distSchema>;

/** One draw from `spec`, using `random`. Pure given the stream's state. */
export function sample(spec: DistSpec, random: Random): number {
  if (typeof spec === 'number') return spec;
  switch (spec.kind) {
    case 'constant':
      return spec.value;
    case 'uniform':
      return random.uniform(spec.min, spec.max);
    case 'normal':
      return clamp(random.normal(spec.mean, spec.stdDev), spec.min, spec.max);
    case 'exponential':
      return clamp(random.exponential(spec.mean), spec.min, spec.max);
    case 'lognormal':
      return clamp(spec.median * Math.exp(random.normal(0, spec.sigma)), spec.min, spec.max);
    case 'empirical': {
      const i = spec.weights === undefined ? random.int(0, spec.values.length - 1) : random.weightedIndex(spec.weights);
      return spec.values[i] as number;
    }
  }
}

/** A draw rounded to an integer and clamped to at least `min` (token counts, turns). @default min 0 */
export function sampleInt(spec: DistSpec, random: Random, min = 0): number {
  return Math.max(min, Math.round(sample(spec, random)));
}

/** The mean of `spec` before clamping (exact for every shape; clamps are ignored). */
export function meanOf(spec: DistSpec): number {
  if (typeof spec === 'number') return spec;
  switch (spec.kind) {
    case 'constant':
      return spec.value;
    case 'uniform':
      return (spec.min + spec.max) / 2;
    case 'normal':
    case 'exponential':
      return spec.mean;
    case 'lognormal':
      return spec.median * Math.exp((spec.sigma * spec.sigma) / 2);
    case 'empirical': {
      const w = spec.weights ?? spec.values.map(() => 1);
      const total = w.reduce((a, b) => a + b, 0);
      return spec.values.reduce((a, v, i) => a + v * (w[i] as number), 0) / total;
    }
  }
}

function clamp(x: number, min: number | undefined, max: number | undefined): number {
  if (min !== undefined && x < min) return min;
  if (max !== undefined && x > max) return max;
  return x;
}
