import { abortReason, AbortError, ValidationError } from '../errors.js';
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
  private readonly target: Abortable | AbortController;
  private lastMs: number;
  private tokens = 0;
  private timer: Timer | undefined;
  private paused = false;

  /**
   * @param target aborted on idle instead of a private controller (saves allocating a second one).
   * @param sync called before each check: a reader that takes arrivals late (a stream holding its tokens back) touches
   *   with their times first.
   */
  constructor(private readonly clock: Clock, readonly idleMs: number, target?: Abortable | AbortController, private readonly sync?: () => void) {
    checkMs('idleMs', idleMs);
    this.target = target ?? new AbortController();
    this.lastMs = clock.now();
    this.arm(idleMs);
  }

  /** Aborts with {@link IdleTimeoutError} after `idleMs` without a touch (the target's signal, if one was given). */
  get signal(): AbortSignal {
    return this.target.signal;
  }

  /**
   * Something arrived (at `atMs`, now unless told: a late report of an earlier arrival): restart the idle wait.
   * `tokensReceived` is reported if it later times out.
   */
  touch(tokensReceived: number, atMs = this.clock.now()): void {
    this.tokens = tokensReceived;
    this.lastMs = atMs;
  }

  /** We stopped reading (the caller is slow): no idle timeout until `resume()`, which restarts the idle wait. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
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
    this.sync?.();
    if (this.paused) return this.arm(this.idleMs);
    const remainingMs = this.lastMs + this.idleMs - this.clock.now();
    // Fractional times: treat a floating-point residue as due, and never re-arm for less than a microsecond,
    // or `now + tiny === now` would re-fire at the same instant forever.
    if (remainingMs <= 1e-6) this.target.abort(new IdleTimeoutError(this.idleMs, this.tokens));
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

/**
 * An abort handle for one attempt or wait: its AbortController is made only when someone reads `signal` (an
 * upstream that never looks at its signal costs no controller, the most expensive object on the hot path), and
 * aborting also settles {@link Abortable.aborted} directly, without an EventTarget listener.
 */
export class Abortable {
  private controller: AbortController | undefined;
  private why: { reason: unknown } | undefined;
  private reject: ((reason: unknown) => void) | undefined;
  private rejected: Promise<never> | undefined;
  /** The reject of the promise {@link race} returned last (one wait at a time). */
  private racing: ((reason: unknown) => void) | undefined;
  /** The callback {@link onAbort} set last (one at a time). */
  private hook: ((reason: Error) => void) | undefined;

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.why !== undefined) this.controller.abort(this.why.reason);
    }
    return this.controller.signal;
  }

  get isAborted(): boolean {
    return this.why !== undefined;
  }

  /** The abort reason as an Error (as `abortReason` reads a signal's), once aborted. */
  get reason(): Error | undefined {
    if (this.why === undefined) return undefined;
    const r = this.why.reason;
    return r instanceof Error ? r : new AbortError(r);
  }

  /**
   * Calls `fn` with the reason (as {@link reason} gives it) when this aborts, at the moment a listener on
   * {@link signal} would run, without making the signal: for a wait that may end before anything aborts. One at a
   * time: a later call replaces the earlier one's callback, and `undefined` removes it.
   */
  onAbort(fn: ((reason: Error) => void) | undefined): void {
    this.hook = fn;
  }

  abort(reason: unknown): void {
    if (this.why !== undefined) return;
    this.why = { reason };
    this.controller?.abort(reason);
    const hook = this.hook;
    this.hook = undefined;
    hook?.(reason instanceof Error ? reason : new AbortError(reason));
    this.reject?.(reason);
    const racing = this.racing;
    this.racing = undefined;
    racing?.(reason);
  }

  /** Rejects with the abort reason once aborted (made on first use). */
  get aborted(): Promise<never> {
    if (this.rejected === undefined) {
      this.rejected = new Promise<never>((_, reject) => {
        if (this.why !== undefined) reject(this.why.reason);
        else this.reject = reject;
      });
      this.rejected.catch(() => undefined);
    }
    return this.rejected;
  }

  /**
   * `work`, or the abort reason if this aborts first: `Promise.race([work, this.aborted])` without adding a
   * reaction to a promise that may never settle (a per-token race would pile them up for the whole stream).
   * For one wait at a time: a later call replaces the earlier one's abort hook.
   */
  race<T>(work: Promise<T>): Promise<T> {
    if (this.why !== undefined) {
      work.catch(() => undefined);
      return Promise.reject(this.why.reason);
    }
    return new Promise<T>((resolve, reject) => {
      this.racing = reject;
      work.then(resolve, reject);
    });
  }
}

/**
 * The cancellation scope of one request: its overall deadline and its caller's signal, without allocating an
 * AbortController up front (they dominate the per-request cost). `child()` makes a controller that aborts with
 * the scope's reason, only where a signal is really needed (an upstream call, a wait).
 */
export class CancelScope {
  private readonly deadlineAtMs: number;
  private readonly progress: { readonly delivered: number } | undefined;
  private readonly untilFirstToken: boolean;
  private why: Error | undefined;
  private cause: 'caller' | 'deadline' | undefined;
  private timer: Timer | undefined;
  /** Usually zero or one (the attempt in progress): an array beats a Set here. */
  private children: Abortable[] = [];
  private readonly caller: AbortSignal | undefined;
  private readonly onCallerAbort: (() => void) | undefined;

  /**
   * @param timeoutMs from `startMs` to the deadline (Infinity for none); passing it aborts with
   *   {@link DeadlineExceededError}.
   * @param caller the caller's signal; its abort reason becomes the scope's.
   * @param progress read when the deadline passes, for the tokens received so far.
   * @param untilFirstToken the deadline bounds only the wait for the first token (the engine's default deadline,
   *   which a streaming answer that keeps making progress outlives): once `progress.delivered` is above 0, `atMs`
   *   is Infinity and the scope ends only a request that received no new token in a whole `timeoutMs` (checked
   *   every `timeoutMs`, so between one and two of them after its last token).
   */
  constructor(
    private readonly clock: Clock,
    readonly timeoutMs: number,
    options: { startMs: number; caller?: AbortSignal | undefined; progress?: { readonly delivered: number }; untilFirstToken?: boolean },
  ) {
    checkMs('timeoutMs', timeoutMs);
    this.deadlineAtMs = options.startMs + timeoutMs;
    this.progress = options.progress;
    this.untilFirstToken = options.untilFirstToken === true && options.progress !== undefined;
    const caller = options.caller;
    this.caller = caller;
    if (caller !== undefined) {
      if (caller.aborted) {
        this.abort(abortReason(caller), 'caller');
        return;
      }
      this.onCallerAbort = () => this.abort(abortReason(caller), 'caller');
      caller.addEventListener('abort', this.onCallerAbort, { once: true });
    }
    if (this.deadlineAtMs !== Number.POSITIVE_INFINITY) {
      const progress = options.progress;
      // Tokens seen when the deadline last came due, for a first-token deadline the answer beat.
      let seen = 0;
      const fire = (): void => {
        this.timer = undefined;
        const delivered = progress?.delivered ?? 0;
        // A first-token deadline that the answer beat: it now only ends a request that stopped making progress
        // (no token in a whole `timeoutMs`, e.g. a broken stream waiting for an upstream that never comes back).
        if (this.untilFirstToken && delivered > seen) {
          seen = delivered;
          this.timer = clock.setTimer(timeoutMs, fire, 'deadline');
          return;
        }
        this.abort(new DeadlineExceededError(timeoutMs, delivered), 'deadline');
      };
      const delay = this.deadlineAtMs - clock.now();
      if (delay <= 0) fire();
      else this.timer = clock.setTimer(delay, fire, 'deadline');
    }
  }

  /**
   * Absolute clock time of the deadline (Infinity for none, and for a first-token deadline once tokens arrived).
   */
  get atMs(): number {
    return this.untilFirstToken && (this.progress as { readonly delivered: number }).delivered > 0 ? Number.POSITIVE_INFINITY : this.deadlineAtMs;
  }

  /** The reason, once aborted. */
  get reason(): Error | undefined {
    return this.why;
  }

  /** The caller cancelled. */
  get cancelled(): boolean {
    return this.cause === 'caller';
  }

  /** The deadline passed. */
  get expired(): boolean {
    return this.cause === 'deadline';
  }

  /** Ms left before the deadline (0 once passed; Infinity for none). */
  remainingMs(): number {
    return Math.max(0, this.atMs - this.clock.now());
  }

  /** An abortable that aborts with the scope (at once if it already has). Stop forwarding with `release(c)`. */
  child(): Abortable {
    const c = new Abortable();
    if (this.why !== undefined) c.abort(this.why);
    else this.children.push(c);
    return c;
  }

  /** Stops forwarding the scope's abort to `c`. */
  release(c: Abortable): void {
    const i = this.children.indexOf(c);
    if (i >= 0) this.children.splice(i, 1);
  }

  dispose(): void {
    this.timer?.cancel();
    if (this.onCallerAbort !== undefined) this.caller?.removeEventListener('abort', this.onCallerAbort);
    this.children = [];
  }

  private abort(reason: Error, cause: 'caller' | 'deadline'): void {
    if (this.why !== undefined) return;
    this.why = reason;
    this.cause = cause;
    this.timer?.cancel();
    this.timer = undefined;
    const children = this.children;
    this.children = [];
    for (const c of children) c.abort(reason);
  }
}
