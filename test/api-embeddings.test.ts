/**
 * `POST /v1/embeddings` through the engine (inject, in-process mock): OpenAI shapes (float and base64, which
 * decode to the same float32 values), batching that merges concurrent calls into fewer upstream calls with each
 * vector split back to its own request, 400s naming the field, tenants, and outcomes mapped honestly (shed 429
 * with Retry-After, failure 502, deadline 504, fallback 200 that says so), with the `x-mock-*` headers forwarded.
 */
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { resolvePolicy } from '../src/policy.js';
import { Random } from '../src/random.js';
import { buildService, type ApiService } from '../src/api/server.js';
import { RealClock } from '../src/time/real-clock.js';
import { ServerError } from '../src/upstream/errors.js';
import type { CallOptions, EmbeddingRequest, EmbeddingResult, ModelClient, ModelRequest, StreamEvent, StreamOptions } from '../src/upstream/model-client.js';
import { InProcessModelClient } from '../sim/in-process.js';
import { MockModel } from '../sim/mock-model.js';
import { FAST_PROFILE } from '../sim/server-testkit.js';
import { ALPHA, BRAVO, TENANTS } from './api-testkit.js';

/** Records every upstream `embed` call; throws a 500 while `failing` is set. */
class EmbedSpy implements ModelClient {
  failing = false;
  readonly calls: EmbeddingRequest[] = [];
  constructor(private readonly inner: ModelClient) {}

  stream(request: ModelRequest, options?: StreamOptions): AsyncIterable<StreamEvent> {
    return this.inner.stream(request, options);
  }

  embed(request: EmbeddingRequest, options?: CallOptions): Promise<EmbeddingResult> {
    this.calls.push(request);
    if (this.failing) return Promise.reject(new ServerError(500, 'injected by EmbedSpy'));
    return this.inner.embed(request, options);
  }
}

interface Svc extends ApiService {
  readonly primary: EmbedSpy;
  readonly model: MockModel;
}

const open: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((close) => close()));
});

function service(o: { preset?: string; policy?: unknown; fallback?: boolean; forwardMockHeaders?: boolean } = {}): Svc {
  const clock = new RealClock();
  const random = new Random(11);
  const model = new MockModel({ name: 'primary', profile: FAST_PROFILE, clock, random: random.derive('mock/primary') });
  const fallbackModel = o.fallback === true ? new MockModel({ name: 'primary', profile: FAST_PROFILE, clock, random: random.derive('mock/fallback') }) : undefined;
  const primary = new EmbedSpy(new InProcessModelClient(model));
  const svc = buildService({
    clock,
    random,
    tenants: [...TENANTS],
    policy: resolvePolicy(o.preset ?? 'resilient', o.policy ?? { retry: { baseMs: 1, maxMs: 5 } }),
    upstream: { primary, ...(fallbackModel !== undefined ? { fallback: new InProcessModelClient(fallbackModel) } : {}) },
    ...(o.forwardMockHeaders !== undefined ? { forwardMockHeaders: o.forwardMockHeaders } : {}),
  });
  open.push(async () => {
    await svc.app.close();
    model.close();
    fallbackModel?.close();
  });
  return { ...svc, primary, model };
}

interface EmbeddingsReply {
  object: string;
  model: string;
  data: Array<{ object: string; index: number; embedding: number[] | string }>;
  usage: { prompt_tokens: number; total_tokens: number };
  degraded?: string;
}

const post = (s: Svc, payload: unknown, headers: Record<string, string> = {}) =>
  s.app.inject({ method: 'POST', url: '/v1/embeddings', payload: payload as object, headers: { ...ALPHA, ...headers } });
const vectors = (r: { json(): unknown }): number[][] => (r.json() as EmbeddingsReply).data.map((d) => d.embedding as number[]);
const norm = (v: readonly number[]): number => Math.sqrt(v.reduce((a, x) => a + x * x, 0));

function decodeFloat32(b64: string): number[] {
  const buf = Buffer.from(b64, 'base64');
  const out: number[] = [];
  for (let i = 0; i < buf.length; i += 4) out.push(buf.readFloatLE(i));
  return out;
}

describe('POST /v1/embeddings', () => {
  it('answers in the OpenAI shape: one vector per input, in order, with usage and a request id', async () => {
    const s = service({ preset: 'bounded' });
    const one = await post(s, { model: 'primary', input: 'the quick brown fox' });
    expect(one.statusCode).toBe(200);
    expect(one.headers['x-request-id']).toMatch(/^emb-/);
    expect(one.headers['x-degraded']).toBeUndefined();
    const b = one.json() as EmbeddingsReply;
    expect(b).toMatchObject({ object: 'list', model: 'primary', usage: { prompt_tokens: 5, total_tokens: 5 } });
    expect(b.degraded).toBeUndefined();
    expect(b.data).toHaveLength(1);
    expect(b.data[0]).toMatchObject({ object: 'embedding', index: 0 });
    const v = b.data[0]?.embedding as number[];
    expect(v.length).toBe(16);
    expect(norm(v)).toBeCloseTo(1, 6);

    const texts = ['alpha passage', 'bravo passage, a longer one', 'the quick brown fox'];
    const many = await post(s, { model: 'primary', input: texts });
    const m = many.json() as EmbeddingsReply;
    expect(m.data.map((d) => d.index)).toEqual([0, 1, 2]);
    expect(m.usage.prompt_tokens).toBe(texts.reduce((a, t) => a + Math.ceil(t.length / 4), 0));
    // Same text, same vector (the third input); different texts, different vectors.
    expect(m.data[2]?.embedding).toEqual(v);
    expect(m.data[0]?.embedding).not.toEqual(m.data[1]?.embedding);
    expect(s.primary.calls.map((c) => c.inputs)).toEqual([['the quick brown fox'], texts]);
  });

  it('encoding_format base64 is little-endian float32 that decodes to the float answer', async () => {
    const s = service({ preset: 'bounded' });
    const input = ['one text', 'another text'];
    const floats = vectors(await post(s, { model: 'primary', input, encoding_format: 'float' }));
    const r = await post(s, { model: 'primary', input, encoding_format: 'base64' });
    expect(r.statusCode).toBe(200);
    const data = (r.json() as EmbeddingsReply).data;
    expect(data.every((d) => typeof d.embedding === 'string')).toBe(true);
    const decoded = data.map((d) => decodeFloat32(d.embedding as string));
    expect(decoded).toEqual(floats.map((v) => v.map((x) => Math.fround(x))));
    // null is the default (float), as OpenAI clients may send it.
    expect(vectors(await post(s, { model: 'primary', input, encoding_format: null }))).toEqual(floats);
  });

  it('dimensions shortens to unit length; more than the model has is a 400 naming it', async () => {
    const s = service({ preset: 'bounded' });
    const [full] = vectors(await post(s, { model: 'primary', input: 'shorten me' }));
    const [short] = vectors(await post(s, { model: 'primary', input: 'shorten me', dimensions: 4 }));
    expect(short).toHaveLength(4);
    expect(norm(short ?? [])).toBeCloseTo(1, 6);
    const k = norm((full ?? []).slice(0, 4));
    expect(short?.map((x) => x * k)).toEqual((full ?? []).slice(0, 4).map((x) => expect.closeTo(x, 9)));
    const tooMany = await post(s, { model: 'primary', input: 'shorten me', dimensions: 17 });
    expect(tooMany.statusCode).toBe(400);
    expect(tooMany.json().error).toMatchObject({ param: 'dimensions', code: 'invalid_value' });
  });

  it('under resilient, concurrent calls are merged: fewer upstream calls than requests, each vector split back to its own request', async () => {
    const s = service();
    const n = 16;
    const texts = Array.from({ length: n }, (_, i) => `retriever passage number ${i}`);
    const replies = await Promise.all(texts.map((t) => post(s, { model: 'primary', input: [t, `${t} (second part)`] })));
    expect(replies.map((r) => r.statusCode)).toEqual(texts.map(() => 200));
    expect(s.primary.calls.length).toBeGreaterThanOrEqual(1);
    expect(s.primary.calls.length).toBeLessThan(n);
    expect(s.engine.snapshot().counters.batches).toBeGreaterThanOrEqual(1);
    // Every input reached the upstream exactly once.
    expect(s.primary.calls.flatMap((c) => c.inputs).sort()).toEqual(texts.flatMap((t) => [t, `${t} (second part)`]).sort());
    // Split back right: each request's vectors are the ones its own texts get alone (bounded: no batching).
    const alone = service({ preset: 'bounded' });
    for (const [i, t] of texts.entries()) {
      expect(vectors(replies[i] as { json(): unknown })).toEqual(vectors(await post(alone, { model: 'primary', input: [t, `${t} (second part)`] })));
    }
  });

  it('a size-window batcher makes exactly one upstream call per full batch; x-batchable: false goes alone', async () => {
    const s = service({ policy: { batching: { mode: 'size', maxSize: 4 } } });
    const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => post(s, { model: 'primary', input: `text ${i}` })));
    expect(replies.every((r) => r.statusCode === 200)).toBe(true);
    expect(s.primary.calls.map((c) => c.inputs.length)).toEqual([4, 4]);
    // Opted out: no batch to wait for (a size-only batcher would otherwise hold these forever).
    const solo = await Promise.all([0, 1].map((i) => post(s, { model: 'primary', input: `solo ${i}` }, { 'x-batchable': 'false' })));
    expect(solo.map((r) => r.statusCode)).toEqual([200, 200]);
    expect(s.primary.calls.map((c) => c.inputs.length)).toEqual([4, 4, 1, 1]);
    expect(s.engine.snapshot().counters.batches).toBe(2);
  });

  it('without batching (bounded), every request is its own upstream call', async () => {
    const s = service({ preset: 'bounded' });
    const replies = await Promise.all(Array.from({ length: 6 }, (_, i) => post(s, { model: 'primary', input: `text ${i}` })));
    expect(replies.every((r) => r.statusCode === 200)).toBe(true);
    expect(s.primary.calls).toHaveLength(6);
  });

  it('400 naming the field for bad payloads and headers, before any upstream call', async () => {
    const s = service();
    const ok = { model: 'primary', input: 'fine' };
    const cases: Array<[unknown, Record<string, string>, string]> = [
      [{ input: 'x' }, {}, 'model'],
      [{ model: '', input: 'x' }, {}, 'model'],
      [{ model: 5, input: 'x' }, {}, 'model'],
      [{ model: 'primary' }, {}, 'input'],
      [{ model: 'primary', input: '' }, {}, 'input'],
      [{ model: 'primary', input: [] }, {}, 'input'],
      [{ model: 'primary', input: 5 }, {}, 'input'],
      [{ model: 'primary', input: null }, {}, 'input'],
      [{ model: 'primary', input: ['a', 7] }, {}, 'input[1]'],
      [{ model: 'primary', input: ['a', ''] }, {}, 'input[1]'],
      [{ model: 'primary', input: Array.from({ length: 2049 }, () => 'a') }, {}, 'input'],
      [{ ...ok, encoding_format: 'hex' }, {}, 'encoding_format'],
      [{ ...ok, dimensions: 0 }, {}, 'dimensions'],
      [{ ...ok, dimensions: 1.5 }, {}, 'dimensions'],
      [ok, { 'x-priority': 'now' }, 'x-priority'],
      [ok, { 'x-deadline-ms': 'soon' }, 'x-deadline-ms'],
      [ok, { 'x-batchable': 'maybe' }, 'x-batchable'],
      [ok, { 'x-request-id': 'has space' }, 'x-request-id'],
      [ok, { 'x-mock-prompt-tokens': 'many' }, 'x-mock-prompt-tokens'],
      [{ model: 'primary', input: ['a', 'b', 'c'] }, { 'x-mock-prompt-tokens': '2' }, 'x-mock-prompt-tokens'],
    ];
    for (const [payload, headers, field] of cases) {
      const r = await post(s, payload, headers);
      expect(r.statusCode, field).toBe(400);
      const e = r.json().error as { param: string; message: string; type: string };
      expect(e.param, `${field}: ${e.message}`).toBe(field);
      expect(e.message).toContain(field);
      expect(e.type).toBe('invalid_request_error');
    }
    expect(s.primary.calls).toHaveLength(0);
    // Not JSON at all.
    const bad = await s.app.inject({ method: 'POST', url: '/v1/embeddings', payload: '{"model":', headers: { ...ALPHA, 'content-type': 'application/json' } });
    expect(bad.statusCode).toBe(400);
  });

  it('authenticates like the other /v1 routes, and rate limits per tenant: shed is a 429 with Retry-After', async () => {
    const s = service({ policy: { rateLimit: { enabled: true, perTenantRequestsPerMinute: 1 } } });
    const none = await s.app.inject({ method: 'POST', url: '/v1/embeddings', payload: { model: 'primary', input: 'x' } });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer');
    expect(none.json().error).toMatchObject({ type: 'authentication_error', code: 'missing_api_key' });
    const unknown = await post(s, { model: 'primary', input: 'x' }, { authorization: 'Bearer key-nobody-0000' });
    expect(unknown.statusCode).toBe(401);
    expect(unknown.json().error.code).toBe('invalid_api_key');
    expect(s.primary.calls).toHaveLength(0);

    expect((await post(s, { model: 'primary', input: 'first' })).statusCode).toBe(200);
    const shed = await post(s, { model: 'primary', input: 'second' });
    expect(shed.statusCode).toBe(429);
    expect(Number(shed.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(shed.headers['retry-after-ms'])).toBeGreaterThan(0);
    expect(shed.json().error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limit_exceeded' });
    // Another tenant has its own budget.
    expect((await post(s, { model: 'primary', input: 'second' }, BRAVO)).statusCode).toBe(200);
    expect(s.primary.calls).toHaveLength(2);
  });

  it('an upstream that keeps failing: 502 after the attempts; a deadline: 504; an upstream 400 stays a 400', async () => {
    const s = service({ preset: 'bounded', policy: { retry: { maxAttempts: 2, baseMs: 1, maxMs: 2 } } });
    s.primary.failing = true;
    const r = await post(s, { model: 'primary', input: 'x' });
    expect(r.statusCode).toBe(502);
    expect(r.json().error).toMatchObject({ type: 'server_error', code: 'upstream_error' });
    expect(r.json().error.message).toContain('after 2 attempt(s)');
    expect(s.primary.calls).toHaveLength(2);
    s.primary.failing = false;
    const t = await post(s, { model: 'primary', input: 'x' }, { 'x-deadline-ms': '40', 'x-mock-fault': 'hang' });
    expect(t.statusCode).toBe(504);
    expect(t.json().error).toMatchObject({ type: 'timeout_error', code: 'deadline_exceeded' });
    const refused = await post(s, { model: 'primary', input: 'x' }, { 'x-mock-fault': 'status:400' });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error.code).toBe('upstream_bad_request');
  });

  it('served by the fallback: 200 that says so, header and field', async () => {
    const s = service({ fallback: true, policy: { breaker: { rule: 'consecutive', consecutiveFailures: 1 }, retry: { maxAttempts: 2, baseMs: 1, maxMs: 2 } } });
    s.primary.failing = true;
    const r = await post(s, { model: 'primary', input: ['a', 'b'] });
    expect(r.statusCode).toBe(200);
    expect(r.headers['x-degraded']).toBe('fallback');
    const b = r.json() as EmbeddingsReply;
    expect(b.degraded).toBe('fallback');
    expect(b.data).toHaveLength(2);
  });

  it('forwards x-mock-prompt-tokens (split over the inputs) and x-mock-fault (that request goes unbatched); not when told not to', async () => {
    const s = service();
    const input = ['short', 'a much longer passage of text here'];
    const r = await post(s, { model: 'primary', input }, { 'x-mock-prompt-tokens': '30' });
    expect(r.json().usage).toEqual({ prompt_tokens: 30, total_tokens: 30 });
    const counts = s.primary.calls.at(-1)?.inputTokens ?? [];
    expect(counts.reduce((a, n) => a + n, 0)).toBe(30);
    expect(counts.every((n) => n >= 1)).toBe(true);
    expect(counts[1]).toBeGreaterThan(counts[0] ?? 0);

    const faulted = await post(s, { model: 'primary', input: 'x' }, { 'x-mock-fault': 'status:400' });
    expect(faulted.statusCode).toBe(400);
    expect(s.primary.calls.at(-1)?.fault).toBe('status:400');

    const off = service({ forwardMockHeaders: false });
    const ignored = await post(off, { model: 'primary', input: 'x' }, { 'x-mock-fault': 'status:400', 'x-mock-prompt-tokens': '30' });
    expect(ignored.statusCode).toBe(200);
    expect(ignored.json().usage.prompt_tokens).toBe(1);
    expect(off.primary.calls[0]?.fault).toBeUndefined();
  });

  it('the same Idempotency-Key twice at once: one upstream call; the same key on a chat call does not collide', async () => {
    const s = service({ preset: 'bounded', policy: { dedup: { enabled: true } } });
    const h = { 'idempotency-key': 'emb-1' };
    const [a, b] = await Promise.all([post(s, { model: 'primary', input: 'same' }, h), post(s, { model: 'primary', input: 'same' }, h)]);
    expect([a.statusCode, b.statusCode]).toEqual([200, 200]);
    expect(vectors(a)).toEqual(vectors(b));
    expect(s.primary.calls).toHaveLength(1);
    const chat = await s.app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { model: 'primary', messages: [{ role: 'user', content: 'hi' }] }, headers: { ...ALPHA, 'idempotency-key': 'shared', 'x-mock-output-tokens': '2' } });
    expect(chat.statusCode).toBe(200);
    const emb = await post(s, { model: 'primary', input: 'after chat' }, { 'idempotency-key': 'shared' });
    expect(emb.statusCode).toBe(200);
    expect(vectors(emb)).toHaveLength(1);
    expect(s.primary.calls).toHaveLength(2);
  });

  it('the official openai client (base64 by default, decoded by the client) gets the float vectors; a shed is its RateLimitError', async () => {
    const s = service({ policy: { rateLimit: { enabled: true, perTenantRequestsPerMinute: 2 } } });
    await s.app.listen({ host: '127.0.0.1', port: 0 });
    const a = s.app.server.address();
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}/v1`, apiKey: TENANTS[0].apiKey, maxRetries: 0 });
    const viaClient = await client.embeddings.create({ model: 'primary', input: ['first text', 'second text'] });
    expect(s.primary.calls).toHaveLength(1);
    expect(viaClient.usage).toEqual({ prompt_tokens: 6, total_tokens: 6 });
    const floats = vectors(await post(s, { model: 'primary', input: ['first text', 'second text'], encoding_format: 'float' }));
    expect(viaClient.data.map((d) => d.embedding)).toEqual(floats.map((v) => v.map((x) => Math.fround(x))));
    const shed = await client.embeddings.create({ model: 'primary', input: 'third' }).catch((e: unknown) => e);
    expect(shed).toBeInstanceOf(OpenAI.RateLimitError);
    expect((shed as InstanceType<typeof OpenAI.RateLimitError>).headers.get('retry-after')).toMatch(/^\d+$/);
  });
});
