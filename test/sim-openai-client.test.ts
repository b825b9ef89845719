/**
 * The official `openai` npm client against the mock server on loopback: streaming with usage, and a 429 with
 * `retry-after-ms` that the client honours and then succeeds. Proves wire compatibility, not just our parser.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RealClock } from '../src/time/real-clock.js';
import type { MockModel, MockModelEvent } from '../sim/mock-model.js';
import { buildServer } from '../sim/server.js';
import { FAST_PROFILE, testModel } from '../sim/server-testkit.js';

let model: MockModel;
let app: ReturnType<typeof buildServer>;
let baseURL = '';

beforeAll(async () => {
  const clock = new RealClock();
  // 6,000 tokens per minute for one key: 100 tokens refill in exactly 1 s.
  model = testModel(clock, { profile: FAST_PROFILE, rateLimits: { keys: { 'sk-limited': { tpm: 6000 } } } });
  app = buildServer({ models: [model], clock });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const a = app.server.address();
  baseURL = `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}/v1`;
});

afterAll(async () => {
  model.close();
  await app.close();
});

describe('official openai client against the mock server', () => {
  it('streams a chat completion with include_usage and gets the right usage and text', async () => {
    const client = new OpenAI({ baseURL, apiKey: 'sk-test', maxRetries: 0 });
    const headers = { 'x-mock-output-tokens': '25', 'x-mock-prompt-tokens': '31', 'x-request-id': 'openai-1' };
    const stream = await client.chat.completions.create(
      { model: 'primary', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } },
      { headers },
    );
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined | null;
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(usage).toEqual({ prompt_tokens: 31, completion_tokens: 25, total_tokens: 56, prompt_tokens_details: { cached_tokens: 0 } });
    expect(finish).toBe('stop');
    // The same request id, non-streamed, gives the same text: token text is a function of (seed, id, index).
    const whole = await client.chat.completions.create({ model: 'primary', messages: [{ role: 'user', content: 'hi' }] }, { headers });
    expect(whole.choices[0]?.message.content).toBe(text);
    expect(text.split(' ').filter((w) => w !== '').length).toBeGreaterThan(0);
  });

  it('retries a 429 after its retry-after-ms and then succeeds', async () => {
    const client = new OpenAI({ baseURL, apiKey: 'sk-limited', maxRetries: 2 });
    const rejections: number[] = [];
    const off = model.onEvent((e: MockModelEvent) => {
      if (e.type === 'request-rejected') rejections.push(e.status ?? 0);
    });
    try {
      // Drain the key's TPM bucket: 1,000 prompt + 5,000 max_tokens = 6,000 tokens.
      await client.chat.completions.create(
        { model: 'primary', messages: [{ role: 'user', content: 'drain' }], max_tokens: 5000 },
        { headers: { 'x-mock-prompt-tokens': '1000', 'x-mock-output-tokens': '1' } },
      );
      // 50 + 50 = 100 tokens: the first attempt is refused with retry-after-ms ≈ 1000, the retry admitted.
      const r = await client.chat.completions
        .create(
          { model: 'primary', messages: [{ role: 'user', content: 'after the wait' }], max_tokens: 50 },
          { headers: { 'x-mock-prompt-tokens': '50', 'x-mock-output-tokens': '5' } },
        )
        .withResponse();
      expect(r.data.usage?.completion_tokens).toBe(5);
      expect(r.response.status).toBe(200);
      // Exactly one 429: had the client retried before the Retry-After elapsed, the bucket would have refused again.
      expect(rejections).toEqual([429]);
    } finally {
      off();
    }
  });
});
