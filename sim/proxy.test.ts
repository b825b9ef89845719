/**
 * The chaos proxy against a scripted upstream (a tiny OpenAI-style server in this test): an unfaulted stream
 * arrives byte for byte; each fault kind appears on the wire as specified; the upstream sees each relayed request
 * once and none that the proxy answered itself; a client that leaves cancels the upstream request. Live sockets on
 * 127.0.0.1; every wait is on an event or a condition with a generous limit.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RealClock } from '../src/time/real-clock.js';
import { ChaosProxy, upstreamTarget } from './proxy-server.js';
import { parseSse } from './server-testkit.js';

const clock = new RealClock();
const TOKENS = 12;
/** Tokens with multi-byte characters; each event is written in two pieces, so the proxy must reassemble it. */
const tokenEvent = (i: number): string => `data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"tök${i} ✓"},"finish_reason":null}]}\n\n`;
const ROLE = 'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}\n\n';
const FINISH = 'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n';
const DONE = 'data: [DONE]\n\n';

interface Seen {
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** Resolves true when the client side closed before the answer finished (the request was cancelled). */
  cancelled: Promise<boolean>;
}

/** The scripted upstream. `mode` header: `slow` holds after 2 tokens until the client leaves; `status-503` answers 503. */
function scriptedUpstream(): { server: Server; seen: Seen[]; finished: number } {
  const state = { server: undefined as unknown as Server, seen: [] as Seen[], finished: 0 };
  state.server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const cancelled = new Promise<boolean>((resolve) => res.once('close', () => resolve(!res.writableFinished)));
      state.seen.push({ url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), cancelled });
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { stream?: boolean };
      const mode = req.headers['x-test-mode'];
      if (mode === 'status-503') {
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' }).end('{"error":{"message":"busy","type":"server_error","param":null,"code":null}}');
        return;
      }
      if (body.stream !== true) {
        const json = JSON.stringify({ id: 'c1', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'hellö wörld' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(json)), 'x-upstream': 'yes' }).end(json);
        state.finished++;
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'x-upstream': 'yes' });
      res.write(ROLE);
      const n = mode === 'slow' ? 2 : TOKENS;
      for (let i = 0; i < n; i++) {
        const e = tokenEvent(i);
        res.write(e.slice(0, 30));
        res.write(e.slice(30));
      }
      if (mode === 'slow') return; // held open until the client (the proxy) leaves
      res.write(FINISH + DONE);
      res.end();
      state.finished++;
    });
  });
  return state;
}

const upstream = scriptedUpstream();
let upstreamUrl = '';
const proxies: ChaosProxy[] = [];

beforeAll(async () => {
  await new Promise<void>((r) => upstream.server.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  upstream.server.closeAllConnections();
  await new Promise<void>((r) => upstream.server.close(() => r()));
});
afterEach(async () => {
  for (const p of proxies.splice(0)) await p.close();
});

async function proxy(o: Partial<Parameters<typeof ChaosProxy.start>[0]> = {}): Promise<ChaosProxy> {
  const p = await ChaosProxy.start({ upstreamUrl, ...o });
  proxies.push(p);
  return p;
}

const chat = { model: 'real-model', messages: [{ role: 'user', content: 'hi' }], stream: true };

/** POSTs a chat request; resolves with status, headers and the whole body, or the error the body read ended with. */
async function post(base: string, headers: Record<string, string> = {}, body: object = chat): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer; error?: Error }> {
  const res = await request(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const chunks: Buffer[] = [];
  try {
    for await (const c of res.body) chunks.push(c as Buffer);
  } catch (error) {
    return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), error: error as Error };
  }
  return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) };
}

const tokenCount = (b: Buffer): number => parseSse(b.toString('utf8')).chunks.filter((c) => (c.choices?.[0]?.['delta'] as { content?: string } | undefined)?.content !== undefined).length;

async function until(cond: () => boolean | Promise<boolean>, what: string, limitMs = 20_000): Promise<void> {
  const t0 = clock.now();
  while (!(await cond())) {
    if (clock.now() - t0 > limitMs) throw new Error(`timed out waiting for ${what}`);
    await clock.sleep(10);
  }
}

describe('chaos proxy: relaying', () => {
  it('relays an unfaulted stream byte for byte, the request unchanged, and the upstream sees it once', async () => {
    const p = await proxy();
    const direct = await post(upstreamUrl);
    const before = upstream.seen.length;
    const relayed = await post(p.url, { authorization: 'Bearer sk-test', 'x-request-id': 'r1' });
    expect(relayed.status).toBe(200);
    expect(relayed.body.equals(direct.body)).toBe(true);
    expect(relayed.headers['x-upstream']).toBe('yes');
    expect(upstream.seen.length).toBe(before + 1);
    const seen = upstream.seen.at(-1) as Seen;
    expect(seen.url).toBe('/v1/chat/completions');
    expect(JSON.parse(seen.body)).toEqual(chat);
    expect(seen.headers['authorization']).toBe('Bearer sk-test');
    expect(seen.headers['x-request-id']).toBe('r1');
    const stats = (await (await request(`${p.url}/mock/stats`)).body.json()) as { models: { primary: { proxy: { relayedByStatus: Record<string, number>; bytesRelayed: number } } } };
    expect(stats.models.primary.proxy.relayedByStatus['200']).toBe(1);
    expect(stats.models.primary.proxy.bytesRelayed).toBe(direct.body.length);
  });

  it('relays a non-streamed answer and an upstream error unchanged, once each (no retries inside the proxy)', async () => {
    const p = await proxy();
    const direct = await post(upstreamUrl, {}, { ...chat, stream: false });
    const before = upstream.seen.length;
    const relayed = await post(p.url, {}, { ...chat, stream: false });
    expect(relayed.body.equals(direct.body)).toBe(true);
    expect(relayed.headers['content-length']).toBe(String(direct.body.length));
    const busy = await post(p.url, { 'x-test-mode': 'status-503' });
    expect(busy.status).toBe(503);
    expect(busy.headers['retry-after']).toBe('1');
    expect(upstream.seen.length).toBe(before + 2);
  });

  it('maps a path onto an upstream base URL with or without /v1', () => {
    expect(upstreamTarget(new URL('http://h:1'), '/v1/chat/completions')).toBe('http://h:1/v1/chat/completions');
    expect(upstreamTarget(new URL('http://h:1/v1'), '/v1/chat/completions')).toBe('http://h:1/v1/chat/completions');
    expect(upstreamTarget(new URL('http://h:1/openai/'), '/v1/models')).toBe('http://h:1/openai/v1/models');
  });

  it('cancels the upstream request when the client leaves', async () => {
    const p = await proxy();
    const before = upstream.seen.length;
    const ac = new AbortController();
    const res = await request(`${p.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-test-mode': 'slow' }, body: JSON.stringify(chat), signal: ac.signal });
    let got = '';
    await expect(
      (async () => {
        for await (const c of res.body) {
          got += (c as Buffer).toString('utf8');
          if (got.includes('tök1')) ac.abort();
        }
      })(),
    ).rejects.toThrow();
    await until(() => upstream.seen.length === before + 1, 'the upstream request');
    expect(await (upstream.seen.at(-1) as Seen).cancelled).toBe(true);
    await until(() => p.faults.counters.cancelled === 1, 'the proxy to count the cancellation');
  });
});

describe('chaos proxy: faults', () => {
  it('answers injected statuses itself with the mock\'s headers; the upstream never sees them', async () => {
    const p = await proxy();
    const before = upstream.seen.length;
    const r429 = await post(p.url, { 'x-mock-fault': 'status:429,retry-after-ms=1500', 'x-request-id': 'q' });
    expect(r429.status).toBe(429);
    expect(r429.headers['retry-after']).toBe('2');
    expect(r429.headers['retry-after-ms']).toBe('1500');
    expect(r429.headers['x-request-id']).toBe('q');
    expect(JSON.parse(r429.body.toString()).error.code).toBe('rate_limit_exceeded');
    expect((await post(p.url, { 'x-mock-fault': 'status:503' })).status).toBe(503);
    expect((await post(p.url, { 'x-mock-fault': 'status:500' })).status).toBe(500);
    const bad = await post(p.url, { 'x-mock-fault': 'disconnect:form=sideways' });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body.toString()).error.param).toBe('x-mock-fault.disconnect.form');
    expect(upstream.seen.length).toBe(before);
    const metrics = await (await request(`${p.url}/metrics`)).body.text();
    expect(metrics).toMatch(/mock:faults_injected_total\{model_name="primary",kind="status-429"\} 1/);
    expect(metrics).toMatch(/mock:proxy_injected_total 4/);
  });

  it('cuts a stream after N tokens in each of the four forms', async () => {
    const p = await proxy();
    const direct = (await post(upstreamUrl)).body.toString('utf8');
    const prefix = ROLE + [0, 1, 2].map(tokenEvent).join('');
    expect(direct.startsWith(prefix)).toBe(true);

    const errorEvent = await post(p.url, { 'x-mock-fault': 'disconnect:after=3,form=error-event' });
    const s = parseSse(errorEvent.body.toString('utf8'));
    expect(errorEvent.body.toString('utf8').startsWith(prefix)).toBe(true);
    expect(tokenCount(errorEvent.body)).toBe(3);
    expect(s.done).toBe(false);
    expect((s.chunks.at(-1) as { error?: { code?: string } }).error?.code).toBe('stream_interrupted');

    const clean = await post(p.url, { 'x-mock-fault': 'disconnect:after=3,form=clean-close' });
    expect(clean.error).toBeUndefined();
    expect(clean.body.toString('utf8')).toBe(prefix);

    const reset = await post(p.url, { 'x-mock-fault': 'disconnect:after=3,form=reset' });
    expect(reset.error).toBeDefined();
    expect(parseSse(reset.body.toString('utf8')).done).toBe(false);

    const truncated = await post(p.url, { 'x-mock-fault': 'disconnect:after=3,form=truncated-chunk' });
    expect(truncated.error).toBeDefined();
    const t = truncated.body.toString('utf8');
    expect(t.startsWith(prefix)).toBe(true);
    expect(t.length).toBeGreaterThan(prefix.length); // half of the next event arrived, and no end of it
    expect(tokenCount(truncated.body)).toBe(3);
    expect(p.faults.metrics().faultCounts['disconnect']).toBe(4);
  });

  it('cuts a stream at a time (after-ms), and a plan cuts a non-streamed answer', async () => {
    const p = await proxy();
    const cut = await post(p.url, { 'x-mock-fault': 'disconnect:after-ms=50,form=clean-close', 'x-test-mode': 'slow' });
    expect(cut.error).toBeUndefined();
    expect(tokenCount(cut.body)).toBe(2); // the upstream holds after 2 tokens; the timer cut it
    expect(parseSse(cut.body.toString('utf8')).done).toBe(false);
    await until(async () => await (upstream.seen.at(-1) as Seen).cancelled, 'the upstream to be cancelled');

    const json = await post(p.url, { 'x-mock-fault': 'disconnect:form=error-event' }, { ...chat, stream: false });
    expect(json.status).toBe(500);
    expect(JSON.parse(json.body.toString()).error.code).toBe('stream_interrupted');
  });

  it('stalls after N tokens with the connection open, and resumes after ms', async () => {
    const p = await proxy();
    const direct = await post(upstreamUrl);
    const ac = new AbortController();
    const res = await request(`${p.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-mock-fault': 'stall:after=2' }, body: JSON.stringify(chat), signal: ac.signal });
    let got = Buffer.alloc(0);
    const reading = (async () => {
      for await (const c of res.body) got = Buffer.concat([got, c as Buffer]);
    })().catch(() => undefined);
    await until(() => tokenCount(got) >= 2, 'two tokens');
    // The proxy has read the whole upstream answer, yet relayed no more than 2 tokens.
    await until(() => p.faults.counters.bytesRelayed === direct.body.length, 'the proxy to read the whole upstream answer');
    expect(tokenCount(got)).toBe(2);
    ac.abort();
    await reading;
    expect(p.faults.metrics().faultCounts['stall']).toBe(1);

    const resumed = await post(p.url, { 'x-mock-fault': 'stall:after=2,ms=100' });
    expect(resumed.body.equals(direct.body)).toBe(true);
  });

  it('hangs: accepts and never answers, never calling the upstream', async () => {
    const p = await proxy();
    const before = upstream.seen.length;
    const ac = new AbortController();
    const pending = request(`${p.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-mock-fault': 'hang' }, body: JSON.stringify(chat), signal: ac.signal });
    await until(() => p.faults.metrics().faultCounts['hang'] === 1, 'the hang to be counted');
    ac.abort();
    await expect(pending).rejects.toThrow();
    expect(upstream.seen.length).toBe(before);
  });

  it('adds latency (delay, ttft, jitter) without changing a byte', async () => {
    const p = await proxy();
    const direct = await post(upstreamUrl);
    const t0 = clock.now();
    const ttft = await post(p.url, { 'x-mock-fault': 'ttft:ms=300; jitter:ms=2' });
    expect(clock.now() - t0).toBeGreaterThanOrEqual(300);
    expect(ttft.body.equals(direct.body)).toBe(true);
    const t1 = clock.now();
    const delayed = await post(p.url, { 'x-mock-fault': 'delay:ms=200' });
    expect(clock.now() - t1).toBeGreaterThanOrEqual(200);
    expect(delayed.body.equals(direct.body)).toBe(true);
  });

  it('crashes: the request is reset, connections are refused for the downtime, then 503 in cold start, then ready', async () => {
    const p = await proxy();
    const crashed = await post(p.url, { 'x-mock-fault': 'crash:downtime-ms=3000,cold-start-ms=2000' }).catch((e: Error) => ({ error: e }));
    expect(crashed.error).toBeDefined();
    await expect(request(`${p.url}/health`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const states: number[] = [];
    await until(async () => {
      const r = await request(`${p.url}/health`).catch(() => undefined);
      if (r === undefined) return false;
      await r.body.dump();
      states.push(r.statusCode);
      return r.statusCode === 200;
    }, 'the proxy to be ready again');
    expect(states[0]).toBe(503);
    expect((await post(p.url)).status).toBe(200);
    expect(p.faults.metrics().faultCounts['crash']).toBe(1);
  });

  it('applies --faults plans, PUT /mock/faults and timelines', async () => {
    const p = await proxy({ faults: { disconnect: { probability: 1, afterTokens: 2, forms: ['clean-close'] } } });
    expect(tokenCount((await post(p.url)).body)).toBe(2);
    const put = await request(`${p.url}/mock/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ rateLimited: { probability: 1, retryAfterMs: 250 } }) });
    expect(put.statusCode).toBe(200);
    await put.body.dump();
    const limited = await post(p.url);
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after-ms']).toBe('250');
    await request(`${p.url}/mock/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ timeline: [{ atMs: 0, durationMs: 600_000, fault: { serverError: { probability: 1 } } }] }) }).then((r) => r.body.dump());
    expect((await post(p.url)).status).toBe(500);
    expect((await post(p.url, { 'x-mock-fault': 'none' })).status).toBe(200);
  });

  it('a disconnect phase that starts on the timeline hits the streams already open', async () => {
    const p = await proxy();
    const res = await request(`${p.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-test-mode': 'slow' }, body: JSON.stringify(chat) });
    let got = Buffer.alloc(0);
    const reading = (async () => {
      for await (const c of res.body) got = Buffer.concat([got, c as Buffer]);
    })();
    await until(() => tokenCount(got) >= 2, 'two tokens of the open stream');
    const put = await request(`${p.url}/mock/faults`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ timeline: [{ atMs: 0, durationMs: 600_000, fault: { disconnect: { probability: 1, afterMs: 0, forms: ['error-event'] } } }] }),
    });
    await put.body.dump();
    await reading; // the upstream holds the stream open: only the phase can end it
    const s = parseSse(got.toString('utf8'));
    expect(tokenCount(got)).toBe(2);
    expect((s.chunks.at(-1) as { error?: { code?: string } }).error?.code).toBe('stream_interrupted');
    expect(p.faults.metrics().faultCounts['disconnect']).toBe(1);
  });
});
