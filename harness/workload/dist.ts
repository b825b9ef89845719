/**
 * Distributions for the workload's lengths (tokens, turns, retrievers) and think times. The shapes are the mock
 * GPU's `DistributionSpec` (sim/distributions.ts), so a scenario speaks one distribution language; the workload adds
 * a bare-number shorthand and a `bounded` wrapper, because lengths have hard limits (a max_tokens cap, a context
 * window) that a heavy-tailed shape alone would overshoot.
 */
import { z } from 'zod';
import { distributionSpecSchema, meanOf as distributionMean, sampler, type DistributionSpec } from '../../sim/distributions.js';
import type { Random } from '../../src/random.js';

/** A shape clamped to [min, max] after the draw (a clamp puts the tail's mass on the bound, as a token cap does). */
export interface BoundedSpec {
  readonly kind: 'bounded';
  readonly dist: DistributionSpec;
  readonly min?: number;
  readonly max?: number;
}

const boundedSchema = z
  .object({ kind: z.literal('bounded'), dist: distributionSpecSchema, min: z.number().optional(), max: z.number().optional() })
  .strict()
  .refine((d) => d.min === undefined || d.max === undefined || d.max >= d.min, { message: 'max >= min', path: ['max'] });

/**
 * A workload distribution, as JSON: a non-negative number (a constant), any `DistributionSpec` of
 * sim/distributions.ts (`constant`, `uniform`, `normal`, `lognormal`, `pareto`, `exponential`, `gamma`, `mixture`,
 * `empirical`), or `{ kind: 'bounded', dist, min?, max? }`.
 */
export type DistSpec = number | DistributionSpec | BoundedSpec;

export const distSchema: z.ZodType<DistSpec> = z.union([z.number().min(0), boundedSchema, distributionSpecSchema]);

/** One draw from `spec`, using `random`. */
export function sample(spec: DistSpec, random: Random): number {
  if (typeof spec === 'number') return spec;
  if (spec.kind === 'bounded') {
    const x = sample(spec.dist, random);
    if (spec.min !== undefined && x < spec.min) return spec.min;
    if (spec.max !== undefined && x > spec.max) return spec.max;
    return x;
  }
  return sampler(spec, random)();
}

/** A draw rounded to an integer and raised to at least `min` (token counts, turns). @default min 0 */
export function sampleInt(spec: DistSpec, random: Random, min = 0): number {
  return Math.max(min, Math.round(sample(spec, random)));
}

/** The analytic mean of `spec`, ignoring bounds and truncation. */
export function meanOf(spec: DistSpec): number {
  if (typeof spec === 'number') return spec;
  return spec.kind === 'bounded' ? meanOf(spec.dist) : distributionMean(spec);
}

/** `dist` clamped to [min, max]. */
export function bounded(dist: DistributionSpec, min?: number, max?: number): BoundedSpec {
  return { kind: 'bounded', dist, ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}) };
}
