import { describe, expect, it } from 'vitest';
import { isHttpErrorReply, parseMockHeaders } from './mock-headers.js';

describe('parseMockHeaders', () => {
  it('reads the x-mock-* headers, the request id and the bearer key', () => {
    expect(
      parseMockHeaders({
        'x-mock-prompt-tokens': '120',
        'x-mock-output-tokens': ' 30 ',
        'x-mock-resume-from': '7',
        'x-mock-fault': 'disconnect:after=5',
        'x-request-id': 'abc',
        authorization: 'Bearer sk-test',
      }),
    ).toEqual({ promptTokens: 120, outputTokens: 30, resumeFrom: 7, fault: 'disconnect:after=5', requestId: 'abc', apiKey: 'sk-test' });
    expect(parseMockHeaders({})).toEqual({});
  });

  it('answers 400 naming the header for a bad value', () => {
    for (const [name, value] of [
      ['x-mock-output-tokens', '-1'],
      ['x-mock-prompt-tokens', '1e3'],
      ['x-mock-resume-from', 'abc'],
      ['x-mock-output-tokens', '99999999999'],
    ] as const) {
      const r = parseMockHeaders({ [name]: value });
      expect(isHttpErrorReply(r)).toBe(true);
      expect(r).toMatchObject({ kind: 'reply', status: 400, body: { error: { param: name, type: 'invalid_request_error' } } });
    }
    expect(parseMockHeaders({ 'x-request-id': 'x'.repeat(300) })).toMatchObject({ status: 400, body: { error: { param: 'x-request-id' } } });
  });
});
