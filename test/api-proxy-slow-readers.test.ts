/**
 * Slow readers of the streaming chat proxy (issue #21, item 5): a reader whose socket is full pauses the
 * upstream (the engine reads no more of it until the socket drains), so what the engine holds per response stays
 * bounded however long the stream; a reader that takes nothing for the stall timeout is cut off and its upstream
 * call cancelled; one that comes back gets the whole stream. Asserted on the service's own accounting (bytes
 * Node holds unsent per response, producers paused) and on how much of the upstream was read, not on RSS or
 * wall time. The upstream is a scripted ModelClient that can produce far more than any buffer holds. Live sockets
 * on 127.0.0.1; every wait is on a condition.
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { createParser } from 'eventsource-parser';
import { describe, expect, it } from 'vitest';
import type { CallOptions, EmbeddingRequest, EmbeddingResult, ModelClient, ModelRequest, StreamEvent } from '../src/upstream/model-client.js';
import { ALPHA, servicesClosedAfterEach } from './api-testkit.js';

const service = servicesClosedAfterEach();

const CHUNK = 'abcdefghij'.repeat(1000); // 10,000 characters a chunk

/** An upstream that streams `chunks` chunks of 10,000 characters as fast as it is read, and counts the reads. */
class LongUpstream implements ModelClient {
  /** Chunks read by the engine, per request id. */
  readonly pulled = new Map<string, number>();
  started = 0;
  /** Streams ended (completed or cancelled: the generator was closed). */
  ended = 0;
  constructor(private readonly chunks: number) {}

  stream(request: ModelRequest): AsyncIterable<StreamEvent> {
    this.started++;
    const chunks = this.chunks;
    const pulled = this.pulled;
    const ended = (): number => ++this.ended;
    return (async function* long() {
      try {
        for (let i = 0; i < chunks; i++) {
          pulled.set(request.id, (pulled.get(request.id) ?? 0) + 1);
          yield { type: 'tokens', index: i, count: 1, text: CHUNK };
        }
        yield { type: 'done', usage: { promptTokens: 1, completionTokens: chunks }, finishReason: 'stop' };
      } finally {
        ended();
      }
    })();
  }

  embed(_r: EmbeddingRequest, _o?: CallOptions): Promise<EmbeddingResult> {
    return Promise.reject(new Error('not used'));
  }
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 20));
}

async function listen(s: ReturnType<typeof service>): Promise<number> {
  await s.app.listen({ port: 0, host: '127.0.0.1' });
  const a = s.app.server.address();
  return typeof a === 'object' && a !== null ? a.port : 0;
}

/**
 * Opens a streamed chat completion on a raw socket and stops reading it (`pause()`: the socket is not read at
 * all, so the kernel's buffers fill and then the server's). `body()` later reads the whole response body.
 */
function openStream(port: number): Promise<{ sock: Socket; body(): Promise<string> }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    sock.once('error', reject);
    sock.once('connect', () => {
      const json = JSON.stringify({ model: 'primary', messages: [{ role: 'user', content: 'a long answer please' }], stream: true });
      sock.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: ${ALPHA.authorization}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(json)}\r\n\r\n${json}`);
      sock.pause();
      resolve({ sock, body: () => readChunkedBody(sock) });
    });
  });
}

/** Reads an HTTP/1.1 response with a chunked body to its last chunk; resolves with the decoded body. */
function readChunkedBody(sock: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    let headDone = false;
    const parts: Buffer[] = [];
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      if (!headDone) {
        const at = buf.indexOf('\r\n\r\n');
        if (at < 0) return;
        headDone = true;
        buf = buf.subarray(at + 4);
      }
      for (;;) {
        const eol = buf.indexOf('\r\n');
        if (eol < 0) return;
        const size = Number.parseInt(buf.subarray(0, eol).toString('latin1'), 16);
        if (buf.length < eol + 2 + size + 2) return;
        if (size === 0) {
          sock.off('data', onData);
          resolve(Buffer.concat(parts).toString('utf8'));
          return;
        }
        parts.push(buf.subarray(eol + 2, eol + 2 + size));
        buf = buf.subarray(eol + 2 + size + 2);
      }
    };
    sock.on('data', onData);
    sock.once('error', reject);
    sock.once('close', () => reject(new Error('connection closed before the last chunk')));
    sock.resume();
  });
}

/** What the kernel may hold for one loopback connection that is not read: the sender's and receiver's buffers. */
function kernelBytesPerConnection(): number {
  const max = (f: string): number => Number(readFileSync(f, 'utf8').trim().split(/\s+/)[2]);
  return max('/proc/sys/net/ipv4/tcp_wmem') + max('/proc/sys/net/ipv4/tcp_rmem');
}

describe('slow readers of the streaming chat proxy', () => {
  it('50 readers that take nothing of a 30 MB stream: the upstream is paused, a bounded amount read and held per response, then cut off and cancelled after the stall timeout', async () => {
    const upstream = new LongUpstream(3000);
    const s = service({ policy: { retry: { baseMs: 1, maxMs: 5 }, idleTimeout: { idleMs: 300 } }, service: { upstream: { primary: upstream }, sseStallTimeoutMs: 3000 } });
    const port = await listen(s);
    const readers = await Promise.all(Array.from({ length: 50 }, () => openStream(port)));
    for (const r of readers) r.sock.on('error', () => undefined);
    // Every producer stops, waiting for its reader's socket to drain (or, on a slow machine, has already been
    // ended by the stall timeout while it waited): the upstream is no longer read.
    await until(() => s.sse.paused + s.sse.endedStalled === 50);
    const pulledAtPause = [...upstream.pulled.values()];
    expect(pulledAtPause).toHaveLength(50);
    // Each stream read only what the kernel buffers, Node's unsent buffer and the engine's high-water mark hold:
    // far less than the 30 MB the upstream would give.
    const boundChunks = Math.ceil((kernelBytesPerConnection() + 1024 * 1024) / CHUNK.length);
    for (const n of pulledAtPause) expect(n).toBeLessThanOrEqual(Math.min(boundChunks, 3000 / 2));
    expect(s.sse.peakBufferedBytes).toBeLessThanOrEqual(128 * 1024);
    expect(s.sse.bufferedBytes()).toBeLessThanOrEqual(50 * 128 * 1024);
    expect(s.sse.endedOverBuffer).toBe(0);
    // Gone readers: the stall timeout ends each stream, which cancels the request and closes its upstream call.
    await until(() => s.sse.open.size === 0 && upstream.ended === 50);
    expect(s.sse.endedStalled).toBe(50);
    expect(s.sse.paused).toBe(0);
    // Nothing more was read while they were paused.
    expect([...upstream.pulled.values()]).toEqual(pulledAtPause);
    // No retries: a paused read never counted as an idle upstream.
    expect(upstream.started).toBe(50);
    for (const r of readers) r.sock.destroy();
  }, 300_000);

  it('a reader that stops (past the idle timeout) and comes back gets the whole stream once, then [DONE]', async () => {
    const upstream = new LongUpstream(600); // 6 MB: more than the kernel holds for a reader that takes nothing
    const s = service({ policy: { retry: { baseMs: 1, maxMs: 5 }, idleTimeout: { idleMs: 300 } }, service: { upstream: { primary: upstream }, sseStallTimeoutMs: 0 } });
    const port = await listen(s);
    const reader = await openStream(port);
    await until(() => s.sse.paused === 1);
    const pulledAtPause = [...upstream.pulled.values()][0] ?? 0;
    expect(pulledAtPause).toBeLessThan(600);
    // Stay away for well over the 300 ms idle timeout (a lower bound, not a race).
    const t0 = Date.now();
    await until(() => Date.now() - t0 >= 1000);
    expect([...upstream.pulled.values()][0]).toBe(pulledAtPause);
    // Now read it all.
    let text = '';
    let next = 0;
    let done = false;
    let finish: string | null | undefined;
    const parser = createParser({
      onEvent: (e) => {
        if (e.data === '[DONE]') {
          done = true;
          return;
        }
        const d = JSON.parse(e.data) as { choices: { delta: { content?: string }; finish_reason: string | null }[]; x_engine?: { index?: number; count?: number } };
        const c = d.choices[0];
        if (c?.finish_reason !== null && c?.finish_reason !== undefined) finish = c.finish_reason;
        if (d.x_engine?.index === undefined) return;
        expect(d.x_engine.index).toBe(next);
        next += d.x_engine.count ?? 0;
        text += c?.delta.content ?? '';
      },
    });
    parser.feed(await reader.body());
    reader.sock.destroy();
    expect(done).toBe(true);
    expect(finish).toBe('stop');
    expect(next).toBe(600);
    expect(text).toBe(CHUNK.repeat(600));
    expect(s.sse.pauses).toBeGreaterThanOrEqual(1);
    expect(s.sse.peakBufferedBytes).toBeLessThanOrEqual(128 * 1024);
    // One upstream call, never retried: the pause was not taken for an idle upstream.
    expect(upstream.started).toBe(1);
  }, 120_000);
});
