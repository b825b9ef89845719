/**
 * The command line of `npm run serve`, parsed with commander into validated options. Pure: files are read only
 * through the `readFile` it is given and it never exits, so tests can check every error message.
 */
import type { ServicePrices } from '../engine/billed-usage.js';
import { Command, InvalidArgumentError, Option } from 'commander';
import { intArg, parseCommand } from '../cli-args.js';
import { commandName } from '../cli-program.js';
import { fallbackPriceOption, parsePriceFlags, priceOption } from '../price-flags.js';
import { HarnessError } from '../errors.js';
import { PRESET_NAMES, resolvePolicy, type Policy } from '../policy.js';
import { parseRedisUrl } from '../queue/redis-connection.js';
import { EXPORTER_KINDS, type ExporterKind } from '../telemetry/setup.js';
import { UPSTREAM_DIALECTS, type UpstreamDialect } from '../upstream/model-client.js';
import { TOKENIZER_FAMILIES, type TokenizerFamily } from '../upstream/tokenizer.js';
import { parseFleetFile, type FleetFile } from './fleet-file.js';
import { parseTenants, type TenantsConfig } from './tenants.js';

/** `--upstream-dialect` and `--fallback-dialect`: one of UPSTREAM_DIALECTS. */
export function dialectArg(flag: string) {
  return (v: string): UpstreamDialect => {
    if (!(UPSTREAM_DIALECTS as readonly string[]).includes(v)) throw new InvalidArgumentError(`${flag}: expected one of ${UPSTREAM_DIALECTS.join(', ')}, got ${JSON.stringify(v)}`);
    return v as UpstreamDialect;
  };
}

/** The help text of the dialect flags. */
export const DIALECT_HELP =
  'what the upstream can do: openai (no continuation: OpenAI, Azure, unknown servers; a stream broken after tokens ends partial), ' +
  'vllm (continues a prefix with continue_final_message: vLLM, SGLang), mock (our mock: vllm, and restarts reproduce its text)';

/** A bad command line. The message names the flag; `serve` exits 2 with it and no stack trace. */
export class ServeUsageError extends HarnessError {
  constructor(message: string) {
    super('CLI_USAGE', message);
  }
}

/** Validated options of the service process. */
export interface ServeOptions {
  /** The primary upstream's OpenAI-compatible base URL; absent with `fleet`. */
  readonly upstream?: string;
  /** `--fleet FILE`: deployments of replicas instead of one upstream (src/api/fleet-file.ts). */
  readonly fleet?: FleetFile;
  readonly fallback?: string;
  readonly policy: Policy;
  /** @default 8080 */
  readonly port: number;
  /** @default '127.0.0.1' */
  readonly host: string;
  readonly tenants: TenantsConfig;
  /** @default 'prometheus' */
  readonly exporter: ExporterKind;
  readonly otlpEndpoint?: string;
  /** @default [] */
  readonly callbackAllowlist: readonly string[];
  /** Model name sent upstream for jobs that name none. @default 'primary' */
  readonly model: string;
  /** Model name sent to the fallback upstream. @default the request's own model */
  readonly fallbackModel?: string;
  /** API key for the upstreams (e.g. a provider key). @default $UPSTREAM_API_KEY */
  readonly upstreamKey?: string;
  /** Connection pool size per upstream; streams beyond it wait for a connection. @default 256 */
  readonly upstreamConnections: number;
  /** How long an idle upstream connection is kept when the upstream sends no keep-alive hint. @default 4000 */
  readonly upstreamKeepAliveMs: number;
  /** @default 4 MiB */
  readonly bodyLimitBytes: number;
  /** Time to receive a whole request (headers and body); slower ones get 408 and are closed. 0 disables. @default 30_000 */
  readonly requestTimeoutMs: number;
  /** Time to receive the request headers. @default 10_000 */
  readonly headersTimeoutMs: number;
  /** Concurrent connections per client address; 0 is no limit. @default 0 */
  readonly maxConnectionsPerAddress: number;
  /** Byte cap of the in-memory job store (not used with --queue). @default 256 MiB */
  readonly jobStoreMaxBytes: number;
  /** With --queue: store job payloads above `payloadThresholdBytes` in this directory (workers need the same). */
  readonly payloadDir?: string;
  /** @default 262_144 */
  readonly payloadThresholdBytes: number;
  /** Seed of job and response ids. @default derived from the wall clock at start */
  readonly seed?: number;
  readonly log: boolean;
  /** What the primary upstream can do (see docs/engine.md, "Upstream dialects"). @default 'openai' */
  readonly upstreamDialect: UpstreamDialect;
  /** The fallback upstream's dialect. @default upstreamDialect */
  readonly fallbackDialect: UpstreamDialect;
  /** Tokenizer for prompt-token counts (TPM limits, usage estimates). @default 'auto' (by model name) */
  readonly tokenizer: TokenizerFamily;
  /** The durable job queue's Redis URL (BullMQ; jobs run in `npm run worker` processes). @default undefined (the in-memory queue) */
  readonly queue?: string;
  /** Per-token prices of the upstreams (`--price`, `--fallback-price`): jobs' costUsd and the cost metrics. */
  readonly prices?: ServicePrices;
}


function urlArg(flag: string) {
  return (value: string): string => {
    let u: URL;
    try {
      u = new URL(value);
    } catch {
      throw new InvalidArgumentError(`${flag}: expected an http(s) URL like http://127.0.0.1:8000, got ${JSON.stringify(value)}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidArgumentError(`${flag}: expected an http(s) URL, got ${JSON.stringify(value)}`);
    return value;
  };
}

/** The commander program (exported so `--help` text is one source). */
export function serveProgram(): Command {
  return new Command(commandName('serve'))
    .description('The resilient engine as a service: jobs API with SSE resume, OpenAI-compatible proxy, /metrics.')
    .addOption(new Option('--upstream <url>', 'primary OpenAI-compatible upstream (the mock server, vLLM, OpenAI)').argParser(urlArg('--upstream')))
    .addOption(new Option('--fleet <json|file>', 'a fleet instead of --upstream: named deployments of replica URLs, routing rules, the default deployment (docs/live.md)'))
    .addOption(new Option('--policy <name>', `engine policy preset: ${PRESET_NAMES.join(', ')}`))
    .addOption(new Option('--policy-overrides <json|file>', 'JSON overrides deep-merged onto the preset, e.g. {"concurrency":{"limit":32}}'))
    .addOption(new Option('--fallback <url>', 'fallback upstream, used while the primary breaker is open').argParser(urlArg('--fallback')))
    .addOption(new Option('--upstream-dialect <dialect>', DIALECT_HELP).default('openai').argParser(dialectArg('--upstream-dialect')))
    .addOption(new Option('--fallback-dialect <dialect>', 'the fallback upstream\'s dialect (default: --upstream-dialect)').argParser(dialectArg('--fallback-dialect')))
    .addOption(
      new Option('--tokenizer <family>', `prompt-token counts for TPM limits and usage estimates: ${TOKENIZER_FAMILIES.join(', ')} (auto: by model name; Llama 3 or OpenAI BPE)`)
        .default('auto')
        .argParser((v: string) => {
          if (!(TOKENIZER_FAMILIES as readonly string[]).includes(v)) throw new InvalidArgumentError(`--tokenizer: expected one of ${TOKENIZER_FAMILIES.join(', ')}, got ${JSON.stringify(v)}`);
          return v;
        }),
    )
    .addOption(new Option('--model <name>', 'upstream model name for jobs that give none').default('primary'))
    .addOption(new Option('--fallback-model <name>', 'model name to send to the fallback upstream'))
    .addOption(priceOption())
    .addOption(fallbackPriceOption())
    .addOption(new Option('--upstream-key <key>', 'API key for the upstreams (default: $UPSTREAM_API_KEY)'))
    .addOption(
      new Option('--upstream-connections <n>', 'connections per upstream; size it to the concurrency limit (each open stream holds one)')
        .default(256)
        .argParser(intArg('--upstream-connections', 1, 100_000)),
    )
    .addOption(
      new Option('--upstream-keep-alive-ms <n>', "keep idle upstream connections this long (when the upstream sends no Keep-Alive hint); below the upstream's own idle timeout")
        .default(4000)
        .argParser(intArg('--upstream-keep-alive-ms', 1, 3_600_000)),
    )
    .addOption(new Option('--port <n>', 'port to listen on (0 picks a free one)').default(8080).argParser(intArg('--port', 0, 65535)))
    .addOption(new Option('--host <addr>', 'address to bind; loopback unless you mean otherwise').default('127.0.0.1'))
    .addOption(new Option('--tenants <file>', 'JSON file: [{"apiKey": "...", "tenant": "..."}, ...]'))
    .addOption(new Option('--open', 'no API keys: any Bearer key (or none) is accepted; the key is the tenant').default(false))
    .addOption(
      new Option('--exporter <kind>', `telemetry exporter: ${EXPORTER_KINDS.join(', ')}`).default('prometheus').argParser((v: string) => {
        if (!(EXPORTER_KINDS as readonly string[]).includes(v)) throw new InvalidArgumentError(`--exporter: expected one of ${EXPORTER_KINDS.join(', ')}, got ${JSON.stringify(v)}`);
        return v;
      }),
    )
    .addOption(new Option('--otlp-endpoint <url>', 'OTLP/HTTP base URL (with --exporter otlp)').argParser(urlArg('--otlp-endpoint')))
    .addOption(new Option('--callback-allowlist <hosts>', 'comma-separated hosts (name or name:port) that callbackUrl may point at'))
    .addOption(new Option('--body-limit-bytes <n>', 'largest request body').default(4 * 1024 * 1024).argParser(intArg('--body-limit-bytes', 1024, 1024 * 1024 * 1024)))
    .addOption(
      new Option('--request-timeout-ms <n>', 'time to receive a whole request (headers and body); slower ones get 408 and are closed; 0 disables')
        .default(30_000)
        .argParser(intArg('--request-timeout-ms', 0, 3_600_000)),
    )
    .addOption(new Option('--headers-timeout-ms <n>', 'time to receive the request headers').default(10_000).argParser(intArg('--headers-timeout-ms', 1, 3_600_000)))
    .addOption(
      new Option('--max-connections-per-address <n>', 'concurrent connections one client address may hold (0: no limit; keep 0 behind a load balancer)')
        .default(0)
        .argParser(intArg('--max-connections-per-address', 0, 1_000_000)),
    )
    .addOption(
      new Option('--job-store-max-bytes <n>', 'in-memory job store cap: past it, finished jobs are forgotten, the longest finished first (not used with --queue)')
        .default(256 * 1024 * 1024)
        .argParser(intArg('--job-store-max-bytes', 1024 * 1024, Number.MAX_SAFE_INTEGER)),
    )
    .addOption(new Option('--seed <n>', 'seed of job and response ids').argParser(intArg('--seed', 0, 2 ** 31 - 1)))
    .addOption(new Option('--log', 'log every request (fastify logger)').default(false))
    .addOption(
      new Option('--queue <url>', 'durable job queue on Redis, e.g. redis://127.0.0.1:6379 (jobs then run in `npm run worker` processes)').argParser((v: string) => {
        try {
          parseRedisUrl(v);
        } catch (err) {
          throw new InvalidArgumentError(`--queue: ${(err as Error).message.replace(/^queue: /, '')}`);
        }
        return v;
      }),
    )
    .addOption(new Option('--payload-dir <dir>', 'with --queue: job payloads above --payload-threshold-bytes are stored here and the job keeps a payloadRef (workers need the same --payload-dir)'))
    .addOption(new Option('--payload-threshold-bytes <n>', 'payload size (JSON bytes) above which --payload-dir is used').default(262_144).argParser(intArg('--payload-threshold-bytes', 1024, Number.MAX_SAFE_INTEGER)))
    .allowExcessArguments(false)
    .showHelpAfterError(false);
}

function readJson(flag: string, pathOrText: string, readFile: (p: string) => string): unknown {
  const trimmed = pathOrText.trimStart();
  let text = pathOrText;
  if (!trimmed.startsWith('{') && !trimmed.startsWith('[')) {
    try {
      text = readFile(pathOrText);
    } catch (err) {
      throw new ServeUsageError(`${flag}: cannot read ${JSON.stringify(pathOrText)}: ${(err as Error).message}`);
    }
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ServeUsageError(`${flag}: expected JSON, got a parse error: ${(err as Error).message}`);
  }
}

/**
 * Parses `argv` (without node and script). Returns `{ help }` for --help, else options. Throws ServeUsageError
 * for every mistake, its message naming the flag. `env` supplies UPSTREAM_API_KEY.
 */
export function parseServeArgs(argv: readonly string[], readFile: (p: string) => string, env: Readonly<Record<string, string | undefined>> = {}): { help: string } | ServeOptions {
  const program = serveProgram();
  const help = parseCommand(program, argv, (m) => new ServeUsageError(m));
  if (help !== undefined) return help;
  const o = program.opts<{
    upstream?: string;
    fleet?: string;
    policy?: string;
    policyOverrides?: string;
    fallback?: string;
    model: string;
    fallbackModel?: string;
    upstreamKey?: string;
    upstreamConnections: number;
    upstreamKeepAliveMs: number;
    port: number;
    host: string;
    tenants?: string;
    open: boolean;
    exporter: ExporterKind;
    otlpEndpoint?: string;
    callbackAllowlist?: string;
    bodyLimitBytes: number;
    requestTimeoutMs: number;
    headersTimeoutMs: number;
    maxConnectionsPerAddress: number;
    jobStoreMaxBytes: number;
    payloadDir?: string;
    payloadThresholdBytes: number;
    seed?: number;
    log: boolean;
    queue?: string;
    upstreamDialect: UpstreamDialect;
    fallbackDialect?: UpstreamDialect;
    tokenizer: TokenizerFamily;
    price?: string;
    fallbackPrice?: string;
  }>();
  if (o.upstream === undefined && o.fleet === undefined) throw new ServeUsageError('--upstream: expected a URL (or --fleet FILE), got none');
  let fleet: FleetFile | undefined;
  if (o.fleet !== undefined) {
    const given = [['--upstream', o.upstream], ['--fallback', o.fallback], ['--fallback-model', o.fallbackModel], ['--fallback-dialect', o.fallbackDialect], ['--fallback-price', o.fallbackPrice]] as const;
    for (const [flag, v] of given) {
      if (v !== undefined) throw new ServeUsageError(`${flag}: not available with --fleet (the fleet file declares the replicas and each deployment's fallback), got ${JSON.stringify(v)}`);
    }
    try {
      fleet = parseFleetFile(readJson('--fleet', o.fleet, readFile));
    } catch (err) {
      if (err instanceof ServeUsageError) throw err;
      throw new ServeUsageError(`--fleet: ${(err as Error).message}`);
    }
  }
  if (o.policy === undefined) throw new ServeUsageError(`--policy: expected one of ${PRESET_NAMES.join(', ')}, got none`);
  let policy: Policy;
  try {
    policy = resolvePolicy(o.policy, o.policyOverrides === undefined ? undefined : readJson('--policy-overrides', o.policyOverrides, readFile));
  } catch (err) {
    if (err instanceof ServeUsageError) throw err;
    const msg = (err as Error).message;
    throw new ServeUsageError(msg.startsWith('preset:') ? `--policy: ${msg.slice('preset: '.length)}` : `--policy-overrides: ${msg}`);
  }
  if (o.tenants !== undefined && o.open) throw new ServeUsageError('--open: expected either --tenants FILE or --open, got both');
  if (o.tenants === undefined && !o.open) throw new ServeUsageError('--tenants: expected a tenants file (or --open for no API keys), got none');
  let tenants: TenantsConfig = 'open';
  if (o.tenants !== undefined) {
    try {
      tenants = parseTenants(readJson('--tenants', o.tenants, readFile));
    } catch (err) {
      if (err instanceof ServeUsageError) throw err;
      throw new ServeUsageError(`--tenants: ${(err as Error).message}`);
    }
  }
  if (o.host.trim() === '') throw new ServeUsageError('--host: expected an address, got ""');
  if (o.otlpEndpoint !== undefined && o.exporter !== 'otlp') throw new ServeUsageError(`--otlp-endpoint: expected --exporter otlp with it, got --exporter ${o.exporter}`);
  const allow = (o.callbackAllowlist ?? '').split(',').map((h) => h.trim().toLowerCase()).filter((h) => h !== '');
  for (const h of allow) {
    if (!/^[a-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-f:.]+\](:\d{1,5})?$/.test(h)) throw new ServeUsageError(`--callback-allowlist: expected host names like hooks.example.com or 127.0.0.1:9000, got ${JSON.stringify(h)}`);
  }
  if (o.requestTimeoutMs > 0 && o.headersTimeoutMs > o.requestTimeoutMs) {
    throw new ServeUsageError(`--headers-timeout-ms: expected at most --request-timeout-ms (${o.requestTimeoutMs}), got ${o.headersTimeoutMs}`);
  }
  if (o.payloadDir !== undefined && o.queue === undefined) throw new ServeUsageError('--payload-dir: expected --queue with it (the embedded queue keeps payloads in memory), got no --queue');
  const upstreamKey = o.upstreamKey ?? env['UPSTREAM_API_KEY'];
  const prices = parsePriceFlags(o, (m) => new ServeUsageError(m));
  return {
    ...(o.upstream !== undefined ? { upstream: o.upstream } : {}),
    ...(fleet !== undefined ? { fleet } : {}),
    ...(o.fallback !== undefined ? { fallback: o.fallback } : {}),
    policy,
    upstreamDialect: o.upstreamDialect,
    fallbackDialect: o.fallbackDialect ?? o.upstreamDialect,
    tokenizer: o.tokenizer,
    upstreamConnections: o.upstreamConnections,
    upstreamKeepAliveMs: o.upstreamKeepAliveMs,
    port: o.port,
    host: o.host,
    tenants,
    exporter: o.exporter,
    ...(o.otlpEndpoint !== undefined ? { otlpEndpoint: o.otlpEndpoint } : {}),
    callbackAllowlist: allow,
    model: o.model,
    ...(o.fallbackModel !== undefined ? { fallbackModel: o.fallbackModel } : {}),
    ...(upstreamKey !== undefined && upstreamKey !== '' ? { upstreamKey } : {}),
    bodyLimitBytes: o.bodyLimitBytes,
    requestTimeoutMs: o.requestTimeoutMs,
    headersTimeoutMs: o.headersTimeoutMs,
    maxConnectionsPerAddress: o.maxConnectionsPerAddress,
    jobStoreMaxBytes: o.jobStoreMaxBytes,
    ...(o.payloadDir !== undefined ? { payloadDir: o.payloadDir } : {}),
    payloadThresholdBytes: o.payloadThresholdBytes,
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
    log: o.log,
    ...(o.queue !== undefined ? { queue: o.queue } : {}),
    ...(prices !== undefined ? { prices } : {}),
  };
}

