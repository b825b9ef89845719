/**
 * The service process: `npm run serve -- --upstream URL --policy NAME [--fallback URL] [--tenants FILE|--open] ...`
 * (see --help). Builds HTTP model clients, telemetry through the OpenTelemetry NodeSDK, and the app; prints one
 * line when listening. A bad flag prints one line naming it and exits 2, without a stack trace. SIGINT/SIGTERM
 * close gracefully: running jobs are cancelled (each ends `cancelled`), streams end, telemetry is flushed.
 */
import { readFileSync } from 'node:fs';
import { helpCommand } from '../cli-program.js';
import { HarnessError } from '../errors.js';
import { openRedisApi, type RedisApiSide } from '../queue/redis-service.js';
import { RedisResponseStore } from '../queue/redis-response-store.js';
import { Random } from '../random.js';
import { startNodeSdk } from '../telemetry/setup.js';
import { LocalDirPayloadStore } from '../jobs/payload-store.js';
import { RealClock } from '../time/real-clock.js';
import { HttpModelClient } from '../upstream/http-openai.js';
import { loadTokenCounter } from '../upstream/tokenizer.js';
import { parseServeArgs, ServeUsageError, type ServeOptions } from './cli-options.js';
import { fleetPrices, unpricedDeployments, unpricedNotice } from './fleet-file.js';
import { buildFleetUpstream, type FleetUpstream } from './fleet-upstream.js';
import { withModel } from './model-alias.js';
import { buildServer } from './server.js';

const USAGE_EXIT_CODE = 2;

function fail(message: string, code = USAGE_EXIT_CODE): never {
  process.stderr.write(`serve: ${message}\n${code === USAGE_EXIT_CODE ? `Run "${helpCommand('serve')}" for usage.\n` : ''}`);
  process.exit(code);
}

async function serve(o: ServeOptions): Promise<void> {
  const clock = new RealClock();
  const telemetry = startNodeSdk({ exporter: o.exporter, serviceName: 'ai-engine', ...(o.otlpEndpoint !== undefined ? { otlpEndpoint: o.otlpEndpoint } : {}) });
  const key = o.upstreamKey !== undefined ? { apiKey: o.upstreamKey } : {};
  const pool = { connections: o.upstreamConnections, keepAliveTimeoutMs: o.upstreamKeepAliveMs };
  const seed = o.seed ?? Math.floor(clock.wallTimeMs()) % 2 ** 31;
  // With --fleet, the fleet of replicas is the engine's primary upstream (src/api/fleet-upstream.ts).
  let fleet: FleetUpstream | undefined;
  try {
    if (o.fleet !== undefined) {
      fleet = buildFleetUpstream(o.fleet, { clock, random: new Random(seed), policy: o.policy.fleet, dialect: o.upstreamDialect, ...pool, ...key });
    }
  } catch (err) {
    if (err instanceof HarnessError) fail(`--fleet: ${err.message}`);
    throw err;
  }
  const single = o.upstream !== undefined ? new HttpModelClient({ baseUrl: o.upstream, clock, dialect: o.upstreamDialect, ...pool, ...key }) : undefined;
  const primary = fleet?.fleet ?? single;
  if (primary === undefined) return fail('--upstream: expected a URL (or --fleet FILE), got none');
  const fallbackClient = o.fallback !== undefined ? new HttpModelClient({ baseUrl: o.fallback, clock, dialect: o.fallbackDialect, ...pool, ...key }) : undefined;
  const fallback = fallbackClient !== undefined && o.fallbackModel !== undefined ? withModel(fallbackClient, o.fallbackModel) : fallbackClient;
  const prices = o.prices ?? (o.fleet !== undefined ? fleetPrices(o.fleet) : undefined);
  // Said at start-up: a deployment without a price is not billed at another's (cost unknown, as in virtual mode).
  if (o.prices === undefined && o.fleet !== undefined) {
    const unpriced = unpricedDeployments(o.fleet);
    if (unpriced.length > 0 && prices !== undefined) process.stderr.write(`serve: ${unpricedNotice(unpriced)}\n`);
  }
  let redis: RedisApiSide | undefined;
  if (o.queue !== undefined) {
    try {
      redis = await openRedisApi({ url: o.queue, clock, attempts: o.policy.retry.maxAttempts });
    } catch (err) {
      if (err instanceof HarnessError) fail(`--queue: ${err.message}`, 1);
      throw err;
    }
  }
  // Loaded before serving: an encoding takes seconds to load, and counting must be synchronous at admission.
  const countPromptTokens = await loadTokenCounter(o.tokenizer);
  const app = buildServer({
    clock,
    // Ids must differ across restarts: seed from the wall clock unless told otherwise. With a shared queue, ids
    // must also differ across API processes: the pid goes into the seed.
    random: new Random(redis === undefined ? seed : `${seed}:${process.pid}`),
    ...(redis !== undefined ? { store: redis.store, queue: redis.queue } : {}),
    // With a Redis queue, the response cache lives there too: every API process shares its answers.
    ...(redis !== undefined && o.policy.cache.enabled ? { responseStore: new RedisResponseStore(redis.redis) } : {}),
    tenants: o.tenants,
    policy: o.policy,
    upstream: { primary, ...(fallback !== undefined ? { fallback } : {}) },
    // A job's modelHint may name the fallback's model too.
    ...(fallback !== undefined && o.fallbackModel !== undefined ? { deployments: { [o.fallbackModel]: 'fallback' as const } } : {}),
    ...(fleet !== undefined ? { fleet: fleet.fleet } : {}),
    telemetry,
    callbackAllowlist: o.callbackAllowlist,
    bodyLimitBytes: o.bodyLimitBytes,
    requestTimeoutMs: o.requestTimeoutMs,
    headersTimeoutMs: o.headersTimeoutMs,
    maxConnectionsPerAddress: o.maxConnectionsPerAddress,
    jobStoreMaxBytes: o.jobStoreMaxBytes,
    ...(o.payloadDir !== undefined ? { payloads: { store: new LocalDirPayloadStore(o.payloadDir), thresholdBytes: o.payloadThresholdBytes } } : {}),
    defaultModel: o.model,
    countPromptTokens,
    ...(prices !== undefined ? { prices } : {}),
    logger: o.log,
  });
  let closing = false;
  const shutdown = (): void => {
    if (closing) return;
    closing = true;
    void app
      .close()
      .then(() => Promise.all([telemetry.shutdown(), single?.close(), ...(fleet?.clients ?? []).map((c) => c.close()), fallbackClient?.close(), redis?.close()]))
      .then(
        () => process.exit(0),
        (err: unknown) => fail(`error while closing: ${(err as Error).message}`, 1),
      );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  try {
    await app.listen({ port: o.port, host: o.host });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') fail(`--port: ${o.port} is already in use on ${o.host}`);
    if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') fail(`--host: cannot bind ${JSON.stringify(o.host)} (${e.code})`);
    if (e.code === 'EACCES') fail(`--port: not allowed to bind port ${o.port} (EACCES)`);
    throw err;
  }
  const a = app.server.address();
  const port = typeof a === 'object' && a !== null ? a.port : o.port;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  const tenants = o.tenants === 'open' ? 'open (no API keys)' : `${o.tenants.length} API key(s)`;
  const fb = `${o.fallback !== undefined ? `, fallback ${o.fallback}` : ''}${o.queue !== undefined ? `; queue ${o.queue.replace(/\/\/[^@/]*@/, '//')}` : ''}`;
  const up = o.fleet !== undefined
    ? `fleet ${Object.entries(o.fleet.deployments).map(([n, d]) => `${n}×${d.replicas.length}`).join(', ')} (default ${o.fleet.config.defaultDeployment}; ${o.policy.fleet.balancer.kind}${o.policy.fleet.ejection.enabled ? ', ejection' : ''}${o.policy.fleet.hedging.enabled ? ', hedging' : ''})`
    : `upstream ${o.upstream ?? ''}`;
  process.stdout.write(
    `serve: listening on http://${host}:${port} (policy ${o.policy.name}; ${up} [${o.upstreamDialect}]${fb}; tenants: ${tenants}; exporter ${o.exporter}; pid ${process.pid})\n`,
  );
}

function main(): void {
  let parsed: ReturnType<typeof parseServeArgs>;
  try {
    parsed = parseServeArgs(process.argv.slice(2), (p) => readFileSync(p, 'utf8'), process.env);
  } catch (err) {
    if (err instanceof ServeUsageError) fail(err.message);
    throw err;
  }
  if ('help' in parsed) {
    process.stdout.write(parsed.help);
    return;
  }
  serve(parsed).catch((err: unknown) => fail(err instanceof Error ? err.message : String(err), 1));
}

main();
