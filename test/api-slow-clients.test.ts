/**
 * Slow and greedy clients (issue #21, item 1): a body or headers that stop arriving are answered 408 and closed
 * within the configured deadlines, and one client address cannot hold more than its share of connections. Live
 * sockets on 127.0.0.1; every wait is on an event, bounded only by the test's generous timeout.
 */
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ALPHA, servicesClosedAfterEach } from './api-testkit.js';

const service = servicesClosedAfterEach();

async function listen(s: ReturnType<typeof service>): Promise<number> {
  await s.app.listen({ port: 0, host: '127.0.0.1' });
  const a = s.app.server.address();
  if (a === null || typeof a !== 'object') throw new Error('no address');
  return a.port;
}

/** A raw connection that records what it receives and resolves `closed` with it when the server closes it. */
function rawClient(port: number): Promise<{ socket: Socket; closed: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (received += d));
    const closed = new Promise<string>((r) => socket.once('close', () => r(received)));
    socket.once('error', () => undefined);
    socket.once('connect', () => resolve({ socket, closed }));
    socket.once('error', reject);
  });
}

describe('slow clients', () => {
  it('closes connections whose body stops arriving (408), and the service keeps serving', async () => {
    const s = service({ service: { requestTimeoutMs: 1500, headersTimeoutMs: 1000 } });
    const port = await listen(s);
    const clients = await Promise.all(Array.from({ length: 50 }, () => rawClient(port)));
    const body = JSON.stringify({ prompt: 'x'.repeat(64 * 1024) });
    for (const { socket } of clients) {
      socket.write(
        `POST /v1/jobs HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: ${ALPHA.authorization}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`,
      );
      // All but the last byte: the request never completes on its own.
      socket.write(body.slice(0, -1));
    }
    const answers = await Promise.all(clients.map((c) => c.closed));
    for (const a of answers) expect(a).toMatch(/^HTTP\/1\.1 408/);
    expect(s.jobs.active).toBe(0);
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(res.status).toBe(200);
  });

  it('closes connections whose headers stop arriving', async () => {
    const s = service({ service: { requestTimeoutMs: 5000, headersTimeoutMs: 800 } });
    const port = await listen(s);
    const clients = await Promise.all(Array.from({ length: 20 }, () => rawClient(port)));
    for (const { socket } of clients) socket.write('GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: ');
    const answers = await Promise.all(clients.map((c) => c.closed));
    for (const a of answers) expect(a).toMatch(/^HTTP\/1\.1 408/);
  });

  it('refuses connections past the per-address limit and takes new ones once others close', async () => {
    const s = service({ service: { maxConnectionsPerAddress: 3 } });
    const port = await listen(s);
    const held = await Promise.all(Array.from({ length: 3 }, () => rawClient(port)));
    // Accepted by the kernel, then closed by the server without an answer.
    const extra = await rawClient(port);
    expect(await extra.closed).toBe('');
    expect(s.connections.refused).toBe(1);
    expect(s.connections.open.get('127.0.0.1')).toBe(3);
    held[0]?.socket.destroy();
    await held[0]?.closed;
    // The server sees the close on its own side: wait until the slot is free, then a new connection is served.
    for (;;) {
      if ((s.connections.open.get('127.0.0.1') ?? 0) < 3) break;
      await new Promise((r) => setImmediate(r));
    }
    const next = await rawClient(port);
    next.socket.write('GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n');
    expect(await next.closed).toMatch(/^HTTP\/1\.1 200/);
    for (const h of held) h.socket.destroy();
  });

  it('serves job ids of up to 128 characters (404 for an unknown one, never 414)', async () => {
    const s = service();
    for (const n of [100, 101, 128]) {
      const res = await s.app.inject({ method: 'GET', url: `/v1/jobs/${'a'.repeat(n)}`, headers: ALPHA });
      expect(res.statusCode, `id of ${n} characters`).toBe(404);
    }
    const long = await s.app.inject({ method: 'GET', url: `/v1/jobs/${'a'.repeat(129)}`, headers: ALPHA });
    expect(long.statusCode).toBe(400);
  });
});

describe('charset', () => {
  it('refuses a body in a charset other than UTF-8 with 415 naming content-type; utf-8 and none are fine', async () => {
    const s = service();
    const payload = JSON.stringify({ prompt: 'caf\u00e9' });
    for (const charset of ['latin1', 'ISO-8859-1', 'utf-16']) {
      const r = await s.app.inject({ method: 'POST', url: '/v1/jobs', payload, headers: { ...ALPHA, 'content-type': `application/json; charset=${charset}` } });
      expect(r.statusCode, charset).toBe(415);
      expect(r.json().error).toMatchObject({ code: 'unsupported_media_type', param: 'content-type' });
    }
    for (const ct of ['application/json; charset=utf-8', 'application/json; charset="UTF-8"', 'application/json']) {
      // A payload of its own each time: the same payload again is the same job (keyed by its hash), a 200 replay.
      const own = JSON.stringify({ prompt: `caf\u00e9 (${ct})` });
      const r = await s.app.inject({ method: 'POST', url: '/v1/jobs', payload: own, headers: { ...ALPHA, 'content-type': ct } });
      expect(r.statusCode, ct).toBe(202);
    }
  });
});
