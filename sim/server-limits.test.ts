/**
 * What the mock refuses, as a provider would (issue #21, items 1 and 6): a request body or headers that stop
 * arriving get 408 and the connection is closed within the deadline; embedding calls past OpenAI's limits (input
 * count, tokens per input, tokens in all) get a 400 naming the field before any work is done.
 */
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RealClock } from '../src/time/real-clock.js';
import { EMBEDDING_LIMITS } from './embedding-limits.js';
import { buildServer } from './server.js';
import { testModel } from './server-testkit.js';

const opened: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of opened.splice(0)) await close();
});

function app(o: { requestTimeoutMs?: number; headersTimeoutMs?: number } = {}) {
  const clock = new RealClock();
  const model = testModel(clock);
  const server = buildServer({ models: [model], clock, ...o });
  opened.push(async () => {
    model.close();
    await server.close();
  });
  return server;
}

describe('mock server: slow bodies', () => {
  it('answers 408 and closes connections whose body stops arriving', async () => {
    const server = app({ requestTimeoutMs: 1500, headersTimeoutMs: 1000 });
    await server.listen({ port: 0, host: '127.0.0.1' });
    const a = server.server.address();
    const port = typeof a === 'object' && a !== null ? a.port : 0;
    const body = JSON.stringify({ model: 'primary', input: 'x'.repeat(32 * 1024) });
    const answers = await Promise.all(
      Array.from({ length: 30 }, () => {
        return new Promise<string>((resolve) => {
          const s = connect(port, '127.0.0.1');
          let got = '';
          s.setEncoding('utf8');
          s.on('data', (d: string) => (got += d));
          s.on('error', () => undefined);
          s.once('close', () => resolve(got));
          s.once('connect', () => {
            s.write(`POST /v1/embeddings HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`);
            s.write(body.slice(0, -1));
          });
        });
      }),
    );
    for (const got of answers) expect(got).toMatch(/^HTTP\/1\.1 408/);
  });

  it('defaults to deadlines well under a minute', () => {
    const server = app();
    expect(server.server.requestTimeout).toBe(30_000);
    expect(server.server.headersTimeout).toBe(10_000);
  });
});

describe('mock server: embedding limits', () => {
  const post = (input: unknown) => app().inject({ method: 'POST', url: '/v1/embeddings', payload: { model: 'primary', input } });

  it(`refuses more than ${EMBEDDING_LIMITS.maxInputs} inputs with a 400 naming input`, async () => {
    const res = await post(Array.from({ length: EMBEDDING_LIMITS.maxInputs + 1 }, () => 'hi'));
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ param: 'input', type: 'invalid_request_error' });
    expect(res.json().error.message).toContain(`at most ${EMBEDDING_LIMITS.maxInputs} inputs per request, got ${EMBEDDING_LIMITS.maxInputs + 1}`);
    // At the limit it answers, with one vector per input.
    const ok = await post(Array.from({ length: EMBEDDING_LIMITS.maxInputs }, (_, i) => `item ${i}`));
    expect(ok.statusCode).toBe(200);
    expect(ok.json().data).toHaveLength(EMBEDDING_LIMITS.maxInputs);
  });

  it('refuses an input over the per-input token limit, naming it', async () => {
    const big = 'x'.repeat(4 * (EMBEDDING_LIMITS.maxTokensPerInput + 1));
    const one = await post(big);
    expect(one.statusCode).toBe(400);
    expect(one.json().error.param).toBe('input');
    const many = await post(['fine', big]);
    expect(many.statusCode).toBe(400);
    expect(many.json().error).toMatchObject({ param: 'input[1]', code: 'context_length_exceeded' });
    const ids = await post([Array.from({ length: EMBEDDING_LIMITS.maxTokensPerInput + 1 }, () => 7)]);
    expect(ids.statusCode).toBe(400);
    expect(ids.json().error.param).toBe('input');
  });

  it('refuses a request over the total token limit', async () => {
    const perInput = 'x'.repeat(4 * 8000);
    const n = Math.ceil(EMBEDDING_LIMITS.maxTotalTokens / 8000) + 1;
    const res = await post(Array.from({ length: n }, () => perInput));
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ param: 'input', code: 'max_tokens_per_request' });
  });
});
