/**
 * `GET /v1/jobs/:id/events`: token events with ids, replay after Last-Event-ID, a live reconnect over loopback
 * that gets exactly the missing tokens, and the terminal event.
 */
import { createParser } from 'eventsource-parser';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { isTerminal } from '../src/jobs/job-store.js';
import { ALPHA, parseSseBody, servicesClosedAfterEach, testService, waitForJob, type SseMessage } from './api-testkit.js';

const service = servicesClosedAfterEach();

const body = { messages: [{ role: 'user', content: 'stream me' }] };

interface TokenData {
  index: number;
  count: number;
  text: string;
}

function tokens(msgs: readonly SseMessage[]): Array<TokenData & { id: string }> {
  return msgs.filter((m) => m.event === 'token').map((m) => ({ id: m.id ?? '', ...(JSON.parse(m.data) as TokenData) }));
}

/** Token indices are contiguous from `from`, each once. */
function expectContiguous(ts: readonly TokenData[], from: number): number {
  let next = from;
  for (const t of ts) {
    expect(t.index).toBe(next);
    next += t.count;
  }
  return next;
}

describe('job events (SSE)', () => {
  it('streams a finished job from the log: ids are token indices, then one end event', async () => {
    const { app, store } = service();
    const { id } = (await app.inject({ method: 'POST', url: '/v1/jobs', payload: body, headers: { ...ALPHA, 'x-mock-output-tokens': '30' } })).json() as { id: string };
    const job = await waitForJob(store, id, (j) => isTerminal(j.status));
    const r = await app.inject({ method: 'GET', url: `/v1/jobs/${id}/events`, headers: ALPHA });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toContain('text/event-stream');
    const msgs = parseSseBody(r.body);
    const ts = tokens(msgs);
    expect(expectContiguous(ts, 0)).toBe(30);
    for (const t of ts) expect(t.id).toBe(String(t.index + t.count - 1));
    expect(ts.map((t) => t.text).join('')).toBe(job.output);
    const last = msgs.at(-1);
    expect(last?.event).toBe('end');
    expect(JSON.parse(last?.data ?? '{}')).toMatchObject({ id, status: 'succeeded', outcome: 'ok', tokens: 30 });
    expect(msgs.filter((m) => m.event === 'end')).toHaveLength(1);

    // Resuming after any id gives exactly the tokens after it.
    const cut = ts[11] as TokenData & { id: string };
    const resumed = parseSseBody((await app.inject({ method: 'GET', url: `/v1/jobs/${id}/events`, headers: { ...ALPHA, 'last-event-id': cut.id } })).body);
    const rest = tokens(resumed);
    expect(expectContiguous(rest, cut.index + cut.count)).toBe(30);
    expect(ts.slice(0, 12).map((t) => t.text).join('') + rest.map((t) => t.text).join('')).toBe(job.output);
    expect(resumed.at(-1)?.event).toBe('end');
    // After the last token: only the end event.
    const none = parseSseBody((await app.inject({ method: 'GET', url: `/v1/jobs/${id}/events`, headers: { ...ALPHA, 'last-event-id': '29' } })).body);
    expect(none.map((m) => m.event)).toEqual(['end']);
  });

  it('400 for a malformed Last-Event-ID, naming it', async () => {
    const { app } = service();
    const { id } = (await app.inject({ method: 'POST', url: '/v1/jobs', payload: body, headers: { ...ALPHA, 'x-mock-output-tokens': '1' } })).json() as { id: string };
    const r = await app.inject({ method: 'GET', url: `/v1/jobs/${id}/events`, headers: { ...ALPHA, 'last-event-id': 'abc' } });
    expect(r.statusCode).toBe(400);
    expect(r.json().error.param).toBe('Last-Event-ID');
  });

  it('a live client that drops and reconnects with Last-Event-ID gets exactly the missing tokens (loopback)', async () => {
    const { app, store, primary } = service();
    // The job holds after 40 tokens until the first client has dropped: it is certainly mid-job then.
    let release!: () => void;
    primary.gate = { afterTokens: 40, release: new Promise<void>((r) => (release = r)) };
    await app.listen({ host: '127.0.0.1', port: 0 });
    const a = app.server.address();
    const base = `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}`;
    const { id } = (await app.inject({ method: 'POST', url: '/v1/jobs', payload: body, headers: { ...ALPHA, 'x-mock-output-tokens': '300', 'x-mock-fault': 'jitter:ms=2' } })).json() as { id: string };

    // First connection: read until 20 tokens arrived, then drop it.
    const first: Array<TokenData & { id: string }> = [];
    const ac = new AbortController();
    const r1 = await request(`${base}/v1/jobs/${id}/events`, { headers: ALPHA, signal: ac.signal });
    expect(r1.statusCode).toBe(200);
    const p1 = createParser({ onEvent: (e) => e.event === 'token' && first.push({ id: e.id ?? '', ...(JSON.parse(e.data) as TokenData) }) });
    try {
      for await (const buf of r1.body) {
        p1.feed(String(buf));
        // 20 tokens (not events: a chunk may carry several), well before the gate at 40.
        if (first.reduce((n, t) => n + t.count, 0) >= 20) break;
      }
    } finally {
      ac.abort();
    }
    const mid = await store.get(id);
    expect(mid?.status).toBe('running'); // the drop happened mid-job
    const lastId = first.at(-1)?.id ?? '';
    release();

    // Reconnect from the last id seen, while the job keeps producing.
    const r2 = await request(`${base}/v1/jobs/${id}/events`, { headers: { ...ALPHA, 'last-event-id': lastId } });
    const second = parseSseBody(await r2.body.text());
    const rest = tokens(second);
    const firstEnd = expectContiguous(first, 0);
    expect(rest[0]?.index).toBe(firstEnd);
    expect(expectContiguous(rest, firstEnd)).toBe(300);
    const job = await store.get(id);
    expect(first.map((t) => t.text).join('') + rest.map((t) => t.text).join('')).toBe(job?.output);
    expect(second.at(-1)?.event).toBe('end');
  });

  it('after a requeue, ids carry the cycle and an old id replays the new cycle from the start', async () => {
    const { app, store, primary } = service({ preset: 'bounded', policy: { retry: { maxAttempts: 1 } } });
    primary.failing = true;
    const { id } = (await app.inject({ method: 'POST', url: '/v1/jobs', payload: body, headers: { ...ALPHA, 'x-mock-output-tokens': '4' } })).json() as { id: string };
    await waitForJob(store, id, (j) => j.deadLetter);
    const failed = parseSseBody((await app.inject({ method: 'GET', url: `/v1/jobs/${id}/events`, headers: ALPHA })).body);
    expect(failed.map((m) => m.event)).toEqual(['end']);
    expect(JSON.parse(failed[0]?.data ?? '{}')).toMatchObject({ status: 'failed', error: { code: 'SERVER_ERROR' } });
    primary.failing = false;
    expect((await app.inject({ method: 'POST', url: `/v1/dead-letter/${id}/requeue`, headers: ALPHA })).statusCode).toBe(202);
    await waitForJob(store, id, (j) => j.cycle === 2 && isTerminal(j.status));
    const msgs = parseSseBody((await app.inject({ method: 'GET', url: `/v1/jobs/${id}/events`, headers: { ...ALPHA, 'last-event-id': '2' } })).body);
    const ts = tokens(msgs);
    expect(expectContiguous(ts, 0)).toBe(4);
    expect(ts.map((t) => t.id)).toEqual(ts.map((t) => `2-${t.index + t.count - 1}`));
    expect(JSON.parse(msgs.at(-1)?.data ?? '{}')).toMatchObject({ status: 'succeeded', cycle: 2 });
  });

  it('closing the server ends an open stream with the end event of the cancelled job', async () => {
    const s = testService();
    const { id } = (await s.app.inject({ method: 'POST', url: '/v1/jobs', payload: body, headers: { ...ALPHA, 'x-mock-output-tokens': '3000', 'x-mock-fault': 'jitter:ms=2' } })).json() as { id: string };
    await waitForJob(s.store, id, (j) => j.tokens > 0);
    const streaming = s.app.inject({ method: 'GET', url: `/v1/jobs/${id}/events`, headers: ALPHA });
    await waitForJob(s.store, id, (j) => j.tokens > 5);
    await s.close();
    const msgs = parseSseBody((await streaming).body);
    expect(tokens(msgs).length).toBeGreaterThan(0);
    expect(msgs.at(-1)?.event).toBe('end');
    expect(JSON.parse(msgs.at(-1)?.data ?? '{}')).toMatchObject({ status: 'cancelled' });
  });
});
