import { ValidationError } from '../errors.js';
import type { Clock, Timer } from '../time/clock.js';
import { DeadlineExceededError, IdleTimeoutError } from '../upstream/errors.js';

function checkMs(path: string, v: number): number {
  if (!(v >= 0) || Number.isNaN(v)) throw new ValidationError(path, 'a number >= 0', v);
  return v;
}

/**
 * An overall deadline on a Clock: `signal` aborts with {@link DeadlineExceededError} at `atMs`. `Infinity`
 * means no deadline (the signal never aborts and no timer is kept). Call `dispose()` when the work ends.
 */
export class Deadline {
  readonly signal: AbortSignal;
  /** Absolute clock time of the deadline (Infinity for none). */
  readonly atMs: number;
  private readonly controller = new AbortController();
  private readonly timer: Timer | undefined;

  /**
   * @param timeoutMs from `startMs` (default: now) to the deadline.
   * @param tokensReceived reported in the error, for a partial stream.
   */
  constructor(
    private readonly clock: Clock,
    readonly timeoutMs: number,
    options: { startMs?: number; tokensReceived?: () => number } = {},
  ) {
    checkMs('timeoutMs', timeoutMs);
    this.signal = this.controller.signal;
    this.atMs = (options.startMs ?? clock.now()) + timeoutMs;
    if (this.atMs === Number.POSITIVE_INFINITY) return;
    const fire = (): void => this.controller.abort(new DeadlineExceededError(timeoutMs, options.tokensReceived?.() ?? 0));
    const delay = this.atMs - clock.now();
    if (delay <= 0) fire();
    else this.timer = clock.setTimer(delay, fire, 'deadline');
  }

  /** Ms left before the deadline (0 once passed; Infinity for none). */
  remainingMs(): number {
    return Math.max(0, this.atMs - this.clock.now());
  }

  get expired(): boolean {
    return this.signal.aborted;
  }

  dispose(): void {
    this.timer?.cancel();
  }
}

/**
 * A per-token idle timeout: `signal` aborts with {@link IdleTimeoutError} when `idleMs` pass without a `touch()`.
 * One timer is re-armed lazily (when it fires early it re-schedules for the remainder), so touching once per
 * token costs a clock read, not a timer.
 */
export class IdleTimeout {
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private lastMs: number;
  private tokens = 0;
  private timer: Timer | undefined;

  constructor(private readonly clock: Clock, readonly idleMs: number) {
    checkMs('idleMs', idleMs);
    this.signal = this.controller.signal;
    this.lastMs = clock.now();
    this.arm(idleMs);
  }

  /** Something arrived: restart the idle wait. `tokensReceived` is reported if it later times out. */
  touch(tokensReceived: number): void {
    this.tokens = tokensReceived;
    this.lastMs = this.clock.now();
  }

  dispose(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  private arm(ms: number): void {
    this.timer = this.clock.setTimer(ms, () => this.check(), 'idle-timeout');
  }

  private check(): void {
    const remainingMs = this.lastMs + this.idleMs - this.clock.now();
    // Fractional times: treat a floating-point residue as due, and never re-arm for less than a microsecond,
    // or `now + tiny === now` would re-fire at the same instant forever.
    if (remainingMs <= 1e-6) this.controller.abort(new IdleTimeoutError(this.idleMs, this.tokens));
    else this.arm(Math.max(remainingMs, 1e-3));
  }
}

/**
 * A signal that aborts when any of `signals` does, with that signal's reason. Unlike `AbortSignal.any`, the
 * listeners are removed by `dispose()`, so a long-lived parent does not collect listeners from finished work.
 */
export function linkSignals(signals: ReadonlyArray<AbortSignal | undefined>): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const live: AbortSignal[] = [];
  const onAbort = function (this: AbortSignal): void {
    dispose();
    controller.abort(this.reason);
  };
  const dispose = (): void => {
    for (const s of live) s.removeEventListener('abort', onAbort);
    live.length = 0;
  };
  for (const s of signals) {
    if (s === undefined) continue;
    if (s.aborted) {
      dispose();
      controller.abort(s.reason);
      break;
    }
    s.addEventListener('abort', onAbort);
    live.push(s);
  }
  return { signal: controller.signal, dispose };
}
