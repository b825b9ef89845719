/**
 * The job contract's fields through inject() on the embedded queue: `priority` 1–10 mapped onto the queue's
 * classes (class names still accepted), `maxAttempts` per job (bounded by the policy's), `metadata` (stored,
 * returned, size-bounded), `tenantId` in the view, and `modelHint` naming any configured deployment.
 */
import { describe, expect, it } from 'vitest';
import { PRIORITY_LEVEL_INTERACTIVE_MIN, priorityOf } from '../src/api/jobs-routes.js';
import { isTerminal } from '../src/jobs/job-store.js';
import { ALPHA, servicesClosedAfterEach, waitForJob } from './api-testkit.js';

const service = servicesClosedAfterEach();
const prompt = 'contract';

async function run(s: ReturnType<typeof service>, payload: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const r = await s.app.inject({ method: 'POST', url: '/v1/jobs', payload: { prompt, ...payload }, headers: { ...ALPHA, 'x-mock-output-tokens': '3', ...headers } });
  expect(r.statusCode, r.body).toBe(202);
  const { id } = r.json() as { id: string };
  await waitForJob(s.store, id, (j) => isTerminal(j.status));
  return (await s.app.inject({ method: 'GET', url: `/v1/jobs/${id}`, headers: ALPHA })).json() as Record<string, unknown>;
}

async function refused(s: ReturnType<typeof service>, payload: Record<string, unknown>): Promise<{ message: string; param: string }> {
  const r = await s.app.inject({ method: 'POST', url: '/v1/jobs', payload: { prompt, ...payload }, headers: ALPHA });
  expect(r.statusCode).toBe(400);
  return (r.json() as { error: { message: string; param: string } }).error;
}

describe('priority 1–10', () => {
  it(`maps ${PRIORITY_LEVEL_INTERACTIVE_MIN}–10 to interactive and 1–${PRIORITY_LEVEL_INTERACTIVE_MIN - 1} to batch, keeping the level in the view`, async () => {
    const s = service();
    expect(await run(s, { priority: 7 })).toMatchObject({ priority: 'interactive', priority_level: 7 });
    expect(await run(s, { priority: 3 })).toMatchObject({ priority: 'batch', priority_level: 3 });
    expect(await run(s, { priority: 'batch' })).toMatchObject({ priority: 'batch', priority_level: null });
    expect(await run(s, {})).toMatchObject({ priority: 'interactive', priority_level: null });
    expect([1, 5, 6, 10].map((p) => priorityOf(p).priority)).toEqual(['batch', 'batch', 'interactive', 'interactive']);
  });

  it('refuses 0, 11, 2.5 and unknown names with a 400 naming priority', async () => {
    const s = service();
    for (const p of [0, 11, 2.5, 'urgent']) expect((await refused(s, { priority: p })).message).toMatch(/priority/);
  });
});

describe('maxAttempts', () => {
  it('a job stops at its own limit below the policy', async () => {
    const s = service({ policy: { retry: { maxAttempts: 4, baseMs: 1, maxMs: 2 } } });
    const job = await run(s, { maxAttempts: 2 }, { 'x-mock-fault': 'status:503' });
    expect(job).toMatchObject({ status: 'failed', attempts: 2, max_attempts: 2 });
    const other = await run(s, {}, { 'x-mock-fault': 'status:503' });
    expect(other).toMatchObject({ attempts: 4, max_attempts: null });
  });

  it("above the policy's is a 400 naming maxAttempts and the bound", async () => {
    const s = service({ policy: { retry: { maxAttempts: 4, baseMs: 1, maxMs: 2 } } });
    expect(await refused(s, { maxAttempts: 5 })).toMatchObject({ param: 'maxAttempts', message: "maxAttempts: expected an integer from 1 to 4 (the policy's retry.maxAttempts), got 5" });
    expect((await refused(s, { maxAttempts: 0 })).message).toMatch(/maxAttempts/);
  });
});

describe('metadata and tenantId', () => {
  it('stores and returns metadata unchanged, and shows the owner', async () => {
    const s = service();
    const metadata = { customer: 'c-42', tags: ['a', 'b'], n: 3, nested: { ok: true } };
    expect(await run(s, { metadata })).toMatchObject({ metadata, tenantId: 'alpha' });
    expect(await run(s, {})).toMatchObject({ metadata: null, tenantId: 'alpha' });
  });

  it('refuses metadata over 4096 bytes, or not an object, with a 400 naming metadata', async () => {
    const s = service();
    const e = await refused(s, { metadata: { blob: 'x'.repeat(5000) } });
    expect(e).toMatchObject({ param: 'metadata' });
    expect(e.message).toMatch(/^metadata: expected an object of at most 4096 bytes as JSON, got 50\d\d bytes$/);
    expect((await refused(s, { metadata: 'text' })).message).toMatch(/metadata/);
  });
});

describe('modelHint names a deployment', () => {
  it('accepts primary, fallback and any configured deployment name; routes by it', async () => {
    const s = service({ fallback: true, service: { deployments: { 'llama-70b': 'fallback', 'llama-8b': 'primary' } } });
    expect(await run(s, { modelHint: 'llama-70b' })).toMatchObject({ status: 'succeeded', model: 'fallback', model_hint: 'llama-70b' });
    expect(await run(s, { modelHint: 'llama-8b' })).toMatchObject({ status: 'succeeded', model: 'primary', model_hint: 'llama-8b' });
    expect(await run(s, { modelHint: 'fallback' })).toMatchObject({ model: 'fallback', model_hint: 'fallback' });
  });

  it('an unknown name is a 400 naming modelHint and listing the deployments', async () => {
    const s = service({ fallback: true, service: { deployments: { 'llama-70b': 'fallback' } } });
    const e = await refused(s, { modelHint: 'gpt-9' });
    expect(e).toMatchObject({ param: 'modelHint', message: 'modelHint: expected a configured deployment ("primary", "fallback", "llama-70b"), got "gpt-9"' });
    // Without a fallback upstream, "fallback" is not a deployment.
    expect((await refused(service(), { modelHint: 'fallback' })).message).toMatch(/^modelHint: expected a configured deployment \("primary"\), got "fallback"/);
  });
});
