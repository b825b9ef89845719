/**
 * The response cache: completed `ok` answers of repeatable requests (src/engine/cache-key.ts), served again while
 * fresh (`ttlMs`), and kept longer (`staleIfErrorMs`) to be served as an explicit `degraded: cached` answer when the
 * upstream fails or its breaker is open. Entries live in a {@link ResponseStore}: in memory by default (LRU, bounded
 * in bytes), or on Redis (src/engine/redis-response-store.ts) so that every engine process shares them.
 */
import { ValidationError } from '../errors.js';
import type { Clock } from '../time/clock.js';
import type { Usage } from '../upstream/model-client.js';

/** One stored answer: what a replay needs to look like the original answer. */
export interface CachedAnswer {
  readonly text: string;
  readonly tokens: number;
  readonly model: 'primary' | 'fallback';
  readonly usage?: Usage;
  readonly finishReason?: string;
  /** When it was stored (engine clock, ms). */
  readonly storedAtMs: number;
}

/** Where answers are kept. `get`/`set` may be asynchronous (a network store); they never throw for a miss. */
export interface ResponseStore {
  /** The answer stored under `key`, or undefined. */
  get(key: string): Promise<CachedAnswer | undefined> | CachedAnswer | undefined;
  /** Stores `answer`, to be kept at most `keepMs` (the store may drop it earlier to stay in its bounds). */
  set(key: string, answer: CachedAnswer, keepMs: number): Promise<void> | void;
  /** Bytes held (approximate), when the store knows; for the `engine_cache_bytes` gauge. */
  readonly bytes?: number;
  /** Entries held, when the store knows. */
  readonly size?: number;
}

/** The approximate memory an entry takes: its key and text (UTF-16 in V8, counted as 2 bytes a character) plus overhead. */
export function entryBytes(key: string, answer: CachedAnswer): number {
  return 2 * (key.length + answer.text.length + (answer.finishReason?.length ?? 0)) + ENTRY_OVERHEAD_BYTES;
}

/** Map slot, object headers, numbers and usage of one entry, roughly. */
const ENTRY_OVERHEAD_BYTES = 256;

interface MemoryEntry {
  readonly answer: CachedAnswer;
  readonly bytes: number;
  readonly expiresAtMs: number;
}

/**
 * The in-memory store: a Map in least-recently-used order, bounded by `maxBytes` (the least recently used entries
 * go first) and expiring entries by the Clock. An answer larger than the whole bound is not stored.
 */
export class MemoryResponseStore implements ResponseStore {
  readonly #clock: Clock;
  readonly #maxBytes: number;
  readonly #entries = new Map<string, MemoryEntry>();
  #bytes = 0;
  /** Entries dropped to stay within `maxBytes` (not counting expiry). */
  evictions = 0;

  constructor(clock: Clock, maxBytes: number) {
    if (!(Number.isFinite(maxBytes) && maxBytes >= 0)) throw new ValidationError('maxBytes', 'a finite number >= 0', maxBytes);
    this.#clock = clock;
    this.#maxBytes = maxBytes;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): CachedAnswer | undefined {
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAtMs <= this.#clock.now()) {
      this.#drop(key, e);
      return undefined;
    }
    // Most recently used goes last.
    this.#entries.delete(key);
    this.#entries.set(key, e);
    return e.answer;
  }

  set(key: string, answer: CachedAnswer, keepMs: number): void {
    const old = this.#entries.get(key);
    if (old !== undefined) this.#drop(key, old);
    const bytes = entryBytes(key, answer);
    if (bytes > this.#maxBytes || keepMs <= 0) return;
    this.#entries.set(key, { answer, bytes, expiresAtMs: this.#clock.now() + keepMs });
    this.#bytes += bytes;
    const now = this.#clock.now();
    for (const [k, e] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#drop(k, e);
      if (e.expiresAtMs > now) this.evictions++;
    }
  }

  #drop(key: string, e: MemoryEntry): void {
    this.#entries.delete(key);
    this.#bytes -= e.bytes;
  }
}

/** Options of {@link ResponseCache}. */
export interface ResponseCacheOptions {
  /** How long an answer is served as a plain hit. */
  readonly ttlMs: number;
  /** How old an answer may be and still be served as `degraded: cached` when the upstream fails; 0: never. */
  readonly staleIfErrorMs: number;
}

/** A lookup's answer and whether it is still fresh. */
export interface CacheLookup {
  readonly answer: CachedAnswer;
  readonly ageMs: number;
  /** Within `ttlMs`: a plain hit. Otherwise only a fallback for a failed request. */
  readonly fresh: boolean;
}

/** The store's counters (monotonic); hits and misses are the engine's (`EngineCounters.cacheHits`, ...). */
export interface ResponseCacheCounters {
  /** Answers stored. */
  stores: number;
  /** Store errors (a network store that failed): counted, and the request goes on as a miss. */
  storeErrors: number;
}

/** Freshness and staleness over a {@link ResponseStore}. The store keeps each answer for the longer of the two. */
export class ResponseCache {
  readonly counters: ResponseCacheCounters = { stores: 0, storeErrors: 0 };

  constructor(
    private readonly clock: Clock,
    readonly store: ResponseStore,
    private readonly o: ResponseCacheOptions,
  ) {
    if (!(o.ttlMs > 0)) throw new ValidationError('cache.ttlMs', 'a number > 0', o.ttlMs);
    if (!(o.staleIfErrorMs >= 0)) throw new ValidationError('cache.staleIfErrorMs', 'a number >= 0', o.staleIfErrorMs);
  }

  /** The answer under `key` when it is fresh, or stale and within the staleness bound; undefined otherwise. */
  async lookup(key: string): Promise<CacheLookup | undefined> {
    let answer: CachedAnswer | undefined;
    try {
      answer = await this.store.get(key);
    } catch {
      this.counters.storeErrors++;
      return undefined;
    }
    if (answer === undefined) return undefined;
    const ageMs = Math.max(0, this.clock.now() - answer.storedAtMs);
    if (ageMs < this.o.ttlMs) return { answer, ageMs, fresh: true };
    if (ageMs < this.o.staleIfErrorMs) return { answer, ageMs, fresh: false };
    return undefined;
  }

  /** Stores an `ok` answer, kept for the longer of the TTL and the staleness bound. */
  async put(key: string, answer: Omit<CachedAnswer, 'storedAtMs'>): Promise<void> {
    try {
      await this.store.set(key, { ...answer, storedAtMs: this.clock.now() }, Math.max(this.o.ttlMs, this.o.staleIfErrorMs));
      this.counters.stores++;
    } catch {
      this.counters.storeErrors++;
    }
  }
}
