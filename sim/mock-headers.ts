/**
 * The request headers that steer the mock (`x-mock-*`), the request id and the API key. Parsed strictly: a bad
 * value is a 400 naming the header, never a silent default.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { badRequest, type HttpErrorReply } from './http-errors.js';

/** What the headers of one request ask of the mock. */
export interface MockHeaders {
  /** `x-request-id`: token text is a pure function of (seed, id, index), so resends and resumes match. */
  readonly requestId?: string;
  /** `x-mock-prompt-tokens`: the prompt's size in tokens, instead of estimating it from the text. */
  readonly promptTokens?: number;
  /** `x-mock-output-tokens`: exact output length (capped by `max_tokens`). */
  readonly outputTokens?: number;
  /** `x-mock-resume-from`: continue an earlier stream of the same request id after this many tokens. */
  readonly resumeFrom?: number;
  /** `x-mock-fault`: a per-request fault, in the syntax of sim/faults.ts. */
  readonly fault?: string;
  /** `authorization: Bearer KEY`: rate limits are kept per key. */
  readonly apiKey?: string;
}

export const MAX_REQUEST_ID_LENGTH = 256;

function one(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function intHeader(headers: IncomingHttpHeaders, name: string, max: number): number | HttpErrorReply | undefined {
  const raw = one(headers, name);
  if (raw === undefined) return undefined;
  const s = raw.trim();
  if (!/^\d{1,10}$/.test(s) || Number(s) > max) {
    return badRequest(`${name}: expected an integer from 0 to ${max}, got ${JSON.stringify(raw.slice(0, 40))}`, name);
  }
  return Number(s);
}

/** Parses the mock's request headers, or returns the 400 to send. */
export function parseMockHeaders(headers: IncomingHttpHeaders): MockHeaders | HttpErrorReply {
  const out: { -readonly [K in keyof MockHeaders]: MockHeaders[K] } = {};
  const ints = [
    ['x-mock-prompt-tokens', 'promptTokens', 10_000_000],
    ['x-mock-output-tokens', 'outputTokens', 10_000_000],
    ['x-mock-resume-from', 'resumeFrom', 10_000_000],
  ] as const;
  for (const [name, key, max] of ints) {
    const v = intHeader(headers, name, max);
    if (typeof v === 'object') return v;
    if (v !== undefined) out[key] = v;
  }
  const id = one(headers, 'x-request-id');
  if (id !== undefined) {
    if (id.length === 0 || id.length > MAX_REQUEST_ID_LENGTH) {
      return badRequest(`x-request-id: expected 1 to ${MAX_REQUEST_ID_LENGTH} characters, got ${id.length}`, 'x-request-id');
    }
    out.requestId = id;
  }
  const fault = one(headers, 'x-mock-fault');
  if (fault !== undefined && fault.trim() !== '') out.fault = fault.trim();
  const auth = one(headers, 'authorization');
  if (auth !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) out.apiKey = m[1] as string;
  }
  return out;
}

export function isHttpErrorReply(v: unknown): v is HttpErrorReply {
  return typeof v === 'object' && v !== null && 'kind' in v;
}
