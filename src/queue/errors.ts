/**
 * The queue's errors. `QueueUnavailableError` is an ApiError (503 with Retry-After), so a route that hits a
 * Redis outage answers "unavailable, try again" instead of a 500 or a hang.
 */
import { ApiError } from '../api/api-errors.js';
import { HarnessError } from '../errors.js';

/** The durable queue or its job store cannot be reached: new work is refused, nothing accepted is lost. */
export class QueueUnavailableError extends ApiError {
  constructor(reason: string, retryAfterMs = 1000, options?: { cause?: unknown }) {
    super(503, 'queue_unavailable', `job queue: expected a connected Redis, got ${reason}; retry later`, { retryAfterMs });
    if (options?.cause !== undefined) Object.defineProperty(this, 'cause', { value: options.cause });
  }
}

/** A `--queue` (or `url`) value that is not a usable Redis URL. */
export class QueueUrlError extends HarnessError {
  constructor(received: string, why: string) {
    super('INVALID_QUEUE_URL', `queue: expected a URL like redis://127.0.0.1:6379 (or rediss://, optional /DB), got ${JSON.stringify(received)} (${why})`);
  }
}

/**
 * A worker lost its claim on a job: the store refused its write because another delivery (after a lease
 * expiry) or a requeue took the job over. The worker stops working on it; nothing it wrote is duplicated.
 */
export class LeaseLostError extends HarnessError {
  constructor(id: string, why: string) {
    super('LEASE_LOST', `job ${id}: expected to own the current delivery, got ${why}`);
  }
}
