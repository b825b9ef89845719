import { HarnessError } from '../errors.js';

/**
 * Typed upstream errors: the line between "what went wrong" and "what the policy does about it".
 * Every error a ModelClient throws is one of these, so policies classify by class, never by message.
 */
export class ModelError extends HarnessError {
  /** HTTP status when the error came from a response; undefined for socket-level failures. */
  readonly status: number | undefined;

  constructor(code: string, message: string, status?: number, options?: { cause?: unknown }) {
    super(code, message, options);
    this.status = status;
  }
}

/** 429. `retryAfterMs` comes from `retry-after-ms` or `retry-after`, when the server sent one. */
export class RateLimitedError extends ModelError {
  constructor(readonly retryAfterMs: number | undefined, message = 'rate limited (429)') {
    super('RATE_LIMITED', retryAfterMs === undefined ? message : `${message}; retry after ${retryAfterMs}ms`, 429);
  }
}

/** 503: the server is overloaded, starting up or draining. */
export class OverloadedError extends ModelError {
  constructor(readonly retryAfterMs: number | undefined, message = 'overloaded (503)') {
    super('OVERLOADED', message, 503);
  }
}

/** Any other 5xx. */
export class ServerError extends ModelError {
  constructor(status: number, message = `server error (${status})`) {
    super('SERVER_ERROR', message, status);
  }
}

/** 400 for a request that can never succeed as sent. */
export class BadRequestError extends ModelError {
  constructor(message: string, status = 400) {
    super('BAD_REQUEST', message, status);
  }
}

/** 400 `context_length_exceeded`: the prompt plus `max_tokens` do not fit the model's context window. */
export class ContextLengthExceededError extends ModelError {
  constructor(readonly requestedTokens: number, readonly maxContextTokens: number) {
    super(
      'CONTEXT_LENGTH_EXCEEDED',
      `context length exceeded: expected at most ${maxContextTokens} tokens, got ${requestedTokens}`,
      400,
    );
  }
}

/** The stream ended before completion. `tokensReceived` tokens arrived intact and can be resumed from. */
export class StreamInterruptedError extends ModelError {
  constructor(readonly tokensReceived: number, readonly reason: string) {
    super('STREAM_INTERRUPTED', `stream interrupted after ${tokensReceived} tokens: ${reason}`);
  }
}

/** No token arrived within the idle timeout (the engine's, the client's, or the HTTP library's own). */
export class IdleTimeoutError extends ModelError {
  constructor(readonly idleMs: number, readonly tokensReceived: number, message = `no token for ${idleMs}ms after ${tokensReceived} tokens`) {
    super('IDLE_TIMEOUT', message);
  }
}

/** The connection could not be made (ECONNREFUSED, reset before the response, server down). */
export class ConnectionRefusedError extends ModelError {
  constructor(message = 'connection refused') {
    super('CONNECTION_REFUSED', message);
  }
}

/** The request's overall deadline passed. */
export class DeadlineExceededError extends ModelError {
  constructor(readonly deadlineMs: number, readonly tokensReceived = 0) {
    super('DEADLINE_EXCEEDED', `deadline of ${deadlineMs}ms exceeded after ${tokensReceived} tokens`);
  }
}
