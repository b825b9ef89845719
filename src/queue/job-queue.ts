/**
 * The job queue interface: where the jobs API hands an accepted, stored job to be run. Two implementations:
 * - LocalJobQueue (the embedded default): the job goes straight into this process's Engine, whose bounded,
 *   priority- and deadline-aware in-memory queue holds it until a concurrency slot frees;
 * - BullJobQueue: a durable Redis queue (BullMQ); worker processes on any host take jobs with a lease and run
 *   them through their own Engine (see queue-worker.ts).
 * Either way the pipeline after dequeue is the same code: `engineRequestFor` -> Engine.submit -> token writes
 * -> `terminalPatchFor` (engine-job.ts).
 */
import type { JobPatch, JobRecord } from '../jobs/job-store.js';

/** A refusal at admission: nothing was accepted (the engine shed it, e.g. a tenant rate limit). */
export interface QueueRefusal {
  readonly kind: 'shed';
  readonly retryAfterMs?: number;
  readonly error: { readonly code: string; readonly message: string };
}

/** Jobs by queue state, for `/metrics` and `/healthz`. */
export interface QueueCounts {
  /** Waiting to be taken (queue depth). */
  readonly waiting: number;
  /** Being run. */
  readonly active: number;
  /** Waiting out a retry backoff (delayed re-enqueue). */
  readonly delayed: number;
  /** Jobs recovered after their lease expired (a worker died or stalled), since the queue was created. */
  readonly stalled: number;
  /** Failed for good, waiting in the dead-letter list for a requeue. */
  readonly deadLetter: number;
}

/** Whether the queue can take new work. */
export interface QueueHealth {
  readonly ready: boolean;
  /** Why not, when not. */
  readonly reason?: string;
}

/** Where accepted jobs go. */
export interface JobQueue {
  readonly kind: 'memory' | 'redis';
  /** The `queue` label of its metrics. */
  readonly name: string;
  /**
   * Hands over a stored job. With `reset`, a new attempt cycle of a dead-lettered job (the patch that starts
   * it over is applied first). Resolves once the job is accepted (for Redis: durably enqueued), or with the
   * refusal when nothing was accepted. Rejects with a QueueUnavailableError when the queue cannot be reached.
   */
  enqueue(job: JobRecord, reset?: JobPatch): Promise<QueueRefusal | undefined>;
  /**
   * Cancels a queued or running job and resolves once it is terminal (`true`), or `false` when there was
   * nothing to cancel here (unknown, or already terminal).
   */
  cancel(id: string): Promise<boolean>;
  counts(): Promise<QueueCounts>;
  health(): QueueHealth;
  close(): Promise<void>;
}
