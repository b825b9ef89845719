/**
 * Where jobs live: the JobStore interface, small enough for an in-memory map (the embedded default) and for a
 * durable Redis/BullMQ implementation (a later issue). Every method is async so the interface does not change
 * when the store goes remote.
 */
import type { DegradedReason, Outcome } from '../engine/engine-types.js';
import type { Priority } from '../engine/queue.js';
import type { ChatMessage } from '../upstream/model-client.js';

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** The terminal states: a job reaches exactly one of them per attempt cycle. */
export function isTerminal(s: JobStatus): boolean {
  return s === 'succeeded' || s === 'failed' || s === 'cancelled';
}

/** What was asked for: everything needed to run the job again (a dead-letter requeue). */
export interface JobSpec {
  readonly model: string;
  readonly messages?: readonly ChatMessage[];
  readonly prompt?: string;
  readonly maxTokens?: number;
  readonly priority: Priority;
  readonly modelHint?: 'primary' | 'fallback';
  readonly batchable?: boolean;
  readonly deadlineMs?: number;
  readonly callbackUrl?: string;
  /** The 1–10 priority the client gave (`priority` holds the queue class it maps to); absent for a class name. */
  readonly priorityLevel?: number;
  /** Attempts for this job, at most the policy's `retry.maxAttempts`. @default the policy's */
  readonly maxAttempts?: number;
  /** The client's own data, stored and returned unchanged (size-bounded at the API). */
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** The deployment the client named in `modelHint` (`modelHint` holds the route it maps to). */
  readonly deployment?: string;
  /**
   * Where the payload (`messages` or `prompt`) is stored when it was too large to keep in the job record (see
   * jobs/payload-store.ts); the spec then has neither, and whoever runs the job fetches it.
   */
  readonly payloadRef?: string;
  /** Mock-server controls passed through from `x-mock-*` headers. */
  readonly mock?: { readonly outputTokens?: number; readonly promptTokens?: number; readonly fault?: string };
}

/** The state of a callback delivery. */
export interface CallbackState {
  readonly status: 'pending' | 'delivered' | 'failed';
  readonly attempts: number;
  readonly lastError?: string;
}

/** One job as stored. Times are Unix-epoch milliseconds. */
export interface JobRecord {
  readonly id: string;
  readonly tenant: string;
  readonly spec: JobSpec;
  readonly idempotencyKey?: string;
  /**
   * Where `idempotencyKey` came from: the client's `Idempotency-Key` header, or (none given) the sha256 of the
   * canonical payload (`key = idempotency_key or sha256(payload)`). Absent in records stored before it existed.
   */
  readonly idempotencyKeySource?: 'header' | 'payload-hash';
  /** Identifies the payload, so that a reused idempotency key with another payload is refused. */
  readonly fingerprint: string;
  readonly status: JobStatus;
  /** Attempt cycles: 1, plus one per requeue. */
  readonly cycle: number;
  /** Upstream attempts over all cycles. */
  readonly attempts: number;
  readonly outcome?: Outcome;
  readonly degraded?: DegradedReason;
  readonly error?: { readonly code: string; readonly message: string };
  readonly retryAfterMs?: number;
  /** The text produced in this cycle so far (partial while running). */
  readonly output: string;
  /** Tokens produced in this cycle so far. */
  readonly tokens: number;
  readonly model?: 'primary' | 'fallback';
  /** Failed and waiting in the dead-letter list. */
  readonly deadLetter: boolean;
  readonly createdAtMs: number;
  readonly startedAtMs?: number;
  readonly finishedAtMs?: number;
  readonly callback?: CallbackState;
  /** Tokens billed over every upstream call of every cycle, and delivered in the last (src/engine/billed-usage.ts). */
  readonly usage?: JobUsage;
  /** What those calls cost at the service's prices (USD); absent when unpriced. */
  readonly costUsd?: number;
}

/** A job's billed tokens: input at the input price (uncached), cached input, output produced, output delivered. */
export interface JobUsage {
  readonly billedInput: number;
  readonly billedCachedInput: number;
  readonly billedOutput: number;
  readonly delivered: number;
  /** Some figure is the engine's own count (a call broke before the upstream reported usage). */
  readonly estimated: boolean;
}

/** What `create` needs; the store fills in the rest. */
export type NewJob = Pick<JobRecord, 'id' | 'tenant' | 'spec' | 'fingerprint' | 'createdAtMs'> & {
  readonly idempotencyKey?: string;
  readonly idempotencyKeySource?: JobRecord['idempotencyKeySource'];
};

/** Fields `update` may change. `resetOutput` clears the output and the token log (a new cycle). */
export type JobPatch = Partial<Omit<JobRecord, 'id' | 'tenant' | 'spec' | 'fingerprint' | 'idempotencyKey' | 'createdAtMs' | 'output' | 'tokens'>> & {
  readonly resetOutput?: true;
};

/** A chunk of the token log: `index` is the first token's index in the cycle's output. */
export interface StoredChunk {
  readonly cycle: number;
  readonly index: number;
  readonly count: number;
  readonly text: string;
}

/** What `watch` reports, in the order the store applied it. */
export type JobStoreEvent = { readonly type: 'tokens'; readonly chunk: StoredChunk } | { readonly type: 'update'; readonly job: JobRecord };

/**
 * How long a store keeps finished jobs: until a cap needs the room (in memory: finished jobs are forgotten
 * the longest finished first), or for a time after they finish (Redis).
 */
export type JobRetention =
  | { readonly kind: 'capped'; readonly maxBytes: number; readonly maxJobs: number }
  | { readonly kind: 'ttl'; readonly ttlMs: number };

/** A job store. Implementations keep, per job, the record and an append-only token log of the current cycle. */
export interface JobStore {
  /** How long finished jobs are kept (shown in the job view). Undefined: not said. */
  readonly retention?: JobRetention;
  /**
   * Creates the job, unless the tenant already has one with the same idempotency key: then returns that one
   * with `created: false`. Atomic, so concurrent submissions with one key make one job.
   */
  create(job: NewJob): Promise<{ readonly job: JobRecord; readonly created: boolean }>;
  get(id: string): Promise<JobRecord | undefined>;
  /** Applies a patch; rejects with a JobNotFoundError for an unknown id. */
  update(id: string, patch: JobPatch): Promise<JobRecord>;
  /** Forgets a job that was refused at admission (never accepted), releasing its idempotency key. */
  discard(id: string): Promise<void>;
  /** The tenant's dead-lettered jobs, oldest first. */
  listDeadLetter(tenant: string, options?: { readonly limit?: number }): Promise<JobRecord[]>;
  /** Appends to the current cycle's token log and output. */
  appendTokens(id: string, chunk: { readonly index: number; readonly count: number; readonly text: string }): Promise<void>;
  /** The current cycle's chunks whose last token is after `afterIndex` (-1 for all). */
  readTokens(id: string, afterIndex: number): Promise<StoredChunk[]>;
  /** Follows one job's token appends and updates; returns the unsubscribe function. */
  watch(id: string, listener: (e: JobStoreEvent) => void): () => void;
}

/** The record of a job just accepted: queued, first cycle, nothing produced yet. */
export function newJobRecord(n: NewJob): JobRecord {
  return {
    id: n.id,
    tenant: n.tenant,
    spec: n.spec,
    fingerprint: n.fingerprint,
    ...(n.idempotencyKey !== undefined ? { idempotencyKey: n.idempotencyKey } : {}),
    ...(n.idempotencyKeySource !== undefined ? { idempotencyKeySource: n.idempotencyKeySource } : {}),
    status: 'queued',
    cycle: 1,
    attempts: 0,
    output: '',
    tokens: 0,
    deadLetter: false,
    createdAtMs: n.createdAtMs,
  };
}
