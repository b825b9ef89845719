import { describe, expect, it } from 'vitest';
import {
  BadRequestError,
  ConnectionRefusedError,
  ContextLengthExceededError,
  IdleTimeoutError,
  OverloadedError,
  RateLimitedError,
  ServerError,
} from './errors.js';
import { connectionError, errorFromResponse, parseErrorBody, retryAfterMs, timeoutError } from './http-errors.js';

const openai = (message: string, code: string | null = null, type = 'invalid_request_error'): string =>
  JSON.stringify({ error: { message, type, param: null, code } });

describe('retryAfterMs', () => {
  it('prefers retry-after-ms, then retry-after seconds', () => {
    expect(retryAfterMs({ 'retry-after-ms': '1500', 'retry-after': '9' })).toBe(1500);
    expect(retryAfterMs({ 'retry-after': '2' })).toBe(2000);
    expect(retryAfterMs({ 'retry-after': '0.5' })).toBe(500);
    expect(retryAfterMs({ 'retry-after-ms': ['250', '999'] })).toBe(250);
  });

  it('measures an HTTP date against the response date header, else the given wall time, never negative', () => {
    const date = 'Wed, 21 Oct 2015 07:28:00 GMT';
    expect(retryAfterMs({ 'retry-after': 'Wed, 21 Oct 2015 07:28:30 GMT', date })).toBe(30_000);
    expect(retryAfterMs({ 'retry-after': 'Wed, 21 Oct 2015 07:28:30 GMT' }, Date.parse(date) + 10_000)).toBe(20_000);
    expect(retryAfterMs({ 'retry-after': 'Wed, 21 Oct 2015 07:27:00 GMT', date })).toBe(0);
    // No reference at all: unknown, rather than a guess.
    expect(retryAfterMs({ 'retry-after': 'Wed, 21 Oct 2015 07:28:30 GMT' })).toBeUndefined();
  });

  it('is undefined when absent or garbage', () => {
    expect(retryAfterMs({})).toBeUndefined();
    expect(retryAfterMs({ 'retry-after': 'soon' })).toBeUndefined();
    expect(retryAfterMs({ 'retry-after-ms': '-5' })).toBeUndefined();
  });
});

describe('parseErrorBody', () => {
  it('reads OpenAI, vLLM and FastAPI shapes, and plain text', () => {
    expect(parseErrorBody(openai('bad thing', 'x'))).toEqual({ message: 'bad thing', code: 'x' });
    expect(parseErrorBody(JSON.stringify({ object: 'error', message: 'vllm says', type: 'BadRequestError', code: 400 }))).toEqual({
      message: 'vllm says',
      code: undefined,
    });
    expect(parseErrorBody(JSON.stringify({ detail: 'Not Found' }))).toEqual({ message: 'Not Found', code: undefined });
    expect(parseErrorBody('  upstream connect error  ')).toEqual({ message: 'upstream connect error', code: undefined });
  });
});

describe('errorFromResponse', () => {
  it('429 → RateLimitedError with Retry-After; the message names the status once', () => {
    const e = errorFromResponse(429, { 'retry-after-ms': '700' }, openai('Rate limit reached for requests', 'rate_limit_exceeded'));
    expect(e).toBeInstanceOf(RateLimitedError);
    expect((e as RateLimitedError).retryAfterMs).toBe(700);
    expect(e.message).toBe('rate limited (429): Rate limit reached for requests; retry after 700ms');
    // The mock's message already says "(429)" and "retry after": neither is repeated.
    const m = errorFromResponse(429, { 'retry-after-ms': '70' }, openai('rate limited (429): injected; retry after 70ms'));
    expect(m.message).toBe('rate limited (429): injected; retry after 70ms');
  });

  it('503 → OverloadedError; other 5xx → ServerError(status)', () => {
    const o = errorFromResponse(503, { 'retry-after': '3' }, '');
    expect(o).toBeInstanceOf(OverloadedError);
    expect((o as OverloadedError).retryAfterMs).toBe(3000);
    expect(o.message).toBe('overloaded (503)');
    const s = errorFromResponse(502, {}, '<html>bad gateway</html>');
    expect(s).toBeInstanceOf(ServerError);
    expect(s.status).toBe(502);
    expect(s.message).toBe('server error (502): <html>bad gateway</html>');
  });

  it('400 context_length_exceeded → ContextLengthExceededError with the figures of the mock, OpenAI or vLLM', () => {
    const mock = errorFromResponse(400, {}, openai('context length exceeded: expected at most 8192 tokens, got 9100', 'context_length_exceeded'));
    expect(mock).toBeInstanceOf(ContextLengthExceededError);
    expect([(mock as ContextLengthExceededError).requestedTokens, (mock as ContextLengthExceededError).maxContextTokens]).toEqual([9100, 8192]);
    const oa = errorFromResponse(
      400,
      {},
      openai("This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.", 'context_length_exceeded'),
    ) as ContextLengthExceededError;
    expect([oa.requestedTokens, oa.maxContextTokens]).toEqual([9000, 8192]);
    // vLLM sends no code, only the message.
    const vllm = errorFromResponse(
      400,
      {},
      JSON.stringify({ object: 'error', message: "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (100 in the messages, 4900 in the completion).", code: 400 }),
    ) as ContextLengthExceededError;
    expect(vllm).toBeInstanceOf(ContextLengthExceededError);
    expect([vllm.requestedTokens, vllm.maxContextTokens]).toEqual([5000, 4096]);
  });

  it('other 4xx → BadRequestError with the server message and status', () => {
    const e = errorFromResponse(401, {}, openai('Incorrect API key provided', 'invalid_api_key'));
    expect(e).toBeInstanceOf(BadRequestError);
    expect(e.status).toBe(401);
    expect(e.message).toBe('bad request (401): Incorrect API key provided');
  });
});

describe('connectionError', () => {
  it('maps refused, reset and undici socket errors, also inside a cause or an AggregateError', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    const e = connectionError(refused, 'http://127.0.0.1:1');
    expect(e).toBeInstanceOf(ConnectionRefusedError);
    expect(e?.message).toBe('connection to http://127.0.0.1:1 failed before a response (ECONNREFUSED): connect ECONNREFUSED 127.0.0.1:1');
    expect(connectionError(new AggregateError([refused], ''), 'o')).toBeInstanceOf(ConnectionRefusedError);
    expect(connectionError(Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }), 'o')).toBeInstanceOf(ConnectionRefusedError);
    expect(connectionError(new Error('fetch failed', { cause: refused }), 'o')).toBeInstanceOf(ConnectionRefusedError);
  });

  it('leaves other errors alone', () => {
    expect(connectionError(new TypeError('invalid header'), 'o')).toBeUndefined();
    expect(connectionError(Object.assign(new Error('x'), { code: 'UND_ERR_INVALID_ARG' }), 'o')).toBeUndefined();
  });
});

describe('timeoutError', () => {
  it("maps undici's headers and body timeouts (also inside a cause) to IdleTimeoutError with the quiet time and tokens", () => {
    const headers = timeoutError(Object.assign(new Error('Headers Timeout Error'), { code: 'UND_ERR_HEADERS_TIMEOUT' }), 3000, 0);
    expect(headers).toBeInstanceOf(IdleTimeoutError);
    expect([headers?.idleMs, headers?.tokensReceived]).toEqual([3000, 0]);
    expect(headers?.message).toBe('no byte from the server for 3000ms before the response headers after 0 tokens (UND_ERR_HEADERS_TIMEOUT)');
    const body = timeoutError(new Error('fetch failed', { cause: Object.assign(new Error('Body Timeout Error'), { code: 'UND_ERR_BODY_TIMEOUT' }) }), 500, 42);
    expect(body?.message).toBe('no byte from the server for 500ms between response chunks after 42 tokens (UND_ERR_BODY_TIMEOUT)');
  });

  it('a timeout is not a refused connection, and a refused connection is not a timeout', () => {
    const timeout = Object.assign(new Error('Headers Timeout Error'), { code: 'UND_ERR_HEADERS_TIMEOUT' });
    expect(connectionError(timeout, 'o')).toBeUndefined();
    expect(timeoutError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 0, 0)).toBeUndefined();
    // A connect timeout is the server unreachable: still a connection failure.
    expect(connectionError(Object.assign(new Error('Connect Timeout Error'), { code: 'UND_ERR_CONNECT_TIMEOUT' }), 'o')).toBeInstanceOf(ConnectionRefusedError);
  });
});

