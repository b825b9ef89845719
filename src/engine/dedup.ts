import { ValidationError } from '../errors.js';
import type { Clock } from '../time/clock.js';

/** Where a {@link Dedup.run} result came from. */
export type DedupSource = 'leader' | 'joined' | 'cached';

/** Options for {@link Dedup}. */
export interface DedupOptions {
  /** How long a completed result is served from the cache, from the time it completed. 0 disables the cache. */
  ttlMs: number;
  /** Completed results kept at most; the oldest (least recently used, or first stored) go first. 0 disables the cache. */
  maxEntries: number;
  /** `lru` refreshes an entry's place on every hit; `fifo` evicts in completion order. @default 'lru' */
  eviction?: 'lru' | 'fifo';
}

export interface DedupCounters {
  /** Calls that ran `fn`. */
  leaders: number;
  /** Calls that shared an in-flight twin's call. */
  joined: number;
  /** Calls answered from the cache. */
  cached: number;
}

interface CacheEntry<T> {
  readonly value: T;
  readonly expiresAtMs: number;
}

/**
 * Idempotency and request coalescing: concurrent calls with the same key share one execution ("singleflight"),
 * and a completed result is served from a bounded cache for `ttlMs`. Failures are never cached: twins that joined
 * a failing leader get its error, and the next call runs afresh.
 */
export class Dedup<T> {
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #lru: boolean;
  readonly #inflight = new Map<string, Promise<T>>();
  readonly #cache = new Map<string, CacheEntry<T>>();
  readonly #c: DedupCounters = { leaders: 0, joined: 0, cached: 0 };

  constructor(clock: Clock, o: DedupOptions) {
    if (!(o.ttlMs >= 0)) throw new ValidationError('ttlMs', 'a number >= 0', o.ttlMs);
    if (!(Number.isInteger(o.maxEntries) && o.maxEntries >= 0)) throw new ValidationError('maxEntries', 'an integer >= 0', o.maxEntries);
    const eviction = o.eviction ?? 'lru';
    if (eviction !== 'lru' && eviction !== 'fifo') throw new ValidationError('eviction', "'lru' or 'fifo'", o.eviction);
    this.#clock = clock;
    this.#ttlMs = o.ttlMs;
    this.#maxEntries = o.maxEntries;
    this.#lru = eviction === 'lru';
  }

  /** Results currently cached and not expired. */
  get size(): number {
    const now = this.#clock.now();
    for (const [key, e] of this.#cache) if (e.expiresAtMs <= now) this.#cache.delete(key);
    return this.#cache.size;
  }

  /** Keys with a call in flight. */
  get inFlight(): number {
    return this.#inflight.size;
  }

  /** A snapshot of the counters. */
  get counters(): DedupCounters {
    return { ...this.#c };
  }

  /**
   * Returns the cached result for `key`, or joins the call in flight for it, or runs `fn` as the leader.
   * A leader that throws or rejects passes its error to every twin that joined it, and nothing is cached.
   */
  run(key: string, fn: () => Promise<T>): Promise<{ value: T; source: DedupSource }> {
    const hit = this.#cache.get(key);
    if (hit !== undefined) {
      if (hit.expiresAtMs > this.#clock.now()) {
        if (this.#lru) {
          this.#cache.delete(key);
          this.#cache.set(key, hit);
        }
        this.#c.cached++;
        return Promise.resolve({ value: hit.value, source: 'cached' });
      }
      this.#cache.delete(key);
    }
    const twin = this.#inflight.get(key);
    if (twin !== undefined) {
      this.#c.joined++;
      return twin.then((value) => ({ value, source: 'joined' }));
    }
    this.#c.leaders++;
    let call: Promise<T>;
    try {
      call = Promise.resolve(fn());
    } catch (error) {
      call = Promise.reject(error);
    }
    this.#inflight.set(key, call);
    // Registered before any caller's continuation, so by the time a caller sees the value the cache holds it.
    call.then(
      (value) => {
        if (this.#inflight.get(key) === call) this.#inflight.delete(key);
        this.#store(key, value);
      },
      () => {
        if (this.#inflight.get(key) === call) this.#inflight.delete(key);
      },
    );
    return call.then((value) => ({ value, source: 'leader' }));
  }

  /** Forgets the cached result for `key` (an in-flight call is not affected). True when one was cached. */
  delete(key: string): boolean {
    return this.#cache.delete(key);
  }

  #store(key: string, value: T): void {
    if (this.#ttlMs === 0 || this.#maxEntries === 0) return;
    this.#cache.delete(key);
    this.#cache.set(key, { value, expiresAtMs: this.#clock.now() + this.#ttlMs });
    while (this.#cache.size > this.#maxEntries) {
      const oldest = this.#cache.keys().next();
      if (oldest.done === true) break;
      this.#cache.delete(oldest.value);
    }
  }
}
