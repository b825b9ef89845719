import { AbortError, HarnessError } from '../errors.js';
import { ModelError, OverloadedError, RateLimitedError } from '../upstream/errors.js';

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
  /** A congestion signal for an adaptive limit (429, 503, timeouts, cut streams; not a refused connection). */
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

/** Per stable code of the typed upstream errors (and `CANCELLED`): kind, retryable, breaker failure, congestion. */
const RULES: Readonly<Record<string, readonly [ErrorKind, boolean, boolean, boolean]>> = {
  RATE_LIMITED: ['rate-limited', true, false, true],
  OVERLOADED: ['overloaded', true, true, true],
  SERVER_ERROR: ['server', true, true, false],
  // A cut stream is a congestion signal too (gateways and servers cut long streams when they are overloaded).
  STREAM_INTERRUPTED: ['stream-interrupted', true, true, true],
  IDLE_TIMEOUT: ['idle-timeout', true, true, true],
  // A refused connection is a dead server, not a busy one: the breaker's business, not the concurrency limit's.
  CONNECTION_REFUSED: ['connection-refused', true, true, false],
  CONTEXT_LENGTH_EXCEEDED: ['context-length', false, false, false],
  BAD_REQUEST: ['bad-request', false, false, false],
  DEADLINE_EXCEEDED: ['deadline', false, false, true],
  CANCELLED: ['cancelled', false, false, false],
};

/**
 * Classifies a failure by its stable code (e.g. a stored result's `error.code`); a code it does not know is
 * `unknown`, not retryable. `retryAfterMs` is carried as given.
 */
export function classifyCode(code: string, retryAfterMs?: number): Classification {
  const r = Object.hasOwn(RULES, code) ? RULES[code] : undefined;
  return r === undefined ? make('unknown', code, false, false, false, retryAfterMs) : make(r[0], code, r[1], r[2], r[3], retryAfterMs);
}

/**
 * Classifies an error thrown by an attempt. Retryable: rate limited, overloaded, 5xx, interrupted stream, idle
 * timeout, connection refused. Not retryable: bad request, context length (the router trims instead), the
 * request's deadline, cancellation, and anything unknown.
 */
export function classify(error: unknown): Classification {
  if (error instanceof ModelError) {
    return classifyCode(error.code, error instanceof RateLimitedError || error instanceof OverloadedError ? error.retryAfterMs : undefined);
  }
  if (isAbort(error)) return classifyCode('CANCELLED');
  return make('unknown', error instanceof HarnessError ? error.code : 'UNKNOWN', false, false, false);
}

/** Whether `retryOn` allows another attempt after this error (`any` is the naive anti-pattern). */
export function isRetryable(c: Classification, retryOn: 'retryable' | 'any'): boolean {
  if (c.final) return false;
  return retryOn === 'any' || c.retryable;
}
