import { isTerminal, type JobRecord, type JobRetention } from './job-store.js';

/** How long a finished job stays readable, as the job view says it. */
export type RetentionView =
  | { readonly policy: 'until-evicted'; readonly max_bytes: number; readonly max_jobs: number; readonly note: string }
  | { readonly policy: 'ttl'; readonly ttl_ms: number; readonly expires_at_ms: number | null };

export function retentionView(j: JobRecord, r: JobRetention | undefined): RetentionView | null {
  if (r === undefined) return null;
  if (r.kind === 'ttl') {
    // Dead-lettered jobs do not expire; others expire ttl after they finish.
    const expires = isTerminal(j.status) && !j.deadLetter && j.finishedAtMs !== undefined ? j.finishedAtMs + r.ttlMs : null;
    return { policy: 'ttl', ttl_ms: r.ttlMs, expires_at_ms: expires };
  }
  return {
    policy: 'until-evicted',
    max_bytes: r.maxBytes,
    max_jobs: r.maxJobs,
    note: 'kept in this process until the store needs room: finished jobs are forgotten the longest finished first (dead-lettered ones last), and all are lost on restart',
  };
}

/** What `GET /v1/jobs/:id` (and a completion callback) shows of a job. */
export interface JobView {
  readonly id: string;
  readonly object: 'job';
  readonly status: JobRecord['status'];
  /** The engine outcome (`ok`, `degraded`, `shed`, `failed`, `timeout`, `cancelled`) once terminal; else null. */
  readonly outcome: JobRecord['outcome'] | null;
  /** `fallback`, `partial` or `context-trimmed` when the result is degraded; else null. Never silent. */
  readonly degraded: JobRecord['degraded'] | null;
  readonly attempts: number;
  readonly cycle: number;
  /** The text so far (partial while running). */
  readonly output: string;
  readonly tokens: number;
  readonly model: JobRecord['model'] | null;
  readonly error: JobRecord['error'] | null;
  readonly retry_after_ms: number | null;
  readonly dead_letter: boolean;
  /** The queue class: `interactive` or `batch`. */
  readonly priority: JobRecord['spec']['priority'];
  /** The 1–10 level given, or null when a class name was. */
  readonly priority_level: number | null;
  /** The owner. */
  readonly tenantId: string;
  /** The client's `metadata`, unchanged; null when none. */
  readonly metadata: Readonly<Record<string, unknown>> | null;
  /** The job's own attempt limit; null: the policy's. */
  readonly max_attempts: number | null;
  /** The deployment named in `modelHint`; null when none. */
  readonly model_hint: string | null;
  /** Where a large payload is stored (the record keeps only this reference); null when it is inline. */
  readonly payloadRef: string | null;
  readonly idempotency_key: string | null;
  /** `header` (the client's Idempotency-Key) or `payload-hash` (none given: sha256 of the payload); null in old records. */
  readonly idempotency_key_source: NonNullable<JobRecord['idempotencyKeySource']> | null;
  readonly createdAt: string;
  readonly createdAtMs: number;
  readonly startedAtMs: number | null;
  readonly finishedAtMs: number | null;
  readonly callback: JobRecord['callback'] | null;
  /** How long this job stays readable once finished; null when the store does not say. */
  readonly retention: RetentionView | null;
  /** Tokens billed over every upstream call (retries and resumes bill again), and delivered; null until it ends. */
  readonly usage: JobRecord['usage'] | null;
  /** What the job cost at the service's prices (`serve --price`), USD; null when unpriced or unknown. */
  readonly costUsd: number | null;
}

/** The public view of a job record; `retention` is the store's. */
export function jobView(j: JobRecord, retention?: JobRetention): JobView {
  return {
    id: j.id,
    object: 'job',
    status: j.status,
    outcome: j.outcome ?? null,
    degraded: j.degraded ?? null,
    attempts: j.attempts,
    cycle: j.cycle,
    output: j.output,
    tokens: j.tokens,
    model: j.model ?? null,
    error: j.error ?? null,
    retry_after_ms: j.retryAfterMs ?? null,
    dead_letter: j.deadLetter,
    priority: j.spec.priority,
    priority_level: j.spec.priorityLevel ?? null,
    tenantId: j.tenant,
    metadata: j.spec.metadata ?? null,
    max_attempts: j.spec.maxAttempts ?? null,
    model_hint: j.spec.deployment ?? j.spec.modelHint ?? null,
    payloadRef: j.spec.payloadRef ?? null,
    idempotency_key: j.idempotencyKey ?? null,
    idempotency_key_source: j.idempotencyKeySource ?? null,
    createdAt: new Date(j.createdAtMs).toISOString(),
    createdAtMs: j.createdAtMs,
    startedAtMs: j.startedAtMs ?? null,
    finishedAtMs: j.finishedAtMs ?? null,
    callback: j.callback ?? null,
    retention: retentionView(j, retention),
    usage: j.usage ?? null,
    costUsd: j.costUsd ?? null,
  };
}
