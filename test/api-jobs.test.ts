/**
 * The jobs API through inject(): auth, validation, tenant isolation, idempotency, cancellation aborting the
 * upstream, dead letter and requeue, rate limits, body limits, /healthz and /metrics.
 */
import { describe, expect, it } from 'vitest';
import { isTerminal } from '../src/jobs/job-store.js';
import { nextEvent } from '../sim/server-testkit.js';
import type { MockModelEvent } from '../sim/mock-model.js';
import { ALPHA, BRAVO, servicesClosedAfterEach, testService, waitForJob } from './api-testkit.js';

const service = servicesClosedAfterEach();

const body = { messages: [{ role: 'user', content: 'hello' }] };

describe('auth', () => {
  it('401 without a key, with an unknown key, or another scheme; the error names authorization', async () => {
    const { app } = service();
    for (const headers of [{}, { authorization: 'Bearer nope-nope-nope' }, { authorization: 'Basic abc' }]) {
      const r = await app.inject({ method: 'POST', url: '/v1/jobs', payload: body, headers });
      expect(r.statusCode).toBe(401);
      expect(r.headers['www-authenticate']).toBe('Bearer');
      expect(r.json().error).toMatchObject({ type: 'authentication_error', param: 'authorization' });
    }
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});

describe('POST /v1/jobs and GET /v1/jobs/:id', () => {
  it('accepts with 202, runs the job and reports its result', async () => {
    const { app, store } = service();
    const r = await app.inject({ method: 'POST', url: '/v1/jobs', payload: body, headers: { ...ALPHA, 'x-mock-output-tokens': '12' } });
    expect(r.statusCode).toBe(202);
    const { id, status } = r.json() as { id: string; status: string };
    expect(status).toBe('queued');
    expect(r.headers.location).toBe(`/v1/jobs/${id}`);
    await waitForJob(store, id, (j) => isTerminal(j.status));
    const g = await app.inject({ method: 'GET', url: `/v1/jobs/${id}`, headers: ALPHA });
    expect(g.statusCode).toBe(200);
    const job = g.json();
    expect(job).toMatchObject({ id, status: 'succeeded', outcome: 'ok', degraded: null, attempts: 1, tokens: 12, error: null, dead_letter: false, cycle: 1 });
    expect(job.output.length).toBeGreaterThan(0);
    expect(new Date(job.createdAt).getTime()).toBe(job.createdAtMs);
    expect(job.finishedAtMs).toBeGreaterThanOrEqual(job.createdAtMs);
  });

  it('shows partial output while running', async () => {
    const { app, store } = service();
    const r = await app.inject({ method: 'POST', url: '/v1/jobs', payload: body, headers: { ...ALPHA, 'x-mock-output-tokens': '400', 'x-mock-fault': 'jitter:ms=2' } });
    const { id } = r.json() as { id: string };
    await waitForJob(store, id, (j) => j.tokens >= 3);
    const g = (await app.inject({ method: 'GET', url: `/v1/jobs/${id}`, headers: ALPHA })).json();
    expect(g.status).toBe('running');
    expect(g.tokens).toBeGreaterThanOrEqual(3);
    expect(g.tokens).toBeLessThan(400);
    expect(g.output.length).toBeGreaterThan(0);
  });

  it('400 naming the field for bad payloads, never 500', async () => {
    const { app } = service();
    const cases: Array<[unknown, string]> = [
      [{ ...body, max_tokens: '5' }, 'max_tokens'],
      [{ ...body, priority: 'urgent' }, 'priority'],
      [{ ...body, colour: 'red' }, 'colour'],
      [{ messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role'],
      [{ messages: [{ role: 'user' }] }, 'messages[0].content'],
      [{ ...body, prompt: 'both' }, 'messages'],
      [{}, 'messages'],
      [{ ...body, deadlineMs: -1 }, 'deadlineMs'],
      [{ ...body, callbackUrl: 'http://evil.example.com/hook' }, 'callbackUrl'],
      [[1, 2], 'body'],
    ];
    for (const [payload, field] of cases) {
      const r = await app.inject({ method: 'POST', url: '/v1/jobs', payload: payload as object, headers: ALPHA });
      expect(r.statusCode, JSON.stringify(payload)).toBe(400);
      const e = r.json().error;
      expect(e.param, JSON.stringify(payload)).toBe(field);
      expect(e.message).toContain(field);
      expect(e.type).toBe('invalid_request_error');
    }
    const typed = (await app.inject({ method: 'POST', url: '/v1/jobs', payload: { ...body, max_tokens: '5' }, headers: ALPHA })).json().error;
    expect(typed.message).toBe('max_tokens: expected integer, got "5"');
    const bad = await app.inject({ method: 'POST', url: '/v1/jobs', payload: '{"messages": [', headers: { ...ALPHA, 'content-type': 'application/json' } });
    expect(bad.statusCode).toBe(400);
    const key = await app.inject({ method: 'POST', url: '/v1/jobs', payload: body, headers: { ...ALPHA, 'idempotency-key': 'has space' } });
    expect(key.statusCode).toBe(400);
    expect(key.json().error.param).toBe('Idempotency-Key');
    const mock = await app.inject({ method: 'POST', url: '/v1/jobs', payload: body, headers: { ...ALPHA, 'x-mock-output-tokens': 'lots' } });
    expect(mock.json().error.param).toBe('x-mock-output-tokens');
  });

  it('413 for a body over the limit', async () => {
    const { app } = service({ service: { bodyLimitBytes: 2048 } });
    const r = await app.inject({ method: 'POST', url: '/v1/jobs', payload: { prompt: 'x'.repeat(4096) }, headers: ALPHA });
    expect(r.statusCode).toBe(413);
    expect(r.json().error.code).toBe('body_too_large');
  });
});

describe('tenant isolation', () => {
  it("another tenant's job is a 404 everywhere", async () => {
    const { app, store } = service({ preset: 'bounded', policy: { retry: { maxAttempts: 1 } } });
    const { id } = (await app.inject({ method: 'POST', url: '/v1/jobs', payload: body, headers: { ...ALPHA, 'x-mock-fault': 'status:500' } })).json() as { id: string };
    await waitForJob(store, id, (j) => j.deadLetter);
    for (const [method, url] of [
      ['GET', `/v1/jobs/${id}`],
      ['GET', `/v1/jobs/${id}/events`],
      ['DELETE', `/v1/jobs/${id}`],
      ['POST', `/v1/dead-letter/${id}/requeue`],
    ] as const) {
      const r = await app.inject({ method, url, headers: BRAVO });
      expect(r.statusCode, `${method} ${url}`).toBe(404);
      expect(r.json().error.code).toBe('job_not_found');
    }
    expect((await app.inject({ method: 'GET', url: '/v1/dead-letter', headers: BRAVO })).json().data).toEqual([]);
    expect((await app.inject({ method: 'GET', url: '/v1/dead-letter', headers: ALPHA })).json().data.map((j: { id: string }) => j.id)).toEqual([id]);
    expect((await app.inject({ method: 'GET', url: `/v1/jobs/${id}`, headers: ALPHA })).statusCode).toBe(200);
  });
});

describe('idempotency', () => {
  it('the same key submitted twice concurrently makes one job and one upstream call', async () => {
    const { app, store, model } = service();
    const headers = { ...ALPHA, 'idempotency-key': 'order-42', 'x-mock-output-tokens': '8' };
    const [a, b] = await Promise.all([
      app.inject({ method: 'POST', url: '/v1/jobs', payload: body, headers }),
      app.inject({ method: 'POST', url: '/v1/jobs', payload: body, headers }),
    ]);
    expect([a.statusCode, b.statusCode].sort()).toEqual([200, 202]);
    const replay = a.statusCode === 200 ? a : b;
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(a.json().id).toBe(b.json().id);
    const id = a.json().id as string;
    const done = await waitForJob(store, id, (j) => isTerminal(j.status));
    expect(done.status).toBe('succeeded');
    expect(model.metrics().requests).toBe(1);
    // A later replay returns the finished job, still without another call.
    const later = await app.inject({ method: 'POST', url: '/v1/jobs', payload: body, headers });
    expect(later.statusCode).toBe(200);
    expect(later.json()).toMatchObject({ id, status: 'succeeded', tokens: 8 });
    expect(model.metrics().requests).toBe(1);
    // The same key with another payload is refused; another tenant's identical key is its own job.
    const other = await app.inject({ method: 'POST', url: '/v1/jobs', payload: { prompt: 'different' }, headers });
    expect(other.statusCode).toBe(422);
    expect(other.json().error.param).toBe('Idempotency-Key');
    const bravo = await app.inject({ method: 'POST', url: '/v1/jobs', payload: body, headers: { ...headers, ...BRAVO } });
    expect(bravo.statusCode).toBe(202);
    expect(bravo.json().id).not.toBe(id);
  });
});

describe('DELETE /v1/jobs/:id', () => {
  it('cancels a running job and aborts its upstream call', async () => {
    const { app, store, model } = service();
    const { id } = (await app.inject({ method: 'POST', url: '/v1/jobs', payload: body, headers: { ...ALPHA, 'x-mock-output-tokens': '2000', 'x-mock-fault': 'jitter:ms=2' } })).json() as { id: string };
    await waitForJob(store, id, (j) => j.tokens >= 2);
    expect(model.metrics().running).toBe(1);
    const ended = nextEvent<MockModelEvent>(model, (e) => e.type === 'request-done');
    const d = await app.inject({ method: 'DELETE', url: `/v1/jobs/${id}`, headers: ALPHA });
    expect(d.statusCode).toBe(200);
    expect(d.json()).toMatchObject({ id, status: 'cancelled', outcome: 'cancelled', dead_letter: false });
    expect(d.json().tokens).toBeLessThan(2000);
    const e = await ended;
    expect(e.type === 'request-done' && e.completionTokens).toBeLessThan(2000);
    expect(model.metrics().inFlight).toBe(0);
    // Deleting again is harmless; deleting a finished job is a 409.
    expect((await app.inject({ method: 'DELETE', url: `/v1/jobs/${id}`, headers: ALPHA })).statusCode).toBe(200);
    const ok = (await app.inject({ method: 'POST', url: '/v1/jobs', payload: body, headers: { ...ALPHA, 'x-mock-output-tokens': '2' } })).json() as { id: string };
    await waitForJob(store, ok.id, (j) => isTerminal(j.status));
    const c = await app.inject({ method: 'DELETE', url: `/v1/jobs/${ok.id}`, headers: ALPHA });
    expect(c.statusCode).toBe(409);
    expect(c.json().error.message).toBe('job: expected a queued or running job, got status succeeded');
  });

  it('closing the server cancels running jobs: every accepted job ends in one terminal state', async () => {
    const s = testService();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await s.app.inject({ method: 'POST', url: '/v1/jobs', payload: body, headers: { ...ALPHA, 'x-mock-output-tokens': '3000', 'x-mock-fault': 'jitter:ms=2' } })).json().id);
    }
    await s.close();
    const states = await Promise.all(ids.map((id) => s.store.get(id)));
    expect(states.map((j) => j?.status)).toEqual(Array(5).fill('cancelled'));
    expect(states.every((j) => j?.error?.message.includes('shutting down'))).toBe(true);
    expect(s.model.metrics().inFlight).toBe(0);
  });
});

describe('dead letter', () => {
  it('lists a job that used up its attempts; a requeue runs a new cycle on the same id', async () => {
    const { app, store, primary } = service({ preset: 'bounded', policy: { retry: { maxAttempts: 3, baseMs: 1, maxMs: 2 } } });
    primary.failing = true;
    const { id } = (await app.inject({ method: 'POST', url: '/v1/jobs', payload: body, headers: { ...ALPHA, 'x-mock-output-tokens': '5' } })).json() as { id: string };
    const failed = await waitForJob(store, id, (j) => isTerminal(j.status));
    expect(failed).toMatchObject({ status: 'failed', outcome: 'failed', attempts: 3, deadLetter: true, error: { code: 'SERVER_ERROR' } });
    expect(primary.calls).toBe(3);
    const list = (await app.inject({ method: 'GET', url: '/v1/dead-letter', headers: ALPHA })).json();
    expect(list.data.map((j: { id: string; dead_letter: boolean }) => [j.id, j.dead_letter])).toEqual([[id, true]]);

    primary.failing = false;
    const rq = await app.inject({ method: 'POST', url: `/v1/dead-letter/${id}/requeue`, headers: ALPHA });
    expect(rq.statusCode).toBe(202);
    expect(rq.json()).toMatchObject({ id, cycle: 2, dead_letter: false, output: '', error: null });
    const done = await waitForJob(store, id, (j) => j.cycle === 2 && isTerminal(j.status));
    expect(done).toMatchObject({ status: 'succeeded', outcome: 'ok', attempts: 4, tokens: 5, deadLetter: false, cycle: 2 });
    expect((await app.inject({ method: 'GET', url: '/v1/dead-letter', headers: ALPHA })).json().data).toEqual([]);
    // Only dead-lettered jobs can be requeued.
    const again = await app.inject({ method: 'POST', url: `/v1/dead-letter/${id}/requeue`, headers: ALPHA });
    expect(again.statusCode).toBe(409);
  });
});

describe('rate limits', () => {
  it("sheds a tenant over its per-tenant limit with 429 and Retry-After; other tenants are served", async () => {
    const { app, store } = service({ policy: { rateLimit: { enabled: true, perTenantRequestsPerMinute: 2 } } });
    const post = (headers: Record<string, string>) => app.inject({ method: 'POST', url: '/v1/jobs', payload: body, headers: { ...headers, 'x-mock-output-tokens': '2', 'idempotency-key': 'k-' + Math.random() } });
    expect((await post(ALPHA)).statusCode).toBe(202);
    expect((await post(ALPHA)).statusCode).toBe(202);
    const shed = await post(ALPHA);
    expect(shed.statusCode).toBe(429);
    expect(Number(shed.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(shed.headers['retry-after-ms'])).toBeGreaterThan(0);
    expect(shed.json().error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limit_exceeded' });
    expect((await post(BRAVO)).statusCode).toBe(202);
    // A shed job was never accepted: nothing is stored for it.
    expect((store as unknown as { size: number }).size).toBe(3);
  });
});

describe('/healthz and /metrics', () => {
  it('reports health and the engine metrics in Prometheus text', async () => {
    const { app, store } = service({ policy: { retry: { baseMs: 1, maxMs: 2 }, concurrency: { limit: 9 } } });
    const { id } = (await app.inject({ method: 'POST', url: '/v1/jobs', payload: body, headers: { ...ALPHA, 'x-mock-output-tokens': '3', 'x-mock-fault': 'disconnect:after=1' } })).json() as { id: string };
    await waitForJob(store, id, (j) => isTerminal(j.status));
    const h = await app.inject({ method: 'GET', url: '/healthz' });
    expect(h.json()).toMatchObject({ status: 'ok', engine: { queueDepth: 0, inFlight: 0, concurrencyLimit: 9, breaker: 'closed' } });
    const m = await app.inject({ method: 'GET', url: '/metrics' });
    expect(m.statusCode).toBe(200);
    expect(m.headers['content-type']).toContain('text/plain');
    const text = m.body;
    for (const name of ['engine_queue_depth', 'engine_in_flight', 'engine_concurrency_limit', 'engine_breaker_state', 'engine_retry_budget_level', 'engine_active_requests']) {
      expect(text).toMatch(new RegExp(`^# TYPE ${name} gauge$`, 'm'));
    }
    expect(text).toMatch(/^engine_concurrency_limit 9$/m);
    expect(text).toMatch(/^engine_retries_total\{cause="backoff"\} 3$/m);
    expect(text).toMatch(/^engine_requests_total\{outcome="ok"\} 1$/m);
    expect(text).toMatch(/^engine_ttft_seconds_count\{outcome="ok"\} 1$/m);
    expect(text).toMatch(/^engine_e2e_seconds_count\{outcome="ok"\} 1$/m);
    expect(text).toMatch(/^# TYPE engine_e2e_seconds histogram$/m);
  });

  it('counts sheds in /metrics', async () => {
    const { app } = service({ policy: { rateLimit: { enabled: true, perTenantRequestsPerMinute: 1 } } });
    await app.inject({ method: 'POST', url: '/v1/jobs', payload: body, headers: { ...ALPHA, 'x-mock-output-tokens': '1' } });
    expect((await app.inject({ method: 'POST', url: '/v1/jobs', payload: body, headers: ALPHA })).statusCode).toBe(429);
    expect((await app.inject({ method: 'GET', url: '/metrics' })).body).toMatch(/^engine_sheds_total\{reason="rate-limited"\} 1$/m);
  });
});
