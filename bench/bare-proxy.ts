/**
 * The floor of bench/live.bench.ts: a bare pass-through proxy, run as its own process like the engine service
 * (`node --import tsx bench/bare-proxy.ts --port P --upstream URL [--connections N] [--keep-alive-ms MS]`).
 *
 * node:http towards the client, undici (an Agent pooled like the engine's: `connections` keep-alive sockets per
 * origin, one request each, no header or body timeouts) towards the upstream. Every request is forwarded as it came
 * (method, path, headers other than hop-by-hop ones, the body buffered: a chat request is a few hundred bytes) and
 * the answer's status, headers and body bytes are piped back unchanged: no SSE or JSON parsing, no queue, no policy,
 * no telemetry. Backpressure: a client socket that is backed up pauses the upstream socket until it drains; a client
 * that goes away aborts its upstream request. An upstream that fails before answering gets a 502; one that breaks
 * mid-stream breaks the client's stream too (never a silent clean end).
 *
 * What any proxy hop costs on this machine, measured in the same rounds as the engine, is the floor under the
 * engine ÷ direct ratios. `GET /healthz` answers 200. SIGTERM/SIGINT close both sides and exit 0.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { Agent, type Dispatcher } from 'undici';
import { ValidationError } from '../src/errors.js';

/** Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus the ones undici sets itself. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);
const NOT_FORWARDED_UP = new Set([...HOP_BY_HOP, 'host', 'content-length', 'expect']);

/** Options of the proxy, from its flags. */
export interface BareProxyOptions {
  readonly port: number;
  /** The upstream's origin, e.g. `http://127.0.0.1:8000`. */
  readonly upstream: string;
  /** Upstream keep-alive sockets (the engine's `--upstream-connections`). @default 1024 */
  readonly connections: number;
  /** How long an idle upstream socket is kept (the engine's `--upstream-keep-alive-ms`). @default 60_000 */
  readonly keepAliveMs: number;
}

function positiveInt(flag: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new ValidationError(flag, 'a positive integer', raw);
  return n;
}

function parseOptions(argv: readonly string[]): BareProxyOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: { port: { type: 'string' }, upstream: { type: 'string' }, connections: { type: 'string' }, 'keep-alive-ms': { type: 'string' } },
  });
  const upstream = values.upstream;
  if (upstream === undefined || !/^https?:\/\//.test(upstream)) throw new ValidationError('--upstream', 'an http(s) URL', upstream);
  return {
    port: positiveInt('--port', values.port ?? '', 0),
    upstream: new URL(upstream).origin,
    connections: positiveInt('--connections', values.connections, 1024),
    keepAliveMs: positiveInt('--keep-alive-ms', values['keep-alive-ms'], 60_000),
  };
}

function upstreamHeaders(h: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const k in h) {
    const v = h[k];
    if (v !== undefined && !NOT_FORWARDED_UP.has(k)) out[k] = v;
  }
  return out;
}

function clientHeaders(h: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const k in h) {
    const v = h[k];
    if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  }
  return out;
}

/** One proxied exchange: undici's dispatch handler, writing what arrives straight to the client's response. */
class Relay implements Dispatcher.DispatchHandler {
  #controller: Dispatcher.DispatchController | undefined;
  #clientGone = false;

  constructor(private readonly res: ServerResponse) {
    res.once('close', () => {
      if (res.writableFinished) return;
      this.#clientGone = true;
      this.#controller?.abort(new Error('client closed the connection'));
    });
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#clientGone) controller.abort(new Error('client closed the connection'));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.res.writeHead(statusCode, clientHeaders(headers));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    this.res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    if (this.#clientGone) return;
    if (this.res.headersSent) {
      this.res.destroy(err);
      return;
    }
    const body = JSON.stringify({ error: { message: `bare proxy: upstream failed: ${err.message}`, type: 'upstream_error' } });
    this.res.writeHead(502, { 'content-type': 'application/json' }).end(body);
  }
}

function main(o: BareProxyOptions): void {
  const agent = new Agent({ connections: o.connections, pipelining: 1, keepAliveTimeout: o.keepAliveMs, headersTimeout: 0, bodyTimeout: 0 });
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () => {
      const method = (req.method ?? 'GET') as Dispatcher.HttpMethod;
      const body = chunks.length === 0 ? null : chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      agent.dispatch({ origin: o.upstream, path: req.url ?? '/', method, headers: upstreamHeaders(req.headers), body }, new Relay(res));
    });
  });
  // As the engine (fastify's default): a client's idle keep-alive socket is kept 72 s.
  server.keepAliveTimeout = 72_000;
  server.listen(o.port, '127.0.0.1', () => {
    process.stderr.write(`bare-proxy: listening on http://127.0.0.1:${o.port} (upstream ${o.upstream}, ${o.connections} connections; pid ${process.pid})\n`);
  });
  const shutdown = (): void => {
    server.closeAllConnections();
    server.close();
    void agent.destroy().finally(() => process.exit(0));
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

try {
  main(parseOptions(process.argv.slice(2)));
} catch (err) {
  process.stderr.write(`bare-proxy: ${(err as Error).message}\n`);
  process.exit(2);
}
