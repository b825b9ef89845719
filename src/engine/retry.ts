import { ValidationError } from '../errors.js';
import type { Random } from '../random.js';
import type { Clock } from '../time/clock.js';
import type { Backoff, BackoffStrategy } from './backoff.js';
import { classify, isRetryable, type Classification } from './classify.js';
import type { RetryBudget } from './retry-budget.js';

/** Options of {@link RetryPolicy}. */
export interface RetryOptions {
  /** Attempts including the first. */
  readonly maxAttempts: number;
  /** `retryable` follows {@link classify}; `any` retries every error except deadline and cancellation. @default 'retryable' */
  readonly retryOn?: 'retryable' | 'any';
  readonly backoff: BackoffStrategy;
  /** Wait at least the server's Retry-After. @default true */
  readonly honorRetryAfter?: boolean;
  /** Give up at once when the server asks for a longer wait than this. @default Infinity */
  readonly maxRetryAfterMs?: number;
  /** Shared budget; a retry goes ahead only if it can withdraw. */
  readonly budget?: RetryBudget;
}

/** Why no retry happens. */
export type GiveUpReason = 'not-retryable' | 'final' | 'max-attempts' | 'retry-after-too-long' | 'deadline' | 'budget';

/** The verdict after a failed attempt. */
export type RetryDecision =
  | { readonly retry: true; readonly delayMs: number; readonly cause: 'backoff' | 'retry-after' }
  | { readonly retry: false; readonly reason: GiveUpReason };

/**
 * Decides, per failed attempt, whether and when to retry: classification, max attempts, Retry-After, the time
 * left before the deadline and, last (so budget is never spent on a retry that will not happen), the budget.
 * Where the waiting happens is the caller's business: the engine gives its concurrency slot back and re-queues
 * with a not-before time, or sleeps holding it; {@link RetryPolicy.execute} simply sleeps.
 */
export class RetryPolicy {
  readonly maxAttempts: number;
  private readonly retryOn: 'retryable' | 'any';
  private readonly honorRetryAfter: boolean;
  private readonly maxRetryAfterMs: number;

  constructor(readonly options: RetryOptions) {
    if (!Number.isInteger(options.maxAttempts) || options.maxAttempts < 1) {
      throw new ValidationError('maxAttempts', 'an integer >= 1', options.maxAttempts);
    }
    this.maxAttempts = options.maxAttempts;
    this.retryOn = options.retryOn ?? 'retryable';
    this.honorRetryAfter = options.honorRetryAfter ?? true;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? Number.POSITIVE_INFINITY;
  }

  /** Per-request state: attempts made and the current backoff step. */
  begin(random: Random): RetryState {
    return new RetryState(this, this.options.backoff, random);
  }

  /** @internal used by RetryState */
  judge(c: Classification, attempts: number, step: Backoff, remainingMs: number, cost?: number, gated = false): RetryDecision {
    if (c.final) return { retry: false, reason: 'final' };
    if (!isRetryable(c, this.retryOn)) return { retry: false, reason: 'not-retryable' };
    if (attempts >= this.maxAttempts) return { retry: false, reason: 'max-attempts' };
    let delayMs = step.delayMs;
    let cause: 'backoff' | 'retry-after' = 'backoff';
    if (this.honorRetryAfter && c.retryAfterMs !== undefined) {
      if (c.retryAfterMs > this.maxRetryAfterMs) return { retry: false, reason: 'retry-after-too-long' };
      if (c.retryAfterMs > delayMs) {
        delayMs = c.retryAfterMs;
        cause = 'retry-after';
      }
    }
    if (delayMs >= remainingMs) return { retry: false, reason: 'deadline' };
    // A 429's Retry-After is the server pacing us: a retry that waits it out cannot storm, so it spends no budget.
    // So is a retry `gated` by the caller (one that must wait for an open breaker: it reaches the upstream only
    // after the half-open probes succeeded, through slow start). Everything else (5xx, cut streams, timeouts, or a
    // 429 retried sooner) does.
    const paced = gated || (cause === 'retry-after' && c.kind === 'rate-limited');
    if (!paced && this.options.budget !== undefined && !this.options.budget.tryWithdraw(cost)) return { retry: false, reason: 'budget' };
    return { retry: true, delayMs, cause };
  }

  /**
   * Runs `fn` with retries, sleeping between attempts on `clock`. Calls the budget's hooks. Rethrows the last
   * error when it gives up. `deadlineAtMs` (absolute) stops retries that could not finish in time.
   */
  async execute<T>(
    clock: Clock,
    random: Random,
    fn: (attempt: number, signal: AbortSignal | undefined) => Promise<T>,
    options: { signal?: AbortSignal; deadlineAtMs?: number } = {},
  ): Promise<T> {
    const state = this.begin(random);
    const budget = this.options.budget;
    budget?.onRequest();
    for (;;) {
      state.onAttempt();
      try {
        const value = await fn(state.attempts, options.signal);
        budget?.onSuccess();
        return value;
      } catch (error) {
        const c = classify(error);
        if (c.retryable) budget?.onFailure();
        const d = state.decide(c, (options.deadlineAtMs ?? Number.POSITIVE_INFINITY) - clock.now());
        if (!d.retry) throw error;
        await clock.sleep(d.delayMs, options.signal);
      }
    }
  }
}

/** One request's retry state. */
export class RetryState {
  private made = 0;
  /** Started at the first failure, so a request that never retries draws no random numbers. */
  private step: Backoff | undefined;

  constructor(private readonly policy: RetryPolicy, private readonly backoff: BackoffStrategy, private readonly random: Random) {}

  /** Attempts made so far. */
  get attempts(): number {
    return this.made;
  }

  /** Counts an attempt about to be made. */
  onAttempt(): void {
    this.made++;
  }

  /**
   * Decides after a failed attempt; when it says retry, the backoff advances. `cost`: the input tokens the retry
   * will send (a token budget spends them). `gated`: the retry will wait for an open breaker (spends no budget).
   */
  decide(c: Classification, remainingMs: number, cost?: number, gated = false): RetryDecision {
    this.step ??= this.backoff.start(this.random);
    const d = this.policy.judge(c, this.made, this.step, remainingMs, cost, gated);
    if (d.retry) this.step = this.step.next();
    return d;
  }
}
