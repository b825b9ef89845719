/**
 * Engine outcomes mapped to HTTP honestly: a shed is a 429 with Retry-After, a timeout a 504, an upstream
 * failure a 502/503 (or the upstream's own 400 when it refused the request), and a degraded success a 200 that
 * says so (`x-degraded` header and a `degraded` field), never a silent 200.
 */
import type { EngineResult } from '../engine/engine-types.js';
import { ApiError } from './api-errors.js';

const SHED_CODES: Readonly<Record<string, string>> = {
  RATE_LIMITED: 'rate_limit_exceeded',
  QUEUE_FULL: 'queue_full',
  EXPIRED_IN_QUEUE: 'deadline_exceeded_in_queue',
  SHED_CODEL: 'overloaded',
  SHED_SLO: 'overloaded',
};

/** The error answer for a result that is not `ok` or `degraded`. */
export function outcomeError(r: EngineResult): ApiError {
  const code = r.error?.code ?? 'UNKNOWN';
  const message = r.error?.message ?? r.outcome;
  const retry = r.retryAfterMs !== undefined ? { retryAfterMs: Math.ceil(r.retryAfterMs) } : {};
  switch (r.outcome) {
    case 'shed':
      return new ApiError(429, SHED_CODES[code] ?? 'rate_limit_exceeded', `shed: ${message}`, { retryAfterMs: Math.ceil(r.retryAfterMs ?? 1000) });
    case 'timeout':
      return new ApiError(504, 'deadline_exceeded', `timeout: ${message}`);
    case 'cancelled':
      return new ApiError(503, 'cancelled', `cancelled: ${message}`);
    default:
      break;
  }
  switch (code) {
    case 'BAD_REQUEST':
      return new ApiError(400, 'upstream_bad_request', `the upstream refused the request: ${message}`);
    case 'CONTEXT_LENGTH_EXCEEDED':
      return new ApiError(400, 'context_length_exceeded', message, { param: 'messages' });
    case 'BREAKER_OPEN':
      return new ApiError(503, 'circuit_open', message, retry);
    case 'RATE_LIMITED':
      return new ApiError(429, 'upstream_rate_limited', `the upstream kept rate limiting: ${message}`, { retryAfterMs: r.retryAfterMs ?? 1000 });
    case 'OVERLOADED':
      return new ApiError(503, 'upstream_overloaded', `the upstream is overloaded: ${message}`, retry);
    case 'IDLE_TIMEOUT':
    case 'DEADLINE_EXCEEDED':
      return new ApiError(504, 'upstream_timeout', message);
    case 'INTERNAL':
      return new ApiError(500, 'internal_error', message);
    default:
      return new ApiError(502, 'upstream_error', `the upstream failed after ${r.attempts} attempt(s): ${message}`);
  }
}
