/**
 * The official `openai` npm client against the engine service's `/v1/chat/completions` on loopback: streaming
 * with usage, the same text non-streamed, a shed surfacing as the client's RateLimitError with Retry-After, a
 * mid-stream failure raised by the client (not a silent end), and a client abort that frees the upstream.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MockModelEvent } from '../sim/mock-model.js';
import { nextEvent } from '../sim/server-testkit.js';
import { TENANTS, testService, type TestService } from './api-testkit.js';

let s: TestService;
let baseURL = '';

beforeAll(async () => {
  s = testService({ preset: 'bounded', policy: { retry: { maxAttempts: 1 }, rateLimit: { enabled: true, perTenantRequestsPerMinute: 1000 } } });
  await s.app.listen({ host: '127.0.0.1', port: 0 });
  const a = s.app.server.address();
  baseURL = `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}/v1`;
});
afterAll(async () => {
  await s.close();
});

const messages = [{ role: 'user' as const, content: 'hello engine' }];

describe('official openai client against the engine service', () => {
  it('streams a chat completion with include_usage; the non-streamed answer has the same text', async () => {
    const client = new OpenAI({ baseURL, apiKey: TENANTS[0].apiKey, maxRetries: 0 });
    const headers = { 'x-mock-output-tokens': '25', 'x-mock-prompt-tokens': '31', 'x-request-id': 'oa-1' };
    const stream = await client.chat.completions.create({ model: 'primary', messages, stream: true, stream_options: { include_usage: true } }, { headers });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    let finish: string | null | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(usage).toEqual({ prompt_tokens: 31, completion_tokens: 25, total_tokens: 56 });
    expect(finish).toBe('stop');
    expect(chunks).toBeGreaterThan(3);
    const whole = await client.chat.completions.create({ model: 'primary', messages }, { headers });
    expect(whole.choices[0]?.message.content).toBe(text);
    expect(whole.usage?.completion_tokens).toBe(25);
    expect(text.trim().length).toBeGreaterThan(0);
  });

  it('an unknown API key is the client AuthenticationError', async () => {
    const client = new OpenAI({ baseURL, apiKey: 'not-a-tenant-key', maxRetries: 0 });
    await expect(client.chat.completions.create({ model: 'primary', messages })).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it('a failure mid-stream is raised by the client, after the tokens that did arrive', async () => {
    const client = new OpenAI({ baseURL, apiKey: TENANTS[0].apiKey, maxRetries: 0 });
    const stream = await client.chat.completions.create(
      { model: 'primary', messages, stream: true },
      { headers: { 'x-mock-output-tokens': '20', 'x-mock-fault': 'disconnect:after=5' } },
    );
    let text = '';
    const consume = async (): Promise<void> => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    };
    await expect(consume()).rejects.toThrow(/partial/);
    expect(text.length).toBeGreaterThan(0);
  });

  it('aborting the stream cancels the engine request and frees the upstream', async () => {
    const client = new OpenAI({ baseURL, apiKey: TENANTS[0].apiKey, maxRetries: 0 });
    const ctl = new AbortController();
    const ended = nextEvent<MockModelEvent>(s.model, (e) => e.type === 'request-done');
    const stream = await client.chat.completions.create(
      { model: 'primary', messages, stream: true },
      { headers: { 'x-mock-output-tokens': '3000', 'x-mock-fault': 'jitter:ms=2' }, signal: ctl.signal },
    );
    let got = 0;
    try {
      for await (const chunk of stream) {
        if ((chunk.choices[0]?.delta.content ?? '') !== '') got++;
        if (got === 5) ctl.abort();
      }
    } catch {
      // The client may end the loop or throw an abort error: either way the connection is gone.
    }
    expect(got).toBe(5);
    const e = await ended;
    expect(e.type === 'request-done' && e.completionTokens).toBeLessThan(3000);
    expect(s.model.metrics().inFlight).toBe(0);
  });
});

describe('official openai client: shed', () => {
  it('a shed is the client RateLimitError with Retry-After', async () => {
    const limited = testService({ policy: { rateLimit: { enabled: true, perTenantRequestsPerMinute: 1 } } });
    try {
      await limited.app.listen({ host: '127.0.0.1', port: 0 });
      const a = limited.app.server.address();
      const client = new OpenAI({ baseURL: `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}/v1`, apiKey: TENANTS[0].apiKey, maxRetries: 0 });
      await client.chat.completions.create({ model: 'primary', messages }, { headers: { 'x-mock-output-tokens': '1' } });
      const err = await client.chat.completions.create({ model: 'primary', messages }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(OpenAI.RateLimitError);
      const rl = err as InstanceType<typeof OpenAI.RateLimitError>;
      expect(rl.status).toBe(429);
      expect(Number(rl.headers?.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(rl.code).toBe('rate_limit_exceeded');
    } finally {
      await limited.close();
    }
  });
});
