/**
 * OpenAI-style error responses for the mock server: the body shape `{ error: { message, type, param, code } }`,
 * the status, and the headers a provider sends with it (Retry-After on 429 and 503, `x-ratelimit-*`).
 * One place maps the core's typed errors (src/upstream/errors.ts) to the wire, so every route answers alike.
 */
import { HarnessError, ValidationError } from '../src/errors.js';
import {
  BadRequestError,
  ConnectionRefusedError,
  ContextLengthExceededError,
  ModelError,
  OverloadedError,
  RateLimitedError,
  ServerError,
} from '../src/upstream/errors.js';

/** The `type` field values we send; the first three are the ones the OpenAI API uses. */
export const OPENAI_ERROR_TYPES = ['invalid_request_error', 'rate_limit_error', 'server_error', 'not_found_error'] as const;
export type OpenAIErrorType = (typeof OPENAI_ERROR_TYPES)[number];

/** The JSON body of an OpenAI error response. */
export interface OpenAIErrorBody {
  readonly error: {
    readonly message: string;
    readonly type: OpenAIErrorType;
    readonly param: string | null;
    readonly code: string | null;
  };
}

/**
 * What a route sends for an error: status, headers, body; or `reset` when the right answer is a dead socket.
 * `headers` from {@link toHttpError} is a fresh object the caller may add to (e.g. `x-request-id`).
 */
export type HttpErrorReply =
  | { readonly kind: 'reply'; readonly status: number; readonly headers: Record<string, string>; readonly body: OpenAIErrorBody }
  | { readonly kind: 'reset'; readonly reason: string };

/** Builds an OpenAI error body. */
export function openAIError(
  message: string,
  type: OpenAIErrorType,
  param: string | null = null,
  code: string | null = null,
): OpenAIErrorBody {
  return { error: { message, type, param, code } };
}

/** A 400 `invalid_request_error` naming the offending field. */
export function badRequest(message: string, param: string | null, code: string | null = null): HttpErrorReply {
  return { kind: 'reply', status: 400, headers: {}, body: openAIError(message, 'invalid_request_error', param, code) };
}

/** Headers carried by an error object, when the core attached provider headers (e.g. `x-ratelimit-*`). */
function carriedHeaders(err: unknown): Record<string, string> {
  const h = (err as { headers?: unknown }).headers;
  const out: Record<string, string> = {};
  if (h === null || typeof h !== 'object') return out;
  for (const k in h) {
    if (!Object.hasOwn(h, k)) continue;
    const v = (h as Record<string, unknown>)[k];
    if (typeof v === 'string' || typeof v === 'number') out[k.toLowerCase()] = String(v);
  }
  return out;
}

/** `retry-after` (whole seconds, rounded up, at least 1 when positive) and `retry-after-ms`, as providers send. */
export function retryAfterHeaders(retryAfterMs: number | undefined): Record<string, string> {
  if (retryAfterMs === undefined || !Number.isFinite(retryAfterMs) || retryAfterMs < 0) return {};
  const ms = Math.ceil(retryAfterMs);
  return { 'retry-after': String(Math.ceil(ms / 1000)), 'retry-after-ms': String(ms) };
}

/** Sets `retry-after` and `retry-after-ms` from the error's wait (they win over carried ones, as before). */
function withRetryAfter(headers: Record<string, string>, retryAfterMs: number | undefined): Record<string, string> {
  if (retryAfterMs === undefined || !Number.isFinite(retryAfterMs) || retryAfterMs < 0) return headers;
  const ms = Math.ceil(retryAfterMs);
  headers['retry-after'] = String(Math.ceil(ms / 1000));
  headers['retry-after-ms'] = String(ms);
  return headers;
}

/**
 * Maps any error thrown by the core (or by our own parsing) to its wire form. Unknown errors are 500s: a bug in
 * the mock, not a fault it meant to inject, and the message says so.
 */
export function toHttpError(err: unknown): HttpErrorReply {
  if (err instanceof RateLimitedError) {
    return {
      kind: 'reply',
      status: 429,
      headers: withRetryAfter(carriedHeaders(err), err.retryAfterMs),
      body: openAIError(err.message, 'rate_limit_error', null, 'rate_limit_exceeded'),
    };
  }
  if (err instanceof OverloadedError) {
    return {
      kind: 'reply',
      status: 503,
      headers: withRetryAfter(carriedHeaders(err), err.retryAfterMs),
      body: openAIError(err.message, 'server_error', null, 'service_unavailable'),
    };
  }
  if (err instanceof ContextLengthExceededError) {
    return {
      kind: 'reply',
      status: 400,
      headers: carriedHeaders(err),
      body: openAIError(err.message, 'invalid_request_error', 'messages', 'context_length_exceeded'),
    };
  }
  if (err instanceof BadRequestError) {
    // A bad x-mock-fault header (sim/fault-header.ts) names its part in `path`, e.g. `x-mock-fault.disconnect.form`.
    const path = (err as { path?: unknown }).path;
    return {
      kind: 'reply',
      status: err.status ?? 400,
      headers: carriedHeaders(err),
      body: openAIError(err.message, 'invalid_request_error', typeof path === 'string' ? path : null, null),
    };
  }
  if (err instanceof ConnectionRefusedError) return { kind: 'reset', reason: err.message };
  if (err instanceof ServerError) {
    const status = err.status ?? 500;
    return {
      kind: 'reply',
      status,
      headers: carriedHeaders(err),
      body: openAIError(err.message, 'server_error', null, status === 500 ? 'internal_error' : `http_${status}`),
    };
  }
  if (err instanceof ValidationError) return badRequest(err.message, err.path);
  if (err instanceof ModelError && err.status !== undefined) {
    return {
      kind: 'reply',
      status: err.status,
      headers: carriedHeaders(err),
      body: openAIError(err.message, err.status < 500 ? 'invalid_request_error' : 'server_error', null, err.code),
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  const code = err instanceof HarnessError ? err.code : 'internal_error';
  return {
    kind: 'reply',
    status: 500,
    headers: {},
    body: openAIError(`mock server bug (not an injected fault): ${message}`, 'server_error', null, code),
  };
}
