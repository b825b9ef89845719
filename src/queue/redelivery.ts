/**
 * Whether and when a failed delivery of a queued job is tried again: the policy's retry rules (classification,
 * max attempts, Retry-After, the deadline, the retry budget), judged per delivery. The delay is carried out by
 * BullMQ (a delayed job), so no worker slot is held while waiting.
 */
import { backoffFromPolicy, type Backoff, type BackoffStrategy } from '../engine/backoff.js';
import { classifyCode, type Classification } from '../engine/classify.js';
import type { EngineResult } from '../engine/engine-types.js';
import { RetryPolicy, type RetryDecision } from '../engine/retry.js';
import type { RetryBudget } from '../engine/retry-budget.js';
import type { Policy } from '../policy.js';
import type { Random } from '../random.js';

/** How a failed result classifies. An open breaker is "overloaded, come back after its Retry-After". */
export function classifyResult(r: EngineResult): Classification {
  const code = r.error?.code ?? 'UNKNOWN';
  if (code === 'BREAKER_OPEN') return { ...classifyCode('OVERLOADED', r.retryAfterMs), code, breakerFailure: false };
  if (code === 'CANCELLED' || code === 'ABORTED') return classifyCode('CANCELLED');
  return classifyCode(code, r.retryAfterMs);
}

/** Options of {@link Redelivery}. */
export interface RedeliveryOptions {
  readonly policy: Policy;
  /** Backoff jitter: each job draws from `random.derive(job id)`, so its delays do not depend on other jobs. */
  readonly random: Random;
  /** The worker's retry budget (per process, like a client-side budget). @default none */
  readonly budget?: RetryBudget;
}

/** The retry rules of a policy, applied across deliveries. */
export class Redelivery {
  readonly maxAttempts: number;
  private readonly retry: RetryPolicy;
  private readonly backoff: BackoffStrategy;
  private readonly random: Random;

  constructor(o: RedeliveryOptions) {
    const r = o.policy.retry;
    this.backoff = backoffFromPolicy(r);
    this.maxAttempts = r.maxAttempts;
    this.random = o.random;
    this.retry = new RetryPolicy({
      maxAttempts: r.maxAttempts,
      retryOn: r.retryOn,
      backoff: this.backoff,
      honorRetryAfter: r.honorRetryAfter,
      maxRetryAfterMs: r.maxRetryAfterMs,
      ...(o.budget !== undefined ? { budget: o.budget } : {}),
    });
  }

  /**
   * The verdict after delivery number `attempt` (1-based) of job `id` failed with `result`; `remainingMs` is
   * what is left of its deadline. The backoff step is the attempt's own: the sequence of a job is the same
   * whichever workers ran its earlier deliveries.
   */
  decide(id: string, result: EngineResult, attempt: number, remainingMs: number): RetryDecision {
    let step: Backoff = this.backoff.start(this.random.derive(id));
    for (let i = 1; i < attempt; i++) step = step.next();
    return this.retry.judge(classifyResult(result), attempt, step, remainingMs);
  }
}
