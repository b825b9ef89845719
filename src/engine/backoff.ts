import { ValidationError } from '../errors.js';
import type { Random } from '../random.js';

/**
 * One step of a backoff: the delay before the next retry, and the step after it. Steps are immutable values:
 * `next()` is memoised, so asking twice gives the same step (and draws random numbers once).
 */
export interface Backoff {
  /** Delay before this retry, in ms. */
  readonly delayMs: number;
  /** The step for the retry after this one. */
  next(): Backoff;
}

/** A backoff strategy: where a fresh sequence starts. Stateless; each sequence draws from the given Random. */
export interface BackoffStrategy {
  /** The first step of a new sequence (the delay before the first retry). */
  start(random: Random): Backoff;
}

/** The jitter kinds of an exponential backoff (see the AWS architecture blog, "Exponential Backoff And Jitter"). */
export const JITTERS = ['none', 'full', 'equal', 'decorrelated'] as const;
export type Jitter = (typeof JITTERS)[number];

/** Options of {@link exponentialBackoff}. */
export interface ExponentialBackoffOptions {
  /** First delay, and the floor of decorrelated jitter. @default 50 */
  baseMs?: number;
  /** Cap of every delay. @default 5000 */
  maxMs?: number;
  /** Growth per retry. @default 2 */
  factor?: number;
  /** @default 'full' */
  jitter?: Jitter;
}

class Step implements Backoff {
  private memo: Backoff | undefined;

  constructor(readonly delayMs: number, private readonly make: () => Backoff) {}

  next(): Backoff {
    this.memo ??= this.make();
    return this.memo;
  }
}

function nonNegative(path: string, v: number): number {
  if (!Number.isFinite(v) || v < 0) throw new ValidationError(path, 'a finite number >= 0', v);
  return v;
}

/** Always 0 ms: retry at once. */
export const noBackoff: BackoffStrategy = {
  start(): Backoff {
    const zero: Backoff = { delayMs: 0, next: () => zero };
    return zero;
  },
};

/** The same delay every time. */
export function constantBackoff(delayMs: number): BackoffStrategy {
  nonNegative('delayMs', delayMs);
  return {
    start(): Backoff {
      const step: Backoff = { delayMs, next: () => step };
      return step;
    },
  };
}

/**
 * Exponential backoff, capped, with optional jitter; `n` counts retries from 0 and `t = min(maxMs, baseMs·factorⁿ)`:
 * - `none`: t
 * - `full`: uniform in [0, t)
 * - `equal`: t/2 + uniform in [0, t/2)
 * - `decorrelated`: min(maxMs, uniform in [baseMs, 3·previous)), starting from previous = baseMs
 */
export function exponentialBackoff(options: ExponentialBackoffOptions = {}): BackoffStrategy {
  const baseMs = nonNegative('baseMs', options.baseMs ?? 50);
  const maxMs = nonNegative('maxMs', options.maxMs ?? 5000);
  const factor = options.factor ?? 2;
  const jitter = options.jitter ?? 'full';
  if (!Number.isFinite(factor) || factor < 1) throw new ValidationError('factor', 'a finite number >= 1', factor);
  if (baseMs > maxMs) throw new ValidationError('baseMs', `a number <= maxMs (${maxMs})`, baseMs);
  if (!(JITTERS as readonly string[]).includes(jitter)) {
    throw new ValidationError('jitter', `one of ${JITTERS.map((j) => JSON.stringify(j)).join(' | ')}`, jitter);
  }
  const ceiling = (n: number): number => Math.min(maxMs, baseMs * factor ** n);

  return {
    start(random: Random): Backoff {
      const at = (n: number, prevMs: number): Backoff => {
        const t = ceiling(n);
        let delayMs: number;
        switch (jitter) {
          case 'none':
            delayMs = t;
            break;
          case 'full':
            delayMs = random.uniform(0, t);
            break;
          case 'equal':
            delayMs = t / 2 + random.uniform(0, t / 2);
            break;
          case 'decorrelated':
            delayMs = Math.min(maxMs, random.uniform(baseMs, Math.max(baseMs, prevMs * 3)));
            break;
        }
        return new Step(delayMs, () => at(n + 1, delayMs));
      };
      return at(0, baseMs);
    },
  };
}

/** The strategy a policy's `retry` group describes. */
export function backoffFromPolicy(retry: {
  backoff: 'none' | 'constant' | 'exponential';
  jitter: Jitter;
  baseMs: number;
  maxMs: number;
  factor: number;
}): BackoffStrategy {
  switch (retry.backoff) {
    case 'none':
      return noBackoff;
    case 'constant':
      return constantBackoff(retry.baseMs);
    case 'exponential':
      return exponentialBackoff({ baseMs: retry.baseMs, maxMs: retry.maxMs, factor: retry.factor, jitter: retry.jitter });
  }
}
