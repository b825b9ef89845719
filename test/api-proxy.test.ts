/**
 * `POST /v1/chat/completions` through the engine (inject): OpenAI shapes streaming and not, and engine outcomes
 * mapped to HTTP honestly: shed 429 + Retry-After, upstream failure 502, timeout 504, degraded 200 that says so.
 */
import { describe, expect, it } from 'vitest';
import { parseSse } from '../sim/server-testkit.js';
import { ALPHA, servicesClosedAfterEach, type TestService } from './api-testkit.js';

const service = servicesClosedAfterEach();

const chat = (extra: Record<string, unknown> = {}) => ({ model: 'primary', messages: [{ role: 'user', content: 'hi there' }], ...extra });
const post = (s: TestService, payload: object, headers: Record<string, string> = {}) =>
  s.app.inject({ method: 'POST', url: '/v1/chat/completions', payload, headers: { ...ALPHA, ...headers } });

describe('chat completions proxy', () => {
  it('answers non-streaming and streaming in OpenAI shapes, with the same text for the same request id', async () => {
    const s = service();
    const h = { 'x-mock-output-tokens': '9', 'x-mock-prompt-tokens': '20', 'x-request-id': 'same-1' };
    const whole = await post(s, chat(), h);
    expect(whole.statusCode).toBe(200);
    expect(whole.headers['x-degraded']).toBeUndefined();
    const w = whole.json();
    expect(w).toMatchObject({ object: 'chat.completion', model: 'primary', usage: { prompt_tokens: 20, completion_tokens: 9, total_tokens: 29 } });
    expect(w.choices[0]).toMatchObject({ index: 0, finish_reason: 'stop', message: { role: 'assistant' } });
    expect(w.degraded).toBeUndefined();

    const streamed = await post(s, chat({ stream: true, stream_options: { include_usage: true } }), h);
    expect(streamed.statusCode).toBe(200);
    expect(streamed.headers['content-type']).toContain('text/event-stream');
    const p = parseSse(streamed.body);
    expect(p.done).toBe(true);
    expect(p.text).toBe(w.choices[0].message.content);
    expect(p.chunks[0]?.choices?.[0]).toMatchObject({ delta: { role: 'assistant', content: '' } });
    const finish = p.chunks.filter((c) => c.choices?.[0]?.['finish_reason'] != null);
    expect(finish.map((c) => c.choices?.[0]?.['finish_reason'])).toEqual(['stop']);
    expect(p.chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 20, completion_tokens: 9, total_tokens: 29 } });
    expect(p.chunks.every((c) => c['object'] === 'chat.completion.chunk' && c['id'] === p.chunks[0]?.['id'])).toBe(true);
    // Without include_usage, no usage chunk.
    const plain = parseSse((await post(s, chat({ stream: true }), h)).body);
    expect(plain.chunks.some((c) => c['usage'] !== undefined)).toBe(false);
    expect(plain.text).toBe(p.text);
  });

  it('finish_reason is length when max_tokens cut the answer', async () => {
    const s = service();
    const r = (await post(s, chat({ max_tokens: 4 }), { 'x-mock-output-tokens': '50' })).json();
    expect(r.usage.completion_tokens).toBe(4);
    expect(r.choices[0].finish_reason).toBe('length');
  });

  it('shed: 429 with Retry-After, in the OpenAI error shape', async () => {
    const s = service({ policy: { rateLimit: { enabled: true, perTenantRequestsPerMinute: 1 } } });
    expect((await post(s, chat(), { 'x-mock-output-tokens': '1' })).statusCode).toBe(200);
    for (const body of [chat(), chat({ stream: true })]) {
      const r = await post(s, body);
      expect(r.statusCode).toBe(429);
      expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(r.json().error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limit_exceeded' });
    }
  });

  it('upstream failure after the attempts: 502; a deadline: 504', async () => {
    const s = service({ preset: 'bounded', policy: { retry: { maxAttempts: 2, baseMs: 1, maxMs: 2 } } });
    s.primary.failing = true;
    for (const body of [chat(), chat({ stream: true })]) {
      const r = await post(s, body);
      expect(r.statusCode).toBe(502);
      expect(r.json().error).toMatchObject({ type: 'server_error', code: 'upstream_error' });
      expect(r.json().error.message).toContain('after 2 attempt(s)');
    }
    s.primary.failing = false;
    const t = await post(s, chat(), { 'x-deadline-ms': '40', 'x-mock-fault': 'ttft:ms=2000' });
    expect(t.statusCode).toBe(504);
    expect(t.json().error).toMatchObject({ type: 'timeout_error', code: 'deadline_exceeded' });
  });

  it('served by the fallback: 200 that says so (header and field), never silent', async () => {
    const s = service({
      fallback: true,
      policy: { breaker: { rule: 'consecutive', consecutiveFailures: 1 }, retry: { maxAttempts: 2, baseMs: 1, maxMs: 2 } },
    });
    s.primary.failing = true;
    const r = await post(s, chat(), { 'x-mock-output-tokens': '5' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['x-degraded']).toBe('fallback');
    expect(r.json()).toMatchObject({ degraded: 'fallback', usage: { completion_tokens: 5 } });
    // The breaker is open now: a streamed request goes straight to the fallback and its headers say so.
    const st = await post(s, chat({ stream: true }), { 'x-mock-output-tokens': '5' });
    expect(st.statusCode).toBe(200);
    expect(st.headers['x-degraded']).toBe('fallback');
    const p = parseSse(st.body);
    expect(p.done).toBe(true);
    expect(p.chunks.find((c) => c['x_degraded'] !== undefined)?.['x_degraded']).toBe('fallback');
  });

  it('a stream that fails midway: 200 with x-degraded partial (whole), an in-stream error without [DONE] (streaming)', async () => {
    const s = service({ preset: 'bounded', policy: { retry: { maxAttempts: 1 } } });
    const h = { 'x-mock-output-tokens': '10', 'x-mock-fault': 'disconnect:after=3' };
    const whole = await post(s, chat(), h);
    expect(whole.statusCode).toBe(200);
    expect(whole.headers['x-degraded']).toBe('partial');
    expect(whole.json()).toMatchObject({ degraded: 'partial', usage: { completion_tokens: 3 }, error: { code: 'STREAM_INTERRUPTED' } });
    expect(whole.json().choices[0].finish_reason).toBe('error');
    const p = parseSse((await post(s, chat({ stream: true }), h)).body);
    expect(p.done).toBe(false);
    const last = p.chunks.at(-1) as { error?: { code: string }; x_degraded?: string };
    expect(last.error?.code).toBe('partial_response');
    expect(last.x_degraded).toBe('partial');
    expect(p.text.length).toBeGreaterThan(0);
  });

  it('the same Idempotency-Key twice at once: one upstream call, one text', async () => {
    const s = service();
    const h = { 'idempotency-key': 'chat-1', 'x-mock-output-tokens': '12' };
    const [a, b] = await Promise.all([post(s, chat(), h), post(s, chat(), h)]);
    expect([a.statusCode, b.statusCode]).toEqual([200, 200]);
    expect(a.json().choices[0].message.content).toBe(b.json().choices[0].message.content);
    expect(s.model.metrics().requests).toBe(1);
  });

  it('400 naming the field for bad payloads and headers', async () => {
    const s = service();
    const cases: Array<[object, Record<string, string>, string]> = [
      [{ model: 'primary' }, {}, 'messages'],
      [chat({ n: 0 }), {}, 'n'],
      [chat({ max_tokens: 0 }), {}, 'max_tokens'],
      [chat({ messages: [] }), {}, 'messages'],
      [chat(), { 'x-priority': 'now' }, 'x-priority'],
      [chat(), { 'x-deadline-ms': 'soon' }, 'x-deadline-ms'],
    ];
    for (const [payload, headers, field] of cases) {
      const r = await post(s, payload, headers);
      expect(r.statusCode, field).toBe(400);
      expect(r.json().error.param, field).toBe(field);
    }
  });
});
