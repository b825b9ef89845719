/**
 * From HTTP to the typed errors of ./errors.ts: status codes with their OpenAI (or vLLM) error bodies and
 * Retry-After headers, and socket-level failures before a response.
 */
import {
  BadRequestError,
  ConnectionRefusedError,
  ContextLengthExceededError,
  IdleTimeoutError,
  type ModelError,
  OverloadedError,
  RateLimitedError,
  ServerError,
} from './errors.js';

/** Response headers as undici gives them. */
export type ResponseHeaders = Readonly<Record<string, string | string[] | undefined>>;

function header(headers: ResponseHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The server's Retry-After in ms: `retry-after-ms` (OpenAI), else `retry-after` in seconds, else `retry-after` as
 * an HTTP date. A date is measured against the response's own `date` header (no clock skew, no ambient time),
 * else against `wallNowMs` when given. Undefined when absent or unparseable; never negative.
 */
export function retryAfterMs(headers: ResponseHeaders, wallNowMs?: number): number | undefined {
  const ms = header(headers, 'retry-after-ms')?.trim();
  if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms)) return Number(ms);
  const ra = header(headers, 'retry-after')?.trim();
  if (ra === undefined || ra === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(ra)) return Number(ra) * 1000;
  const at = Date.parse(ra);
  if (!Number.isFinite(at)) return undefined;
  const date = header(headers, 'date');
  const ref = date !== undefined && Number.isFinite(Date.parse(date)) ? Date.parse(date) : wallNowMs;
  return ref === undefined ? undefined : Math.max(0, at - ref);
}

/** The message and code of an error body: OpenAI `{ error: { message, code } }`, vLLM `{ message, code }`, or text. */
export function parseErrorBody(text: string): { message: string; code: string | undefined } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { message: text.trim().slice(0, 300), code: undefined };
  }
  const o = (body ?? {}) as Record<string, unknown>;
  const e = (typeof o['error'] === 'object' && o['error'] !== null ? o['error'] : o) as Record<string, unknown>;
  const message =
    typeof e['message'] === 'string' ? e['message'] : typeof o['detail'] === 'string' ? o['detail'] : text.trim().slice(0, 300);
  const code = typeof e['code'] === 'string' ? e['code'] : undefined;
  return { message, code };
}

/**
 * The token figures of a context-length message: the mock's ("expected at most M tokens, got R"), OpenAI's
 * ("maximum context length is M tokens. However, your messages resulted in R tokens") or vLLM's ("... you requested
 * R tokens"). 0 for a figure the message does not give.
 */
function contextFigures(message: string): { requested: number; max: number } {
  const mock = /expected at most (\d+) tokens, got (\d+)/i.exec(message);
  if (mock) return { max: Number(mock[1]), requested: Number(mock[2]) };
  const max = /maximum context length is (\d+)/i.exec(message);
  const req = /(?:resulted in|requested|has) (\d+)(?: input)? tokens/i.exec(message);
  return { max: max ? Number(max[1]) : 0, requested: req ? Number(req[1]) : 0 };
}

const CONTEXT_MESSAGE = /maximum context length|context length exceeded/i;

/**
 * The typed error of a non-200 response: 429 → RateLimitedError, 503 → OverloadedError (both with Retry-After),
 * other 5xx → ServerError, 400 `context_length_exceeded` (or a vLLM context message) → ContextLengthExceededError,
 * any other status → BadRequestError carrying the server's message and status.
 */
export function errorFromResponse(status: number, headers: ResponseHeaders, bodyText: string, wallNowMs?: number): ModelError {
  const { message, code } = parseErrorBody(bodyText);
  // A server message that already names the status (the mock's do) is kept as it is, else it gets a prefix.
  const text = (label: string): string =>
    message.includes(`(${status})`) ? message : message === '' ? `${label} (${status})` : `${label} (${status}): ${message}`;
  if (status === 429 || status === 503) {
    const ra = retryAfterMs(headers, wallNowMs);
    if (status === 503) return new OverloadedError(ra, text('overloaded'));
    // RateLimitedError appends "; retry after Nms" itself: do not repeat the server's.
    return new RateLimitedError(ra, text('rate limited').replace(/; retry after \d+(\.\d+)?ms$/, ''));
  }
  if (status >= 500) return new ServerError(status, text('server error'));
  if (status === 400 && (code === 'context_length_exceeded' || CONTEXT_MESSAGE.test(message))) {
    const f = contextFigures(message);
    return new ContextLengthExceededError(f.requested, f.max);
  }
  return new BadRequestError(text('bad request'), status);
}

/** Error codes that mean the connection could not be made or was lost before a response. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
]);

/**
 * undici's own timeouts (with a dispatcher that has them; the client's own pool turns them off for its idle
 * timeout): the server accepted the request and then said nothing for that long, before the headers or between
 * body chunks. That is an idle timeout, not a dead server.
 */
const UNDICI_TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** The first of `codes` found on an error, its cause, or the first of an AggregateError (Happy Eyeballs tries several addresses). */
function codeOf(err: unknown, codes: ReadonlySet<string>, depth = 0): string | undefined {
  if (err === null || typeof err !== 'object' || depth > 3) return undefined;
  const e = err as { code?: unknown; cause?: unknown; errors?: unknown };
  if (typeof e.code === 'string' && codes.has(e.code)) return e.code;
  const inner = Array.isArray(e.errors) ? (e.errors as unknown[])[0] : undefined;
  return codeOf(e.cause, codes, depth + 1) ?? codeOf(inner, codes, depth + 1);
}

/**
 * An undici headers or body timeout as IdleTimeoutError (`quietMs`: how long nothing had come, as far as the caller
 * measured it; `tokensReceived` so far), so the engine judges it as it judges its own idle timeouts: a first-token
 * timeout of a busy upstream is load, a stall after tokens is a failure. Without this it was an unknown error:
 * never retried, and never a breaker failure even when the server had hung. Undefined for anything else.
 */
export function timeoutError(err: unknown, quietMs: number, tokensReceived: number): IdleTimeoutError | undefined {
  const code = codeOf(err, UNDICI_TIMEOUT_CODES);
  if (code === undefined) return undefined;
  const where = code === 'UND_ERR_HEADERS_TIMEOUT' ? 'before the response headers' : 'between response chunks';
  return new IdleTimeoutError(quietMs, tokensReceived, `no byte from the server for ${quietMs}ms ${where} after ${tokensReceived} tokens (${code})`);
}

/**
 * A failure before any response (refused, reset, DNS, connect timeout) as ConnectionRefusedError; undefined for
 * anything else (a bug, a bad argument), which the caller rethrows as it is.
 */
export function connectionError(err: unknown, origin: string): ConnectionRefusedError | undefined {
  const code = codeOf(err, CONNECTION_CODES);
  if (code === undefined) return undefined;
  const message = err instanceof Error && err.message !== '' ? err.message : code;
  return new ConnectionRefusedError(`connection to ${origin} failed before a response (${code}): ${message}`);
}
