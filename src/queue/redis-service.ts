/**
 * Opening the Redis side from a `redis://` URL: for an API process (the store and the producer, fail-fast
 * connections so an outage is a 503) and for a worker process (the store and the consumer, patient
 * connections so an outage is waited out).
 */
import type { Redis } from 'ioredis';
import type { Clock } from '../time/clock.js';
import { BullJobQueue, type QueueNames } from './bullmq-queue.js';
import { QueueUnavailableError } from './errors.js';
import { QueueWorker, type QueueWorkerOptions } from './queue-worker.js';
import { connectRedis, parseRedisUrl } from './redis-connection.js';
import { RedisJobStore } from './redis-job-store.js';

/** Options shared by both sides. */
export interface RedisSideOptions extends QueueNames {
  /** `redis://[user:pass@]host:port[/db]`. */
  readonly url: string;
  /** Key prefix of the job store. @default 'engine:' */
  readonly prefix?: string;
  /** How long finished results (and their idempotency keys) are kept. @default 86_400_000 (24 h) */
  readonly resultTtlMs?: number;
}

/** The API process's Redis side: pass `store` and `queue` to buildService. */
export interface RedisApiSide {
  readonly store: RedisJobStore;
  readonly queue: BullJobQueue;
  readonly redis: Redis;
  /** After the app closed. */
  close(): Promise<void>;
}

/** Connects to Redis (a QueueUnavailableError when it cannot) and makes the job store on that connection. */
async function connectStore(o: RedisSideOptions, mode: Parameters<typeof connectRedis>[1], name: string): Promise<{ redis: Redis; store: RedisJobStore }> {
  const target = parseRedisUrl(o.url);
  let redis: Redis;
  try {
    redis = await connectRedis(target, mode, { name });
  } catch (e) {
    throw new QueueUnavailableError(`no connection to ${target.display} (${e instanceof Error ? e.message : String(e)})`);
  }
  const store = new RedisJobStore({ redis, ...(o.prefix !== undefined ? { prefix: o.prefix } : {}), ...(o.resultTtlMs !== undefined ? { resultTtlMs: o.resultTtlMs } : {}) });
  return { redis, store };
}

/** Connects the API side. Rejects (a QueueUrlError or a QueueUnavailableError) when Redis cannot be reached. */
export async function openRedisApi(
  o: RedisSideOptions & { readonly clock: Clock; readonly attempts: number; readonly cancelWaitMs?: number; readonly orphanAfterMs?: number },
): Promise<RedisApiSide> {
  const { redis, store } = await connectStore(o, 'failFast', 'engine-api');
  const queue = new BullJobQueue({
    redis,
    store,
    clock: o.clock,
    attempts: o.attempts,
    ...(o.queueName !== undefined ? { queueName: o.queueName } : {}),
    ...(o.bullPrefix !== undefined ? { bullPrefix: o.bullPrefix } : {}),
    ...(o.cancelWaitMs !== undefined ? { cancelWaitMs: o.cancelWaitMs } : {}),
    ...(o.orphanAfterMs !== undefined ? { orphanAfterMs: o.orphanAfterMs } : {}),
  });
  await queue.queue.waitUntilReady();
  await store.connect();
  queue.startSweeper();
  return {
    store,
    queue,
    redis,
    close: async () => {
      await queue.close();
      await store.close();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** A worker process's Redis side. */
export interface RedisWorkerSide {
  readonly worker: QueueWorker;
  readonly store: RedisJobStore;
  /** Stops taking jobs, drains (see QueueWorker.close) and disconnects. */
  close(): Promise<void>;
}

/** Connects a worker and starts it taking jobs. */
export async function openRedisWorker(o: RedisSideOptions & Omit<QueueWorkerOptions, 'redis' | 'store'>): Promise<RedisWorkerSide> {
  const { redis, store } = await connectStore(o, 'patient', 'engine-worker');
  const worker = new QueueWorker({ ...o, redis, store });
  await worker.start();
  return {
    worker,
    store,
    close: async () => {
      await worker.close();
      await store.close();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
