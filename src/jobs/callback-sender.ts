/**
 * Delivery of completion callbacks, shared by the in-memory service and the Redis workers: a few attempts, each
 * with a timeout, with exponential backoff on the Clock between them; redirects are never followed.
 */
import { request } from 'undici';
import type { Clock } from '../time/clock.js';
import type { CallbackState } from './job-store.js';

/** Options of {@link CallbackSender}. */
export interface CallbackSenderOptions {
  readonly clock: Clock;
  /** Attempts in all. @default 3 */
  readonly attempts?: number;
  /** Wait before the second attempt; doubled for each later one. @default 500 */
  readonly backoffMs?: number;
  /** Per-attempt timeout (headers and body). @default 5000 */
  readonly timeoutMs?: number;
}

/** POSTs JSON with bounded retries: 2xx is delivered; anything else (or a network error) is retried. */
export class CallbackSender {
  private readonly clock: Clock;
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly timeoutMs: number;

  constructor(o: CallbackSenderOptions) {
    this.clock = o.clock;
    this.attempts = o.attempts ?? 3;
    this.backoffMs = o.backoffMs ?? 500;
    this.timeoutMs = o.timeoutMs ?? 5000;
    if (!Number.isInteger(this.attempts) || this.attempts < 1) throw new RangeError(`attempts: expected an integer >= 1, got ${String(o.attempts)}`);
    if (!(this.backoffMs >= 0)) throw new RangeError(`backoffMs: expected a number >= 0, got ${String(o.backoffMs)}`);
    if (!(this.timeoutMs > 0)) throw new RangeError(`timeoutMs: expected a number > 0, got ${String(o.timeoutMs)}`);
  }

  /** Delivers `body` to `url`. Never rejects: the returned state says how it went. `signal` stops retrying. */
  async deliver(url: string, body: unknown, o: { signal?: AbortSignal; headers?: Record<string, string> } = {}): Promise<CallbackState> {
    const payload = JSON.stringify(body);
    let lastError = '';
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      if (attempt > 1) {
        try {
          await this.clock.sleep(this.backoffMs * 2 ** (attempt - 2), o.signal);
        } catch {
          return { status: 'failed', attempts: attempt - 1, lastError: `gave up: ${lastError}` };
        }
      }
      try {
        const res = await request(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-callback-attempt': String(attempt), ...o.headers },
          body: payload,
          headersTimeout: this.timeoutMs,
          bodyTimeout: this.timeoutMs,
          // undici 7 follows no redirect unless told to: a callback cannot be bounced off the allowlist.
          ...(o.signal !== undefined ? { signal: o.signal } : {}),
        });
        await res.body.dump();
        if (res.statusCode >= 200 && res.statusCode < 300) return { status: 'delivered', attempts: attempt };
        lastError = `HTTP ${res.statusCode}`;
      } catch (error) {
        lastError = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      }
    }
    return { status: 'failed', attempts: this.attempts, lastError };
  }
}
