/**
 * `sim --supervise`: runs the mock server as a child process and restarts it after a crash fault, the way a
 * container orchestrator would. The child reports the crash's downtime over IPC just before it exits with
 * {@link CRASH_EXIT_CODE}; the supervisor waits that long (the server is really gone: connections are refused),
 * then starts a new child in cold start (503 on /health and on requests for `coldStartMs`), passing it
 * `--timeline-offset-ms` (the time since the first child started) so the `--faults` timeline keeps the server's
 * clock from its first start: phases already over (the crash included) do not run again, later ones keep their times.
 * Any other exit of the child ends the supervisor with the same code.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { Clock } from '../src/time/clock.js';

/** The exit code of a server process ended by a crash fault: distinctive, so nothing else is mistaken for one. */
export const CRASH_EXIT_CODE = 86;

/** What the child sends over IPC before exiting on a crash fault. */
export interface CrashMessage {
  readonly type: 'crash';
  readonly model: string;
  readonly downtimeMs: number;
  readonly coldStartMs?: number;
}

export function isCrashMessage(m: unknown): m is CrashMessage {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'crash'
    && typeof (m as { downtimeMs?: unknown }).downtimeMs === 'number';
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
  | {
      readonly type: 'spawn';
      readonly pid: number | undefined;
      readonly restarts: number;
      readonly coldStartMs: number;
      /** How far into the fault timeline the child starts: 0 first, the time since the first start on a restart. */
      readonly timelineOffsetMs: number;
    }
  | { readonly type: 'crash'; readonly downtimeMs: number; readonly coldStartMs: number }
  | { readonly type: 'exit'; readonly code: number };

/** Supervises one server child at a time. */
export class Supervisor {
  private child: ChildProcess | undefined;
  private readonly stopController = new AbortController();
  private readonly listeners = new Set<(e: SupervisorEvent) => void>();
  private restarts = 0;

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

  /** Runs until the child exits other than by a crash fault, or until `stop()`. Resolves with the exit code. */
  async run(): Promise<number> {
    let coldStartMs: number | undefined;
    let firstStartMs: number | undefined;
    const signal = this.stopController.signal;
    for (;;) {
      const nowMs = this.opts.clock.now();
      firstStartMs ??= nowMs;
      // Both ends are forks, so the children's start-up times (before they arm their plans) roughly cancel out.
      const timelineOffsetMs = Math.max(0, Math.round(nowMs - firstStartMs));
      const args = [
        ...this.opts.args,
        ...(coldStartMs !== undefined ? ['--cold-start-ms', String(coldStartMs)] : []),
        ...(timelineOffsetMs > 0 ? ['--timeline-offset-ms', String(timelineOffsetMs)] : []),
      ];
      const child = fork(this.opts.entry, args, {
        execArgv: [...(this.opts.execArgv ?? process.execArgv)],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      this.child = child;
      this.emit({ type: 'spawn', pid: child.pid, restarts: this.restarts, coldStartMs: coldStartMs ?? 0, timelineOffsetMs });
      let crash: CrashMessage | undefined;
      child.on('message', (m) => {
        if (isCrashMessage(m)) crash = m;
      });
      const code = await new Promise<number>((resolve) => {
        child.once('exit', (c, sig) => resolve(c ?? (sig ? 128 : 1)));
        child.once('error', () => resolve(1));
      });
      this.child = undefined;
      if (signal.aborted) return this.finish(0);
      if (code !== CRASH_EXIT_CODE) return this.finish(code);
      const downtimeMs = crash?.downtimeMs ?? this.opts.defaultDowntimeMs ?? 1000;
      coldStartMs = crash?.coldStartMs ?? this.opts.defaultColdStartMs ?? 0;
      this.emit({ type: 'crash', downtimeMs, coldStartMs });
      this.log(`sim[supervisor]: server crashed (exit ${code}); restarting in ${downtimeMs}ms with a ${coldStartMs}ms cold start`);
      try {
        await this.opts.clock.sleep(downtimeMs, signal);
      } catch {
        return this.finish(0);
      }
      this.restarts++;
    }
  }

  private finish(code: number): number {
    this.emit({ type: 'exit', code });
    return code;
  }

  /** Stops supervising: ends the child (SIGTERM) and any pending restart. */
  stop(): void {
    this.stopController.abort();
    this.child?.kill('SIGTERM');
  }
}
