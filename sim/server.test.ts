import type { InjectOptions } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../src/time/virtual-clock.js';
import type { MockModel } from './mock-model.js';
import { buildServer } from './server.js';
import { chatBody, parseSse, testModel, tokenChunks } from './server-testkit.js';

type App = ReturnType<typeof buildServer>;
const opened: Array<{ app: App; models: MockModel[] }> = [];

function setup(o: { seed?: number; coldStartMs?: number; models?: string[] } = {}) {
  const clock = new VirtualClock();
  const models = (o.models ?? ['primary']).map((name) =>
    testModel(clock, { name, ...(o.seed !== undefined ? { seed: o.seed } : {}), ...(o.coldStartMs !== undefined ? { coldStartMs: o.coldStartMs } : {}) }),
  );
  const app = buildServer({ models, clock });
  opened.push({ app, models });
  const inject = (opts: InjectOptions) => clock.run(app.inject(opts));
  const chat = (headers: Record<string, string>, extra: Record<string, unknown> = {}) =>
    inject({ method: 'POST', url: '/v1/chat/completions', headers, payload: chatBody(extra) });
  return { clock, models, app, inject, chat };
}

afterEach(async () => {
  for (const { app, models } of opened.splice(0)) {
    await app.close();
    for (const m of models) m.close();
  }
});

describe('POST /v1/chat/completions', () => {
  it('streams SSE: a role chunk, contiguous token chunks, finish, usage, [DONE]', async () => {
    const { chat } = setup();
    const r = await chat({ 'x-request-id': 'r1', 'x-mock-output-tokens': '12' }, { stream: true, stream_options: { include_usage: true } });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toContain('text/event-stream');
    expect(r.headers['x-request-id']).toBe('r1');
    const s = parseSse(r.body);
    expect(s.done).toBe(true);
    expect(s.chunks[0]?.choices?.[0]?.['delta']).toEqual({ role: 'assistant', content: '' });
    const toks = tokenChunks(s);
    let next = 0;
    for (const t of toks) {
      expect(t.index).toBe(next);
      next += t.count;
    }
    expect(next).toBe(12);
    const finish = s.chunks.find((c) => c.choices?.[0]?.['finish_reason'] != null);
    expect(finish?.choices?.[0]?.['finish_reason']).toBe('stop');
    const usage = s.chunks.at(-1) as { usage: { completion_tokens: number; prompt_tokens: number; total_tokens: number }; choices: unknown[] };
    expect(usage.choices).toEqual([]);
    expect(usage.usage.completion_tokens).toBe(12);
    expect(usage.usage.total_tokens).toBe(usage.usage.prompt_tokens + 12);
    expect(s.chunks.every((c) => c['id'] === 'chatcmpl-r1' && c['model'] === 'primary')).toBe(true);
  });

  it('answers non-streamed with the same text as the stream for the same request id, and exact usage', async () => {
    const { chat } = setup();
    const streamed = parseSse((await chat({ 'x-request-id': 'same', 'x-mock-output-tokens': '9' }, { stream: true })).body);
    const r = await chat({ 'x-request-id': 'same', 'x-mock-output-tokens': '9', 'x-mock-prompt-tokens': '40' });
    expect(r.statusCode).toBe(200);
    const body = r.json() as { object: string; choices: Array<{ message: { role: string; content: string }; finish_reason: string }>; usage: Record<string, number> };
    expect(body.object).toBe('chat.completion');
    expect(body.choices[0]?.message).toEqual({ role: 'assistant', content: streamed.text });
    expect(streamed.text.length).toBeGreaterThan(0);
    expect(body.usage).toEqual({ prompt_tokens: 40, completion_tokens: 9, total_tokens: 49, prompt_tokens_details: { cached_tokens: 0 } });
  });

  it('caps output at max_tokens with finish_reason length; omits usage without include_usage', async () => {
    const { chat } = setup();
    const s = parseSse((await chat({ 'x-mock-output-tokens': '50' }, { stream: true, max_tokens: 4 })).body);
    expect(tokenChunks(s).reduce((n, t) => n + t.count, 0)).toBe(4);
    expect(s.chunks.some((c) => c.choices?.[0]?.['finish_reason'] === 'length')).toBe(true);
    expect(s.chunks.some((c) => 'usage' in c)).toBe(false);
  });

  it('resumes with x-mock-resume-from: the continuation is byte for byte the rest of the uninterrupted stream', async () => {
    const { chat } = setup();
    const full = parseSse((await chat({ 'x-request-id': 'resume-me', 'x-mock-output-tokens': '20' }, { stream: true })).body);
    const toks = tokenChunks(full);
    const k = 7;
    // Text of the first k tokens, from the chunks (each of these is one token here).
    const head = full.chunks.filter((c) => c.x_mock !== undefined && c.x_mock.index < k).map((c) => (c.choices?.[0]?.['delta'] as { content: string }).content).join('');
    expect(toks.filter((t) => t.index < k).reduce((n, t) => n + t.count, 0)).toBe(k);
    const r = await chat({ 'x-request-id': 'resume-me', 'x-mock-output-tokens': '20', 'x-mock-resume-from': String(k) }, { stream: true, stream_options: { include_usage: true } });
    const rest = parseSse(r.body);
    expect(tokenChunks(rest)[0]?.index).toBe(k);
    expect(head + rest.text).toBe(full.text);
    expect((rest.chunks.at(-1) as { usage: { completion_tokens: number } }).usage.completion_tokens).toBe(20 - k);
  });

  it('is deterministic: the same seed gives the same tokens, another seed other tokens', async () => {
    const run = async (seed: number) =>
      parseSse((await setup({ seed }).chat({ 'x-request-id': 'det', 'x-mock-output-tokens': '15' }, { stream: true })).body).text;
    const a = await run(7);
    expect(await run(7)).toBe(a);
    expect(await run(8)).not.toBe(a);
  });

  it('generates request ids from a per-app counter when none is sent', async () => {
    const { chat } = setup();
    const a = await chat({ 'x-mock-output-tokens': '1' });
    const b = await chat({ 'x-mock-output-tokens': '1' });
    expect([a.headers['x-request-id'], b.headers['x-request-id']]).toEqual(['req-1', 'req-2']);
  });
});

describe('POST /v1/completions', () => {
  it('answers a batch of prompts with one choice each, and counts token-id prompts exactly', async () => {
    const { inject } = setup();
    const r = await inject({
      method: 'POST',
      url: '/v1/completions',
      headers: { 'x-mock-output-tokens': '3' },
      payload: { model: 'primary', prompt: [[1, 2, 3, 4, 5], [6, 7]] },
    });
    expect(r.statusCode).toBe(200);
    const body = r.json() as { object: string; choices: Array<{ index: number; text: string }>; usage: Record<string, number> };
    expect(body.object).toBe('text_completion');
    expect(body.choices.map((c) => c.index)).toEqual([0, 1]);
    expect(body.choices[0]?.text).not.toBe(body.choices[1]?.text);
    expect(body.usage).toEqual({ prompt_tokens: 7, completion_tokens: 6, total_tokens: 13, prompt_tokens_details: { cached_tokens: 0 } });
  });

  it('streams several prompts interleaved, each choice finishing once, then [DONE]', async () => {
    const { inject } = setup();
    const r = await inject({
      method: 'POST',
      url: '/v1/completions',
      headers: { 'x-mock-output-tokens': '4' },
      payload: { model: 'primary', prompt: ['one', 'two', 'three'], stream: true, stream_options: { include_usage: true } },
    });
    const s = parseSse(r.body);
    expect(s.done).toBe(true);
    const finishes = s.chunks.filter((c) => c.choices?.[0]?.['finish_reason'] != null).map((c) => c.choices?.[0]?.['index']);
    expect([...finishes].sort()).toEqual([0, 1, 2]);
    expect((s.chunks.at(-1) as { usage: { completion_tokens: number } }).usage.completion_tokens).toBe(12);
  });
});

describe('POST /v1/embeddings', () => {
  it('returns one unit vector per input; base64 decodes to the same floats (float32)', async () => {
    const { inject } = setup();
    const input = ['alpha beta', 'gamma'];
    const f = (await inject({ method: 'POST', url: '/v1/embeddings', payload: { model: 'primary', input } })).json() as {
      data: Array<{ index: number; embedding: number[] }>;
      usage: { prompt_tokens: number; total_tokens: number };
    };
    expect(f.data.map((d) => d.index)).toEqual([0, 1]);
    const v = f.data[0]?.embedding as number[];
    expect(Math.hypot(...v)).toBeCloseTo(1, 6);
    expect(f.usage.prompt_tokens).toBeGreaterThan(0);
    const b = (await inject({ method: 'POST', url: '/v1/embeddings', payload: { model: 'primary', input, encoding_format: 'base64' } })).json() as {
      data: Array<{ embedding: string }>;
    };
    const bytes = Buffer.from(b.data[0]?.embedding as string, 'base64');
    const decoded = Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
    expect(decoded).toEqual(Array.from(Float32Array.from(v)));
  });
});

describe('models, health and metrics', () => {
  it('serves several models, each on its own GPU, listed by /v1/models', async () => {
    const { inject, models } = setup({ models: ['primary', 'fallback'] });
    const list = (await inject({ method: 'GET', url: '/v1/models' })).json() as { data: Array<{ id: string; object: string }> };
    expect(list.data.map((d) => d.id)).toEqual(['primary', 'fallback']);
    const r = await inject({ method: 'POST', url: '/v1/chat/completions', headers: { 'x-mock-output-tokens': '3' }, payload: chatBody({ model: 'fallback' }) });
    expect(r.statusCode).toBe(200);
    expect(models[1]?.metrics().completed).toBe(1);
    expect(models[0]?.metrics().completed).toBe(0);
  });

  it('answers 503 on /health and on requests during cold start, 200 once it is over', async () => {
    const { inject, chat, clock } = setup({ coldStartMs: 5000 });
    const h = await inject({ method: 'GET', url: '/health' });
    expect(h.statusCode).toBe(503);
    expect(h.json()).toEqual({ status: 'unavailable', models: { primary: 'cold-start' } });
    const r = await chat({});
    expect(r.statusCode).toBe(503);
    expect(Number(r.headers['retry-after-ms'])).toBeGreaterThan(0);
    expect(r.json()).toMatchObject({ error: { type: 'server_error', code: 'service_unavailable' } });
    await clock.advanceBy(5000);
    expect((await inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
  });

  it('exposes vLLM-named metrics labelled by model_name, and fault counters', async () => {
    const { inject, chat } = setup();
    await chat({ 'x-mock-output-tokens': '5' }, { stream: true });
    await chat({ 'x-mock-fault': 'status:500' });
    const r = await inject({ method: 'GET', url: '/metrics' });
    expect(r.headers['content-type']).toContain('text/plain');
    for (const name of [
      'vllm:num_requests_running{model_name="primary"} 0',
      'vllm:num_requests_waiting{model_name="primary"} 0',
      'vllm:kv_cache_usage_perc{model_name="primary"}',
      'vllm:time_to_first_token_seconds_count{model_name="primary"} 1',
      'vllm:e2e_request_latency_seconds_count{model_name="primary"} 1',
      'vllm:request_queue_time_seconds_count{model_name="primary"} 1',
      'vllm:inter_token_latency_seconds_count{model_name="primary"} 4',
      'mock:faults_injected_total{model_name="primary",kind="status-500"} 1',
      'mock:requests_rejected_total{model_name="primary",status="500"} 1',
    ]) {
      expect(r.body).toContain(name);
    }
  });
});
