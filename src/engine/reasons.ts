/**
 * Why a request did not end `ok`, as one stable snake_case reason code: the vocabulary of `summary.reasons`.
 * Derived from what the result already carries (outcome, error code, degraded reason), so the engine, the HTTP
 * service and the harness all name the same cause the same way.
 */
import type { EngineResult } from './engine-types.js';

/** Reason codes by the engine's (or the upstream's) stable error code. */
const BY_CODE: Readonly<Record<string, string>> = {
  RATE_LIMITED: 'rate_limited',
  QUEUE_FULL: 'shed_queue_full',
  EXPIRED_IN_QUEUE: 'shed_expired',
  SHED_CODEL: 'shed_codel',
  SHED_SLO: 'shed_slo',
  BREAKER_OPEN: 'breaker_open',
  DEADLINE_EXCEEDED: 'deadline',
  IDLE_TIMEOUT: 'idle_timeout',
  SERVER_ERROR: 'upstream_5xx',
  OVERLOADED: 'upstream_overloaded',
  STREAM_INTERRUPTED: 'stream_broken',
  CONNECTION_REFUSED: 'connection_refused',
  CONTEXT_LENGTH_EXCEEDED: 'context_length_exceeded',
  BAD_REQUEST: 'bad_request',
  CANCELLED: 'cancelled',
  INTERNAL: 'internal',
};

/** Reason codes of a degraded answer that carries no error. */
const DEGRADED: Readonly<Record<string, string>> = {
  fallback: 'fallback',
  'context-trimmed': 'context_trimmed',
  'partial-inputs': 'partial_inputs',
  cached: 'cached',
  'smaller-model': 'smaller_model',
  'context-fallback': 'context_fallback',
};

/** A stable code turned into a reason code (`SOME_CODE` -> `some_code`). */
export function reasonOfCode(code: string): string {
  return BY_CODE[code] ?? code.toLowerCase().replace(/[^a-z0-9]+/g, '_');
}

/**
 * The reason code of a result, or undefined for `ok`. A shed by the engine's own rate limiter is
 * `shed_rate_limit` (an upstream 429 that outlasted the retries is `rate_limited`); a partial answer is
 * `partial_<why the stream ended>`; a timeout without an error is `deadline`.
 */
export function reasonOf(r: Pick<EngineResult, 'outcome' | 'error' | 'degraded'>): string | undefined {
  if (r.outcome === 'ok') return undefined;
  const code = r.error?.code;
  if (r.outcome === 'degraded') {
    if (r.degraded === 'partial') return `partial_${code === undefined ? 'unknown' : reasonOfCode(code)}`;
    return r.degraded === undefined ? 'degraded' : (DEGRADED[r.degraded] ?? reasonOfCode(r.degraded));
  }
  if (r.outcome === 'cancelled') return 'cancelled';
  if (code === undefined) return r.outcome === 'timeout' ? 'deadline' : r.outcome;
  if (r.outcome === 'shed' && code === 'RATE_LIMITED') return 'shed_rate_limit';
  // Never sent: its deadline passed while it waited in the queue.
  if (r.outcome === 'shed' && code === 'DEADLINE_EXCEEDED') return 'shed_expired';
  if (r.outcome === 'timeout' && code === 'EXPIRED_IN_QUEUE') return 'deadline_in_queue';
  return reasonOfCode(code);
}
