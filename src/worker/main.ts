/**
 * The worker process: `npm run worker -- --queue redis://127.0.0.1:6379 --upstream http://127.0.0.1:8000
 * --policy resilient` (see --help). Takes jobs from the Redis queue and runs them through the engine; prints one
 * line when ready. SIGTERM/SIGINT: stop taking jobs, finish or hand back the running ones, exit 0.
 */
import { helpCommand } from '../cli-program.js';
import { HarnessError } from '../errors.js';
import { openRedisWorker } from '../queue/redis-service.js';
import { Random } from '../random.js';
import { RealClock } from '../time/real-clock.js';
import { HttpModelClient } from '../upstream/http-openai.js';
import type { ModelClient } from '../upstream/model-client.js';
import { parseWorkerArgs, WorkerUsageError, type WorkerOptions } from './worker-options.js';
import { startNodeSdk, type Telemetry } from '../telemetry/setup.js';
import { serveMetrics, type MetricsServer } from './metrics-server.js';
import { LocalDirPayloadStore } from '../jobs/payload-store.js';

const USAGE_EXIT_CODE = 2;

function fail(message: string, code = USAGE_EXIT_CODE): never {
  process.stderr.write(`worker: ${message}\n${code === USAGE_EXIT_CODE ? `Run "${helpCommand('worker')}" for usage.\n` : ''}`);
  process.exit(code);
}

/** Sends every request as `model` (the fallback server serves its own model name); batched chat included. */
function named(c: HttpModelClient, model: string): ModelClient {
  return {
    capabilities: c.capabilities,
    stream: (r, o) => c.stream({ ...r, model }, o),
    embed: (r, o) => c.embed({ ...r, model }, o),
    completeBatch: (r, o) => c.completeBatch({ ...r, model }, o),
  };
}

async function run(o: WorkerOptions): Promise<void> {
  const clock = new RealClock();
  const primary = new HttpModelClient({ baseUrl: o.upstream, clock, connections: o.connections, dialect: o.upstreamDialect });
  const fallback = o.fallback === undefined ? undefined : new HttpModelClient({ baseUrl: o.fallback, clock, connections: o.connections, dialect: o.fallbackDialect ?? o.upstreamDialect });
  let side: Awaited<ReturnType<typeof openRedisWorker>>;
  const telemetry: Telemetry | undefined =
    o.otlpEndpoint !== undefined
      ? startNodeSdk({ exporter: 'otlp', otlpEndpoint: o.otlpEndpoint, serviceName: 'ai-engine-worker' })
      : o.metricsPort > 0
        ? startNodeSdk({ exporter: 'prometheus', serviceName: 'ai-engine-worker' })
        : undefined;
  try {
    side = await openRedisWorker({
      url: o.queue,
      prefix: o.prefix,
      queueName: o.queueName,
      clock,
      random: new Random(o.seed),
      policy: o.policy,
      upstream: { primary, ...(fallback !== undefined ? { fallback: named(fallback, o.fallbackModel) } : {}) },
      concurrency: o.concurrency,
      leaseMs: o.leaseMs,
      stalledIntervalMs: o.stalledIntervalMs,
      maxStalled: o.maxStalled,
      drainMs: o.drainMs,
      sharedPolicy: o.sharedPolicy,
      ...(o.prices !== undefined ? { prices: o.prices } : {}),
      ...(o.payloadDir !== undefined ? { payloads: new LocalDirPayloadStore(o.payloadDir) } : {}),
      ...(telemetry !== undefined ? { telemetry } : {}),
      callbacks: { attempts: o.callbackAttempts, backoffMs: o.callbackBackoffMs, timeoutMs: o.callbackTimeoutMs, leaseMs: o.callbackLeaseMs, pollMs: o.callbackPollMs },
    });
  } catch (e) {
    if (e instanceof HarnessError) fail(`--queue: ${e.message}`, 1);
    throw e;
  }
  let metrics: MetricsServer | undefined;
  if (telemetry !== undefined && o.metricsPort > 0) {
    try {
      metrics = await serveMetrics(telemetry, o.metricsPort, o.metricsHost);
    } catch (e) {
      await side.close();
      fail(`--metrics-port: cannot listen on ${o.metricsHost}:${o.metricsPort} (${e instanceof Error ? e.message : String(e)})`, 1);
    }
  }
  // Operational log: each delivery that continues a checkpoint (a redelivery after a lease expiry or a retry).
  side.worker.onEvent((e) => {
    if (e.type === 'delivered' && e.resumeFrom > 0) process.stdout.write(`worker: job ${e.id} resumed from token ${e.resumeFrom} (attempt ${e.attempt})\n`);
    else if (e.type === 'lease-lost') process.stdout.write(`worker: job ${e.id} lease lost: ${e.message}\n`);
  });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void side
      .close()
      .then(() => Promise.all([primary.close(), fallback?.close(), metrics?.close(), telemetry?.shutdown()]))
      .finally(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  process.stdout.write(
    `worker: ready (queue ${o.queueName} on ${o.queue.replace(/\/\/[^@/]*@/, '//')}, upstream ${o.upstream}, policy ${o.policy.name}, concurrency ${o.concurrency}, lease ${o.leaseMs}ms${o.sharedPolicy ? ', shared policy' : ''}${o.prices !== undefined ? ', priced' : ''}${metrics !== undefined ? `, metrics on http://${o.metricsHost}:${metrics.port}/metrics` : ''}; pid ${process.pid})\n`,
  );
}

function main(argv: readonly string[]): Promise<void> {
  let parsed: ReturnType<typeof parseWorkerArgs>;
  try {
    parsed = parseWorkerArgs(argv);
  } catch (err) {
    if (err instanceof WorkerUsageError) fail(err.message);
    throw err;
  }
  if ('help' in parsed) {
    process.stdout.write(parsed.help);
    return Promise.resolve();
  }
  return run(parsed);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  fail(`unexpected error: ${err instanceof Error ? err.message : String(err)}`, 1);
});
