/**
 * Base class of every error this project throws on purpose. `code` is stable and safe to switch on;
 * the message says what was expected and what was got.
 */
export class HarnessError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * Builds an error without capturing a stack trace: for errors that are expected control flow made thousands of
 * times a run (a simulated model's refusals and cut streams, a rate limit, an internal result carrier). The class,
 * code, message and fields are those of the error; only the stack has no frames (capturing them, through deep
 * async call chains, is most of what such an error costs). Errors that may report a bug keep their stacks.
 */
export function withoutStack<E extends Error>(make: () => E): E {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** Thrown when a wait is cancelled through its AbortSignal. Mirrors the DOM `AbortError` name. */
export class AbortError extends HarnessError {
  constructor(reason?: unknown) {
    super('ABORTED', reason instanceof Error ? `aborted: ${reason.message}` : 'aborted', { cause: reason });
    this.name = 'AbortError';
  }
}

/** The reason carried by an aborted signal, as an Error. */
export function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : new AbortError(r);
}

/** A value failed validation. `path` names the field, like `retry.maxAttempts`. */
export class ValidationError extends HarnessError {
  readonly path: string;

  constructor(path: string, expected: string, received: unknown) {
    super('INVALID_VALUE', `${path}: expected ${expected}, got ${describe(received)}`);
    this.path = path;
  }
}

/** Short, safe rendering of a bad value for an error message. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (value === undefined) return 'undefined';
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  try {
    const s = JSON.stringify(value);
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return typeof value;
  }
}
