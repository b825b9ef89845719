/**
 * The embedded JobQueue: jobs go straight into this process's Engine, whose bounded, priority- and
 * deadline-aware in-memory queue holds them until a concurrency slot frees. Nothing survives the process;
 * that is what BullJobQueue is for.
 */
import type { JobPatch, JobRecord } from '../jobs/job-store.js';
import type { Engine } from '../engine/engine.js';
import { statusFor } from './engine-job.js';
import type { JobQueue, QueueCounts, QueueHealth, QueueRefusal } from './job-queue.js';

/** Options of {@link LocalJobQueue}. */
export interface LocalJobQueueOptions {
  readonly engine: Engine;
  /** Submits the job to the engine now (applying `reset` first); the refusal when the engine shed it at admission. */
  readonly start: (job: JobRecord, reset: JobPatch | undefined) => QueueRefusal | undefined;
  /** Cancels a job this process runs; resolves once it is terminal, false when it runs nothing of that id. */
  readonly cancel: (id: string) => Promise<boolean>;
}

/** The in-memory queue: the engine's own. */
export class LocalJobQueue implements JobQueue {
  readonly kind = 'memory';
  readonly name = 'embedded';
  private readonly engine: Engine;
  private readonly o: LocalJobQueueOptions;
  /** Jobs started here and not finished. */
  private readonly mine = new Set<string>();
  /** Jobs that failed for good and were not requeued since. */
  private readonly dead = new Set<string>();
  private readonly off: () => void;

  constructor(o: LocalJobQueueOptions) {
    this.o = o;
    this.engine = o.engine;
    this.off = this.engine.onEvent((e) => {
      if (e.type !== 'done' || !this.mine.delete(e.result.id)) return;
      if (statusFor(e.result) === 'failed') this.dead.add(e.result.id);
    });
  }

  enqueue(job: JobRecord, reset?: JobPatch): Promise<QueueRefusal | undefined> {
    const refused = this.o.start(job, reset);
    if (refused === undefined) {
      this.mine.add(job.id);
      this.dead.delete(job.id);
    }
    return Promise.resolve(refused);
  }

  cancel(id: string): Promise<boolean> {
    return this.o.cancel(id);
  }

  /** Waiting for a slot, holding one, and (delayed) between attempts or following a deduplicated twin. */
  counts(): Promise<QueueCounts> {
    const s = this.engine.snapshot();
    return Promise.resolve({
      waiting: s.queueDepth,
      active: s.inFlight,
      delayed: Math.max(0, s.active - s.queueDepth - s.inFlight),
      stalled: 0,
      deadLetter: this.dead.size,
    });
  }

  health(): QueueHealth {
    return { ready: true };
  }

  close(): Promise<void> {
    this.off();
    return Promise.resolve();
  }
}
