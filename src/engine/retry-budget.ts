import { ValidationError } from '../errors.js';
import type { Clock } from '../time/clock.js';
import { TokenRateRetryBudget } from './retry-token-budget.js';

/**
 * A retry budget caps retries as a share of traffic, so a failing upstream sees a bounded multiple of the
 * offered load instead of `maxAttempts` times it. The engine calls `onRequest` once per request (before its
 * first attempt), `onSuccess`/`onFailure` once per attempt, and `tryWithdraw` before each retry.
 */
export interface RetryBudget {
  readonly kind: 'finagle' | 'grpc' | 'tokens';
  /** A new request arrived (Finagle deposits `ratio`). */
  onRequest(): void;
  /** An attempt succeeded (gRPC refills `tokenRatio`). */
  onSuccess(): void;
  /** An attempt failed with an error worth retrying (gRPC drains one token). */
  onFailure(): void;
  /**
   * True when a retry may go ahead; a Finagle budget takes one retry's worth when it says yes. `cost` is the input
   * tokens the retry will send: a token budget spends them, the others count retries and ignore it.
   */
  tryWithdraw(cost?: number): boolean;
  /** Finagle: retries affordable right now. gRPC: the token count. Never negative. */
  readonly level: number;
}

/** Options of {@link FinagleRetryBudget}. */
export interface FinagleRetryBudgetOptions {
  /** Retries allowed per request (0.2 = 20 % extra load at most). @default 0.2 */
  ratio?: number;
  /** Retries always allowed per second, so low traffic can still retry. @default 10 */
  minRetriesPerSec?: number;
  /** How long a deposit (and a withdrawal) counts. @default 10_000 */
  ttlMs?: number;
  /** Buckets of the sliding window (its resolution). @default 10 */
  buckets?: number;
}

// Amounts are kept in integer milli-retries so that sums never drift (0.1 + 0.2 !== 0.3).
const UNIT = 1000;

/**
 * Finagle's `RetryBudget`: each request deposits `ratio` of a retry, each retry withdraws one, and both expire
 * after `ttlMs` (a bucketed sliding window), on top of a reserve of `minRetriesPerSec · ttl`. In any window of
 * `ttlMs` the retries are therefore at most `ratio · requests + minRetriesPerSec · ttlMs/1000`.
 */
export class FinagleRetryBudget implements RetryBudget {
  readonly kind = 'finagle';
  private readonly depositAmount: number;
  private readonly reserve: number;
  private readonly bucketMs: number;
  private readonly epochs: number[];
  private readonly sums: number[];

  constructor(private readonly clock: Clock, options: FinagleRetryBudgetOptions = {}) {
    const ratio = options.ratio ?? 0.2;
    const minPerSec = options.minRetriesPerSec ?? 10;
    const ttlMs = options.ttlMs ?? 10_000;
    const buckets = options.buckets ?? 10;
    if (!(ratio >= 0 && ratio <= 10)) throw new ValidationError('ratio', 'a number in [0, 10]', ratio);
    if (!(minPerSec >= 0 && Number.isFinite(minPerSec))) throw new ValidationError('minRetriesPerSec', 'a finite number >= 0', minPerSec);
    if (!(ttlMs > 0 && Number.isFinite(ttlMs))) throw new ValidationError('ttlMs', 'a finite number > 0', ttlMs);
    if (!(Number.isInteger(buckets) && buckets >= 1)) throw new ValidationError('buckets', 'an integer >= 1', buckets);
    this.depositAmount = Math.round(ratio * UNIT);
    this.reserve = Math.floor(minPerSec * (ttlMs / 1000) * UNIT);
    this.bucketMs = ttlMs / buckets;
    this.epochs = new Array<number>(buckets).fill(Number.NEGATIVE_INFINITY);
    this.sums = new Array<number>(buckets).fill(0);
  }

  onRequest(): void {
    this.add(this.depositAmount);
  }

  onSuccess(): void {}

  onFailure(): void {}

  tryWithdraw(): boolean {
    if (this.balance() < UNIT) return false;
    this.add(-UNIT);
    return true;
  }

  get level(): number {
    return Math.floor(this.balance() / UNIT);
  }

  /** The balance in milli-retries: reserve plus the live window's deposits minus withdrawals. Never negative. */
  private balance(): number {
    const current = Math.floor(this.clock.now() / this.bucketMs);
    const oldest = current - this.epochs.length;
    let sum = this.reserve;
    for (let i = 0; i < this.epochs.length; i++) if ((this.epochs[i] as number) > oldest) sum += this.sums[i] as number;
    // A withdrawal outlives the deposits it spent (it was made later), so the raw sum can dip below zero for a
    // while: that debt blocks retries until it expires. The reported balance is clamped at zero.
    return Math.max(0, sum);
  }

  private add(amount: number): void {
    const epoch = Math.floor(this.clock.now() / this.bucketMs);
    const i = epoch % this.epochs.length;
    if (this.epochs[i] !== epoch) {
      this.epochs[i] = epoch;
      this.sums[i] = 0;
    }
    this.sums[i] = (this.sums[i] as number) + amount;
  }
}

/** Options of {@link GrpcRetryThrottle}. */
export interface GrpcRetryThrottleOptions {
  /** Bucket size; the bucket starts full. @default 10 */
  maxTokens?: number;
  /** Tokens returned per successful attempt. @default 0.1 */
  tokenRatio?: number;
}

/**
 * gRPC retry throttling (gRFC A6): a failed attempt costs one token, a success returns `tokenRatio`, and retries
 * are allowed only while the count is above `maxTokens / 2`. Against an upstream that always fails, at most
 * `maxTokens / 2` retries happen before successes refill the bucket.
 */
export class GrpcRetryThrottle implements RetryBudget {
  readonly kind = 'grpc';
  private readonly max: number;
  private readonly refill: number;
  private tokens: number;

  constructor(options: GrpcRetryThrottleOptions = {}) {
    const maxTokens = options.maxTokens ?? 10;
    const tokenRatio = options.tokenRatio ?? 0.1;
    if (!(maxTokens > 0 && Number.isFinite(maxTokens))) throw new ValidationError('maxTokens', 'a finite number > 0', maxTokens);
    if (!(tokenRatio > 0 && tokenRatio <= 1)) throw new ValidationError('tokenRatio', 'a number in (0, 1]', tokenRatio);
    // gRPC keeps three decimal places; so do we, in integer milli-tokens.
    this.max = Math.round(maxTokens * UNIT);
    this.refill = Math.round(tokenRatio * UNIT);
    this.tokens = this.max;
  }

  onRequest(): void {}

  onSuccess(): void {
    this.tokens = Math.min(this.max, this.tokens + this.refill);
  }

  onFailure(): void {
    this.tokens = Math.max(0, this.tokens - UNIT);
  }

  tryWithdraw(): boolean {
    return this.tokens * 2 > this.max;
  }

  get level(): number {
    return this.tokens / UNIT;
  }
}

/** The budget a policy's `retryBudget` group describes, or undefined when it is `off`. */
export function retryBudgetFromPolicy(
  clock: Clock,
  b: {
    mode: 'off' | 'finagle' | 'grpc' | 'tokens' | 'usd';
    ratio: number;
    minRetriesPerSec: number;
    ttlMs: number;
    maxTokens: number;
    tokenRatio: number;
    tokensPerSec?: number | undefined;
    usdPerSec?: number | undefined;
    inputPer1MUsd?: number | undefined;
    burstSec?: number | undefined;
  },
): RetryBudget | undefined {
  switch (b.mode) {
    case 'tokens':
      if (b.tokensPerSec === undefined) throw new ValidationError('retryBudget.tokensPerSec', "a number > 0 with mode 'tokens'", undefined);
      return new TokenRateRetryBudget(clock, { tokensPerSec: b.tokensPerSec, ...(b.burstSec !== undefined ? { burstSec: b.burstSec } : {}) });
    case 'usd':
      if (b.usdPerSec === undefined) throw new ValidationError('retryBudget.usdPerSec', "a number > 0 with mode 'usd'", undefined);
      if (b.inputPer1MUsd === undefined) throw new ValidationError('retryBudget.inputPer1MUsd', "the input price (USD per 1M tokens) with mode 'usd'", undefined);
      return new TokenRateRetryBudget(clock, { tokensPerSec: (b.usdPerSec / b.inputPer1MUsd) * 1e6, ...(b.burstSec !== undefined ? { burstSec: b.burstSec } : {}) });
    case 'off':
      return undefined;
    case 'finagle':
      return new FinagleRetryBudget(clock, { ratio: b.ratio, minRetriesPerSec: b.minRetriesPerSec, ttlMs: b.ttlMs });
    case 'grpc':
      return new GrpcRetryThrottle({ maxTokens: b.maxTokens, tokenRatio: b.tokenRatio });
  }
}
