import { describe, expect, it } from 'vitest';
import { ValidationError } from '../src/errors.js';
import {
  BadRequestError,
  ConnectionRefusedError,
  ContextLengthExceededError,
  OverloadedError,
  RateLimitedError,
  ServerError,
} from '../src/upstream/errors.js';
import { retryAfterHeaders, toHttpError } from './http-errors.js';

describe('toHttpError', () => {
  it('maps a 429 with Retry-After in seconds (rounded up) and in ms, plus the headers the error carries', () => {
    const err = Object.assign(new RateLimitedError(1500), { headers: { 'X-RateLimit-Remaining-Requests': '0' } });
    const r = toHttpError(err);
    expect(r).toMatchObject({
      kind: 'reply',
      status: 429,
      headers: { 'retry-after': '2', 'retry-after-ms': '1500', 'x-ratelimit-remaining-requests': '0' },
      body: { error: { type: 'rate_limit_error', code: 'rate_limit_exceeded', param: null } },
    });
  });

  it('maps 503, 500, other 5xx, context length, bad requests and validation errors', () => {
    expect(toHttpError(new OverloadedError(250))).toMatchObject({ status: 503, headers: { 'retry-after': '1', 'retry-after-ms': '250' } });
    expect(toHttpError(new OverloadedError(undefined))).toMatchObject({ status: 503, headers: {} });
    expect(toHttpError(new ServerError(500))).toMatchObject({ status: 500, body: { error: { type: 'server_error', code: 'internal_error' } } });
    expect(toHttpError(new ServerError(502))).toMatchObject({ status: 502, body: { error: { code: 'http_502' } } });
    expect(toHttpError(new ContextLengthExceededError(9000, 8192))).toMatchObject({
      status: 400,
      body: { error: { type: 'invalid_request_error', code: 'context_length_exceeded', param: 'messages' } },
    });
    expect(toHttpError(new BadRequestError('nope'))).toMatchObject({ status: 400, body: { error: { message: 'nope' } } });
    expect(toHttpError(new ValidationError('x-mock-fault', 'a fault', 'zzz'))).toMatchObject({
      status: 400,
      body: { error: { param: 'x-mock-fault', message: 'x-mock-fault: expected a fault, got "zzz"' } },
    });
  });

  it('turns a refused connection (crashed model) into a reset, and anything unknown into a labelled 500', () => {
    expect(toHttpError(new ConnectionRefusedError())).toEqual({ kind: 'reset', reason: 'connection refused' });
    const r = toHttpError(new TypeError('boom'));
    expect(r).toMatchObject({ status: 500 });
    expect(r.kind === 'reply' && r.body.error.message).toContain('mock server bug (not an injected fault): boom');
  });

  it('retryAfterHeaders never sends 0 seconds for a positive wait, and nothing for no wait', () => {
    expect(retryAfterHeaders(1)).toEqual({ 'retry-after': '1', 'retry-after-ms': '1' });
    expect(retryAfterHeaders(0)).toEqual({ 'retry-after': '0', 'retry-after-ms': '0' });
    expect(retryAfterHeaders(60_000.2)).toEqual({ 'retry-after': '61', 'retry-after-ms': '60001' });
    expect(retryAfterHeaders(undefined)).toEqual({});
    expect(retryAfterHeaders(Number.NaN)).toEqual({});
  });
});
