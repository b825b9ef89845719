/**
 * Wire behaviour that needs a real socket: resets, truncated chunks, stalls, hangs, client aborts and crashes.
 * A loopback server on port 0 with a RealClock and a ~1 ms-per-step profile; every wait is for an event (a
 * model event or bytes on the socket), never a fixed sleep. Everything opened is closed in afterEach.
 */
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { RealClock } from '../src/time/real-clock.js';
import type { MockModel, MockModelEvent, MockModelOptions } from './mock-model.js';
import { buildServer } from './server.js';
import { chatBody, FAST_PROFILE, nextEvent, parseSse, testModel, tokenChunks } from './server-testkit.js';

const opened: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const close of opened.splice(0)) await close();
});

async function serve(profile: MockModelOptions['profile'] = FAST_PROFILE): Promise<{ model: MockModel; url: string }> {
  const clock = new RealClock();
  const model = testModel(clock, { profile });
  const app = buildServer({ models: [model], clock });
  await app.listen({ port: 0, host: '127.0.0.1' });
  opened.push(async () => {
    model.close();
    await app.close();
  });
  const a = app.server.address();
  return { model, url: `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}` };
}

/** Posts a chat stream and reads until the body ends or breaks; `until` may stop reading early. */
async function stream(
  url: string,
  headers: Record<string, string>,
  o: { signal?: AbortSignal; until?: (text: string) => boolean; onText?: (text: string) => void } = {},
): Promise<{ status: number; text: string; error: Error | undefined }> {
  let status = 0;
  let text = '';
  let error: Error | undefined;
  try {
    const res = await request(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(chatBody({ stream: true })),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    status = res.statusCode;
    for await (const chunk of res.body) {
      text += (chunk as Buffer).toString();
      o.onText?.(text);
      if (o.until?.(text)) break;
    }
  } catch (err) {
    error = err as Error;
  }
  return { status, text, error };
}

const tokensIn = (text: string): number => tokenChunks(parseSse(text)).reduce((n, t) => n + t.count, 0);

describe('mid-stream faults on a real socket', () => {
  it('an SSE stream keeps the connection alive with Node\'s keep-alive hint, so undici does not fall back to its 4 s idle timeout', async () => {
    const { url } = await serve();
    const res = await request(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-mock-output-tokens': '3' },
      body: JSON.stringify(chatBody({ stream: true })),
    });
    const body = await res.body.text();
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/event-stream');
    expect(parseSse(body).done).toBe(true);
    // Node adds `Keep-Alive: timeout=N` (fastify's keepAliveTimeout, 72 s) only when the app sets no Connection
    // header itself; undici reads it as the idle time it may keep the socket for.
    expect(res.headers['keep-alive']).toMatch(/^timeout=\d+$/);
    expect(res.headers['connection']).not.toBe('close');
  });

  it('reset: the tokens before the fault arrive, then the connection breaks without [DONE]', async () => {
    const { url } = await serve();
    const r = await stream(url, { 'x-mock-fault': 'disconnect:after=3,form=reset', 'x-mock-output-tokens': '50' });
    expect(r.status).toBe(200);
    expect(r.error).toBeDefined();
    expect(tokensIn(r.text)).toBe(3);
    expect(parseSse(r.text).done).toBe(false);
  });

  it('truncated-chunk: the stream ends inside a JSON event, then breaks', async () => {
    const { url } = await serve();
    const r = await stream(url, { 'x-mock-fault': 'disconnect:after=2,form=truncated-chunk', 'x-mock-output-tokens': '50' });
    expect(r.error).toBeDefined();
    const s = parseSse(r.text);
    expect(tokensIn(r.text)).toBe(2);
    expect(s.rest.startsWith('data: {')).toBe(true);
    expect(() => JSON.parse(s.rest.slice('data: '.length)) as unknown).toThrow();
  });

  it('clean-close: the body ends normally but without [DONE]', async () => {
    const { url } = await serve();
    const r = await stream(url, { 'x-mock-fault': 'disconnect:after=4,form=clean-close', 'x-mock-output-tokens': '50' });
    expect(r.error).toBeUndefined();
    expect(tokensIn(r.text)).toBe(4);
    expect(parseSse(r.text).done).toBe(false);
  });

  it('stall: tokens stop while the connection stays open; the client leaving ends it and frees the slot', async () => {
    const { url, model } = await serve();
    const ac = new AbortController();
    const ended = nextEvent<MockModelEvent>(model, (e) => e.type === 'request-done');
    const r = await stream(url, { 'x-mock-fault': 'stall:after=2', 'x-mock-output-tokens': '50' }, { signal: ac.signal, until: (t) => tokensIn(t) >= 2 });
    expect(tokensIn(r.text)).toBe(2);
    expect(model.metrics().inFlight).toBe(1); // still open, stalled
    expect(model.metrics().faultCounts['stall']).toBe(1);
    ac.abort();
    expect(await ended).toMatchObject({ type: 'request-done', outcome: 'aborted', completionTokens: 2 });
    expect(model.metrics().inFlight).toBe(0);
  });

  it('hang: the request is accepted and never answered until the client gives up', async () => {
    const { url, model } = await serve();
    const ac = new AbortController();
    const hung = nextEvent<MockModelEvent>(model, (e) => e.type === 'fault' && e.kind === 'hang');
    let settled = false;
    const pending = stream(url, { 'x-mock-fault': 'hang' }, { signal: ac.signal }).then(
      () => (settled = true),
      () => (settled = true),
    );
    await hung;
    const rejected = nextEvent<MockModelEvent>(model, (e) => e.type === 'request-rejected');
    expect(settled).toBe(false);
    ac.abort();
    await pending;
    expect(await rejected).toMatchObject({ type: 'request-rejected', code: 'ABORTED' });
  });

  it('a client abort mid-stream aborts the generation, and the GPU slot is freed', async () => {
    const { url, model } = await serve();
    const ac = new AbortController();
    const ended = nextEvent<MockModelEvent>(model, (e) => e.type === 'request-done');
    const r = await stream(url, { 'x-mock-output-tokens': '5000' }, { signal: ac.signal, until: (t) => tokensIn(t) >= 3 });
    expect(tokensIn(r.text)).toBeGreaterThanOrEqual(3);
    ac.abort();
    const done = (await ended) as Extract<MockModelEvent, { type: 'request-done' }>;
    expect(done.outcome).toBe('aborted');
    expect(done.completionTokens).toBeLessThan(5000);
    // One more request runs through the GPU: by its end, the aborted sequence holds no slot.
    const next = await stream(url, { 'x-mock-output-tokens': '2' });
    expect(parseSse(next.text).done).toBe(true);
    expect(model.metrics().running).toBe(0);
    expect(model.metrics().inFlight).toBe(0);
  });

  it('crash: in-flight streams reset, new requests are refused until the downtime and cold start pass', async () => {
    const { url, model } = await serve();
    let streaming: () => void = () => undefined;
    const firstToken = new Promise<void>((resolve) => (streaming = resolve));
    const victim = stream(url, { 'x-mock-output-tokens': '5000' }, { onText: (t) => tokensIn(t) >= 1 && streaming() });
    const ready = nextEvent<MockModelEvent>(model, (e) => e.type === 'ready');
    await firstToken; // the victim is really streaming before the crash
    const crash = await stream(url, { 'x-mock-fault': 'crash:downtime-ms=150,cold-start-ms=150' });
    expect(crash.status).toBe(0); // the connection was reset before any response
    expect(crash.error).toBeDefined();
    const v = await victim;
    expect(v.error).toBeDefined();
    expect(parseSse(v.text).done).toBe(false);
    const h = await request(`${url}/health`);
    expect(h.statusCode).toBe(503);
    expect(await h.body.json()).toMatchObject({ models: { primary: expect.stringMatching(/crashed|cold-start/) } });
    await ready;
    const ok = await request(`${url}/health`);
    expect(ok.statusCode).toBe(200);
    await ok.body.dump();
    expect(model.metrics().faultCounts['crash']).toBe(1);
  });

  it('a reader that falls behind gets the tokens made meanwhile merged into fewer chunks; none lost, none repeated', async () => {
    // A near-zero step and a long context: the GPU makes tokens far faster than a paused reader takes them.
    const profile = { base: 'h100-llama3-8b', name: 'backpressure', contextWindow: 65_536, kvBlocks: 8192, step: { baseMs: 0.001, overheadMs: 0, perTokenMs: 0, attentionMsPerContextToken: 0 } };
    const { model, url } = await serve(profile);
    const n = 40_000; // with a 200-character id, ~17 MB of events: more than the loopback socket buffers hold
    const computed = nextEvent<MockModelEvent>(model, (e) => e.type === 'request-done');
    const res = await request(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'r'.repeat(200), 'x-mock-output-tokens': String(n), 'x-mock-prompt-tokens': '16' },
      body: JSON.stringify(chatBody({ stream: true, stream_options: { include_usage: true } })),
    });
    // Not reading the body: undici stops reading the socket, the kernel buffers fill and the server's writes back up.
    expect(((await computed) as Extract<MockModelEvent, { type: 'request-done' }>).outcome).toBe('stop');
    const parsed = parseSse(await res.body.text());
    expect(parsed.done).toBe(true);
    const chunks = tokenChunks(parsed);
    let next = 0;
    for (const c of chunks) {
      expect(c.index).toBe(next); // contiguous: nothing lost or sent twice
      next += c.count;
    }
    expect(next).toBe(n);
    expect(parsed.chunks.at(-1)).toMatchObject({ usage: { completion_tokens: n } });
    expect(chunks.length).toBeLessThan(n); // the tokens made while the reader was behind came merged
    expect(Math.max(...chunks.map((c) => c.count))).toBeGreaterThan(1);
  });
});
