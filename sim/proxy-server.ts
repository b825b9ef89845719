/**
 * The chaos proxy: `sim --proxy URL` puts the mock's fault injection in front of a real OpenAI-compatible server
 * (vLLM, SGLang, a provider, a staging gateway). Requests go to the upstream unchanged (minus `x-mock-fault` and
 * hop-by-hop headers) and once each: the proxy never retries. Answers come back unchanged, SSE as it arrives. The
 * same fault plans apply as in the mock (sim/faults.ts): per-request `x-mock-fault`, `--faults` plans and timelines,
 * `PUT /mock/faults`; injected statuses are answered by the proxy itself with the mock's headers; delivery faults
 * act on the relayed stream (sim/proxy-relay.ts); a crash closes the listener for the downtime (connections are
 * refused for real), then the proxy answers 503 during the cold start.
 *
 * Its own routes: `/health`, `/metrics` (the mock's metric names plus `mock:proxy_*`), `/mock/faults`, `/mock/stats`.
 * Everything else is relayed.
 */
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Agent, request, type Dispatcher } from 'undici';
import { HarnessError } from '../src/errors.js';
import { Random } from '../src/random.js';
import type { Clock, Timer } from '../src/time/clock.js';
import { RealClock } from '../src/time/real-clock.js';
import { ConnectionRefusedError } from '../src/upstream/errors.js';
import { registerControl } from './control.js';
import type { FaultPlanInput } from './faults.js';
import { openAIError, toHttpError } from './http-errors.js';
import { injectedError } from './mock-errors.js';
import { ServerMetrics } from './metrics.js';
import { ProxyFaults } from './proxy-faults.js';
import { registerProxyMetrics } from './proxy-metrics.js';
import { relayResponse } from './proxy-relay.js';
import { clientAbort, resetConnection } from './wire.js';

/** Options of {@link buildProxyServer}. */
export interface ProxyServerOptions {
  /** The upstream's base URL, e.g. `http://127.0.0.1:8000` or `https://api.example.com/v1`. */
  readonly upstreamUrl: string;
  /** The fault plan at start-up. @default {} */
  readonly faults?: FaultPlanInput;
  /** Root seed of every fault draw. @default 1 */
  readonly seed?: number;
  /** @default new RealClock() */
  readonly clock?: Clock;
  /** Lets non-loopback clients use /mock/* with `authorization: Bearer <token>`. @default undefined */
  readonly controlToken?: string;
  /** @default false */
  readonly logger?: boolean;
  /** Largest request body relayed. @default 8 MiB */
  readonly bodyLimitBytes?: number;
  /** Sockets to the upstream. @default 4096 */
  readonly upstreamConnections?: number;
}

/** A bad `--proxy` URL. */
export class ProxyUrlError extends HarnessError {
  constructor(value: string, why: string) {
    super('PROXY_URL', `--proxy: expected an http(s) URL of an OpenAI-compatible server, got ${JSON.stringify(value)} (${why})`);
  }
}

/** Parses the upstream URL. @throws ProxyUrlError */
export function parseUpstreamUrl(value: string): URL {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new ProxyUrlError(value, 'not a URL');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ProxyUrlError(value, `protocol ${u.protocol}`);
  if (u.search !== '' || u.hash !== '') throw new ProxyUrlError(value, 'no query or fragment expected');
  return u;
}

/**
 * Where a request path goes upstream: the base URL's path, then the request's. A base ending in `/v1` takes
 * `/v1/...` requests without doubling it, so both `http://host:8000` and `http://host:8000/v1` work.
 */
export function upstreamTarget(base: URL, path: string): string {
  const basePath = base.pathname.replace(/\/+$/, '');
  let p = path;
  if (basePath.endsWith('/v1') && (p === '/v1' || p.startsWith('/v1/') || p.startsWith('/v1?'))) p = p.slice(3);
  return `${base.origin}${basePath}${p}`;
}

/** Request headers not forwarded: hop-by-hop ones, the proxy's own fault header, and those undici sets itself. */
const DROP_REQUEST = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-connection', 'proxy-authorization', 'content-length', 'expect', 'x-mock-fault']);

/** The app, its fault state and what it owns. */
export interface ProxyServer {
  readonly app: FastifyInstance;
  readonly faults: ProxyFaults;
  readonly upstream: URL;
}

/** Builds the proxy app (it listens nowhere; {@link ChaosProxy} does). */
export function buildProxyServer(o: ProxyServerOptions): ProxyServer {
  const upstream = parseUpstreamUrl(o.upstreamUrl);
  const clock = o.clock ?? new RealClock();
  const faults = new ProxyFaults(clock, new Random(o.seed ?? 1).derive('proxy'), o.faults ?? {});
  // Idle upstream sockets are closed after 4 s (undici's default; a server's Keep-Alive hint can only shorten it), well
  // before common servers close theirs (Node 5 s, fastify 72 s): a request sent on a socket the server is closing at
  // that moment would fail, and the proxy never retries.
  const dispatcher: Dispatcher = new Agent({ connections: o.upstreamConnections ?? 4096, headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 4_000, keepAliveMaxTimeout: 4_000, keepAliveTimeoutThreshold: 1_000 });
  let seq = 0;
  const app = Fastify({
    logger: o.logger ?? false,
    bodyLimit: o.bodyLimitBytes ?? 8 * 1024 * 1024,
    return503OnClosing: true,
    forceCloseConnections: true,
  });
  const metrics = new ServerMetrics([faults]);
  registerProxyMetrics(metrics.registry, faults);
  app.addHook('onClose', async () => {
    metrics.close();
    faults.close();
    await dispatcher.close().catch(() => undefined);
  });

  app.get('/health', async (_req, reply) => {
    const h = faults.health();
    return reply.code(h.ready ? 200 : 503).send({ status: h.ready ? 'ok' : 'unavailable', models: { [faults.name]: h.state }, upstream: upstream.href });
  });
  app.get('/metrics', async (_req, reply) => {
    const { contentType, body } = await metrics.text();
    return reply.header('content-type', contentType).send(body);
  });
  registerControl(app, { models: new Map([[faults.name, faults]]) }, o.controlToken);

  // Everything else is relayed, its body as raw bytes (an encapsulated scope: the control plane keeps its JSON parser).
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    scope.all('/*', (req, reply) => relay(req, reply));
  });

  const relay = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    reply.hijack();
    const res = reply.raw;
    const startMs = clock.now();
    faults.counters.requests++;
    faults.events.requests++;
    const header = req.headers['x-mock-fault'];
    const clientId = typeof req.headers['x-request-id'] === 'string' ? req.headers['x-request-id'] : undefined;
    const id = clientId ?? `proxy-${++seq}`;
    const refuse = (err: unknown): void => {
      faults.counters.injected++;
      faults.events.refused(id, err);
      if (res.destroyed || res.headersSent) return;
      if (err instanceof ConnectionRefusedError) return resetConnection(res);
      const e = toHttpError(err);
      if (e.kind === 'reset') return resetConnection(res);
      res.writeHead(e.status, { 'content-type': 'application/json; charset=utf-8', ...e.headers, ...(clientId !== undefined ? { 'x-request-id': clientId } : {}) });
      res.end(JSON.stringify(e.body));
    };
    const abort = clientAbort(res);
    const upstreamAbort = new AbortController();
    abort.signal.addEventListener('abort', () => upstreamAbort.abort(abort.signal.reason), { once: true });
    try {
      const f = faults.decide(id, typeof header === 'string' ? header : undefined);
      if (f.networkDelayMs > 0) {
        await clock.sleep(f.networkDelayMs, abort.signal);
        faults.assertUp(id);
      }
      if (f.hang) {
        faults.events.count('hang', id);
        await faults.hangs.until(abort.signal);
      }
      if (f.reject !== undefined) {
        faults.events.count(`status-${f.reject.status}`, id);
        throw injectedError(f.reject.status, f.reject.retryAfterMs, `injected ${f.reject.kind} fault (chaos proxy)`);
      }
      if (f.crash !== undefined) {
        faults.crash(f.crash.downtimeMs, f.crash.coldStartMs);
        throw new ConnectionRefusedError('the chaos proxy crashed while admitting this request');
      }
      if (f.stall !== undefined) faults.events.count('stall', id);
      faults.counters.upstreamRequests++;
      let up: Dispatcher.ResponseData;
      try {
        up = await request(upstreamTarget(upstream, req.url), {
          method: req.method as Dispatcher.HttpMethod,
          headers: forwardHeaders(req.headers),
          ...(Buffer.isBuffer(req.body) && req.method !== 'GET' && req.method !== 'HEAD' ? { body: req.body } : {}),
          signal: upstreamAbort.signal,
          dispatcher,
        });
      } catch (err) {
        if (abort.signal.aborted) {
          faults.counters.cancelled++;
          return;
        }
        if (res.destroyed) return; // the proxy crashed meanwhile
        faults.counters.upstreamErrors++;
        const why = err instanceof Error ? `${(err as NodeJS.ErrnoException).code ?? err.name}: ${err.message}` : String(err);
        res.writeHead(502, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify(openAIError(`chaos proxy: the upstream ${upstream.origin} did not answer (${why})`, 'server_error', null, 'upstream_unreachable')));
        return;
      }
      if (res.destroyed) {
        up.body.destroy();
        return;
      }
      await relayResponse({ clock, faults, id, res, status: up.statusCode, headers: up.headers, body: up.body, f, abortUpstream: () => upstreamAbort.abort(), startMs });
    } catch (err) {
      if (abort.signal.aborted) return; // the client left during a delay or a hang: nothing to answer
      refuse(err);
    } finally {
      abort.done();
    }
  };
  return { app, faults, upstream };
}

function forwardHeaders(h: FastifyRequest['headers']): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !DROP_REQUEST.has(k)) out[k] = v;
  return out;
}

/** Options of {@link ChaosProxy.start}. */
export interface ChaosProxyOptions extends ProxyServerOptions {
  /** @default 0 (a free port; kept across crashes) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
}

/**
 * A listening chaos proxy. A crash fault closes its listener for the downtime (new connections are refused; those
 * open are reset), then it listens again on the same port, in cold start.
 */
export class ChaosProxy {
  private relisten: Timer | undefined;
  private closed = false;

  private constructor(
    readonly server: ProxyServer,
    readonly port: number,
    readonly host: string,
    private readonly clock: Clock,
  ) {
    server.faults.onEvent((e) => {
      if (e.type === 'crash') this.down(e.downtimeMs);
    });
  }

  static async start(o: ChaosProxyOptions): Promise<ChaosProxy> {
    const clock = o.clock ?? new RealClock();
    const s = buildProxyServer({ ...o, clock });
    const host = o.host ?? '127.0.0.1';
    await s.app.listen({ port: o.port ?? 0, host });
    const port = (s.app.server.address() as AddressInfo).port;
    return new ChaosProxy(s, port, host, clock);
  }

  get url(): string {
    return `http://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  get faults(): ProxyFaults {
    return this.server.faults;
  }

  private down(downtimeMs: number): void {
    const srv = this.server.app.server;
    this.relisten?.cancel();
    if (srv.listening) srv.close();
    srv.closeAllConnections();
    this.relisten = this.clock.setTimer(downtimeMs, () => {
      this.relisten = undefined;
      if (!this.closed) srv.listen(this.port, this.host);
    }, 'proxy-relisten');
  }

  async close(): Promise<void> {
    this.closed = true;
    this.relisten?.cancel();
    await this.server.app.close();
  }
}
