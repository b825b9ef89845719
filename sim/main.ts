/**
 * The mock server process: `npm run sim -- --port 8000 --model primary=h100-llama3-8b ...` (see --help).
 * Builds one MockModel (its own simulated GPU) per `--model`, serves them with buildServer on a RealClock and
 * prints one line when listening. A crash fault really ends this process (exit 86); `--supervise` runs the
 * server as a child and restarts it after the crash's downtime, in cold start.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { HarnessError } from '../src/errors.js';
import { Random } from '../src/random.js';
import { RealClock } from '../src/time/real-clock.js';
import { CliUsageError, faultsFor, parseSimArgs, type SimOptions } from './cli-options.js';
import { parseFaultPlan, planAfter } from './faults.js';
import { MockModel, type MockModelOptions } from './mock-model.js';
import { resolveProfile } from './profiles.js';
import { buildServer } from './server.js';
import { CRASH_EXIT_CODE, Supervisor, type CrashMessage } from './supervisor.js';

const USAGE_EXIT_CODE = 2;

function fail(message: string, code = USAGE_EXIT_CODE): never {
  process.stderr.write(`sim: ${message}\nRun "npm run sim -- --help" for usage.\n`);
  process.exit(code);
}

/** A free port on `host`, so that restarted children of `--supervise --port 0` keep one address. */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function buildModels(opts: SimOptions, clock: RealClock): MockModel[] {
  const root = new Random(opts.seed);
  return opts.models.map((spec) => {
    let profile: ReturnType<typeof resolveProfile>;
    try {
      profile = resolveProfile(spec.profile as Parameters<typeof resolveProfile>[0]);
    } catch (err) {
      if (err instanceof HarnessError) fail(`--model ${spec.label}: ${err.message}`);
      throw err;
    }
    let faults = faultsFor(opts.faults, spec.name);
    // A supervised restart: the timeline runs on the server's clock from its first start, not again from 0.
    if (faults !== undefined && opts.timelineOffsetMs > 0) {
      faults = planAfter(parseFaultPlan(faults), opts.timelineOffsetMs);
    }
    const o: MockModelOptions = {
      name: spec.name,
      profile,
      clock,
      random: root.derive(`model/${spec.name}`),
      ...(faults !== undefined ? { faults: faults as MockModelOptions['faults'] } : {}),
      ...(opts.rateLimits !== undefined ? { rateLimits: opts.rateLimits as MockModelOptions['rateLimits'] } : {}),
      ...(opts.coldStartMs > 0 ? { coldStartMs: opts.coldStartMs } : {}),
    };
    return new MockModel(o);
  });
}

async function serve(opts: SimOptions): Promise<void> {
  const clock = new RealClock();
  let models: MockModel[];
  try {
    models = buildModels(opts, clock);
  } catch (err) {
    if (err instanceof HarnessError) fail(`invalid --faults or --rate-limits: ${err.message}`);
    throw err;
  }
  for (const m of models) {
    m.onEvent((e) => {
      if (e.type !== 'crash') return;
      const ev = e as unknown as { downtimeMs?: number; coldStartMs?: number };
      const msg: CrashMessage = {
        type: 'crash',
        model: m.name,
        downtimeMs: ev.downtimeMs ?? 1000,
        ...(ev.coldStartMs !== undefined ? { coldStartMs: ev.coldStartMs } : {}),
      };
      process.stderr.write(`sim: crash fault on model ${m.name}: exiting with code ${CRASH_EXIT_CODE} (downtime ${msg.downtimeMs}ms)\n`);
      // The process dies with everything in flight, as a real crash would; the supervisor (if any) restarts it.
      if (process.send) process.send(msg, () => process.exit(CRASH_EXIT_CODE));
      else process.exit(CRASH_EXIT_CODE);
    });
  }
  const app = buildServer({
    models,
    clock,
    logger: opts.log,
    requestTimeoutMs: opts.requestTimeoutMs,
    headersTimeoutMs: opts.headersTimeoutMs,
    ...(opts.controlToken !== undefined ? { controlToken: opts.controlToken } : {}),
  });
  const shutdown = (): void => {
    // Models first: their in-flight generations end (hangs included), then the sockets are closed.
    for (const m of models) m.close();
    void app.close().finally(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  try {
    await app.listen({ port: opts.port, host: opts.host });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') fail(`--port: ${opts.port} is already in use on ${opts.host}`);
    if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') fail(`--host: cannot bind ${JSON.stringify(opts.host)} (${e.code})`);
    if (e.code === 'EACCES') fail(`--port: not allowed to bind port ${opts.port} (EACCES)`);
    throw err;
  }
  const a = app.server.address();
  const port = typeof a === 'object' && a !== null ? a.port : opts.port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const cold = opts.coldStartMs > 0 ? `, cold start ${opts.coldStartMs}ms` : '';
  process.stdout.write(
    `sim: listening on http://${host}:${port} (models: ${opts.models.map((m) => m.label).join(', ')}; seed ${opts.seed}${cold}; pid ${process.pid})\n`,
  );
}

/** `--proxy URL`: the chaos proxy in front of a real OpenAI-compatible server (sim/proxy-server.ts). */
async function serveProxy(opts: SimOptions & { proxy: string }): Promise<void> {
  // Loaded only here, so the mock's own start-up does not pay for the proxy's modules.
  const { ChaosProxy } = await import('./proxy-server.js');
  const { PROXY_MODEL_NAME } = await import('./proxy-faults.js');
  let proxy: Awaited<ReturnType<typeof ChaosProxy.start>>;
  try {
    proxy = await ChaosProxy.start({
      upstreamUrl: opts.proxy,
      port: opts.port,
      host: opts.host,
      seed: opts.seed,
      logger: opts.log,
      ...(opts.faults !== undefined ? { faults: parseFaultPlan(faultsFor(opts.faults, PROXY_MODEL_NAME)) } : {}),
      ...(opts.controlToken !== undefined ? { controlToken: opts.controlToken } : {}),
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') fail(`--port: ${opts.port} is already in use on ${opts.host}`);
    if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') fail(`--host: cannot bind ${JSON.stringify(opts.host)} (${e.code})`);
    if (err instanceof HarnessError) fail(`invalid --faults or --proxy: ${err.message}`);
    throw err;
  }
  proxy.faults.onEvent((e) => {
    if (e.type === 'crash') process.stderr.write(`sim: crash fault: the proxy refuses connections for ${String(e['downtimeMs'])}ms, then answers 503 for ${String(e['coldStartMs'])}ms\n`);
  });
  const shutdown = (): void => void proxy.close().finally(() => process.exit(0));
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  process.stdout.write(`sim: chaos proxy listening on ${proxy.url} -> ${proxy.server.upstream.href} (seed ${opts.seed}; pid ${process.pid})\n`);
}

async function supervise(opts: SimOptions, argv: readonly string[]): Promise<void> {
  const port = opts.port === 0 ? await freePort(opts.host) : opts.port;
  const args = argv.filter((a) => a !== '--supervise');
  const sup = new Supervisor({
    entry: fileURLToPath(import.meta.url),
    args: [...args, '--port', String(port)],
    clock: new RealClock(),
  });
  const stop = (): void => sup.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  process.exitCode = await sup.run();
}

async function main(argv: readonly string[]): Promise<void> {
  let parsed: ReturnType<typeof parseSimArgs>;
  try {
    parsed = parseSimArgs(argv, (p) => readFileSync(p, 'utf8'));
  } catch (err) {
    if (err instanceof CliUsageError) fail(err.message);
    throw err;
  }
  if ('help' in parsed) {
    process.stdout.write(parsed.help);
    return;
  }
  if (parsed.proxy !== undefined) await serveProxy({ ...parsed, proxy: parsed.proxy });
  else if (parsed.supervise) await supervise(parsed, argv);
  else await serve(parsed);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  fail(`unexpected error: ${err instanceof Error ? err.message : String(err)}`, 1);
});
