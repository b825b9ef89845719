/**
 * HttpModelClient behaviour that only exists over HTTP: refused connections, what goes on the wire, real-provider
 * streams without the mock's vendor fields, connection pooling, close(), hangs and option validation. Loopback
 * only: the mock server on port 0, or a tiny node:http server scripted per test. Everything opened is closed.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../src/errors.js';
import { Random } from '../src/random.js';
import { RealClock } from '../src/time/real-clock.js';
import {
  ConnectionRefusedError,
  ContextLengthExceededError,
  IdleTimeoutError,
  RateLimitedError,
  ServerError,
  StreamInterruptedError,
} from '../src/upstream/errors.js';
import { HttpModelClient, type HttpModelClientOptions } from '../src/upstream/http-openai.js';
import type { ModelRequest, StreamEvent, StreamOptions } from '../src/upstream/model-client.js';
import { MockModel } from '../sim/mock-model.js';
import { buildServer } from '../sim/server.js';
import { FAST_PROFILE } from '../sim/server-testkit.js';

const opened: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of opened.splice(0).reverse()) await close();
});

function client(o: HttpModelClientOptions): HttpModelClient {
  const c = new HttpModelClient(o);
  opened.push(() => c.close());
  return c;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  opened.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function mock(): Promise<{ url: string; model: MockModel; sockets: () => number }> {
  const clock = new RealClock();
  const model = new MockModel({ name: 'primary', profile: FAST_PROFILE, clock, random: new Random(9).derive('model/primary') });
  const app = buildServer({ models: [model], clock });
  await app.listen({ port: 0, host: '127.0.0.1' });
  let sockets = 0;
  app.server.on('connection', () => sockets++);
  opened.push(async () => {
    model.close();
    await app.close();
  });
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, model, sockets: () => sockets };
}

interface Seen {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}

/** A scripted server: records each request, then `respond` writes the answer. */
async function scripted(respond: (res: ServerResponse, seen: Seen) => void): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      const s: Seen = { method: req.method, url: req.url, headers: req.headers, body: JSON.parse(raw || '{}') as Record<string, unknown> };
      seen.push(s);
      respond(res, s);
    });
  });
  return { url: await listen(server), seen };
}

const sse = (obj: unknown): string => `data: ${typeof obj === 'string' ? obj : JSON.stringify(obj)}\n\n`;

async function collect(c: HttpModelClient, req: ModelRequest, opts: StreamOptions = {}) {
  const events: StreamEvent[] = [];
  let error: unknown;
  try {
    for await (const ev of c.stream(req, opts)) events.push(ev);
  } catch (e) {
    error = e;
  }
  const tokens = events.filter((e): e is Extract<StreamEvent, { type: 'tokens' }> => e.type === 'tokens');
  return { events, tokens, text: tokens.map((t) => t.text).join(''), done: events.find((e) => e.type === 'done'), error };
}

const chat = (extra: Partial<ModelRequest> = {}): ModelRequest => ({
  id: 'req-1',
  model: 'primary',
  messages: [{ role: 'user', content: 'hi' }],
  ...extra,
});

/** A port with nothing listening: bound, then closed. */
async function deadPort(): Promise<string> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

describe('HttpModelClient', () => {
  it('a port with nothing listening → ConnectionRefusedError, for streams and embeddings', async () => {
    const c = client({ baseUrl: await deadPort() });
    const r = await collect(c, chat());
    expect(r.error).toBeInstanceOf(ConnectionRefusedError);
    expect((r.error as Error).message).toContain('ECONNREFUSED');
    expect(r.events).toEqual([]);
    await expect(c.embed({ id: 'e', model: 'primary', inputs: ['x'] })).rejects.toBeInstanceOf(ConnectionRefusedError);
  });

  it('a socket closed before the response → ConnectionRefusedError', async () => {
    const { url } = await scripted((res) => res.socket?.destroy());
    const r = await collect(client({ baseUrl: url }), chat());
    expect(r.error).toBeInstanceOf(ConnectionRefusedError);
  });

  it('sends the OpenAI body, the request id, the key and the x-mock headers', async () => {
    const { url, seen } = await scripted((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(sse('[DONE]'));
    });
    const c = client({ baseUrl: `${url}/v1/`, apiKey: 'default-key', headers: { 'x-team': 'ml' }, dialect: 'vllm' });
    await collect(c, chat({ id: 'abc', promptTokens: 12, outputTokens: 34, maxTokens: 50, fault: 'stall:after=1' }), { resumeFrom: 5, resumeText: ' so far' });
    await collect(c, { id: 'p1', model: 'm2', prompt: 'once', apiKey: 'own-key' });
    const [a, b] = seen;
    expect(a?.method).toBe('POST');
    expect(a?.url).toBe('/v1/chat/completions');
    // The standard continuation: the text so far as the final assistant message; the token limit is what is left.
    expect(a?.body).toEqual({
      model: 'primary',
      messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: ' so far' }],
      max_tokens: 45,
      stream: true,
      stream_options: { include_usage: true },
      continue_final_message: true,
      add_generation_prompt: false,
    });
    expect(a?.headers).toMatchObject({
      'x-request-id': 'abc',
      'x-mock-prompt-tokens': '12',
      'x-mock-output-tokens': '34',
      'x-mock-fault': 'stall:after=1',
      authorization: 'Bearer default-key',
      'x-team': 'ml',
      accept: 'text/event-stream',
    });
    expect(b?.url).toBe('/v1/completions');
    expect(b?.body).toEqual({ model: 'm2', prompt: 'once', stream: true, stream_options: { include_usage: true } });
    expect(b?.headers['authorization']).toBe('Bearer own-key');
    expect(b?.headers['x-mock-resume-from']).toBeUndefined();
    expect(a?.headers['x-mock-resume-from']).toBeUndefined();
  });

  it('a provider stream without x_mock (vLLM/OpenAI): one token per chunk, multi-byte text split across writes, usage', async () => {
    const { url } = await scripted((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(sse({ choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] }));
      const event = Buffer.from(sse({ choices: [{ index: 0, delta: { content: 'héllo 🙂' }, finish_reason: null }] }));
      // Split inside the emoji's 4 bytes: the decoder must keep the character whole.
      const cut = event.indexOf(Buffer.from('🙂')) + 2;
      res.write(event.subarray(0, cut));
      setTimeout(() => {
        res.write(event.subarray(cut));
        res.write(sse({ choices: [{ index: 0, delta: { content: ' world' }, finish_reason: 'length' }] }));
        res.end(sse({ choices: [], usage: { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 } }) + sse('[DONE]'));
      }, 5);
    });
    const r = await collect(client({ baseUrl: url }), chat());
    expect(r.error).toBeUndefined();
    expect(r.text).toBe('héllo 🙂 world');
    // Two chunks, one token each (events read together are coalesced into one chunk of 2).
    expect(r.tokens[0]?.index).toBe(0);
    expect(r.tokens.reduce((n, t) => n + t.count, 0)).toBe(2);
    expect(r.done).toMatchObject({ type: 'done', usage: { promptTokens: 7, completionTokens: 2 }, finishReason: 'length' });
  });

  it('a 429 with an HTTP-date Retry-After is measured against the response date', async () => {
    const { url } = await scripted((res) => {
      res.writeHead(429, { 'content-type': 'application/json', date: 'Wed, 21 Oct 2015 07:28:00 GMT', 'retry-after': 'Wed, 21 Oct 2015 07:28:02 GMT' });
      res.end(JSON.stringify({ error: { message: 'slow down', type: 'rate_limit_error', code: 'rate_limit_exceeded' } }));
    });
    const r = await collect(client({ baseUrl: url }), chat());
    expect(r.error).toBeInstanceOf(RateLimitedError);
    expect((r.error as RateLimitedError).retryAfterMs).toBe(2000);
  });

  it('vLLM error shapes: a context message without a code, and an in-stream error object', async () => {
    let n = 0;
    const { url } = await scripted((res) => {
      if (n++ === 0) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ object: 'error', message: "This model's maximum context length is 2048 tokens. However, you requested 3000 tokens.", code: 400 }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(sse({ choices: [{ index: 0, text: 'a', finish_reason: null }] }));
      res.end(sse({ object: 'error', message: 'engine died', type: 'InternalServerError', code: 500 }));
    });
    const c = client({ baseUrl: url });
    const ctx = await collect(c, chat());
    expect(ctx.error).toBeInstanceOf(ContextLengthExceededError);
    expect((ctx.error as ContextLengthExceededError).maxContextTokens).toBe(2048);
    const broken = await collect(client({ baseUrl: url, dialect: 'vllm' }), chat(), { resumeFrom: 4, resumeText: 'abcd' });
    expect(broken.error).toBeInstanceOf(StreamInterruptedError);
    expect((broken.error as StreamInterruptedError).tokensReceived).toBe(5);
    expect((broken.error as StreamInterruptedError).reason).toBe('error event in stream: engine died');
  });

  it('a 502 with an HTML body → ServerError(502)', async () => {
    const { url } = await scripted((res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>bad gateway</html>');
    });
    const r = await collect(client({ baseUrl: url }), chat());
    expect(r.error).toBeInstanceOf(ServerError);
    expect((r.error as ServerError).status).toBe(502);
  });

  it('a hang (accepted, never answered) → IdleTimeoutError(idleMs, 0), and the request is aborted', async () => {
    const { url, model } = await mock();
    // An idle window long enough for the mock to take the request first on a busy machine (150 ms was not).
    const r = await collect(client({ baseUrl: url, idleTimeoutMs: 3000 }), chat({ fault: 'hang' }));
    expect(r.error).toBeInstanceOf(IdleTimeoutError);
    expect([(r.error as IdleTimeoutError).idleMs, (r.error as IdleTimeoutError).tokensReceived]).toEqual([3000, 0]);
    expect(model.metrics().faultCounts['hang']).toBe(1);
  });

  it("with a dispatcher of the caller's that keeps undici's own timeouts, a silent server → IdleTimeoutError, not an unknown error", async () => {
    // Accepted, never answered; then a stream that sends one token and falls silent.
    const { url: hung } = await scripted(() => undefined);
    const agent = new Agent({ headersTimeout: 200, bodyTimeout: 200 });
    opened.push(() => agent.close());
    const before = await collect(client({ baseUrl: hung, dispatcher: agent }), chat());
    expect(before.error).toBeInstanceOf(IdleTimeoutError);
    expect((before.error as IdleTimeoutError).tokensReceived).toBe(0);
    expect((before.error as Error).message).toContain('UND_ERR_HEADERS_TIMEOUT');

    const { url: stalls } = await scripted((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(sse({ choices: [{ index: 0, delta: { content: 'a' }, finish_reason: null }] }));
    });
    const after = await collect(client({ baseUrl: stalls, dispatcher: agent }), chat());
    expect(after.text).toBe('a');
    expect(after.error).toBeInstanceOf(IdleTimeoutError);
    expect((after.error as IdleTimeoutError).tokensReceived).toBe(1);
    expect((after.error as Error).message).toContain('UND_ERR_BODY_TIMEOUT');
  });

  it('reuses pooled connections after complete streams, and never opens more than `connections`', async () => {
    const { url, sockets } = await mock();
    const c = client({ baseUrl: url, connections: 2 });
    for (let i = 0; i < 5; i++) {
      const r = await collect(c, chat({ id: `seq-${i}`, outputTokens: 10 }));
      expect(r.done?.type).toBe('done');
    }
    // Reused: the next call may start before the previous response's last bytes were read, so up to 2, never 5.
    expect(sockets()).toBeLessThanOrEqual(2);
    const all = await Promise.all(Array.from({ length: 6 }, (_, i) => collect(c, chat({ id: `par-${i}`, outputTokens: 20 }))));
    expect(all.every((r) => r.done !== undefined && r.tokens.reduce((n, t) => n + t.count, 0) === 20)).toBe(true);
    expect(sockets()).toBeLessThanOrEqual(2);
  });

  it('close() cancels the calls in flight and frees their GPU slots', async () => {
    const { url, model } = await mock();
    const c = new HttpModelClient({ baseUrl: url });
    const it = c.stream(chat({ id: 'long', outputTokens: 5000 }))[Symbol.asyncIterator]();
    expect((await it.next()).value).toMatchObject({ type: 'tokens', index: 0 });
    await c.close();
    await expect(it.next()).rejects.toThrow('HttpModelClient closed');
    await expect(collect(c, chat({ id: 'after' })).then((r) => r.error)).resolves.toBeInstanceOf(Error);
    const until = Date.now() + 30_000;
    while (model.metrics().inFlight + model.metrics().running > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 2));
    expect(model.metrics().inFlight + model.metrics().running).toBe(0);
  });

  it('validates its options, naming the field', () => {
    expect(() => new HttpModelClient({ baseUrl: 'not a url' })).toThrow(ValidationError);
    expect(() => new HttpModelClient({ baseUrl: 'ftp://x' })).toThrow('HttpModelClient.baseUrl: expected an http(s) URL, got "ftp://x"');
    expect(() => new HttpModelClient({ baseUrl: 'http://x', connections: 0 })).toThrow('HttpModelClient.connections: expected an integer >= 1, got 0');
    expect(() => new HttpModelClient({ baseUrl: 'http://x', idleTimeoutMs: -1 })).toThrow('HttpModelClient.idleTimeoutMs: expected an integer >= 0, got -1');
  });
});
