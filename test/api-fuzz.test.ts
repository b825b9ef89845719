/**
 * Fuzz of the whole API (fast-check, inject): arbitrary methods, paths, headers and bodies get a 2xx or a
 * 4xx with an error body naming what was wrong, never a 5xx, and the service stays up and consistent.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTerminal } from '../src/jobs/job-store.js';
import { ALPHA, BRAVO, testService, type TestService } from './api-testkit.js';

let s: TestService;
const ids: string[] = [];

beforeAll(async () => {
  s = testService();
  for (let i = 0; i < 3; i++) {
    ids.push((await s.app.inject({ method: 'POST', url: '/v1/jobs', payload: { prompt: 'seed' }, headers: { ...ALPHA, 'x-mock-output-tokens': '3' } })).json().id);
  }
});
afterAll(async () => {
  await s.close();
});

const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 });
const anyString = fc.string({ maxLength: 40 });
const id = fc.oneof(fc.constantFrom(...['job_x', 'nope', '%00']), printable.filter((x) => x.length > 0), fc.constant('ID0'), fc.constant('ID1'));
const randomPath = fc.oneof(
  fc.constantFrom('/v1/jobs', '/v1/dead-letter', '/v1/chat/completions', '/v1/embeddings', '/healthz', '/metrics', '/v1/', '/', '/v1/jobs/', '/v1/dead-letter?limit=abc', '/v1/dead-letter?limit=3&x=1'),
  id.map((i) => `/v1/jobs/${i}`),
  id.map((i) => `/v1/jobs/${i}/events`),
  id.map((i) => `/v1/dead-letter/${i}/requeue`),
  printable.map((p) => `/v1/${p}`),
);
const anyMethod = fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH');
/** Mostly real routes with their methods, some anything. */
const route = fc.oneof(
  { weight: 5, arbitrary: fc.constant(['POST', '/v1/jobs'] as const) },
  { weight: 5, arbitrary: fc.constant(['POST', '/v1/chat/completions'] as const) },
  { weight: 4, arbitrary: fc.constant(['POST', '/v1/embeddings'] as const) },
  { weight: 2, arbitrary: id.map((i) => ['GET', `/v1/jobs/${i}`] as const) },
  { weight: 2, arbitrary: id.map((i) => ['GET', `/v1/jobs/${i}/events`] as const) },
  { weight: 1, arbitrary: id.map((i) => ['DELETE', `/v1/jobs/${i}`] as const) },
  { weight: 1, arbitrary: fc.constant(['GET', '/v1/dead-letter'] as const) },
  { weight: 1, arbitrary: id.map((i) => ['POST', `/v1/dead-letter/${i}/requeue`] as const) },
  { weight: 3, arbitrary: fc.tuple(anyMethod, randomPath) },
);
const auth = fc.oneof(
  { weight: 8, arbitrary: fc.constant(ALPHA.authorization) },
  { weight: 2, arbitrary: fc.constant(BRAVO.authorization) },
  { weight: 1, arbitrary: printable },
  { weight: 1, arbitrary: fc.constant(undefined) },
);
const contentType = fc.oneof(
  { weight: 8, arbitrary: fc.constant('application/json') },
  { weight: 2, arbitrary: fc.constantFrom('text/plain', 'application/json; charset=utf-8', 'multipart/form-data') },
  { weight: 1, arbitrary: printable },
);

const message = fc.record(
  { role: fc.oneof(fc.constantFrom('system', 'developer', 'user', 'assistant', 'tool'), anyString, fc.integer()), content: fc.oneof(anyString, fc.constant(null), fc.jsonValue()) },
  { requiredKeys: [] },
);
const jobLike = fc.record(
  {
    model: fc.oneof(fc.constant('primary'), anyString, fc.jsonValue()),
    messages: fc.oneof(fc.array(message, { maxLength: 3 }), fc.jsonValue()),
    prompt: fc.oneof(anyString, fc.jsonValue()),
    max_tokens: fc.oneof(fc.integer({ min: -5, max: 40 }), fc.jsonValue()),
    priority: fc.oneof(fc.constantFrom('interactive', 'batch'), anyString),
    modelHint: fc.oneof(fc.constantFrom('primary', 'fallback'), anyString),
    batchable: fc.oneof(fc.boolean(), fc.jsonValue()),
    deadlineMs: fc.oneof(fc.integer({ min: -10, max: 100_000 }), fc.double(), fc.jsonValue()),
    callbackUrl: fc.oneof(fc.webUrl(), anyString),
    stream: fc.oneof(fc.boolean(), fc.jsonValue()),
    stream_options: fc.oneof(fc.record({ include_usage: fc.boolean() }), fc.jsonValue()),
    n: fc.oneof(fc.constant(1), fc.integer(), fc.jsonValue()),
  },
  { requiredKeys: [] },
);
const validMessages = fc.array(fc.record({ role: fc.constantFrom('system', 'developer', 'user', 'assistant', 'tool'), content: anyString }), { minLength: 1, maxLength: 3 });
const validJob = fc.record(
  {
    model: fc.constant('primary'),
    messages: validMessages,
    max_tokens: fc.integer({ min: 1, max: 30 }),
    priority: fc.constantFrom('interactive', 'batch'),
    modelHint: fc.constantFrom('primary', 'fallback'),
    batchable: fc.boolean(),
    deadlineMs: fc.integer({ min: 5_000, max: 60_000 }),
  },
  { requiredKeys: ['messages'] },
);
const validChat = fc.record(
  {
    model: fc.constant('primary'),
    messages: validMessages,
    max_tokens: fc.integer({ min: 1, max: 30 }),
    stream: fc.boolean(),
    stream_options: fc.record({ include_usage: fc.boolean() }),
  },
  { requiredKeys: ['model', 'messages'] },
);
const embeddingLike = fc.record(
  {
    model: fc.oneof(fc.constant('primary'), anyString, fc.jsonValue()),
    input: fc.oneof(anyString, fc.array(anyString, { maxLength: 4 }), fc.array(fc.jsonValue(), { maxLength: 3 }), fc.jsonValue()),
    encoding_format: fc.oneof(fc.constantFrom('float', 'base64', null), anyString, fc.jsonValue()),
    dimensions: fc.oneof(fc.integer({ min: -2, max: 40 }), fc.constant(null), fc.jsonValue()),
  },
  { requiredKeys: [] },
);
const validEmbedding = fc.record(
  {
    model: fc.constant('primary'),
    input: fc.oneof(printable.filter((t) => t.length > 0), fc.array(printable.filter((t) => t.length > 0), { minLength: 1, maxLength: 4 })),
    encoding_format: fc.constantFrom('float', 'base64', null),
    dimensions: fc.integer({ min: 1, max: 16 }),
  },
  { requiredKeys: ['model', 'input'] },
);
const payload = fc.oneof(
  { weight: 3, arbitrary: validJob.map((b) => JSON.stringify(b)) },
  { weight: 3, arbitrary: validChat.map((b) => JSON.stringify(b)) },
  { weight: 2, arbitrary: validEmbedding.map((b) => JSON.stringify(b)) },
  { weight: 2, arbitrary: embeddingLike.map((b) => JSON.stringify(b)) },
  { weight: 4, arbitrary: jobLike.map((b) => JSON.stringify(b)) },
  { weight: 1, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: anyString },
  { weight: 1, arbitrary: fc.constant('') },
);
const headers = fc.record(
  {
    'idempotency-key': printable,
    'last-event-id': printable,
    'x-mock-output-tokens': fc.oneof(fc.integer({ min: 0, max: 20 }).map(String), printable),
    'x-mock-prompt-tokens': fc.oneof(fc.integer({ min: 0, max: 50 }).map(String), printable),
    'x-priority': fc.oneof(fc.constantFrom('interactive', 'batch'), printable),
    // A valid small deadline would honestly time out (504): only malformed values here.
    'x-deadline-ms': printable.filter((v) => !/^\s*\d+\s*$/.test(v)),
    'x-request-id': printable,
    'x-batchable': fc.oneof(fc.constantFrom('true', 'false'), printable),
  },
  { requiredKeys: [] },
);

describe('API fuzz', () => {
  it('never answers 5xx, whatever the method, path, headers and body', async () => {
    const seen = new Map<number, number>();
    let embeddings = 0;
    await fc.assert(
      fc.asyncProperty(route, auth, contentType, headers, payload, async ([method, p], authorization, type, h, body) => {
        const url = p.replace('ID0', ids[0] ?? 'x').replace('ID1', ids[1] ?? 'x');
        const all = { 'x-mock-output-tokens': '2', 'content-type': type, ...(authorization !== undefined ? { authorization } : {}), ...h };
        const r = await s.app.inject({ method, url, headers: all, ...(method === 'GET' || method === 'DELETE' ? {} : { payload: body }) });
        seen.set(r.statusCode, (seen.get(r.statusCode) ?? 0) + 1);
        if (method === 'POST' && url === '/v1/embeddings') embeddings++;
        expect(r.statusCode, `${method} ${url} ${JSON.stringify(all)} ${body.slice(0, 200)} -> ${r.body.slice(0, 300)}`).toBeLessThan(500);
        if (r.statusCode >= 400) {
          const e = r.json() as { error?: { message?: unknown; code?: unknown } };
          expect(typeof e.error?.message).toBe('string');
          expect(typeof e.error?.code).toBe('string');
        }
      }),
      { numRuns: 500, seed: 4242, endOnFailure: true },
    );
    // Both successes and refusals were exercised, and the service is still up.
    expect(seen.get(202)).toBeGreaterThan(0);
    expect(seen.get(200)).toBeGreaterThan(0);
    expect(embeddings).toBeGreaterThan(0);
    expect([...seen.keys()].some((c) => c >= 400)).toBe(true);
    expect((await s.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    const ok = await s.app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { model: 'primary', messages: [{ role: 'user', content: 'still up?' }] }, headers: { ...ALPHA, 'x-mock-output-tokens': '2' } });
    expect(ok.statusCode).toBe(200);
    // Every accepted job reaches a terminal state.
    await s.jobs.onIdle();
    const jobs = await Promise.all(ids.map((i) => s.store.get(i)));
    expect(jobs.every((j) => j !== undefined && isTerminal(j.status))).toBe(true);
  });

  it('embeddings: a valid body is a 200 with one vector per input (of `dimensions` when asked), anything else a 4xx', async () => {
    const body = fc.oneof(validEmbedding.map((b) => ({ b, valid: true })), embeddingLike.map((b) => ({ b, valid: false })));
    const answered = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(body, fc.constantFrom('true', 'false'), async ({ b, valid }, batchable) => {
        const r = await s.app.inject({ method: 'POST', url: '/v1/embeddings', payload: JSON.stringify(b), headers: { ...ALPHA, 'content-type': 'application/json', 'x-batchable': batchable } });
        answered.set(r.statusCode, (answered.get(r.statusCode) ?? 0) + 1);
        const what = `${JSON.stringify(b).slice(0, 200)} -> ${r.body.slice(0, 300)}`;
        expect(r.statusCode, what).toBeLessThan(500);
        if (valid) expect(r.statusCode, what).toBe(200);
        if (r.statusCode !== 200) return;
        const e = b as { input: string | string[]; dimensions?: number | null; encoding_format?: string | null };
        const data = (r.json() as { data: Array<{ embedding: number[] | string }> }).data;
        expect(data).toHaveLength(typeof e.input === 'string' ? 1 : e.input.length);
        for (const d of data) {
          const size = typeof d.embedding === 'string' ? Buffer.from(d.embedding, 'base64').length / 4 : d.embedding.length;
          expect(size).toBe(e.dimensions ?? 16);
          expect(typeof d.embedding === 'string').toBe(e.encoding_format === 'base64');
        }
      }),
      { numRuns: 120, seed: 4243, endOnFailure: true },
    );
    expect(answered.get(200)).toBeGreaterThan(0);
    expect([...answered.keys()].some((c) => c >= 400)).toBe(true);
  });
});
