/**
 * Child processes of a live run (the mock server, the engine service): spawned from their tsx entry points on
 * loopback ports, polled until ready, their stderr kept, and stopped by PID when the run ends or is aborted.
 *
 * Each child is started in its own process group (`detached`), so a stop reaches the whole group: the mock's
 * `--supervise` parent and the server it forks, whatever its current PID after a restart. A stop sends SIGTERM,
 * then SIGKILL after a grace period. `ProcessGroup.installExitHandlers` also kills them at exit (and on Ctrl-C when
 * nobody else handles it), so a run never leaves orphans behind (only a SIGKILL of the harness itself can).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { request } from 'undici';
import { HarnessError } from '../../src/errors.js';
import type { Clock } from '../../src/time/clock.js';

/** A child process failed to start, exited early, or never became ready. Names it and shows its last stderr. */
export class ProcessStartError extends HarnessError {
  constructor(
    readonly processName: string,
    reason: string,
    readonly stderrTail: readonly string[],
  ) {
    super('RUN_FAILED', `${processName}: ${reason}${stderrTail.length > 0 ? `; last stderr lines:\n  ${stderrTail.join('\n  ')}` : '; no stderr output'}`);
  }
}

/** What to run. */
export interface ProcessSpec {
  /** Name in errors and logs, e.g. `mock` or `engine[resilient]`. */
  readonly name: string;
  /** An entry point: TypeScript runs as `node --import tsx ENTRY ...args`, compiled JavaScript as `node ENTRY ...args`. */
  readonly entry: string;
  readonly args: readonly string[];
  /** The loopback port the process will listen on (pass it in `args` too). */
  readonly port: number;
  /** Path polled for readiness (`/health`, `/healthz`): ready on a 200. */
  readonly readyPath: string;
  /** @default process.cwd() */
  readonly cwd?: string;
  /** Extra environment variables. */
  readonly env?: Readonly<Record<string, string>>;
}

/** Options of {@link startProcess}. */
export interface StartOptions {
  readonly clock: Clock;
  /** How long the process may take to answer 200 on its ready path. @default 20_000 */
  readonly readyTimeoutMs?: number;
  /** Poll period of the ready path. @default 100 */
  readonly pollMs?: number;
  /** Stderr lines kept for errors and reports. @default 50 */
  readonly stderrLines?: number;
  readonly signal?: AbortSignal;
}

/** How a child ended. */
export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A running child process. */
export class ManagedProcess {
  readonly #child: ChildProcess;
  readonly #tail: string[] = [];
  readonly #keep: number;
  #exit: ProcessExit | undefined;
  /** Resolves when the process (the group leader) has exited. */
  readonly exited: Promise<ProcessExit>;

  constructor(
    readonly spec: ProcessSpec,
    child: ChildProcess,
    keepLines: number,
  ) {
    this.#child = child;
    this.#keep = keepLines;
    let partial = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      const lines = (partial + s).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) this.#push(l);
    });
    child.stdout?.resume(); // drained, never read: a full pipe would block the child
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        if (partial !== '') this.#push(partial);
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
      child.once('error', (err) => {
        this.#push(`spawn error: ${err.message}`);
        this.#exit ??= { code: null, signal: null };
        resolve(this.#exit);
      });
    });
  }

  #push(line: string): void {
    if (line.trim() === '') return;
    this.#tail.push(line);
    if (this.#tail.length > this.#keep) this.#tail.shift();
  }

  get name(): string {
    return this.spec.name;
  }
  get pid(): number | undefined {
    return this.#child.pid;
  }
  get port(): number {
    return this.spec.port;
  }
  /** `http://127.0.0.1:PORT` */
  get url(): string {
    return `http://127.0.0.1:${this.spec.port}`;
  }
  /** The exit, once the process has ended. */
  get exit(): ProcessExit | undefined {
    return this.#exit;
  }
  /** The last stderr lines. */
  stderrTail(): string[] {
    return [...this.#tail];
  }

  /** Sends `sig` to the process group (the child and whatever it forked). No-op once it has exited. */
  kill(sig: NodeJS.Signals): void {
    const pid = this.#child.pid;
    if (pid === undefined || this.#exit !== undefined) return;
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        this.#child.kill(sig);
      } catch {
        // already gone
      }
    }
  }

  /**
   * Stops the process: SIGTERM to its group, SIGKILL after `graceMs` if it is still there. Resolves once the
   * leader has exited; the group gets a final SIGKILL either way, so a forked grandchild cannot outlive it.
   */
  async stop(clock: Clock, graceMs = 3_000): Promise<ProcessExit> {
    const pid = this.#child.pid;
    if (this.#exit === undefined) {
      this.kill('SIGTERM');
      const killer = clock.setTimer(graceMs, () => this.kill('SIGKILL'), `kill ${this.name}`);
      await this.exited;
      killer.cancel();
    }
    if (pid !== undefined) killGroupNow(pid);
    return this.#exit ?? (await this.exited);
  }
}

function killGroupNow(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // the group is gone
  }
}

/** A free TCP port on `host`: bind port 0, read it, close. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.once('error', reject);
    s.listen(0, host, () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function bindable(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.unref();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/**
 * The first of `count` consecutive free ports on `host` (for `sim --replicas N --port P`, which binds P to P+N-1):
 * a free port from the system, kept when the ports after it are free too, else another try.
 * @throws Error after `attempts` tries without a free run
 */
export async function freePortRun(count: number, host = '127.0.0.1', attempts = 50): Promise<number> {
  for (let i = 0; i < attempts; i++) {
    const first = await freePort(host);
    if (first + count - 1 > 65535) continue;
    let ok = true;
    for (let k = 1; k < count && ok; k++) ok = await bindable(first + k, host);
    if (ok) return first;
  }
  throw new Error(`freePortRun: no ${count} consecutive free ports on ${host} after ${attempts} tries`);
}

/** True when GET `url` answers 200 within `timeoutMs`. */
export async function httpReady(url: string, timeoutMs: number): Promise<boolean> {
  try {
    const res = await request(url, { method: 'GET', headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    await res.body.dump();
    return res.statusCode === 200;
  } catch {
    return false;
  }
}

/**
 * Spawns `spec` and waits until its ready path answers 200.
 * @throws ProcessStartError when it exits first or is not ready within `readyTimeoutMs` (the process is stopped).
 */
export async function startProcess(spec: ProcessSpec, o: StartOptions): Promise<ManagedProcess> {
  const loader = /\.[cm]?ts$/.test(spec.entry) ? ['--import', 'tsx'] : [];
  const child = spawn(process.execPath, [...loader, spec.entry, ...spec.args], {
    cwd: spec.cwd ?? process.cwd(),
    env: { ...process.env, ...spec.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so a stop reaches what it forks
  });
  const p = new ManagedProcess(spec, child, o.stderrLines ?? 50);
  const timeoutMs = o.readyTimeoutMs ?? 20_000;
  const pollMs = o.pollMs ?? 100;
  const started = o.clock.now();
  const url = `http://127.0.0.1:${spec.port}${spec.readyPath}`;
  try {
    for (;;) {
      if (o.signal?.aborted) throw new ProcessStartError(spec.name, 'start aborted', p.stderrTail());
      if (p.exit !== undefined) {
        throw new ProcessStartError(spec.name, `exited before it was ready (${describeExit(p.exit)})`, p.stderrTail());
      }
      if (await httpReady(url, Math.max(pollMs, 1_000))) return p;
      if (o.clock.now() - started > timeoutMs) {
        throw new ProcessStartError(spec.name, `not ready after ${timeoutMs} ms (GET ${url} never answered 200)`, p.stderrTail());
      }
      await Promise.race([o.clock.sleep(pollMs), p.exited]);
    }
  } catch (err) {
    await p.stop(o.clock, 1_000);
    throw err;
  }
}

export function describeExit(e: ProcessExit): string {
  return e.signal !== null ? `killed by ${e.signal}` : `exit code ${e.code ?? 'unknown'}`;
}

/**
 * The processes of one run: stops them all (in reverse start order) on `stopAll`, on Ctrl-C and at exit.
 */
export class ProcessGroup {
  readonly #procs: ManagedProcess[] = [];
  readonly #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Starts `spec` (see {@link startProcess}) and keeps it for `stopAll`. */
  async start(spec: ProcessSpec, o: Omit<StartOptions, 'clock'> = {}): Promise<ManagedProcess> {
    const p = await startProcess(spec, { ...o, clock: this.#clock });
    this.#procs.push(p);
    return p;
  }

  get processes(): readonly ManagedProcess[] {
    return this.#procs;
  }

  /** Stops every process, the last started first. */
  async stopAll(graceMs = 3_000): Promise<void> {
    const procs = this.#procs.splice(0).reverse();
    await Promise.all(procs.map((p) => p.stop(this.#clock, graceMs)));
  }

  /**
   * Kills the group's processes (SIGKILL to each process group, synchronously) when this process exits, however it
   * exits: `process.exit` from a second Ctrl-C included. When nobody else handles SIGINT/SIGTERM (a library use
   * without a CLI), it also handles them: kill, then exit 130/143 as a shell would; a caller that handles them
   * itself (the CLI cancels the run gracefully first) keeps that. Returns a function that removes what it added.
   */
  installExitHandlers(): () => void {
    const killAll = (): void => {
      for (const p of this.#procs) if (p.pid !== undefined) killGroupNow(p.pid);
    };
    const onSignal = (sig: NodeJS.Signals): void => {
      killAll();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    };
    process.on('exit', killAll);
    const signals = (['SIGINT', 'SIGTERM'] as const).filter((sig) => process.listenerCount(sig) === 0);
    for (const sig of signals) process.on(sig, onSignal);
    return () => {
      process.off('exit', killAll);
      for (const sig of signals) process.off(sig, onSignal);
    };
  }
}
