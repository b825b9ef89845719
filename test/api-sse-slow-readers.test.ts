/**
 * Slow SSE readers (issue #21, item 5): the job events stream stops writing when a reader's socket is full and
 * catches up from the token log when it drains, so what the engine holds per response stays bounded however
 * long the stream; a reader that takes nothing for the stall timeout is cut off. Accounted bytes (Node's unsent
 * buffer per response), not RSS. Live sockets on 127.0.0.1; every wait is on a condition.
 */
import { connect, type Socket } from 'node:net';
import { createParser } from 'eventsource-parser';
import { describe, expect, it } from 'vitest';
import type { JobStore } from '../src/jobs/job-store.js';
import { ALPHA, servicesClosedAfterEach } from './api-testkit.js';

const service = servicesClosedAfterEach();

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 20));
}

async function listen(s: ReturnType<typeof service>): Promise<number> {
  await s.app.listen({ port: 0, host: '127.0.0.1' });
  const a = s.app.server.address();
  return typeof a === 'object' && a !== null ? a.port : 0;
}

/** A job owned by `alpha` that nothing runs: the test writes its tokens. */
async function manualJob(store: JobStore, id: string): Promise<void> {
  await store.create({ id, tenant: 'alpha', spec: { model: 'primary', prompt: 'p', priority: 'interactive' }, fingerprint: id, createdAtMs: 0 });
  await store.update(id, { status: 'running' });
}

function openEvents(port: number, id: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    s.once('error', reject);
    s.once('connect', () => {
      s.write(`GET /v1/jobs/${id}/events HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: ${ALPHA.authorization}\r\n\r\n`);
      resolve(s);
    });
  });
}

const CHUNK = 'abcdefghij'.repeat(1000); // 10,000 characters a chunk

async function appendChunks(store: JobStore, id: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await store.appendTokens(id, { index: i, count: 1, text: CHUNK });
    // Let the sockets take what they can, as a real upstream's pace would.
    if (i % 10 === 9) await new Promise((r) => setImmediate(r));
  }
}

describe('slow SSE readers', () => {
  it('200 readers that take nothing of an 8 MB stream (more than the kernel buffers): bounded unsent bytes per response, cut off after the stall timeout', async () => {
    const s = service({ service: { sseStallTimeoutMs: 4000 } });
    await manualJob(s.store, 'long');
    const port = await listen(s);
    const readers = await Promise.all(Array.from({ length: 200 }, () => openEvents(port, 'long')));
    for (const r of readers) {
      r.on('error', () => undefined);
      r.pause(); // never reads: the kernel buffers fill, then the engine's
    }
    await until(() => s.sse.open.size === 200);
    await appendChunks(s.store, 'long', 800);
    // Each response held at most about one socket buffer's worth, not the 4 MB it was behind by.
    expect(s.sse.peakBufferedBytes).toBeLessThanOrEqual(128 * 1024);
    expect(s.sse.bufferedBytes()).toBeLessThanOrEqual(200 * 128 * 1024);
    await s.store.update('long', { status: 'succeeded' });
    // Gone readers are ended by the stall timeout (their sockets close on the server's side).
    await until(() => s.sse.open.size === 0);
    for (const r of readers) r.destroy();
    expect(s.sse.endedStalled).toBe(200);
    expect(s.sse.endedOverBuffer).toBe(0);
    // 200 sockets, each taking megabytes into kernel buffers before it fills: slow on a busy machine, so a
    // generous limit (it only catches a hang).
  }, 300_000);

  it('a reader that pauses and comes back gets every token exactly once, in order, then the end event', async () => {
    const s = service({ service: { sseStallTimeoutMs: 0 } });
    await manualJob(s.store, 'resume');
    const port = await listen(s);
    const sock = await openEvents(port, 'resume');
    sock.pause();
    await until(() => s.sse.open.size === 1);
    await appendChunks(s.store, 'resume', 300);
    expect(s.sse.peakBufferedBytes).toBeLessThanOrEqual(128 * 1024);
    await s.store.update('resume', { status: 'succeeded' });
    // Read it all now.
    let text = '';
    let next = 0;
    let end: string | undefined;
    const parser = createParser({
      onEvent: (e) => {
        if (e.event === 'end') end = e.data;
        if (e.event !== 'token') return;
        const d = JSON.parse(e.data) as { index: number; count: number; text: string };
        expect(d.index).toBe(next);
        expect(e.id).toBe(String(d.index + d.count - 1));
        next = d.index + d.count;
        text += d.text;
      },
    });
    let head = true;
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      let body = d;
      if (head) {
        const at = d.indexOf('\r\n\r\n');
        if (at < 0) return;
        head = false;
        body = d.slice(at + 4);
      }
      // Chunked transfer encoding: strip the size lines (hex digits alone on a line).
      parser.feed(body.replace(/(^|\r\n)[0-9a-f]+\r\n/g, '$1'));
    });
    sock.resume();
    await until(() => end !== undefined);
    sock.destroy();
    expect(next).toBe(300);
    expect(text).toBe(CHUNK.repeat(300));
    expect(JSON.parse(end ?? '{}')).toMatchObject({ id: 'resume', status: 'succeeded' });
  });
});
