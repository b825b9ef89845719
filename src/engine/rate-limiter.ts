import { ValidationError } from '../errors.js';
import type { Clock } from '../time/clock.js';

/** Float slack so a level refilled to exactly `n` (up to rounding) counts as `n`. */
const EPSILON = 1e-9;

function checkAmount(path: string, n: number): void {
  if (!(Number.isFinite(n) && n >= 0)) throw new ValidationError(path, 'a finite number >= 0', n);
}

/** Options for {@link TokenBucket}. */
export interface TokenBucketOptions {
  /** Most tokens the bucket holds (the burst). */
  capacity: number;
  /** Tokens added per second, continuously. */
  refillPerSec: number;
  /** Tokens at start. @default capacity */
  initial?: number;
}

/**
 * A token bucket refilled lazily from `clock.now()`: no timers, exact at any instant. The level never goes below
 * zero or above capacity. `msUntil` is an honest wait: after that many ms (and no other takers) `tryTake` succeeds.
 */
export class TokenBucket {
  readonly #clock: Clock;
  readonly #capacity: number;
  readonly #perMs: number;
  #level: number;
  #lastMs: number;

  constructor(clock: Clock, o: TokenBucketOptions) {
    if (!(Number.isFinite(o.capacity) && o.capacity > 0)) throw new ValidationError('capacity', 'a finite number > 0', o.capacity);
    if (!(Number.isFinite(o.refillPerSec) && o.refillPerSec >= 0)) {
      throw new ValidationError('refillPerSec', 'a finite number >= 0', o.refillPerSec);
    }
    const initial = o.initial ?? o.capacity;
    if (!(initial >= 0 && initial <= o.capacity)) throw new ValidationError('initial', `a number within [0, ${o.capacity}]`, o.initial);
    this.#clock = clock;
    this.#capacity = o.capacity;
    this.#perMs = o.refillPerSec / 1000;
    this.#level = initial;
    this.#lastMs = clock.now();
  }

  get capacity(): number {
    return this.#capacity;
  }

  /** Tokens available now. */
  get level(): number {
    this.#refill();
    return this.#level;
  }

  /** Takes `n` tokens if all are available; takes nothing otherwise. @default n 1 */
  tryTake(n = 1): boolean {
    checkAmount('n', n);
    if (!this.#has(n)) return false;
    this.#level = Math.max(0, this.#level - n);
    return true;
  }

  /**
   * Ms until `n` tokens are available (0 if they are now), rounded up to a whole ms. Infinity when `n` exceeds
   * the capacity or the bucket never refills. @default n 1
   */
  msUntil(n = 1): number {
    checkAmount('n', n);
    if (this.#has(n)) return 0;
    if (n > this.#capacity + EPSILON || this.#perMs === 0) return Number.POSITIVE_INFINITY;
    return Math.max(1, Math.ceil((n - this.#level) / this.#perMs));
  }

  /** Returns `n` tokens (a refund), never past capacity. */
  put(n: number): void {
    checkAmount('n', n);
    this.#refill();
    this.#level = Math.min(this.#capacity, this.#level + n);
  }

  /** True when refilled to capacity: such a bucket is indistinguishable from a fresh one. */
  get full(): boolean {
    return this.level >= this.#capacity;
  }

  #has(n: number): boolean {
    this.#refill();
    return this.#level + EPSILON * Math.max(1, n) >= n;
  }

  #refill(): void {
    const now = this.#clock.now();
    if (now > this.#lastMs) {
      this.#level = Math.min(this.#capacity, this.#level + (now - this.#lastMs) * this.#perMs);
      this.#lastMs = now;
    }
  }
}

/** Per-minute limits. Each bucket holds a minute's worth (the burst) and refills continuously. */
export interface RateLimitOptions {
  /** Global requests per minute. @default unlimited */
  requestsPerMinute?: number;
  /** Global tokens per minute. @default unlimited */
  tokensPerMinute?: number;
  /** The same limits for each key (tenant, API key). @default unlimited */
  perKey?: { requestsPerMinute?: number; tokensPerMinute?: number };
}

/** The answer to one request. `retryAfterMs` is Infinity when the request can never fit (tokens > a limit). */
export type RateDecision =
  | { allowed: true }
  | { allowed: false; retryAfterMs: number; scope: 'global' | 'key'; limit: 'requests' | 'tokens' };

interface Pair {
  readonly requests: TokenBucket | undefined;
  readonly tokens: TokenBucket | undefined;
}

const ALLOWED: RateDecision = Object.freeze({ allowed: true });

/**
 * Global and per-key request and token limits, checked atomically: a request takes from every bucket or from
 * none, so a refusal by one limit never spends another. The refusal names the limit that binds longest and how
 * long until all of them allow it.
 */
export class RateLimiter {
  readonly #clock: Clock;
  readonly #global: Pair;
  readonly #perKey: { requestsPerMinute?: number; tokensPerMinute?: number } | undefined;
  readonly #keys = new Map<string, Pair>();
  #sweepAt = 1024;

  constructor(clock: Clock, o: RateLimitOptions) {
    this.#clock = clock;
    const check = (path: string, v: number | undefined): void => {
      if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new ValidationError(path, 'a finite number > 0', v);
    };
    check('requestsPerMinute', o.requestsPerMinute);
    check('tokensPerMinute', o.tokensPerMinute);
    check('perKey.requestsPerMinute', o.perKey?.requestsPerMinute);
    check('perKey.tokensPerMinute', o.perKey?.tokensPerMinute);
    this.#global = this.#pair(o.requestsPerMinute, o.tokensPerMinute);
    const pk = o.perKey;
    this.#perKey = pk !== undefined && (pk.requestsPerMinute !== undefined || pk.tokensPerMinute !== undefined) ? { ...pk } : undefined;
  }

  /** Keys with live per-key buckets (full, idle ones are dropped now and then). */
  get trackedKeys(): number {
    return this.#keys.size;
  }

  /** Admits one request costing `tokens` for `key` (undefined: global limits only), taking only when allowed. */
  check(key: string | undefined, tokens: number): RateDecision {
    checkAmount('tokens', tokens);
    const g = this.#global;
    const k = key === undefined || this.#perKey === undefined ? undefined : this.#keyPair(key);
    let wait = 0;
    let scope: 'global' | 'key' = 'global';
    let limit: 'requests' | 'tokens' = 'requests';
    const consider = (b: TokenBucket | undefined, n: number, s: 'global' | 'key', l: 'requests' | 'tokens'): void => {
      if (b === undefined) return;
      const w = b.msUntil(n);
      if (w > wait) {
        wait = w;
        scope = s;
        limit = l;
      }
    };
    consider(g.requests, 1, 'global', 'requests');
    consider(g.tokens, tokens, 'global', 'tokens');
    consider(k?.requests, 1, 'key', 'requests');
    consider(k?.tokens, tokens, 'key', 'tokens');
    if (wait > 0) return { allowed: false, retryAfterMs: wait, scope, limit };
    g.requests?.tryTake(1);
    g.tokens?.tryTake(tokens);
    k?.requests?.tryTake(1);
    k?.tokens?.tryTake(tokens);
    return ALLOWED;
  }

  /** Gives tokens back (e.g. the request used fewer than it reserved), globally and for `key`. */
  credit(key: string | undefined, tokens: number): void {
    checkAmount('tokens', tokens);
    this.#global.tokens?.put(tokens);
    if (key !== undefined) this.#keys.get(key)?.tokens?.put(tokens);
  }

  #keyPair(key: string): Pair {
    let p = this.#keys.get(key);
    if (p === undefined) {
      if (this.#keys.size >= this.#sweepAt) this.#sweep();
      const pk = this.#perKey;
      p = this.#pair(pk?.requestsPerMinute, pk?.tokensPerMinute);
      this.#keys.set(key, p);
    }
    return p;
  }

  /** Drops full buckets: a full bucket acts exactly like a fresh one, so forgetting it changes nothing. */
  #sweep(): void {
    for (const [key, p] of this.#keys) {
      if ((p.requests?.full ?? true) && (p.tokens?.full ?? true)) this.#keys.delete(key);
    }
    this.#sweepAt = Math.max(1024, this.#keys.size * 2);
  }

  #pair(rpm: number | undefined, tpm: number | undefined): Pair {
    const bucket = (perMin: number | undefined): TokenBucket | undefined =>
      perMin === undefined ? undefined : new TokenBucket(this.#clock, { capacity: perMin, refillPerSec: perMin / 60 });
    return { requests: bucket(rpm), tokens: bucket(tpm) };
  }
}
