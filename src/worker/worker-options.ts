/**
 * The worker's command line (`npm run worker -- --queue redis://... --upstream URL --policy NAME`). Every
 * mistake is a WorkerUsageError whose message names the flag; the entry prints it and exits 2.
 */
import { DIALECT_HELP, dialectArg } from '../api/cli-options.js';
import type { UpstreamDialect } from '../upstream/model-client.js';
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { intArg, parseCommand } from '../cli-args.js';
import { commandName } from '../cli-program.js';
import type { ServicePrices } from '../engine/billed-usage.js';
import { fallbackPriceOption, parsePriceFlags, priceOption } from '../price-flags.js';
import { HarnessError } from '../errors.js';
import { PRESET_NAMES, resolvePolicy, type Policy } from '../policy.js';
import { QueueUrlError } from '../queue/errors.js';
import { parseRedisUrl } from '../queue/redis-connection.js';

/** A command-line mistake. */
export class WorkerUsageError extends HarnessError {
  constructor(message: string) {
    super('WORKER_USAGE', message);
  }
}

/** The parsed options. */
export interface WorkerOptions {
  readonly queue: string;
  readonly upstream: string;
  readonly fallback?: string;
  readonly fallbackModel: string;
  readonly policy: Policy;
  readonly concurrency: number;
  readonly leaseMs: number;
  readonly stalledIntervalMs: number;
  readonly maxStalled: number;
  readonly drainMs: number;
  readonly queueName: string;
  readonly prefix: string;
  readonly seed: number;
  readonly connections: number;
  /** What the upstream can do (see `serve --upstream-dialect`). @default 'openai' */
  readonly upstreamDialect: UpstreamDialect;
  /** @default upstreamDialect */
  readonly fallbackDialect?: UpstreamDialect;
  /** Serve `/metrics` on this port (0: off). @default 0 */
  readonly metricsPort: number;
  /** @default '127.0.0.1' */
  readonly metricsHost: string;
  /** Where jobs with a payloadRef have their payload (the API's --payload-dir). @default none */
  readonly payloadDir?: string;
  /** Push traces and metrics over OTLP/HTTP to this base URL instead of serving /metrics. @default none */
  readonly otlpEndpoint?: string;
  /** Share the retry budget and the breaker through Redis with every worker of the queue. @default false */
  readonly sharedPolicy: boolean;
  /** Completion callbacks: attempts per terminal state, backoff, per-attempt timeout, claim lease, outbox poll. */
  readonly callbackAttempts: number;
  readonly callbackBackoffMs: number;
  readonly callbackTimeoutMs: number;
  readonly callbackLeaseMs: number;
  readonly callbackPollMs: number;
  /** Per-token prices of the upstreams (`--price`, `--fallback-price`, as `serve`'s): jobs' costUsd and the cost metrics. */
  readonly prices?: ServicePrices;
}


function httpUrl(flag: string): (v: string) => string {
  return (v) => {
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      throw new InvalidArgumentError(`${flag}: expected an http(s) URL like http://127.0.0.1:8000, got ${JSON.stringify(v)}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidArgumentError(`${flag}: expected an http(s) URL, got scheme ${JSON.stringify(u.protocol)}`);
    return v;
  };
}

function redisUrl(v: string): string {
  try {
    parseRedisUrl(v);
  } catch (e) {
    if (e instanceof QueueUrlError) throw new InvalidArgumentError(`--queue: ${e.message.replace(/^queue: /, '')}`);
    throw e;
  }
  return v;
}

/** The commander program (one source for --help). */
export function workerProgram(): Command {
  return new Command(commandName('worker'))
    .description('Engine worker: takes jobs from the Redis queue (BullMQ) and runs them through the engine against the upstream model. Run as many as you like, on any host.')
    .addOption(new Option('--queue <url>', 'the Redis queue, e.g. redis://127.0.0.1:6379 (same as the API\'s --queue)').argParser(redisUrl))
    .addOption(new Option('--upstream <url>', 'the primary model server (OpenAI-compatible), e.g. http://127.0.0.1:8000').argParser(httpUrl('--upstream')))
    .addOption(new Option('--policy <name>', `serving policy preset: ${PRESET_NAMES.join(', ')}`).default('resilient'))
    .addOption(new Option('--policy-overrides <json|file>', 'JSON (or a JSON file) deep-merged over the preset, e.g. {"retry":{"maxAttempts":5}}'))
    .addOption(new Option('--fallback <url>', 'a fallback model server (used when the policy enables fallback)').argParser(httpUrl('--fallback')))
    .addOption(new Option('--fallback-model <name>', 'model name sent to the fallback').default('fallback'))
    .addOption(priceOption())
    .addOption(fallbackPriceOption())
    .addOption(new Option('--concurrency <n>', 'jobs this process runs at once').default(32).argParser(intArg('--concurrency', 1, 10_000)))
    .addOption(new Option('--lease-ms <n>', 'job lock (lease) duration; renewed every half while the job runs').default(30_000).argParser(intArg('--lease-ms', 100, 3_600_000)))
    .addOption(new Option('--stalled-interval-ms <n>', 'how often expired leases are looked for').default(5_000).argParser(intArg('--stalled-interval-ms', 50, 3_600_000)))
    .addOption(new Option('--max-stalled <n>', 'lease expiries a job survives before it is dead-lettered').default(5).argParser(intArg('--max-stalled', 0, 1000)))
    .addOption(new Option('--drain-ms <n>', 'on SIGTERM, wait this long for running jobs before handing them back').default(10_000).argParser(intArg('--drain-ms', 0, 3_600_000)))
    .addOption(new Option('--queue-name <name>', 'BullMQ queue name (same as the API\'s)').default('engine-jobs'))
    .addOption(new Option('--prefix <prefix>', 'job store key prefix (same as the API\'s)').default('engine:'))
    .addOption(new Option('--seed <n>', 'root seed of the engine\'s random streams and the retry jitter').default(1).argParser(intArg('--seed', 0, 2 ** 31 - 1)))
    .addOption(new Option('--upstream-dialect <dialect>', DIALECT_HELP).default('openai').argParser(dialectArg('--upstream-dialect')))
    .addOption(new Option('--fallback-dialect <dialect>', 'the fallback upstream\'s dialect (default: --upstream-dialect)').argParser(dialectArg('--fallback-dialect')))
    .addOption(new Option('--connections <n>', 'upstream connection pool size').default(256).argParser(intArg('--connections', 1, 100_000)))
    .addOption(new Option('--metrics-port <n>', 'serve Prometheus /metrics (engine_* and job_*) on this port; 0 = off').default(0).argParser(intArg('--metrics-port', 0, 65_535)))
    .addOption(new Option('--metrics-host <host>', 'address the /metrics listener binds').default('127.0.0.1'))
    .addOption(new Option('--payload-dir <dir>', 'the API\'s --payload-dir: where large job payloads (payloadRef) are fetched from'))
    .addOption(new Option('--otlp-endpoint <url>', 'push traces (job.id on each delivery\'s root span) and metrics over OTLP/HTTP to this base URL (instead of --metrics-port)').argParser(httpUrl('--otlp-endpoint')))
    .addOption(new Option('--shared-policy', 'keep the retry budget and the breaker in Redis, shared by every worker of the queue (one policy for N workers)').default(false))
    .addOption(new Option('--callback-attempts <n>', 'completion callback: attempts per terminal state').default(3).argParser(intArg('--callback-attempts', 1, 100)))
    .addOption(new Option('--callback-backoff-ms <n>', 'completion callback: wait before the second attempt, doubled after').default(500).argParser(intArg('--callback-backoff-ms', 0, 3_600_000)))
    .addOption(new Option('--callback-timeout-ms <n>', 'completion callback: timeout of one attempt').default(5000).argParser(intArg('--callback-timeout-ms', 1, 3_600_000)))
    .addOption(new Option('--callback-lease-ms <n>', 'completion callback: claim lease, renewed while sending; after a worker dies, another resends after it').default(60_000).argParser(intArg('--callback-lease-ms', 100, 3_600_000)))
    .addOption(new Option('--callback-poll-ms <n>', 'completion callback: how often the callback outbox is polled').default(500).argParser(intArg('--callback-poll-ms', 10, 3_600_000)))
    .allowExcessArguments(false)
    .showHelpAfterError(false);
}

/** Parses `argv` (without node and script): `{ help }` for --help, else the options. Throws WorkerUsageError. */
export function parseWorkerArgs(argv: readonly string[]): { help: string } | WorkerOptions {
  const program = workerProgram();
  const help = parseCommand(program, argv, (m) => new WorkerUsageError(m));
  if (help !== undefined) return help;
  // Required flags are checked here, after commander has refused unknown ones: `worker --bogus` names --bogus.
  const o = program.opts<Omit<WorkerOptions, 'policy' | 'queue' | 'upstream' | 'prices'> & { queue?: string; upstream?: string; policy: string; policyOverrides?: string; price?: string; fallbackPrice?: string }>();
  if (o.queue === undefined) throw new WorkerUsageError('--queue: expected a Redis URL like redis://127.0.0.1:6379, got none');
  if (o.upstream === undefined) throw new WorkerUsageError('--upstream: expected a model server URL like http://127.0.0.1:8000, got none');
  let overrides: unknown;
  if (o.policyOverrides !== undefined) {
    // JSON text or a file of it, as the API's --policy-overrides takes (the same overrides go to both).
    let text = o.policyOverrides;
    if (!text.trimStart().startsWith('{')) {
      try {
        text = readFileSync(text, 'utf8');
      } catch (e) {
        throw new WorkerUsageError(`--policy-overrides: cannot read ${JSON.stringify(o.policyOverrides)}: ${(e as Error).message}`);
      }
    }
    try {
      overrides = JSON.parse(text) as unknown;
    } catch (e) {
      throw new WorkerUsageError(`--policy-overrides: expected JSON, got a parse error: ${(e as Error).message}`);
    }
  }
  let policy: Policy;
  try {
    policy = resolvePolicy(o.policy, overrides);
  } catch (e) {
    const flag = e instanceof HarnessError && /^preset:/.test(e.message) ? '--policy' : '--policy-overrides';
    throw new WorkerUsageError(`${flag}: ${(e as Error).message}`);
  }
  if (o.otlpEndpoint !== undefined && o.metricsPort > 0) {
    throw new WorkerUsageError(`--otlp-endpoint: expected either it (push) or --metrics-port (scrape), got both (--metrics-port ${o.metricsPort})`);
  }
  if (o.sharedPolicy && !['off', 'finagle'].includes(policy.retryBudget.mode)) {
    throw new WorkerUsageError(`--shared-policy: expected the policy's retryBudget.mode "finagle" or "off" (the shared budget is Finagle's), got ${JSON.stringify(policy.retryBudget.mode)}`);
  }
  if (o.prefix.length === 0) throw new WorkerUsageError('--prefix: expected a non-empty key prefix, got ""');
  const prices = parsePriceFlags(o, (m) => new WorkerUsageError(m));
  const { policyOverrides: _po, price: _p, fallbackPrice: _fp, queue, upstream, ...rest } = o;
  return { ...rest, queue, upstream, policy, ...(prices !== undefined ? { prices } : {}) };
}
