/**
 * The command line of `npm run sim`, parsed with commander into validated options. Pure: it reads files only
 * through the `readFile` it is given and never exits, so tests can check every error message.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { HarnessError } from '../src/errors.js';

/** A bad command line. The message names the flag; `sim` exits 2 with it and no stack trace. */
export class CliUsageError extends HarnessError {
  constructor(message: string) {
    super('CLI_USAGE', message);
  }
}

/** One `--model NAME=PROFILE`: PROFILE is a built-in profile name or a JSON file of profile overrides. */
export interface ModelSpec {
  readonly name: string;
  /** A profile name, or the parsed overrides object when PROFILE ended in `.json`. */
  readonly profile: string | Record<string, unknown>;
  /** The text given, for the listening line. */
  readonly label: string;
}

/** Validated options of the mock server process. */
export interface SimOptions {
  /** @default 8000 */
  readonly port: number;
  /** @default '127.0.0.1' (loopback only; pass 0.0.0.0 deliberately to expose it) */
  readonly host: string;
  /** @default [{ name: 'primary', profile: 'h100-llama3-8b' }] */
  readonly models: readonly ModelSpec[];
  /** A fault plan for every model, or `{ models: { NAME: plan } }` per model. @default undefined */
  readonly faults?: unknown;
  /** Provider-style rate limits (`ProviderLimitsInput` of sim/rate-limit.ts) for every model. @default undefined */
  readonly rateLimits?: unknown;
  /** @default 1 */
  readonly seed: number;
  readonly supervise: boolean;
  /** @default undefined (control plane from loopback only) */
  readonly controlToken?: string;
  /** Cold start at this start, in ms: /health and requests answer 503 until it ends. @default 0 */
  readonly coldStartMs: number;
  /** fastify request logging. @default false */
  readonly log: boolean;
  /** Time to receive a whole request; slower ones get 408 and are closed. 0 disables. @default 30_000 */
  readonly requestTimeoutMs: number;
  /** Time to receive the request headers. @default 10_000 */
  readonly headersTimeoutMs: number;
  /**
   * Run as a chaos proxy in front of this OpenAI-compatible server instead of serving mock models
   * (sim/proxy-server.ts). @default undefined (the mock)
   */
  readonly proxy?: string;
  /**
   * Internal, set by `--supervise` on a restart: how far into the `--faults` timeline this process starts (ms since
   * the supervisor first started the server), so phases already over do not run again. @default 0
   */
  readonly timelineOffsetMs: number;
  /**
   * Independent replicas served by this process, on consecutive ports from `port` (each its own GPU, fault plan,
   * random streams and control endpoint; the same token text for a request id). See sim/replica-set.ts. @default 1
   */
  readonly replicas: number;
  /**
   * The index of the first replica served here, so that one process per replica (`--replicas 1 --first-replica 2`)
   * draws what replica 2 of a shared process would. @default 0
   */
  readonly firstReplica: number;
}

export const DEFAULT_MODEL = 'primary=h100-llama3-8b';

/** Most replicas one process serves. */
export const MAX_REPLICAS = 64;

function intArg(flag: string, min: number, max: number) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim()) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`${flag}: expected an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
    }
    return Number(value);
  };
}

function parseModel(value: string, previous: string[] | undefined): string[] {
  if (!/^[A-Za-z0-9][A-Za-z0-9._:/-]*=(?:\{[\s\S]*\}|[^=\s]+)$/.test(value)) {
    throw new InvalidArgumentError(`--model: expected NAME=PROFILE (e.g. primary=h100-llama3-8b), got ${JSON.stringify(value)}`);
  }
  return [...(previous ?? []), value];
}

/**
 * The package's bin (`ai-chaos-harness sim ...`) sets AI_CHAOS_HARNESS_PROGRAM (src/cli-program.ts; read here
 * directly, since sim/ imports nothing of src/ but time, random, upstream and errors); else this is `npm run sim`.
 */
const bin = process.env['AI_CHAOS_HARNESS_PROGRAM'] || undefined;

/** The command line that shows the flags. */
export function simHelpCommand(): string {
  return bin === undefined ? 'npm run sim -- --help' : `${bin} sim --help`;
}

/** The commander program (exported so `--help` text is one source). */
export function simProgram(): Command {
  return new Command(bin === undefined ? 'sim' : `${bin} sim`)
    .description('Token-free mock GPU model server: OpenAI-compatible, continuous-batching timing, fault injection.')
    .addOption(new Option('--port <n>', 'port to listen on (0 picks a free one)').default(8000).argParser(intArg('--port', 0, 65535)))
    .addOption(new Option('--host <addr>', 'address to bind; loopback unless you mean otherwise').default('127.0.0.1'))
    .addOption(
      new Option('--model <NAME=PROFILE>', 'serve a model (repeatable); PROFILE is a profile name, a JSON overrides file or inline JSON').argParser(
        parseModel,
      ),
    )
    .addOption(new Option('--faults <file>', 'JSON fault plan for every model, or {"models": {NAME: plan}}'))
    .addOption(new Option('--rate-limits <json|file>', 'provider-style RPM/TPM limits (JSON text or a JSON file)'))
    .addOption(new Option('--seed <n>', 'root seed of every random draw and of token text').default(1).argParser(intArg('--seed', 0, 2 ** 31 - 1)))
    .addOption(new Option('--supervise', 'run the server as a child process and restart it after a crash fault').default(false))
    .addOption(new Option('--control-token <token>', 'lets non-loopback clients use /mock/* with Authorization: Bearer <token>'))
    .addOption(
      new Option('--cold-start-ms <n>', 'answer 503 for this long after start (restarts use the crash fault\'s cold start)')
        .default(0)
        .argParser(intArg('--cold-start-ms', 0, 3_600_000)),
    )
    .addOption(new Option('--log', 'log every request (fastify logger)').default(false))
    .addOption(
      new Option('--request-timeout-ms <n>', 'time to receive a whole request (headers and body); slower ones get 408 and are closed; 0 disables')
        .default(30_000)
        .argParser(intArg('--request-timeout-ms', 0, 3_600_000)),
    )
    .addOption(new Option('--headers-timeout-ms <n>', 'time to receive the request headers').default(10_000).argParser(intArg('--headers-timeout-ms', 1, 3_600_000)))
    .addOption(
      new Option('--proxy <url>', 'run as a chaos proxy: relay every request to this OpenAI-compatible server, injecting the same faults (--faults, x-mock-fault, PUT /mock/faults)'),
    )
    .addOption(
      new Option('--timeline-offset-ms <n>', 'internal (set by --supervise on a restart): start this far into the --faults timeline')
        .default(0)
        .argParser(intArg('--timeline-offset-ms', 0, Number.MAX_SAFE_INTEGER)),
    )
    .addOption(
      new Option('--replicas <n>', 'serve this many independent replicas of the models on consecutive ports from --port (--port 0: a free port each)')
        .default(1)
        .argParser(intArg('--replicas', 1, MAX_REPLICAS)),
    )
    .addOption(
      new Option('--first-replica <i>', "index of the first replica served (one process per replica: --replicas 1 --first-replica I draws replica I's numbers)")
        .default(0)
        .argParser(intArg('--first-replica', 0, MAX_REPLICAS - 1)),
    )
    .allowExcessArguments(false)
    .showHelpAfterError(false);
}

function readJson(flag: string, pathOrText: string, readFile: (p: string) => string): unknown {
  const text = pathOrText.trimStart().startsWith('{') ? pathOrText : (() => {
    try {
      return readFile(pathOrText);
    } catch (err) {
      throw new CliUsageError(`${flag}: cannot read ${JSON.stringify(pathOrText)}: ${(err as Error).message}`);
    }
  })();
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new CliUsageError(`${flag}: expected JSON, got a parse error: ${(err as Error).message}`);
  }
}

/**
 * Parses `argv` (without node and script). Returns `{ help }` text for --help, else options.
 * Throws CliUsageError for every mistake, its message naming the flag.
 */
export function parseSimArgs(argv: readonly string[], readFile: (p: string) => string): { help: string } | SimOptions {
  const program = simProgram();
  let out = '';
  program.exitOverride().configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help') return { help: out };
      throw new CliUsageError(err.message.replace(/^error: /, '').replace(/^option '([^']+)' argument '[^']*' is invalid\. /, ''));
    }
    throw err;
  }
  const o = program.opts<{
    port: number;
    host: string;
    model?: string[];
    faults?: string;
    rateLimits?: string;
    seed: number;
    supervise: boolean;
    controlToken?: string;
    coldStartMs: number;
    log: boolean;
    requestTimeoutMs: number;
    headersTimeoutMs: number;
    timelineOffsetMs: number;
    proxy?: string;
    replicas: number;
    firstReplica: number;
  }>();
  if (o.proxy !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(o.proxy);
    } catch {
      u = undefined;
    }
    if (u === undefined || (u.protocol !== 'http:' && u.protocol !== 'https:') || u.search !== '' || u.hash !== '') {
      throw new CliUsageError(`--proxy: expected the http(s) base URL of an OpenAI-compatible server (e.g. http://127.0.0.1:8000), got ${JSON.stringify(o.proxy)}`);
    }
    // The proxy has no GPU and no process restart: these flags belong to the mock alone.
    for (const [flag, given] of [['--model', o.model !== undefined], ['--supervise', o.supervise], ['--rate-limits', o.rateLimits !== undefined], ['--replicas', o.replicas > 1]] as const) {
      if (given) throw new CliUsageError(`${flag}: not available with --proxy (the proxy relays to a real model; it has no simulated GPU${flag === '--supervise' ? ' and crashes by closing its listener, in process' : ''})`);
    }
  }
  const models: ModelSpec[] = [];
  for (const spec of o.model ?? [DEFAULT_MODEL]) {
    const eq = spec.indexOf('=');
    const name = spec.slice(0, eq);
    const profileText = spec.slice(eq + 1);
    if (models.some((m) => m.name === name)) throw new CliUsageError(`--model: expected unique names, got "${name}" twice`);
    // PROFILE is a name, a JSON file, or inline JSON (how the harness passes a scenario's profile object).
    const isJson = profileText.endsWith('.json') || profileText.trimStart().startsWith('{');
    const profile = isJson ? (readJson('--model', profileText, readFile) as Record<string, unknown>) : profileText;
    models.push({ name, profile, label: spec });
  }
  if (o.host.trim() === '') throw new CliUsageError('--host: expected an address, got ""');
  if (o.controlToken !== undefined && o.controlToken.length < 8) {
    throw new CliUsageError(`--control-token: expected at least 8 characters, got ${o.controlToken.length}`);
  }
  if (o.requestTimeoutMs > 0 && o.headersTimeoutMs > o.requestTimeoutMs) {
    throw new CliUsageError(`--headers-timeout-ms: expected at most --request-timeout-ms (${o.requestTimeoutMs}), got ${o.headersTimeoutMs}`);
  }
  if (o.port !== 0 && o.port + o.replicas - 1 > 65535) {
    throw new CliUsageError(`--replicas: expected the ports --port ${o.port} to ${o.port + o.replicas - 1} to exist (at most 65535), got --replicas ${o.replicas}`);
  }
  if (o.firstReplica + o.replicas > MAX_REPLICAS) {
    throw new CliUsageError(`--first-replica: expected --first-replica + --replicas at most ${MAX_REPLICAS}, got ${o.firstReplica} + ${o.replicas}`);
  }
  const faults = o.faults !== undefined ? readJson('--faults', o.faults, readFile) : undefined;
  if (faults !== undefined) checkReplicaFaults(faults, o.firstReplica, o.replicas);
  return {
    port: o.port,
    host: o.host,
    models,
    ...(faults !== undefined ? { faults } : {}),
    ...(o.rateLimits !== undefined ? { rateLimits: readJson('--rate-limits', o.rateLimits, readFile) } : {}),
    seed: o.seed,
    supervise: o.supervise,
    ...(o.controlToken !== undefined ? { controlToken: o.controlToken } : {}),
    coldStartMs: o.coldStartMs,
    log: o.log,
    requestTimeoutMs: o.requestTimeoutMs,
    headersTimeoutMs: o.headersTimeoutMs,
    timelineOffsetMs: o.timelineOffsetMs,
    ...(o.proxy !== undefined ? { proxy: o.proxy } : {}),
    replicas: o.replicas,
    firstReplica: o.firstReplica,
  };
}

/** A `--faults` file with a `replicas` map may name only the replicas served, and nothing beside the map. */
function checkReplicaFaults(faults: unknown, first: number, count: number): void {
  if (faults === null || typeof faults !== 'object' || !('replicas' in faults)) return;
  const per = (faults as { replicas: unknown }).replicas;
  if (per === null || typeof per !== 'object' || Array.isArray(per)) {
    throw new CliUsageError(`--faults: replicas: expected an object {"<replica index>": plan}, got ${JSON.stringify(per)}`);
  }
  const others = Object.keys(faults).filter((k) => k !== 'replicas');
  if (others.length > 0) throw new CliUsageError(`--faults: expected only "replicas" beside a replicas map, got ${others.map((k) => JSON.stringify(k)).join(', ')}`);
  for (const k of Object.keys(per)) {
    if (!/^\d+$/.test(k) || Number(k) < first || Number(k) >= first + count) {
      throw new CliUsageError(`--faults: replicas.${JSON.stringify(k)}: expected a replica index from ${first} to ${first + count - 1}, got ${JSON.stringify(k)}`);
    }
  }
}

/**
 * The plan of replica `index` from a `--faults` file: its entry when the file has a `replicas` map (none when the map
 * does not name it), else the whole file (every replica the same plan, each with its own draws).
 */
export function faultsForReplica(faults: unknown, index: number): unknown {
  if (faults === null || typeof faults !== 'object' || !('replicas' in faults)) return faults;
  return ((faults as { replicas: Record<string, unknown> }).replicas)[String(index)];
}

/** The plan for model `name` from a `--faults` file: per-model when it has a `models` map naming it. */
export function faultsFor(faults: unknown, name: string): unknown {
  if (faults === null || typeof faults !== 'object') return faults;
  const per = (faults as { models?: unknown }).models;
  if (per !== null && typeof per === 'object' && !Array.isArray(per)) return (per as Record<string, unknown>)[name];
  return faults;
}
