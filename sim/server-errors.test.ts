import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../src/time/virtual-clock.js';
import type { MockModel } from './mock-model.js';
import { buildServer } from './server.js';
import { chatBody, parseSse, testModel } from './server-testkit.js';

type App = ReturnType<typeof buildServer>;
const opened: Array<{ app: App; models: MockModel[] }> = [];

function setup(o: { rateLimits?: Record<string, unknown>; controlToken?: string; models?: string[] } = {}) {
  const clock = new VirtualClock();
  const models = (o.models ?? ['primary']).map((name) =>
    testModel(clock, { name, ...(o.rateLimits !== undefined ? { rateLimits: o.rateLimits } : {}) }),
  );
  const app = buildServer({ models, clock, ...(o.controlToken !== undefined ? { controlToken: o.controlToken } : {}) });
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

/** The OpenAI error shape: exactly `{ error: { message, type, param, code } }`, param and code string or null. */
function expectErrorShape(body: unknown): void {
  const e = (body as { error?: Record<string, unknown> }).error;
  expect(Object.keys(body as object)).toEqual(['error']);
  expect(Object.keys(e ?? {}).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(typeof e?.['message']).toBe('string');
  expect(typeof e?.['type']).toBe('string');
  for (const k of ['param', 'code']) expect(e?.[k] === null || typeof e?.[k] === 'string').toBe(true);
}

describe('injected errors in the OpenAI error shape', () => {
  it('429 from a per-request fault carries retry-after (s, rounded up) and retry-after-ms', async () => {
    const { chat } = setup();
    const r = await chat({ 'x-mock-fault': 'status:429,retry-after-ms=1200', 'x-request-id': 'limited-1' });
    expect(r.statusCode).toBe(429);
    expect(r.headers['x-request-id']).toBe('limited-1');
    expect(r.headers['retry-after']).toBe('2');
    expect(r.headers['retry-after-ms']).toBe('1200');
    expect(r.json()).toEqual({ error: { message: expect.stringContaining('429'), type: 'rate_limit_error', param: null, code: 'rate_limit_exceeded' } });
  });

  it('a provider RPM limit per API key answers 429 with honest Retry-After and x-ratelimit-* headers', async () => {
    const { chat } = setup({ rateLimits: { keys: { 'sk-a': { rpm: 2 } } } });
    const key = { authorization: 'Bearer sk-a', 'x-mock-output-tokens': '1' };
    expect((await chat(key)).statusCode).toBe(200);
    expect((await chat(key)).statusCode).toBe(200);
    const r = await chat(key);
    expect(r.statusCode).toBe(429);
    // 2 per minute refills one request in 30 s; the first two requests took a few virtual ms.
    expect(Number(r.headers['retry-after-ms'])).toBeGreaterThan(29_000);
    expect(Number(r.headers['retry-after-ms'])).toBeLessThanOrEqual(30_000);
    expect(r.headers['retry-after']).toBe('30');
    expect(r.headers['x-ratelimit-limit-requests']).toBe('2');
    expect(r.headers['x-ratelimit-remaining-requests']).toBe('0');
    expect(r.headers['x-ratelimit-reset-requests']).toMatch(/^(59|60|1m0)(\.\d+)?s$/);
    expect(r.headers['x-request-id']).toBe('req-3'); // the refusal answers with the request's id too
    // Another key is not limited.
    expect((await chat({ authorization: 'Bearer sk-b', 'x-mock-output-tokens': '1' })).statusCode).toBe(200);
  });

  it('503, 500 and other 5xx statuses, each in the error shape', async () => {
    const { chat } = setup();
    const u = await chat({ 'x-mock-fault': 'status:503,retry-after-ms=250' });
    expect(u.statusCode).toBe(503);
    expect(u.headers['retry-after-ms']).toBe('250');
    expect(u.json()).toMatchObject({ error: { type: 'server_error', code: 'service_unavailable' } });
    const s = await chat({ 'x-mock-fault': 'status:500' });
    expect(s.statusCode).toBe(500);
    expect(s.json()).toMatchObject({ error: { type: 'server_error', code: 'internal_error' } });
    expect((await chat({ 'x-mock-fault': 'status:502' })).statusCode).toBe(502);
  });

  it('400 context_length_exceeded when prompt + max_tokens do not fit', async () => {
    const { chat } = setup();
    const r = await chat({ 'x-mock-prompt-tokens': '8000' }, { max_tokens: 1000 });
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({ error: { type: 'invalid_request_error', code: 'context_length_exceeded', param: 'messages' } });
  });

  it('in-stream disconnect forms through inject: error-event, clean-close, reset', async () => {
    const { chat } = setup();
    const ev = parseSse((await chat({ 'x-mock-fault': 'disconnect:after=3,form=error-event', 'x-mock-output-tokens': '10' }, { stream: true })).body);
    expect(ev.done).toBe(false);
    expect(ev.text.length).toBeGreaterThan(0);
    expect(ev.chunks.at(-1)).toMatchObject({ error: { code: 'stream_interrupted', message: expect.stringContaining('after 3 tokens') } });
    const cc = parseSse((await chat({ 'x-mock-fault': 'disconnect:after=3,form=clean-close', 'x-mock-output-tokens': '10' }, { stream: true })).body);
    expect(cc.done).toBe(false);
    expect(cc.chunks.some((c) => 'error' in c)).toBe(false);
    expect(cc.chunks.filter((c) => c.x_mock !== undefined).reduce((n, c) => n + (c.x_mock?.count ?? 0), 0)).toBe(3);
    await expect(chat({ 'x-mock-fault': 'disconnect:after=3,form=reset', 'x-mock-output-tokens': '10' }, { stream: true })).rejects.toThrow(
      /destroyed|ECONNRESET/,
    );
  });

  it('a non-streamed disconnect: error-event is a 500, clean-close a truncated JSON body', async () => {
    const { chat } = setup();
    const e = await chat({ 'x-mock-fault': 'disconnect:after=2,form=error-event', 'x-mock-output-tokens': '10' });
    expect(e.statusCode).toBe(500);
    expect(e.json()).toMatchObject({ error: { code: 'stream_interrupted' } });
    const c = await chat({ 'x-mock-fault': 'disconnect:after=2,form=clean-close', 'x-mock-output-tokens': '10' });
    expect(c.statusCode).toBe(200);
    expect(() => JSON.parse(c.body) as unknown).toThrow();
  });
});

describe('bad requests are 4xx in the OpenAI error shape, never 500', () => {
  const cases: Array<[string, unknown, string | null]> = [
    ['missing messages', { model: 'primary' }, 'messages'],
    ['empty messages', { model: 'primary', messages: [] }, 'messages'],
    ['bad role', chatBody({ messages: [{ role: 'robot', content: 'x' }] }), 'messages[0].role'],
    ['string max_tokens', chatBody({ max_tokens: '5' }), 'max_tokens'],
    ['zero max_tokens', chatBody({ max_tokens: 0 }), 'max_tokens'],
    ['n > 1', chatBody({ n: 2 }), 'n'],
    ['stream not boolean', chatBody({ stream: 'yes' }), 'stream'],
    ['temperature too high', chatBody({ temperature: 3 }), 'temperature'],
    ['model not a string', chatBody({ model: 5 }), 'model'],
    ['body is an array', [1, 2], null],
  ];
  it.each(cases)('%s', async (_name, payload, param) => {
    const { inject } = setup();
    const r = await inject({ method: 'POST', url: '/v1/chat/completions', payload: payload as object });
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({ error: { type: 'invalid_request_error', ...(param !== null ? { param } : {}) } });
  });

  it('malformed JSON, bad x-mock-* headers, unknown models and routes', async () => {
    const { inject, chat } = setup();
    const j = await inject({ method: 'POST', url: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, payload: '{"model":' });
    expect(j.statusCode).toBe(400);
    expectErrorShape(j.json());
    expect((await chat({ 'x-mock-output-tokens': 'many' })).json()).toMatchObject({ error: { param: 'x-mock-output-tokens' } });
    const f = await chat({ 'x-mock-fault': 'disconnect:form=explode' });
    expect(f.statusCode).toBe(400);
    expect(f.json()).toMatchObject({ error: { param: 'x-mock-fault.disconnect.form' } });
    const m = await chat({}, { model: 'gpt-9' });
    expect(m.statusCode).toBe(404);
    expect(m.json()).toMatchObject({ error: { param: 'model', code: 'model_not_found' } });
    const nf = await inject({ method: 'GET', url: '/v2/nothing' });
    expect(nf.statusCode).toBe(404);
    expectErrorShape(nf.json());
    const e = await inject({ method: 'POST', url: '/v1/embeddings', payload: { model: 'primary', input: [] } });
    expect(e.statusCode).toBe(400);
  });

  it('fuzz: arbitrary JSON bodies never get a 5xx', async () => {
    const { inject } = setup();
    const field = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.anything(), { maxLength: 3 }));
    const body = fc.oneof(
      fc.anything(),
      fc.record(
        { model: fc.oneof(fc.constant('primary'), field), messages: fc.oneof(field, fc.array(fc.record({ role: fc.oneof(fc.constantFrom('user', 'system'), field), content: field }), { maxLength: 3 })), stream: field, max_tokens: field, prompt: field, input: field },
        { requiredKeys: [] },
      ),
    );
    await fc.assert(
      fc.asyncProperty(body, fc.constantFrom('/v1/chat/completions', '/v1/completions', '/v1/embeddings'), async (payload, url) => {
        const r = await inject({ method: 'POST', url, headers: { 'content-type': 'application/json', 'x-mock-output-tokens': '2' }, payload: JSON.stringify(payload) ?? 'null' });
        expect(r.statusCode).toBeLessThan(500);
        if (r.statusCode >= 400) expectErrorShape(r.json());
      }),
      { numRuns: 150, seed: 42 },
    );
  });
});

describe('control plane /mock/faults', () => {
  it('GET and PUT per model; a bad plan is a 400 naming the field and changes nothing', async () => {
    const { inject } = setup({ models: ['primary', 'fallback'] });
    const put = await inject({ method: 'PUT', url: '/mock/faults?model=fallback', payload: { serverError: { probability: 1 } } });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toEqual({ models: { fallback: { serverError: { probability: 1 } } } });
    const all = (await inject({ method: 'GET', url: '/mock/faults' })).json() as { models: Record<string, unknown> };
    expect(all.models).toEqual({ primary: {}, fallback: { serverError: { probability: 1 } } });
    const fb = await inject({ method: 'POST', url: '/v1/chat/completions', payload: chatBody({ model: 'fallback' }) });
    expect(fb.statusCode).toBe(500);
    const bad = await inject({ method: 'PUT', url: '/mock/faults', payload: { disconnect: { probability: 1.5 } } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: { param: 'faults.disconnect.probability', code: 'invalid_fault_plan' } });
    expect(((await inject({ method: 'GET', url: '/mock/faults' })).json() as { models: unknown }).models).toEqual(all.models);
    expect((await inject({ method: 'GET', url: '/mock/faults?model=nope' })).statusCode).toBe(404);
  });

  it('refuses non-loopback clients unless they carry the control token', async () => {
    const { inject } = setup({ controlToken: 'secret-token' });
    const far = { remoteAddress: '10.0.0.7' };
    expect((await inject({ method: 'GET', url: '/mock/faults', ...far })).statusCode).toBe(403);
    expect((await inject({ method: 'GET', url: '/mock/faults', ...far, headers: { authorization: 'Bearer wrong' } })).statusCode).toBe(403);
    expect((await inject({ method: 'GET', url: '/mock/faults', ...far, headers: { authorization: 'Bearer secret-token' } })).statusCode).toBe(200);
    expect((await inject({ method: 'GET', url: '/mock/faults' })).statusCode).toBe(200);
    const stats = (await inject({ method: 'GET', url: '/mock/stats' })).json() as { eventLoopDelay: { p99Ms: number }; models: Record<string, { health: unknown }> };
    expect(stats.eventLoopDelay.p99Ms).toBeGreaterThanOrEqual(0);
    expect(stats.models['primary']?.health).toEqual({ ready: true, state: 'ready' });
  });
});
