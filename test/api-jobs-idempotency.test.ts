/**
 * Default idempotency of the jobs API: without an Idempotency-Key, the key is the sha256 of the canonical payload
 * (`key = idempotency_key or sha256(payload)`), and the job view says which it is.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isTerminal } from '../src/jobs/job-store.js';
import { canonicalJson } from '../src/engine/cache-key.js';
import { ALPHA, BRAVO, servicesClosedAfterEach, waitForJob } from './api-testkit.js';

const service = servicesClosedAfterEach();

describe('jobs: default idempotency by payload hash', () => {
  it('the same payload twice without a key is one job (200 replay); the view says payload-hash', async () => {
    const { app, store } = service();
    const body = { messages: [{ role: 'user', content: 'hello' }], max_tokens: 8 };
    const a = await app.inject({ method: 'POST', url: '/v1/jobs', payload: body, headers: ALPHA });
    expect(a.statusCode).toBe(202);
    const { id } = a.json() as { id: string };
    // Same payload, fields in another order: the same canonical payload.
    const b = await app.inject({ method: 'POST', url: '/v1/jobs', payload: { max_tokens: 8, messages: [{ content: 'hello', role: 'user' }] }, headers: ALPHA });
    expect(b.statusCode).toBe(200);
    expect(b.headers['idempotent-replayed']).toBe('true');
    expect(b.json()).toMatchObject({ id, idempotency_key_source: 'payload-hash' });
    expect((b.json() as { idempotency_key: string }).idempotency_key).toMatch(/^sha256:[0-9a-f]{64}$/);
    await waitForJob(store, id, (j) => isTerminal(j.status));
    expect((await store.get(id))?.idempotencyKeySource).toBe('payload-hash');
  });

  it('another payload, or another tenant, is another job', async () => {
    const { app } = service();
    const one = await app.inject({ method: 'POST', url: '/v1/jobs', payload: { messages: [{ role: 'user', content: 'one' }] }, headers: ALPHA });
    const two = await app.inject({ method: 'POST', url: '/v1/jobs', payload: { messages: [{ role: 'user', content: 'two' }] }, headers: ALPHA });
    const other = await app.inject({ method: 'POST', url: '/v1/jobs', payload: { messages: [{ role: 'user', content: 'one' }] }, headers: BRAVO });
    expect([one.statusCode, two.statusCode, other.statusCode]).toEqual([202, 202, 202]);
    expect(new Set([one, two, other].map((r) => (r.json() as { id: string }).id)).size).toBe(3);
  });

  it('an Idempotency-Key header wins, and the view says header', async () => {
    const { app } = service();
    const body = { messages: [{ role: 'user', content: 'hello' }] };
    const a = await app.inject({ method: 'POST', url: '/v1/jobs', payload: body, headers: { ...ALPHA, 'idempotency-key': 'k-1' } });
    const b = await app.inject({ method: 'POST', url: '/v1/jobs', payload: body, headers: { ...ALPHA, 'idempotency-key': 'k-2' } });
    expect([a.statusCode, b.statusCode]).toEqual([202, 202]);
    const { id } = a.json() as { id: string };
    const view = (await app.inject({ method: 'GET', url: `/v1/jobs/${id}`, headers: ALPHA })).json();
    expect(view).toMatchObject({ idempotency_key: 'k-1', idempotency_key_source: 'header' });
  });

  it('the default key is sha256 of the canonical job payload', async () => {
    const { app, store } = service();
    const r = await app.inject({ method: 'POST', url: '/v1/jobs', payload: { messages: [{ role: 'user', content: 'x' }] }, headers: ALPHA });
    const job = await store.get((r.json() as { id: string }).id);
    expect(job?.idempotencyKey).toBe(`sha256:${createHash('sha256').update(canonicalJson(job?.spec)).digest('hex')}`);
  });
});
