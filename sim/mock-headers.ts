/**
 * The request headers that steer the mock (`x-mock-*`), the request id and the API key. Parsed strictly: a bad
 * value is a 400 naming the header, never a silent default.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { PrefixSegment } from '../src/upstream/model-client.js';
import { badRequest, type HttpErrorReply } from './http-errors.js';
import { parsePrefixHeader } from './prefix-segments.js';

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
  /** `x-mock-prefix: ID=TOKENS,...`: the identity of the prompt's leading tokens, for the prefix cache. */
  readonly prefix?: readonly PrefixSegment[];
}

export const MAX_REQUEST_ID_LENGTH = 256;

function one(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** A whole number of at most 10 digits, surrounding whitespace allowed (a hand loop: cheaper than a RegExp per header). */
function parseCount(raw: string): number {
  const s = raw.trim();
  if (s.length === 0 || s.length > 10) return -1;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

function intHeader(headers: IncomingHttpHeaders, name: string, max: number): number | HttpErrorReply | undefined {
  const raw = one(headers, name);
  if (raw === undefined) return undefined;
  const n = parseCount(raw);
  if (n < 0 || n > max) {
    return badRequest(`${name}: expected an integer from 0 to ${max}, got ${JSON.stringify(raw.slice(0, 40))}`, name);
  }
  return n;
}

const MAX_COUNT = 10_000_000;
const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** Parses the mock's request headers, or returns the 400 to send. */
export function parseMockHeaders(headers: IncomingHttpHeaders): MockHeaders | HttpErrorReply {
  // Every field set (absent ones undefined), in one order: one object shape for every request.
  const out: { -readonly [K in keyof MockHeaders]: MockHeaders[K] } = {
    requestId: undefined,
    promptTokens: undefined,
    outputTokens: undefined,
    resumeFrom: undefined,
    fault: undefined,
    apiKey: undefined,
    prefix: undefined,
  };
  const prompt = intHeader(headers, 'x-mock-prompt-tokens', MAX_COUNT);
  if (typeof prompt === 'object') return prompt;
  if (prompt !== undefined) out.promptTokens = prompt;
  const output = intHeader(headers, 'x-mock-output-tokens', MAX_COUNT);
  if (typeof output === 'object') return output;
  if (output !== undefined) out.outputTokens = output;
  const resume = intHeader(headers, 'x-mock-resume-from', MAX_COUNT);
  if (typeof resume === 'object') return resume;
  if (resume !== undefined) out.resumeFrom = resume;
  const id = one(headers, 'x-request-id');
  if (id !== undefined) {
    if (id.length === 0 || id.length > MAX_REQUEST_ID_LENGTH) {
      return badRequest(`x-request-id: expected 1 to ${MAX_REQUEST_ID_LENGTH} characters, got ${id.length}`, 'x-request-id');
    }
    out.requestId = id;
  }
  const fault = one(headers, 'x-mock-fault');
  if (fault !== undefined && fault.trim() !== '') out.fault = fault.trim();
  const prefix = one(headers, 'x-mock-prefix');
  if (prefix !== undefined && prefix.trim() !== '') {
    const p = parsePrefixHeader(prefix);
    if (typeof p === 'string') return badRequest(`x-mock-prefix: expected ${p}`, 'x-mock-prefix');
    out.prefix = p;
  }
  const auth = one(headers, 'authorization');
  if (auth !== undefined) {
    const m = BEARER.exec(auth);
    if (m) out.apiKey = m[1] as string;
  }
  return out;
}

export function isHttpErrorReply(v: unknown): v is HttpErrorReply {
  return typeof v === 'object' && v !== null && 'kind' in v;
}
