/**
 * Completion callbacks: a callbackUrl off the allowlist is a 400 naming the field; on completion the job is
 * POSTed to an allowed host with bounded retries (a tiny fastify receiver on loopback).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { checkCallbackUrl } from '../src/api/callbacks.js';
import { CallbackSender } from '../src/jobs/callback-sender.js';
import { RealClock } from '../src/time/real-clock.js';
import { ALPHA, testService, waitForJob, type TestService } from './api-testkit.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

interface Received {
  readonly attempt: string | undefined;
  readonly jobId: string | undefined;
  readonly body: Record<string, unknown>;
}

/** A receiver that answers 500 to the first `failFirst` posts, then 204. */
async function receiver(failFirst: number): Promise<{ url: string; got: Received[]; app: FastifyInstance }> {
  const got: Received[] = [];
  const app = Fastify();
  app.post('/hook', async (req, reply) => {
    got.push({ attempt: req.headers['x-callback-attempt'] as string | undefined, jobId: req.headers['x-job-id'] as string | undefined, body: req.body as Record<string, unknown> });
    return reply.code(got.length <= failFirst ? 500 : 204).send();
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  closers.push(() => app.close());
  const a = app.server.address();
  return { url: `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}/hook`, got, app };
}

function service(allow: string[]): TestService {
  const s = testService({ service: { callbackAllowlist: allow, callbacks: { attempts: 3, backoffMs: 5, timeoutMs: 2000 } } });
  closers.push(() => s.close());
  return s;
}

const body = { messages: [{ role: 'user', content: 'call me back' }] };

describe('callbackUrl allowlist', () => {
  it('rejects hosts off the list, other schemes and credentials with a 400 naming callbackUrl', async () => {
    const { app } = service(['hooks.example.com', '127.0.0.1']);
    for (const callbackUrl of ['http://evil.example.com/x', 'ftp://hooks.example.com/x', 'not a url', 'http://user:pw@hooks.example.com/x', 'http://hooks.example.com.evil.net/x']) {
      const r = await app.inject({ method: 'POST', url: '/v1/jobs', payload: { ...body, callbackUrl }, headers: ALPHA });
      expect(r.statusCode, callbackUrl).toBe(400);
      expect(r.json().error.param).toBe('callbackUrl');
    }
    const ok = await app.inject({ method: 'POST', url: '/v1/jobs', payload: { ...body, callbackUrl: 'https://hooks.example.com/done' }, headers: { ...ALPHA, 'x-mock-output-tokens': '1' } });
    expect(ok.statusCode).toBe(202);
  });

  it('without an allowlist every callbackUrl is refused, and the message says why', () => {
    expect(checkCallbackUrl('http://127.0.0.1/x', [])?.message).toBe(
      'callbackUrl: expected a URL whose host is on the callback allowlist: no hosts are allowed (no --callback-allowlist), got "127.0.0.1"',
    );
    expect(checkCallbackUrl('http://127.0.0.1:9000/x', ['127.0.0.1:9000'])).toBeUndefined();
    expect(checkCallbackUrl('http://127.0.0.1:9001/x', ['127.0.0.1:9000'])?.status).toBe(400);
  });
});

describe('callback delivery', () => {
  it('POSTs the finished job, retrying after failures (3 attempts)', async () => {
    const hook = await receiver(2);
    const s = service(['127.0.0.1']);
    const { id } = (await s.app.inject({ method: 'POST', url: '/v1/jobs', payload: { ...body, callbackUrl: hook.url }, headers: { ...ALPHA, 'x-mock-output-tokens': '4' } })).json() as { id: string };
    const job = await waitForJob(s.store, id, (j) => j.callback !== undefined && j.callback.status !== 'pending');
    expect(job.callback).toEqual({ status: 'delivered', attempts: 3 });
    expect(hook.got.map((g) => g.attempt)).toEqual(['1', '2', '3']);
    expect(hook.got.every((g) => g.jobId === id)).toBe(true);
    expect(hook.got[2]?.body).toMatchObject({ id, status: 'succeeded', outcome: 'ok', tokens: 4, object: 'job' });
    // The job view shows the delivery.
    const g = (await s.app.inject({ method: 'GET', url: `/v1/jobs/${id}`, headers: ALPHA })).json();
    expect(g.callback).toEqual({ status: 'delivered', attempts: 3 });
  });

  it('gives up after the bounded attempts and records the last error', async () => {
    const hook = await receiver(100);
    const s = service(['127.0.0.1']);
    const { id } = (await s.app.inject({ method: 'POST', url: '/v1/jobs', payload: { ...body, callbackUrl: hook.url }, headers: { ...ALPHA, 'x-mock-output-tokens': '1' } })).json() as { id: string };
    const job = await waitForJob(s.store, id, (j) => j.callback !== undefined && j.callback.status !== 'pending');
    expect(job.callback).toEqual({ status: 'failed', attempts: 3, lastError: 'HTTP 500' });
    expect(hook.got).toHaveLength(3);
  });

  it('a refused connection counts as a failed attempt', async () => {
    const hook = await receiver(0);
    await hook.app.close();
    const sender = new CallbackSender({ clock: new RealClock(), attempts: 2, backoffMs: 1 });
    const state = await sender.deliver(hook.url, { x: 1 });
    expect(state.status).toBe('failed');
    expect(state.attempts).toBe(2);
    expect(state.lastError).toMatch(/ECONNREFUSED|connect/i);
  });
});
