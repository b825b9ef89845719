/**
 * The mock server process: `npm run sim -- --port 8000 --model primary=h100-llama3-8b ...` (see --help).
 * Builds one MockModel (its own simulated GPU) per `--model`, serves them with buildServer on a RealClock and
 * prints one line when listening. A crash fault really ends this process (exit 86); `--supervise` runs the
 * server as a child and restarts it after the crash's downtime, in cold start. `--replicas N` serves N independent
 * replicas on consecutive ports in this one process (sim/replica-set.ts): a crash fault closes only that replica's
 * port, and `--supervise` then reopens it in-process after the downtime, in cold start.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { HarnessError } from '../src/errors.js';
import { RealClock } from '../src/time/real-clock.js';
import { CliUsageError, faultsFor, parseSimArgs, simHelpCommand, type SimOptions } from './cli-options.js';
import { parseFaultPlan } from './faults.js';
import type { MockModel } from './mock-model.js';
import { replicaModels } from './replica-models.js';
import { ReplicaSet } from './replica-set.js';
import { buildServer } from './server.js';
import { CRASH_EXIT_CODE, isListenMessage, STANDBY_ENV, Supervisor, type CrashMessage, type ListenMessage } from './supervisor.js';

const USAGE_EXIT_CODE = 2;

function fail(message: string, code = USAGE_EXIT_CODE): never {
  process.stderr.write(`sim: ${message}\nRun "${simHelpCommand()}" for usage.\n`);
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

/** The models of replica `index`; a bad profile exits 2 naming its --model, a bad plan naming --faults. */
function buildModels(opts: SimOptions, clock: RealClock, index: number): MockModel[] {
  try {
    return replicaModels(opts, clock, index);
  } catch (err) {
    if (err instanceof CliUsageError) fail(err.message);
    if (err instanceof HarnessError) fail(`invalid --faults or --rate-limits${opts.replicas > 1 ? ` (replica ${index})` : ''}: ${err.message}`);
    throw err;
  }
}

/** The mock's fastify app over `models`, with the flags' limits: one per process, or one per replica. */
function appFor(opts: SimOptions, clock: RealClock, models: readonly MockModel[]): ReturnType<typeof buildServer> {
  return buildServer({
    models,
    clock,
    logger: opts.log,
    requestTimeoutMs: opts.requestTimeoutMs,
    headersTimeoutMs: opts.headersTimeoutMs,
    ...(opts.controlToken !== undefined ? { controlToken: opts.controlToken } : {}),
  });
}

/**
 * A warm standby of `--supervise` (sim/supervisor.ts): builds and readies a throwaway app (no faults, no cold start)
 * so the modules are loaded and warm, says `ready`, and waits, not listening, for the supervisor's order to listen.
 * Returns the options to serve with: the order's cold start and timeline offset. Exits if the supervisor goes away.
 */
async function awaitListenOrder(opts: SimOptions, clock: RealClock): Promise<SimOptions> {
  const send = process.send?.bind(process);
  if (send === undefined) return opts;
  const warmModels = buildModels({ ...opts, faults: undefined, coldStartMs: 0, timelineOffsetMs: 0 }, clock, opts.firstReplica);
  const warmApp = appFor(opts, clock, warmModels);
  await warmApp.inject({ method: 'GET', url: '/health' });
  for (const m of warmModels) m.close();
  await warmApp.close();
  const order = await new Promise<ListenMessage>((resolve) => {
    const onMessage = (m: unknown): void => {
      if (!isListenMessage(m)) return;
      process.off('message', onMessage);
      process.off('disconnect', onDisconnect);
      resolve(m);
    };
    const onDisconnect = (): void => process.exit(0);
    process.on('message', onMessage);
    process.once('disconnect', onDisconnect);
    send({ type: 'ready' });
  });
  return {
    ...opts,
    ...(order.coldStartMs !== undefined ? { coldStartMs: order.coldStartMs } : {}),
    // On top of any --timeline-offset-ms given: the order's is the time since the first start.
    timelineOffsetMs: opts.timelineOffsetMs + order.timelineOffsetMs,
  };
}

async function serve(argvOpts: SimOptions): Promise<void> {
  const clock = new RealClock();
  const standby = process.env[STANDBY_ENV] === '1';
  const exitNow = (): never => process.exit(0);
  if (standby) process.once('SIGTERM', exitNow);
  const opts = standby ? await awaitListenOrder(argvOpts, clock) : argvOpts;
  process.off('SIGTERM', exitNow);
  const models = buildModels(opts, clock, opts.firstReplica);
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
  const app = appFor(opts, clock, models);
  const shutdown = (): void => {
    // Models first: their in-flight generations end (hangs included), then the sockets are closed.
    for (const m of models) m.close();
    void app.close().finally(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  // A supervised server ends with its supervisor: killed outright (SIGKILL), the supervisor cannot stop it, and it
  // would keep the port as an orphan (its standby already exits on the same signal).
  if (standby) process.once('disconnect', shutdown);
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

/** `--replicas N` (N > 1): the replicas in this process, each on its own port (sim/replica-set.ts). */
async function serveReplicas(opts: SimOptions): Promise<void> {
  const clock = new RealClock();
  const indices = Array.from({ length: opts.replicas }, (_, k) => opts.firstReplica + k);
  const of = ` of ${opts.firstReplica + opts.replicas}`;
  let set: ReplicaSet;
  try {
    set = await ReplicaSet.start(
      {
        indices,
        port: opts.port,
        host: opts.host,
        clock,
        supervise: opts.supervise,
        models: (index) => buildModels(opts, clock, index),
        app: (models) => appFor(opts, clock, models),
      },
      (e) => {
        if (e.type === 'listening') {
          const cold = e.restarted ? `, restarted, cold start ${e.coldStartMs}ms` : opts.coldStartMs > 0 ? `, cold start ${opts.coldStartMs}ms` : '';
          process.stdout.write(
            `sim: listening on ${e.url} (replica ${e.index}${of}${cold}; models: ${opts.models.map((m) => m.label).join(', ')}; seed ${opts.seed}; pid ${process.pid})\n`,
          );
        } else if (e.type === 'crash') {
          process.stderr.write(
            `sim: crash fault on model ${e.model} of replica ${e.index}: its port is closed${e.restart ? ` for ${e.downtimeMs}ms, then it restarts with a ${e.coldStartMs}ms cold start` : ' for good (no --supervise)'}; the other replicas keep serving\n`,
          );
        } else {
          process.stderr.write(`sim: every replica has crashed: exiting with code ${CRASH_EXIT_CODE}\n`);
          process.exit(CRASH_EXIT_CODE);
        }
      },
    );
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') fail(`--port: a port of ${opts.port} to ${opts.port + opts.replicas - 1} is already in use on ${opts.host}`);
    if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') fail(`--host: cannot bind ${JSON.stringify(opts.host)} (${e.code})`);
    if (e.code === 'EACCES') fail(`--port: not allowed to bind port ${opts.port} (EACCES)`);
    throw err;
  }
  const shutdown = (): void => void set.close().finally(() => process.exit(0));
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
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
  else if (parsed.replicas > 1) await serveReplicas(parsed);
  else if (parsed.supervise) await supervise(parsed, argv);
  else await serve(parsed);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  fail(`unexpected error: ${err instanceof Error ? err.message : String(err)}`, 1);
});
