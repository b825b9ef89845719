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
  /**
   * Internal, set by `--supervise` on a restart: how far into the `--faults` timeline this process starts (ms since
   * the supervisor first started the server), so phases already over do not run again. @default 0
   */
  readonly timelineOffsetMs: number;
}

export const DEFAULT_MODEL = 'primary=h100-llama3-8b';

function intArg(flag: string, min: number, max: number) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim()) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`${flag}: expected an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
    }
    return Number(value);
  };
}

function parseModel(value: string, previous: string[] | undefined): string[] {
  if (!/^[A-Za-z0-9][A-Za-z0-9._:/-]*=[^=\s]+$/.test(value)) {
    throw new InvalidArgumentError(`--model: expected NAME=PROFILE (e.g. primary=h100-llama3-8b), got ${JSON.stringify(value)}`);
  }
  return [...(previous ?? []), value];
}

/** The commander program (exported so `--help` text is one source). */
export function simProgram(): Command {
  return new Command('sim')
    .description('Token-free mock GPU model server: OpenAI-compatible, continuous-batching timing, fault injection.')
    .addOption(new Option('--port <n>', 'port to listen on (0 picks a free one)').default(8000).argParser(intArg('--port', 0, 65535)))
    .addOption(new Option('--host <addr>', 'address to bind; loopback unless you mean otherwise').default('127.0.0.1'))
    .addOption(
      new Option('--model <NAME=PROFILE>', 'serve a model (repeatable); PROFILE is a profile name or a JSON overrides file').argParser(
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
      new Option('--timeline-offset-ms <n>', 'internal (set by --supervise on a restart): start this far into the --faults timeline')
        .default(0)
        .argParser(intArg('--timeline-offset-ms', 0, Number.MAX_SAFE_INTEGER)),
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
    timelineOffsetMs: number;
  }>();
  const models: ModelSpec[] = [];
  for (const spec of o.model ?? [DEFAULT_MODEL]) {
    const eq = spec.indexOf('=');
    const name = spec.slice(0, eq);
    const profileText = spec.slice(eq + 1);
    if (models.some((m) => m.name === name)) throw new CliUsageError(`--model: expected unique names, got "${name}" twice`);
    const profile = profileText.endsWith('.json') || profileText.trimStart().startsWith('{') ? (readJson('--model', profileText, readFile) as Record<string, unknown>) : profileText;
    models.push({ name, profile, label: spec });
  }
  if (o.host.trim() === '') throw new CliUsageError('--host: expected an address, got ""');
  if (o.controlToken !== undefined && o.controlToken.length < 8) {
    throw new CliUsageError(`--control-token: expected at least 8 characters, got ${o.controlToken.length}`);
  }
  return {
    port: o.port,
    host: o.host,
    models,
    ...(o.faults !== undefined ? { faults: readJson('--faults', o.faults, readFile) } : {}),
    ...(o.rateLimits !== undefined ? { rateLimits: readJson('--rate-limits', o.rateLimits, readFile) } : {}),
    seed: o.seed,
    supervise: o.supervise,
    ...(o.controlToken !== undefined ? { controlToken: o.controlToken } : {}),
    coldStartMs: o.coldStartMs,
    log: o.log,
    timelineOffsetMs: o.timelineOffsetMs,
  };
}

/** The plan for model `name` from a `--faults` file: per-model when it has a `models` map naming it. */
export function faultsFor(faults: unknown, name: string): unknown {
  if (faults === null || typeof faults !== 'object') return faults;
  const per = (faults as { models?: unknown }).models;
  if (per !== null && typeof per === 'object' && !Array.isArray(per)) return (per as Record<string, unknown>)[name];
  return faults;
}
