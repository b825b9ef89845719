/**
 * The durable JobQueue: BullMQ on Redis. The API process only produces: it enqueues a stored job under its own
 * id (so enqueueing twice is a no-op), cancels, requeues dead letters and counts. Storing and enqueueing are two
 * steps: the store puts every created job in an outbox in the same atomic step, enqueueing takes it out, and
 * every API process sweeps the outbox for jobs left there (their producer died in between) and enqueues them. Worker processes consume
 * (queue-worker.ts). A failed BullMQ job (attempts used up, or not retryable) is the dead-letter state: it is
 * kept (`removeOnFail: false`) until requeued; completed ones are removed at once, the result lives in the
 * job store with a TTL.
 */
import { Queue, type Job as BullJob } from 'bullmq';
import type { Redis } from 'ioredis';
import type { JobPatch, JobRecord } from '../jobs/job-store.js';
import { isTerminal } from '../jobs/job-store.js';
import type { Clock } from '../time/clock.js';
import { QueueUnavailableError } from './errors.js';
import type { JobQueue, QueueCounts, QueueHealth, QueueRefusal } from './job-queue.js';
import type { RedisJobStore } from './redis-job-store.js';

/** What a queued BullMQ job carries: the store holds everything else. */
export interface QueuedJobData {
  readonly id: string;
  /** The attempt cycle this delivery belongs to (a requeue starts another). */
  readonly cycle: number;
}

/** Names shared by the producer and the workers of one deployment. */
export interface QueueNames {
  /** BullMQ queue name. @default 'engine-jobs' */
  readonly queueName?: string;
  /** BullMQ key prefix. @default 'bull' */
  readonly bullPrefix?: string;
}

/** The Redis counter of stalled-job recoveries of a queue (kept by the workers). */
export function stalledKey(storePrefix: string, queueName: string): string {
  return `${storePrefix}stalled:${queueName}`;
}

/** The pub/sub channel on which workers hear cancellations, and the per-job flag a late-starting one checks. */
export function cancelChannel(storePrefix: string): string {
  return `${storePrefix}cancel`;
}
export function cancelFlagKey(storePrefix: string, id: string): string {
  return `${storePrefix}cancel:${id}`;
}

/** BullMQ priority: interactive jobs go to the plain wait list, batch jobs to the prioritized set behind them. */
export function bullPriority(p: JobRecord['spec']['priority']): number | undefined {
  return p === 'batch' ? 1 : undefined;
}

/** Options of {@link BullJobQueue}. */
export interface BullJobQueueOptions extends QueueNames {
  /** A fail-fast connection (the caller keeps it). */
  readonly redis: Redis;
  readonly store: RedisJobStore;
  readonly clock: Clock;
  /** Deliveries per cycle, the first included: the policy's `retry.maxAttempts`. */
  readonly attempts: number;
  /** How long `cancel` waits for a worker to end a running job. @default 10_000 */
  readonly cancelWaitMs?: number;
  /** A stored job not known to be in the queue after this long is an orphan, and is enqueued. @default 30_000 */
  readonly orphanAfterMs?: number;
}

/** The producer side of the Redis queue. */
export class BullJobQueue implements JobQueue {
  readonly kind = 'redis';
  readonly name: string;
  readonly queue: Queue<QueuedJobData>;
  private readonly redis: Redis;
  private readonly store: RedisJobStore;
  private readonly clock: Clock;
  private readonly attempts: number;
  private readonly cancelWaitMs: number;
  private readonly orphanAfterMs: number;
  private sweepTimer: { cancel(): void } | undefined;
  private closed = false;

  constructor(o: BullJobQueueOptions) {
    if (!(Number.isInteger(o.attempts) && o.attempts >= 1)) throw new RangeError(`attempts: expected an integer >= 1, got ${String(o.attempts)}`);
    this.name = o.queueName ?? 'engine-jobs';
    this.redis = o.redis;
    this.store = o.store;
    this.clock = o.clock;
    this.attempts = o.attempts;
    this.cancelWaitMs = o.cancelWaitMs ?? 10_000;
    this.orphanAfterMs = o.orphanAfterMs ?? 30_000;
    if (!(Number.isInteger(this.orphanAfterMs) && this.orphanAfterMs >= 0)) throw new RangeError(`orphanAfterMs: expected an integer >= 0, got ${String(o.orphanAfterMs)}`);
    this.queue = new Queue<QueuedJobData>(this.name, { connection: o.redis, prefix: o.bullPrefix ?? 'bull', skipWaitingForReady: true });
    this.queue.on('error', () => undefined);
  }

  health(): QueueHealth {
    if (this.redis.status !== 'ready') return { ready: false, reason: `redis connection ${this.redis.status}` };
    if (!this.store.connected) return { ready: false, reason: 'redis subscriber connection not ready' };
    return { ready: true };
  }

  private ensureReady(): void {
    const h = this.health();
    if (!h.ready) throw new QueueUnavailableError(h.reason ?? 'redis down');
  }

  private async guard<T>(what: string, p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (e) {
      if (e instanceof QueueUnavailableError) throw e;
      throw new QueueUnavailableError(`${what} failed: ${e instanceof Error ? e.message : String(e)}`, 1000, { cause: e });
    }
  }

  async enqueue(job: JobRecord, reset?: JobPatch): Promise<QueueRefusal | undefined> {
    this.ensureReady();
    let rec = job;
    if (reset !== undefined) {
      // The previous cycle's BullMQ job (failed: the dead letter) gives way to the new one under the same id.
      const old = await this.guard('requeue', this.queue.getJob(job.id));
      if (old !== undefined) await this.guard('requeue', old.remove());
      rec = await this.store.update(job.id, reset);
    }
    try {
      await this.add(rec);
    } catch (e) {
      // Put a requeued job back in the dead-letter list rather than leave it queued with nothing to run it.
      if (reset !== undefined) await this.store.updateIf(job.id, { cycle: rec.cycle }, { status: job.status, deadLetter: true, cycle: job.cycle }).catch(() => undefined);
      throw e;
    }
    return undefined;
  }

  /** Adds the job's BullMQ job (a no-op when the queue holds one under its id), then takes it out of the outbox. */
  private async add(rec: JobRecord): Promise<void> {
    await this.guard(
      'enqueue',
      this.queue.add('run', { id: rec.id, cycle: rec.cycle }, {
        jobId: rec.id,
        attempts: this.attempts,
        backoff: { type: 'engine' },
        ...(bullPriority(rec.spec.priority) !== undefined ? { priority: bullPriority(rec.spec.priority) as number } : {}),
        removeOnComplete: true,
        removeOnFail: false,
      }),
    );
    // Best effort: a job left in the outbox is re-added by the sweeper, which is a no-op for a held id.
    await this.store.outboxDone(rec.id).catch(() => undefined);
  }

  /**
   * Enqueues orphans: jobs stored (they got their 202) but not known to be in the queue after `olderThanMs`,
   * because the process that stored them died before enqueueing. Jobs already past `queued` (a worker took
   * them) or gone only leave the outbox. Returns the ids enqueued.
   */
  async sweepOrphans(olderThanMs = this.orphanAfterMs): Promise<string[]> {
    this.ensureReady();
    const enqueued: string[] = [];
    for (const id of await this.store.outboxOlderThan(olderThanMs)) {
      const rec = await this.store.get(id);
      if (rec !== undefined && rec.status === 'queued') {
        await this.add(rec);
        enqueued.push(id);
      } else {
        await this.store.outboxDone(id);
      }
    }
    return enqueued;
  }

  /** Sweeps for orphans every `everyMs` (and once now) until closed. */
  startSweeper(everyMs = Math.max(1000, Math.floor(this.orphanAfterMs / 3))): void {
    if (this.sweepTimer !== undefined || this.closed) return;
    const tick = (): void => {
      if (this.closed) return;
      void this.sweepOrphans()
        .catch(() => undefined)
        .finally(() => {
          if (!this.closed) this.sweepTimer = this.clock.setTimer(everyMs, tick, 'queue orphan sweep');
        });
    };
    tick();
  }

  async cancel(id: string): Promise<boolean> {
    this.ensureReady();
    const rec = await this.store.get(id);
    if (rec === undefined || isTerminal(rec.status)) return false;
    // The flag covers a worker that takes the job between our look and our message.
    await this.guard('cancel', this.redis.set(cancelFlagKey(this.store.prefix, id), String(rec.cycle), 'PX', 3_600_000));
    const bj: BullJob<QueuedJobData> | undefined = await this.guard('cancel', this.queue.getJob(id));
    if (bj !== undefined) {
      const state = await this.guard('cancel', bj.getState());
      if (state === 'waiting' || state === 'delayed' || state === 'prioritized') {
        // remove() refuses a job a worker has locked meanwhile: then the worker hears the message below.
        const removed = await bj.remove().then(
          () => true,
          () => false,
        );
        if (removed) {
          await this.store.updateIf(id, { cycle: rec.cycle, open: true }, {
            status: 'cancelled',
            outcome: 'cancelled',
            finishedAtMs: this.wallNowMs(),
            deadLetter: false,
            error: { code: 'CANCELLED', message: 'cancelled by the client (DELETE) while queued' },
          });
          return true;
        }
      }
    }
    const done = this.waitTerminal(id);
    await this.guard('cancel', this.redis.publish(cancelChannel(this.store.prefix), id));
    await done;
    return true;
  }

  /** Resolves when the job is terminal, or after `cancelWaitMs` (a worker that is gone cannot answer). */
  private waitTerminal(id: string): Promise<void> {
    return new Promise<void>((resolve) => {
      let finished = false;
      const finish = (): void => {
        if (finished) return;
        finished = true;
        off();
        timer.cancel();
        resolve();
      };
      const off = this.store.watch(id, (e) => {
        if (e.type === 'update' && isTerminal(e.job.status)) finish();
      });
      const timer = this.clock.setTimer(this.cancelWaitMs, finish, 'queue cancel wait');
      void this.store.get(id).then((j) => {
        if (j === undefined || isTerminal(j.status)) finish();
      }, finish);
    });
  }

  private wallNowMs(): number {
    const wall = (this.clock as { wallTimeMs?: () => number }).wallTimeMs;
    return Math.floor(typeof wall === 'function' ? wall.call(this.clock) : this.clock.now());
  }

  async counts(): Promise<QueueCounts> {
    const [c, stalled] = await Promise.all([
      this.guard('counts', this.queue.getJobCounts('wait', 'prioritized', 'active', 'delayed', 'failed')),
      this.guard('counts', this.redis.get(stalledKey(this.store.prefix, this.name))),
    ]);
    const n = (k: string): number => c[k] ?? 0;
    return { waiting: n('wait') + n('prioritized'), active: n('active'), delayed: n('delayed'), stalled: Number(stalled ?? 0), deadLetter: n('failed') };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.sweepTimer?.cancel();
    await this.queue.close().catch(() => undefined);
  }
}
