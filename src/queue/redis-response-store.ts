/**
 * The response cache on Redis: every engine process (API replicas, workers) shares one set of answers, so a prompt
 * answered by one is a hit on all. One string key per answer (`<prefix><cache key>`, JSON), with a TTL of the longer
 * of the cache's TTL and its staleness bound (`PX`); freshness is judged by the engine from `storedAtMs`. The byte
 * bound is Redis's own: run it with `maxmemory` and `maxmemory-policy allkeys-lru` (or `volatile-lru` when it also
 * holds the job queue, whose keys have no TTL). A Redis error is a miss (counted by the cache), never a failure.
 */
import type { Redis } from 'ioredis';
import type { CachedAnswer, ResponseStore } from '../engine/response-cache.js';

/** Options of {@link RedisResponseStore}. */
export interface RedisResponseStoreOptions {
  /** Key prefix. @default 'engine:resp:' */
  readonly prefix?: string;
}

/** The commands the store uses (an ioredis client, or a test double). */
export type RedisLike = Pick<Redis, 'get' | 'set'>;

function isAnswer(x: unknown): x is CachedAnswer {
  if (typeof x !== 'object' || x === null) return false;
  const a = x as Record<string, unknown>;
  return typeof a['text'] === 'string' && typeof a['tokens'] === 'number' && (a['model'] === 'primary' || a['model'] === 'fallback') && typeof a['storedAtMs'] === 'number';
}

/** A {@link ResponseStore} on Redis. */
export class RedisResponseStore implements ResponseStore {
  readonly #redis: RedisLike;
  readonly #prefix: string;

  constructor(redis: RedisLike, o: RedisResponseStoreOptions = {}) {
    this.#redis = redis;
    this.#prefix = o.prefix ?? 'engine:resp:';
  }

  async get(key: string): Promise<CachedAnswer | undefined> {
    const raw = await this.#redis.get(this.#prefix + key);
    if (raw === null) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return undefined;
    }
    // Something else under our prefix (another version's format): a miss, not a crash.
    return isAnswer(parsed) ? parsed : undefined;
  }

  async set(key: string, answer: CachedAnswer, keepMs: number): Promise<void> {
    if (!(keepMs >= 1)) return;
    await this.#redis.set(this.#prefix + key, JSON.stringify(answer), 'PX', Math.ceil(keepMs));
  }
}
