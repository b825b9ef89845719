import { ValidationError } from '../errors.js';
import type { Clock } from '../time/clock.js';
import type { RetryBudget } from './retry-budget.js';

/** Options of {@link TokenRateRetryBudget}. */
export interface TokenRateRetryBudgetOptions {
  /** Input tokens retries may re-send per second (refill rate). */
  readonly tokensPerSec: number;
  /** How many seconds of refill the bucket holds (its burst); it starts full. @default 10 */
  readonly burstSec?: number;
}

/**
 * A retry budget in tokens: a retry spends the input tokens it will send again (the prompt, plus the prefix a
 * resume continues from), from a bucket refilled at `tokensPerSec`. So a retry of a 100k-token prompt spends a
 * thousand times what a retry of a 100-token prompt does; a budget in dollars per second is this one with the
 * rate converted at the input price (`retryBudgetFromPolicy`). A retry that does not fit is not made.
 */
export class TokenRateRetryBudget implements RetryBudget {
  readonly kind = 'tokens';
  private readonly rate: number;
  private readonly capacity: number;
  private tokens: number;
  private lastMs: number;

  constructor(private readonly clock: Clock, options: TokenRateRetryBudgetOptions) {
    const burstSec = options.burstSec ?? 10;
    if (!(options.tokensPerSec > 0 && Number.isFinite(options.tokensPerSec))) throw new ValidationError('tokensPerSec', 'a finite number > 0', options.tokensPerSec);
    if (!(burstSec > 0 && Number.isFinite(burstSec))) throw new ValidationError('burstSec', 'a finite number > 0', burstSec);
    this.rate = options.tokensPerSec / 1000;
    this.capacity = options.tokensPerSec * burstSec;
    this.tokens = this.capacity;
    this.lastMs = clock.now();
  }

  onRequest(): void {}

  onSuccess(): void {}

  onFailure(): void {}

  /** Spends `cost` input tokens (at least 1) if the bucket holds them. */
  tryWithdraw(cost = 1): boolean {
    this.refill();
    const c = Math.max(1, cost);
    if (this.tokens < c) return false;
    this.tokens -= c;
    return true;
  }

  /** Tokens available now. Never negative. */
  get level(): number {
    this.refill();
    return Math.floor(this.tokens);
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.capacity, this.tokens + (now - this.lastMs) * this.rate);
    this.lastMs = now;
  }
}
