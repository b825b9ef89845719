/**
 * The engine as a service: a fastify app built by a factory, schema-first routes, tested with `inject()`.
 * `src/api/main.ts` is the process that listens.
 *
 *     POST /v1/jobs                      202 { id, status: 'queued' } (Idempotency-Key: 200 with the same job)
 *     GET  /v1/jobs/:id                  the job: status, outcome, attempts, output (partial while running)...
 *     GET  /v1/jobs/:id/events           SSE of its tokens, resumable with Last-Event-ID, ending with `end`
 *     DELETE /v1/jobs/:id                cancels it and aborts its upstream call
 *     POST /v1/chat/completions          OpenAI-compatible proxy through the engine (streaming or not)
 *     POST /v1/embeddings                OpenAI-compatible embeddings through the engine (batchable)
 *     GET  /v1/dead-letter               failed jobs; POST /v1/dead-letter/:id/requeue puts one back
 *     GET  /metrics, GET /healthz        Prometheus text (OpenTelemetry exporter); liveness and engine state
 *     GET  /readyz                       200 when new jobs can be taken, else 503 (e.g. the Redis queue is down)
 */
import type { ServicePrices } from '../engine/billed-usage.js';
import Fastify, { type FastifyInstance } from 'fastify';
import { Engine } from '../engine/engine.js';
import { preset, type Policy } from '../policy.js';
import type { Random } from '../random.js';
import { EngineTelemetry } from '../telemetry/engine-telemetry.js';
import { FleetMetrics } from '../telemetry/fleet-metrics.js';
import type { Fleet } from '../fleet/types.js';
import { createTelemetry, type Telemetry } from '../telemetry/setup.js';
import type { JobQueue } from '../queue/job-queue.js';
import { observeQueue } from '../queue/queue-metrics.js';
import type { Clock } from '../time/clock.js';
import type { ModelClient, ModelRequest } from '../upstream/model-client.js';
import { ApiError } from './api-errors.js';
import { CallbackSender } from '../jobs/callback-sender.js';
import { fastifyTimeoutOptions, limitConnectionsPerAddress, resolveConnectionLimits, type ConnectionCounts, type ConnectionLimitsOptions } from './connection-limits.js';
import { registerDeadLetter } from './dead-letter.js';
import { registerEmbeddings } from './embeddings-proxy.js';
import { errorHandler, installAuth, installCharsetCheck, sendError } from './http.js';
import { registerJobEvents } from './job-events.js';
import type { JobStore } from '../jobs/job-store.js';
import { JobService } from './jobs.js';
import { registerJobRoutes } from './jobs-routes.js';
import { InMemoryJobStore } from '../jobs/memory-job-store.js';
import type { PayloadOptions } from '../jobs/payload-store.js';
import { registerModels } from './models-route.js';
import { registerProxy } from './proxy.js';
import type { RouteContext } from './route-context.js';
import { SseStats } from './sse.js';
import { TenantAuth, type TenantsConfig } from './tenants.js';
import type { ResponseStore } from '../engine/response-cache.js';

/** Options of {@link buildServer}. */
export interface BuildServerOptions extends ConnectionLimitsOptions {
  readonly clock: Clock;
  /** Job and response ids, and the engine's own streams (`random.derive('engine')`) when it builds the engine. */
  readonly random: Random;
  /** API keys and their tenants, or `open` (any key or none; the key, if any, is the tenant). */
  readonly tenants: TenantsConfig;
  /** An engine to serve; the caller keeps it. Without it one is built from `policy` and `upstream`. */
  readonly engine?: Engine;
  /** @default preset('resilient') */
  readonly policy?: Policy;
  /** Required unless `engine` is given. */
  readonly upstream?: { readonly primary: ModelClient; readonly fallback?: ModelClient };
  /** Hosts (`name` or `name:port`) a `callbackUrl` may point at. @default [] (no callbacks) */
  readonly callbackAllowlist?: readonly string[];
  /** Callback delivery. @default { attempts: 3, backoffMs: 500, timeoutMs: 5000 } */
  readonly callbacks?: { readonly attempts?: number; readonly backoffMs?: number; readonly timeoutMs?: number };
  /** Largest request body; larger is a 413. @default 4 MiB */
  readonly bodyLimitBytes?: number;
  /** Telemetry to report to; the caller keeps it. @default an own `createTelemetry({ exporter: 'prometheus' })`, shut down on close */
  readonly telemetry?: Telemetry;
  /** @default new InMemoryJobStore({ maxBytes: jobStoreMaxBytes }) */
  readonly store?: JobStore;
  /** Byte cap of the default in-memory job store (finished jobs are evicted, the longest finished first). @default 256 MiB */
  readonly jobStoreMaxBytes?: number;
  /**
   * Where accepted jobs go (e.g. the Redis queue, with a RedisJobStore as `store`); the caller keeps it.
   * @default this process's engine (the embedded in-memory queue)
   */
  readonly queue?: JobQueue;
  /** The upstream model name of jobs that give none. @default 'primary' */
  readonly defaultModel?: string;
  /**
   * Deployment names a job's `modelHint` may use, each mapped to the engine's `primary` or `fallback` upstream.
   * `primary` (and the default model's name) always map to the primary, `fallback` to the fallback when there is
   * one (or when `engine` is given). @default just those
   */
  readonly deployments?: Readonly<Record<string, 'primary' | 'fallback'>>;
  /**
   * Payloads above a size go to this object store and the job keeps a `payloadRef` (with a remote `queue` only;
   * the workers need the same store). @default none (payloads stay in the job record)
   */
  readonly payloads?: PayloadOptions;
  /** Pass `x-mock-output-tokens`, `x-mock-prompt-tokens` and `x-mock-fault` to the upstream. @default true */
  readonly forwardMockHeaders?: boolean;
  /** A keep-alive comment on idle SSE streams after this long; 0 disables. @default 15_000 */
  readonly sseKeepAliveMs?: number;
  /** Bytes one SSE response may hold unsent before it is ended (a reader far too slow). @default 1 MiB */
  readonly sseMaxBufferedBytes?: number;
  /** How long an SSE reader may take nothing while data waits before its stream is ended; 0 never. @default 30_000 */
  readonly sseStallTimeoutMs?: number;
  /**
   * Prompt-token counts for TPM limits and usage estimates (`loadTokenCounter` of src/upstream/tokenizer.ts).
   * Ignored when `engine` is given. @default about 4 characters a token
   */
  readonly countPromptTokens?: (request: ModelRequest) => number;
  /** Where the engine's response cache keeps answers (`policy.cache.enabled`), e.g. on Redis. @default in memory */
  readonly responseStore?: ResponseStore;
  /**
   * Per-token prices of the upstreams (`serve --price`): jobs' `costUsd` and the `engine_cost_usd_total` metric.
   * @default none (billed tokens are still counted; dollars are not)
   */
  readonly prices?: ServicePrices;
  /**
   * The fleet behind `upstream.primary` (`serve --fleet`): every deployment's name may be a job's `modelHint`, and
   * its replicas' metrics (src/telemetry/fleet-metrics.ts) are on /metrics. @default none
   */
  readonly fleet?: Pick<Fleet, 'deployments' | 'onEvent'>;
  /** fastify request logging. @default false */
  readonly logger?: boolean;
}

/** The app and the parts behind it (for tests and the process entry). */
export interface ApiService {
  readonly app: FastifyInstance;
  readonly engine: Engine;
  readonly jobs: JobService;
  readonly store: JobStore;
  readonly queue: JobQueue;
  readonly telemetry: Telemetry;
  /** Open connections per client address, and how many were refused (with `maxConnectionsPerAddress`). */
  readonly connections: ConnectionCounts;
  /** SSE counters: open streams, bytes held unsent, streams ended for slow readers. */
  readonly sse: SseStats;
}

function validate(o: BuildServerOptions): void {
  if (o.engine === undefined && o.upstream === undefined) throw new RangeError('buildServer: expected `engine` or `upstream`, got neither');
  if (o.bodyLimitBytes !== undefined && !(Number.isInteger(o.bodyLimitBytes) && o.bodyLimitBytes >= 1024)) {
    throw new RangeError(`bodyLimitBytes: expected an integer >= 1024, got ${String(o.bodyLimitBytes)}`);
  }
  if (o.sseKeepAliveMs !== undefined && !(o.sseKeepAliveMs >= 0)) throw new RangeError(`sseKeepAliveMs: expected a number >= 0, got ${String(o.sseKeepAliveMs)}`);
  if (o.sseMaxBufferedBytes !== undefined && !(Number.isInteger(o.sseMaxBufferedBytes) && o.sseMaxBufferedBytes >= 65_536)) {
    throw new RangeError(`sseMaxBufferedBytes: expected an integer >= 65536, got ${String(o.sseMaxBufferedBytes)}`);
  }
  if (o.sseStallTimeoutMs !== undefined && !(o.sseStallTimeoutMs >= 0)) throw new RangeError(`sseStallTimeoutMs: expected a number >= 0, got ${String(o.sseStallTimeoutMs)}`);
  for (const h of o.callbackAllowlist ?? []) {
    if (!/^[a-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-f:.]+\](:\d{1,5})?$/i.test(h)) throw new RangeError(`callbackAllowlist: expected host names like "hooks.example.com" or "127.0.0.1:8080", got ${JSON.stringify(h)}`);
  }
}

/** Builds the service. Closing the app cancels running jobs (they end `cancelled`) and ends open streams. */
export function buildService(o: BuildServerOptions): ApiService {
  validate(o);
  const limits = resolveConnectionLimits(o);
  const { clock, random } = o;
  const engine =
    o.engine ??
    new Engine({
      clock,
      random: random.derive('engine'),
      policy: o.policy ?? preset('resilient'),
      primary: (o.upstream as NonNullable<BuildServerOptions['upstream']>).primary,
      ...(o.upstream?.fallback !== undefined ? { fallback: o.upstream.fallback } : {}),
      ...(o.countPromptTokens !== undefined ? { countPromptTokens: o.countPromptTokens } : {}),
      ...(o.responseStore !== undefined ? { responseStore: o.responseStore } : {}),
    });
  const ownTelemetry = o.telemetry === undefined;
  const telemetry = o.telemetry ?? createTelemetry({ exporter: 'prometheus' });
  const observed = new EngineTelemetry(engine, telemetry, clock, o.prices);
  const store = o.store ?? new InMemoryJobStore(o.jobStoreMaxBytes !== undefined ? { maxBytes: o.jobStoreMaxBytes } : {});
  const allowlist = (o.callbackAllowlist ?? []).map((h) => h.toLowerCase());
  const jobs = new JobService({
    engine,
    store,
    clock,
    random,
    telemetry: observed,
    ...(o.prices !== undefined ? { prices: o.prices } : {}),
    ...(allowlist.length > 0 ? { callbacks: new CallbackSender({ clock, ...o.callbacks }) } : {}),
    ...(o.queue !== undefined ? { queue: o.queue } : {}),
  });
  const unobserveQueue = observeQueue(telemetry.meter, jobs.queue);
  const fleetMetrics = o.fleet !== undefined ? new FleetMetrics(telemetry.meter, o.fleet) : undefined;
  // Every open SSE stream and every proxied call in flight is here until it ends.
  const closers = new Set<() => void>();
  const sseStats = new SseStats();
  let closed = false;
  const ctx: RouteContext = {
    engine,
    jobs,
    store,
    clock,
    random,
    telemetry: observed,
    callbackAllowlist: allowlist,
    defaultModel: o.defaultModel ?? 'primary',
    payloads: o.payloads,
    deployments: new Map<string, 'primary' | 'fallback'>([
      ['primary', 'primary'],
      [o.defaultModel ?? 'primary', 'primary'],
      ...(o.upstream?.fallback !== undefined || o.engine !== undefined ? [['fallback', 'fallback'] as const] : []),
      ...Object.entries(o.deployments ?? {}),
      // A fleet is the engine's primary upstream: it routes a named deployment itself (RouteMeta.modelHint).
      ...(o.fleet?.deployments() ?? []).map((d) => [d.name, 'primary'] as const),
    ]),
    forwardMockHeaders: o.forwardMockHeaders ?? true,
    sseKeepAliveMs: o.sseKeepAliveMs ?? 15_000,
    sseLimits: {
      ...(o.sseMaxBufferedBytes !== undefined ? { maxBufferedBytes: o.sseMaxBufferedBytes } : {}),
      ...(o.sseStallTimeoutMs !== undefined ? { stallTimeoutMs: o.sseStallTimeoutMs } : {}),
    },
    sseStats,
    countPromptTokens: o.countPromptTokens,
    onClosing: (fn) => {
      if (closed) {
        fn();
        return () => undefined;
      }
      closers.add(fn);
      return () => closers.delete(fn);
    },
    createdSeconds: () => Math.floor(jobs.wallNowMs() / 1000),
  };

  const app = Fastify({
    logger: o.logger ?? false,
    bodyLimit: o.bodyLimitBytes ?? 4 * 1024 * 1024,
    // A body (or headers) that stops arriving is answered 408 and its connection closed.
    ...fastifyTimeoutOptions(limits),
    // Ids up to 1024 characters reach the route schemas (128 at most: a longer one is a 400 naming `id`); fastify's default, 100, answered 414.
    routerOptions: { maxParamLength: 1024 },
    // Strict types (no coercion, nothing silently removed), every field error reported, with the bad value.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: true, verbose: true } },
    return503OnClosing: true,
    // By the time connections are closed, preClose has cancelled the jobs and ended every stream; what is left
    // is idle or never used (clients pre-open sockets, which would hold close() for their keep-alive time).
    forceCloseConnections: true,
    // Malformed URLs and the like, before routing: the same error shape as everything else.
    frameworkErrors: (err, req, reply) => errorHandler(err, req, reply),
  });
  const connections = limitConnectionsPerAddress(app.server, limits.maxConnectionsPerAddress);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((req, reply) => sendError(reply, new ApiError(404, 'not_found', `route: expected a known route, got ${req.method} ${req.url.split('?')[0] ?? ''}`)));
  installCharsetCheck(app);
  installAuth(app, new TenantAuth(o.tenants));

  registerJobRoutes(app, ctx);
  registerJobEvents(app, ctx);
  registerDeadLetter(app, ctx);
  registerProxy(app, ctx);
  registerModels(app, ctx, o.upstream);
  registerEmbeddings(app, ctx);

  app.get('/healthz', async () => {
    const s = engine.snapshot();
    return {
      status: 'ok',
      engine: { queueDepth: s.queueDepth, inFlight: s.inFlight, concurrencyLimit: Number.isFinite(s.concurrencyLimit) ? s.concurrencyLimit : null, breaker: s.breaker, active: s.active },
      jobs: { active: jobs.active },
      queue: { kind: jobs.queue.kind, name: jobs.queue.name, ...jobs.queue.health() },
    };
  });

  app.get('/readyz', async (_req, reply) => {
    const h = jobs.queue.health();
    return reply.code(h.ready ? 200 : 503).send({ status: h.ready ? 'ready' : 'unready', queue: { kind: jobs.queue.kind, name: jobs.queue.name, ...h } });
  });

  app.get('/metrics', async (_req, reply) => {
    const text = telemetry.prometheusText();
    if (text === undefined) throw new ApiError(404, 'metrics_disabled', `metrics: expected the prometheus exporter, got ${telemetry.exporter}`);
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(await text);
  });

  // Before the server waits for connections to end: running jobs are cancelled (their streams get the end
  // event of the cancelled job), then the remaining streams and proxied calls end.
  app.addHook('preClose', async () => {
    await jobs.close();
    closed = true;
    for (const fn of [...closers]) fn();
    closers.clear();
  });
  app.addHook('onClose', async () => {
    unobserveQueue();
    fleetMetrics?.close();
    observed.close();
    if (ownTelemetry) await telemetry.shutdown();
  });
  return { app, engine, jobs, store, queue: jobs.queue, telemetry, connections, sse: sseStats };
}

/** Builds the fastify app (see {@link buildService} for the parts behind it). */
export function buildServer(o: BuildServerOptions): FastifyInstance {
  return buildService(o).app;
}
