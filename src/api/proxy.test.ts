/**
 * The proxy's vendor fields on virtual time (FakeModel, VirtualClock): every token chunk says which tokens it
 * carries (`x_engine: { index, count }`), and the final chunk, the whole response or the error carries the
 * request's engine summary (`x_engine: { outcome, attempts, upstreamCalls, resumes, queuedMs, backoffMs }`).
 */
import { createParser } from 'eventsource-parser';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeModel, type StreamScript } from '../engine/testing/fake-model.js';
import { resolvePolicy } from '../policy.js';
import { Random } from '../random.js';
import { createTelemetry } from '../telemetry/setup.js';
import { VirtualClock } from '../time/virtual-clock.js';
import type { ModelRequest } from '../upstream/model-client.js';
import { ServerError } from '../upstream/errors.js';
import { buildService, type ApiService } from './server.js';

const open: ApiService[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.app.close()));
});

function setup(script: (r: ModelRequest, call: number) => StreamScript, policy: unknown = {}) {
  const clock = new VirtualClock();
  const svc = buildService({
    clock,
    random: new Random(3),
    tenants: 'open',
    policy: resolvePolicy('bounded', { retry: { baseMs: 100, maxMs: 100, jitter: 'none' }, ...(policy as object) }),
    upstream: { primary: new FakeModel(clock, script) },
    telemetry: createTelemetry({ exporter: 'none' }),
    sseKeepAliveMs: 0,
  });
  open.push(svc);
  const post = async (body: Record<string, unknown>) =>
    clock.run(svc.app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { model: 'm', messages: [{ role: 'user', content: 'hi' }], ...body } }));
  return { clock, svc, post };
}

function events(body: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  const p = createParser({ onEvent: (e) => e.data !== '[DONE]' && out.push(JSON.parse(e.data) as Record<string, unknown>) });
  p.feed(body);
  return out;
}

describe('proxy: x_engine on the wire', () => {
  it('token chunks carry their index and count; the final chunk the summary of a clean request', async () => {
    const { post } = setup(() => ({ tokens: 7, chunk: 3, ttftMs: 20, itlMs: 5 }));
    const r = await post({ stream: true });
    expect(r.statusCode).toBe(200);
    const chunks = events(r.body);
    const tokens = chunks.filter((c) => (c['choices'] as Array<{ delta?: { content?: string } }>)[0]?.delta?.content);
    expect(tokens.map((c) => c['x_engine'])).toEqual([
      { index: 0, count: 3 },
      { index: 3, count: 3 },
      { index: 6, count: 1 },
    ]);
    const final = chunks.find((c) => (c['choices'] as Array<{ finish_reason: unknown }>)[0]?.finish_reason === 'stop');
    const bill = { model: 'primary', inputTokens: 1, cachedInputTokens: 0, resumeFrom: 0, completed: true, estimated: false };
    expect(final?.['x_engine']).toEqual({ outcome: 'ok', attempts: 1, upstreamCalls: 1, resumes: 0, queuedMs: 0, backoffMs: 0, usage: 'upstream', bills: [{ ...bill, outputTokens: 7, deliveredTokens: 7 }] });
  });

  it('a retry shows in attempts, upstream calls and the backoff time (the whole response too)', async () => {
    const { post } = setup((_r, call) => (call === 0 ? { error: new ServerError(500, 'boom'), ttftMs: 10 } : { tokens: 2, ttftMs: 10 }));
    const r = await post({});
    expect(r.statusCode).toBe(200);
    // The 500 came before the call ran: only the second call is billed.
    const bills = [{ model: 'primary', inputTokens: 1, cachedInputTokens: 0, outputTokens: 2, deliveredTokens: 2, resumeFrom: 0, completed: true, estimated: false }];
    expect(r.json().x_engine).toEqual({ outcome: 'ok', attempts: 2, upstreamCalls: 2, resumes: 0, queuedMs: 0, backoffMs: 100, usage: 'upstream', bills });
  });

  it('a stream cut after tokens ends with an error event whose summary says partial, with the resume attempts', async () => {
    const cut = { afterTokens: 2, error: new ServerError(502, 'cut') };
    const { post } = setup(() => ({ tokens: 5, failAfter: cut }), { retry: { maxAttempts: 2, baseMs: 100, maxMs: 100, jitter: 'none' }, resume: { enabled: true } });
    const r = await post({ stream: true });
    const last = events(r.body).at(-1);
    expect(last?.['x_degraded']).toBe('partial');
    expect(last?.['x_engine']).toMatchObject({ outcome: 'degraded', degraded: 'partial', reason: 'partial_upstream_5xx', attempts: 2, upstreamCalls: 2, resumes: 1, backoffMs: 100 });
  });

  it('a shed request says so in its 429 body: outcome shed, no attempt', async () => {
    const { post } = setup(() => ({ tokens: 2 }), { rateLimit: { enabled: true, perTenantRequestsPerMinute: 1 } });
    expect((await post({})).statusCode).toBe(200);
    const r = await post({ stream: true });
    expect(r.statusCode).toBe(429);
    expect(r.json()).toMatchObject({ error: { code: 'rate_limit_exceeded' }, x_engine: { outcome: 'shed', reason: 'shed_rate_limit', attempts: 0, upstreamCalls: 0 } });
  });
});
