/**
 * `sim --supervise`: runs the mock server as a child process and restarts it after a crash fault, the way a
 * container orchestrator would, on the crash's schedule. Booting a fresh server process (node, the TypeScript
 * loader, the modules) takes seconds (about 9 s on a loaded 2-core machine), far longer than a typical downtime,
 * so the supervisor keeps one **warm standby**: a child forked with {@link STANDBY_ENV} set, booted (modules loaded,
 * a throwaway app built) but not listening. The first child is such a standby; at start-up the next one boots beside
 * it, and the first is told to listen only once both have booted, so a crash at once (a timeline phase at `atMs` 0)
 * finds a booted standby, and no boot competes for the CPU with the load that starts when the server answers. After
 * that, whenever a standby is told to listen, the next one is forked. When the active child crashes (it reports the downtime over IPC
 * just before it exits with {@link CRASH_EXIT_CODE}), the port is really closed (connections are refused) until
 * crash time + downtime; then the standby is told over IPC to listen, in cold start (503 on /health and on requests
 * for `coldStartMs`), with a timeline offset (the time since the first child was told to listen) so the `--faults`
 * timeline keeps the server's clock from its first start: phases already over (the crash included) do not run
 * again, later ones keep their times. If no standby is ready by then (a crash before the standby finished booting),
 * the restart listens as soon as one is, and the supervisor logs that it came late and by how much: the outage
 * was longer than declared. Any other exit of the active child ends the supervisor with the same code.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { Clock } from '../src/time/clock.js';

/** The exit code of a server process ended by a crash fault: distinctive, so nothing else is mistaken for one. */
export const CRASH_EXIT_CODE = 86;

/** Set (to "1") in a child's environment: boot, say {@link ReadyMessage}, and listen only when told {@link ListenMessage}. */
export const STANDBY_ENV = 'SIM_SUPERVISOR_STANDBY';

/** What the child sends over IPC before exiting on a crash fault. */
export interface CrashMessage {
  readonly type: 'crash';
  readonly model: string;
  readonly downtimeMs: number;
  readonly coldStartMs?: number;
}

/** A standby child has booted and waits for {@link ListenMessage}. */
export interface ReadyMessage {
  readonly type: 'ready';
}

/** Supervisor to standby: listen now, with this cold start (else the argv's) and this far into the fault timeline. */
export interface ListenMessage {
  readonly type: 'listen';
  readonly coldStartMs?: number;
  readonly timelineOffsetMs: number;
}

function hasType(m: unknown, type: string): boolean {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === type;
}

export function isCrashMessage(m: unknown): m is CrashMessage {
  return hasType(m, 'crash') && typeof (m as { downtimeMs?: unknown }).downtimeMs === 'number';
}

export function isListenMessage(m: unknown): m is ListenMessage {
  return hasType(m, 'listen') && typeof (m as { timelineOffsetMs?: unknown }).timelineOffsetMs === 'number';
}

/** Options of {@link Supervisor}. */
export interface SupervisorOptions {
  /** The server entry (sim/main.ts). */
  readonly entry: string;
  /** The child's arguments, without `--supervise`. */
  readonly args: readonly string[];
  readonly clock: Clock;
  /** Node flags of the child (e.g. tsx's loader). @default process.execArgv */
  readonly execArgv?: readonly string[];
  /** Downtime when the child crashed without saying how long. @default 1000 */
  readonly defaultDowntimeMs?: number;
  /** Cold start of a restarted child when the crash did not say. @default 0 */
  readonly defaultColdStartMs?: number;
  /** Writes the supervisor's own lines. @default process.stderr */
  readonly log?: (line: string) => void;
}

export type SupervisorEvent =
  /** A standby child was forked (it boots, then waits). */
  | { readonly type: 'spawn'; readonly pid: number | undefined }
  /** A standby child has booted and waits to be told to listen. */
  | { readonly type: 'ready'; readonly pid: number | undefined }
  /** A standby was told to listen: the first start (`restarts` 0) or a restart. */
  | {
      readonly type: 'activate';
      readonly pid: number | undefined;
      readonly restarts: number;
      readonly coldStartMs: number;
      /** How far into the fault timeline the child starts: 0 first, the time since the first start on a restart. */
      readonly timelineOffsetMs: number;
      /** How much later than crash time + downtime the restart was told to listen (no standby was ready in time). */
      readonly lateMs: number;
      /** The child was forked before the crash it replaces: a warm standby. */
      readonly warm: boolean;
    }
  | { readonly type: 'crash'; readonly downtimeMs: number; readonly coldStartMs: number }
  | { readonly type: 'exit'; readonly code: number };

/** One child process and what it said. */
interface Child {
  readonly proc: ChildProcess;
  /** true once it said `ready`; false if it exited first. */
  readonly ready: Promise<boolean>;
  /** Its exit code, and the crash it reported if any. */
  readonly exited: Promise<{ code: number; crash: CrashMessage | undefined }>;
}

/** Supervises one active server child at a time, with one warm standby. */
export class Supervisor {
  private active: Child | undefined;
  private standby: Child | undefined;
  private readonly stopController = new AbortController();
  private readonly listeners = new Set<(e: SupervisorEvent) => void>();

  constructor(private readonly opts: SupervisorOptions) {}

  onEvent(l: (e: SupervisorEvent) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  private emit(e: SupervisorEvent): void {
    for (const l of this.listeners) l(e);
  }

  private log(line: string): void {
    (this.opts.log ?? ((s: string) => process.stderr.write(`${s}\n`)))(line);
  }

  private spawn(): Child {
    const proc = fork(this.opts.entry, [...this.opts.args], {
      execArgv: [...(this.opts.execArgv ?? process.execArgv)],
      env: { ...process.env, [STANDBY_ENV]: '1' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let crash: CrashMessage | undefined;
    let onReady: (ok: boolean) => void = () => undefined;
    const ready = new Promise<boolean>((r) => (onReady = r));
    proc.on('message', (m) => {
      if (isCrashMessage(m)) crash = m;
      else if (hasType(m, 'ready')) onReady(true);
    });
    const exited = new Promise<{ code: number; crash: CrashMessage | undefined }>((resolve) => {
      proc.once('exit', (c, sig) => resolve({ code: c ?? (sig ? 128 : 1), crash }));
      proc.once('error', () => resolve({ code: 1, crash }));
    });
    void exited.then(() => onReady(false));
    void ready.then((ok) => {
      if (!ok) return;
      this.log(`sim[supervisor]: standby server ready (pid ${String(proc.pid)})`);
      this.emit({ type: 'ready', pid: proc.pid });
    });
    this.emit({ type: 'spawn', pid: proc.pid });
    return { proc, ready, exited };
  }

  /** The standby, forked now if there is none (none yet, or it died). */
  private takeStandby(): Child {
    const s = this.standby ?? this.spawn();
    this.standby = undefined;
    return s;
  }

  /** Runs until the active child exits other than by a crash fault, or until `stop()`. Resolves with the exit code. */
  async run(): Promise<number> {
    const signal = this.stopController.signal;
    const clock = this.opts.clock;
    const aborted = new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
    let restarts = 0;
    let coldStartMs: number | undefined;
    let firstListenMs: number | undefined;
    let dueMs: number | undefined; // crash time + downtime
    for (;;) {
      const warm = restarts > 0 && this.standby !== undefined;
      let next = this.takeStandby();
      // At start-up the next standby boots beside the first child (see the file's comment).
      if (restarts === 0) this.standby ??= this.spawn();
      let ok = await Promise.race([next.ready, aborted.then(() => false)]);
      // The first listens once the standby has booted too; a standby that died booting is replaced at the crash.
      if (ok && restarts === 0 && this.standby !== undefined) await Promise.race([this.standby.ready, aborted]);
      if (!ok && warm && !signal.aborted) {
        // The standby died while it waited: boot a fresh one (late, and logged as such below).
        this.log(`sim[supervisor]: the standby server (pid ${String(next.proc.pid)}) exited with code ${(await next.exited).code}; starting a fresh one`);
        next = this.spawn();
        ok = await Promise.race([next.ready, aborted.then(() => false)]);
      }
      if (signal.aborted) {
        next.proc.kill('SIGTERM');
        return this.finish(0);
      }
      if (!ok) {
        // It died booting (e.g. a bad flag: it printed why): that is how the supervisor ends too.
        this.standby?.proc.kill('SIGTERM');
        const { code } = await next.exited;
        return this.finish(code);
      }
      let lateMs = 0;
      if (dueMs !== undefined) {
        const waitMs = dueMs - clock.now();
        if (waitMs > 0) {
          try {
            await clock.sleep(waitMs, signal);
          } catch {
            next.proc.kill('SIGTERM');
            return this.finish(0);
          }
        } else {
          lateMs = Math.round(-waitMs);
          if (lateMs > 0) {
            this.log(`sim[supervisor]: restart came ${lateMs}ms late: no standby server was ready by the end of the downtime, so the outage was ${lateMs}ms longer than declared`);
          }
        }
      }
      const nowMs = clock.now();
      firstListenMs ??= nowMs;
      const timelineOffsetMs = Math.max(0, Math.round(nowMs - firstListenMs));
      const order: ListenMessage = { type: 'listen', ...(coldStartMs !== undefined ? { coldStartMs } : {}), timelineOffsetMs };
      next.proc.send(order);
      this.active = next;
      this.emit({ type: 'activate', pid: next.proc.pid, restarts, coldStartMs: coldStartMs ?? 0, timelineOffsetMs, lateMs, warm });
      // After a restart the next standby boots now: this one has booted already (only its app and bind are left).
      this.standby ??= this.spawn();
      const { code, crash } = await Promise.race([next.exited, aborted.then(() => ({ code: 0, crash: undefined }))]);
      this.active = undefined;
      if (signal.aborted) return this.finish(0);
      if (code !== CRASH_EXIT_CODE) {
        this.standby?.proc.kill('SIGTERM');
        return this.finish(code);
      }
      const crashedAtMs = clock.now();
      const downtimeMs = crash?.downtimeMs ?? this.opts.defaultDowntimeMs ?? 1000;
      coldStartMs = crash?.coldStartMs ?? this.opts.defaultColdStartMs ?? 0;
      dueMs = crashedAtMs + downtimeMs;
      this.emit({ type: 'crash', downtimeMs, coldStartMs });
      this.log(`sim[supervisor]: server crashed (exit ${code}); restarting in ${downtimeMs}ms with a ${coldStartMs}ms cold start${this.standby !== undefined ? ' (warm standby)' : ' (no standby yet: a fresh server must boot first)'}`);
      restarts++;
    }
  }

  private finish(code: number): number {
    this.emit({ type: 'exit', code });
    return code;
  }

  /** Stops supervising: ends the active child and the standby (SIGTERM) and any pending restart. */
  stop(): void {
    this.stopController.abort();
    this.active?.proc.kill('SIGTERM');
    this.standby?.proc.kill('SIGTERM');
  }
}
