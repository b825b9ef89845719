import { AbortError, HarnessError } from '../errors.js';
import {
  BadRequestError,
  ConnectionRefusedError,
  ContextLengthExceededError,
  DeadlineExceededError,
  IdleTimeoutError,
  OverloadedError,
  RateLimitedError,
  ServerError,
  StreamInterruptedError,
} from '../upstream/errors.js';

/** What kind of failure an error is, as far as policies care. */
export const ERROR_KINDS = [
  'rate-limited',
  'overloaded',
  'server',
  'stream-interrupted',
  'idle-timeout',
  'connection-refused',
  'bad-request',
  'context-length',
  'deadline',
  'cancelled',
  'unknown',
] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

/** The policy-relevant facts about one failed attempt. */
export interface Classification {
  readonly kind: ErrorKind;
  /** The stable code for results (`RATE_LIMITED`, ...; `UNKNOWN` for foreign errors). */
  readonly code: string;
  /** Another attempt may succeed (transient, server-side). */
  readonly retryable: boolean;
  /** The request itself is over (its deadline passed or its caller cancelled): never retried. */
  readonly final: boolean;
  /** Says the upstream is unhealthy: a breaker failure. 429 does not (it is backpressure, not breakage). */
  readonly breakerFailure: boolean;
  /** A congestion signal for an adaptive limit (429, 503, timeouts). */
  readonly congestion: boolean;
  /** The server's Retry-After, when it sent one. */
  readonly retryAfterMs: number | undefined;
}

function make(kind: ErrorKind, code: string, retryable: boolean, breakerFailure: boolean, congestion: boolean, retryAfterMs?: number): Classification {
  return { kind, code, retryable, final: kind === 'deadline' || kind === 'cancelled', breakerFailure, congestion, retryAfterMs };
}

function isAbort(error: unknown): boolean {
  return error instanceof AbortError || (error instanceof Error && error.name === 'AbortError');
}

/**
 * Classifies an error thrown by an attempt. Retryable: rate limited, overloaded, 5xx, interrupted stream, idle
 * timeout, connection refused. Not retryable: bad request, context length (the router trims instead), the
 * request's deadline, cancellation, and anything unknown.
 */
export function classify(error: unknown): Classification {
  if (error instanceof RateLimitedError) return make('rate-limited', error.code, true, false, true, error.retryAfterMs);
  if (error instanceof OverloadedError) return make('overloaded', error.code, true, true, true, error.retryAfterMs);
  if (error instanceof ServerError) return make('server', error.code, true, true, false);
  if (error instanceof StreamInterruptedError) return make('stream-interrupted', error.code, true, true, false);
  if (error instanceof IdleTimeoutError) return make('idle-timeout', error.code, true, true, true);
  if (error instanceof ConnectionRefusedError) return make('connection-refused', error.code, true, true, true);
  if (error instanceof ContextLengthExceededError) return make('context-length', error.code, false, false, false);
  if (error instanceof BadRequestError) return make('bad-request', error.code, false, false, false);
  if (error instanceof DeadlineExceededError) return make('deadline', error.code, false, false, true);
  if (isAbort(error)) return make('cancelled', 'CANCELLED', false, false, false);
  return make('unknown', error instanceof HarnessError ? error.code : 'UNKNOWN', false, false, false);
}

/** Whether `retryOn` allows another attempt after this error (`any` is the naive anti-pattern). */
export function isRetryable(c: Classification, retryOn: 'retryable' | 'any'): boolean {
  if (c.final) return false;
  return retryOn === 'any' || c.retryable;
}
