import type { JobRecord } from './job-store.js';

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
  readonly priority: JobRecord['spec']['priority'];
  readonly idempotency_key: string | null;
  readonly createdAt: string;
  readonly createdAtMs: number;
  readonly startedAtMs: number | null;
  readonly finishedAtMs: number | null;
  readonly callback: JobRecord['callback'] | null;
}

/** The public view of a job record. */
export function jobView(j: JobRecord): JobView {
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
    idempotency_key: j.idempotencyKey ?? null,
    createdAt: new Date(j.createdAtMs).toISOString(),
    createdAtMs: j.createdAtMs,
    startedAtMs: j.startedAtMs ?? null,
    finishedAtMs: j.finishedAtMs ?? null,
    callback: j.callback ?? null,
  };
}
