/**
 * The cancellation of one HTTP call: the caller's signal, the idle timeout and the client's close, folded into
 * one abort (a callback for a dispatched stream, or an AbortSignal for undici's `request`), and the rule that
 * decides which error a failure becomes.
 */
import { abortReason, AbortError } from '../errors.js';
import type { Clock, Timer } from '../time/clock.js';
import { IdleTimeoutError } from './errors.js';

/**
 * One call's controller. The idle timer is lazy: `touch()` only records the time, and the timer re-arms itself
 * for the remainder when it fires early, so a token costs a clock read, not a timer. While the consumer holds a
 * yielded chunk (`suspend()`), a slow consumer never counts as idle. The AbortController behind `signal` is made
 * only when someone reads `signal` (a dispatched stream takes `onAbort` instead).
 */
export class CallControl {
  /** Called once, when the call is aborted (the caller's signal, the idle timeout or `abort()`). */
  onAbort: ((reason: unknown) => void) | undefined;
  private controller: AbortController | undefined;
  private why: { readonly reason: unknown } | undefined;
  private readonly onOuterAbort: (() => void) | undefined;
  private timer: Timer | undefined;
  private lastMs = 0;
  private suspended = false;
  private idle: IdleTimeoutError | undefined;

  /**
   * @param idleMs no byte for this long aborts the call with IdleTimeoutError; 0 disables.
   * @param tokens the tokens received so far (absolute), for the IdleTimeoutError.
   */
  constructor(
    private readonly clock: Clock,
    private readonly idleMs: number,
    private readonly outer: AbortSignal | undefined,
    private readonly tokens: () => number,
  ) {
    if (outer !== undefined && !outer.aborted) {
      const onAbort = (): void => this.abort(outer.reason);
      this.onOuterAbort = onAbort;
      outer.addEventListener('abort', onAbort, { once: true });
    }
    if (idleMs > 0) {
      this.lastMs = clock.now();
      this.arm(idleMs);
    }
  }

  /** A signal for undici's `request`: aborts on the caller's abort, the idle timeout or `abort()`. */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.why !== undefined) this.controller.abort(this.why.reason);
    }
    return this.controller.signal;
  }

  /** Aborted, for whatever reason. */
  get aborted(): boolean {
    return this.why !== undefined || this.outer?.aborted === true;
  }

  /** Ms since the last byte from the server (or the start), as far as it is measured: 0 without an idle timeout. */
  quietMs(): number {
    return this.idleMs > 0 ? Math.max(0, this.clock.now() - this.lastMs) : 0;
  }

  /** Something arrived from the server. */
  touch(): void {
    if (this.idleMs > 0) this.lastMs = this.clock.now();
  }

  /** The consumer holds a chunk: the idle timeout waits. */
  suspend(): void {
    this.suspended = true;
  }

  /** The consumer asked for more: the idle time counts from now. */
  resume(): void {
    this.suspended = false;
    this.touch();
  }

  /** Aborts the call (the consumer left, or the client closed); harmless when already aborted. */
  abort(reason: unknown): void {
    if (this.why !== undefined) return;
    this.why = { reason };
    this.timer?.cancel();
    this.timer = undefined;
    this.controller?.abort(reason);
    this.onAbort?.(reason);
  }

  /**
   * The error a failure of this call stands for when it was ours to cause: the caller's abort reason, then the
   * idle timeout, then any other abort reason (the client closing); undefined for a failure of the server or
   * the network.
   */
  failure(): Error | undefined {
    if (this.outer?.aborted === true) return abortReason(this.outer);
    if (this.idle !== undefined) return this.idle;
    if (this.why !== undefined) return this.why.reason instanceof Error ? this.why.reason : new AbortError(this.why.reason);
    return undefined;
  }

  /** Stops the timer and unlinks the caller's signal. */
  dispose(): void {
    this.timer?.cancel();
    this.timer = undefined;
    if (this.onOuterAbort !== undefined) this.outer?.removeEventListener('abort', this.onOuterAbort);
  }

  private arm(ms: number): void {
    this.timer = this.clock.setTimer(ms, () => this.fire(), 'http-idle-timeout');
  }

  private fire(): void {
    this.timer = undefined;
    if (this.why !== undefined) return;
    if (this.suspended) return this.arm(this.idleMs);
    const quietMs = this.clock.now() - this.lastMs;
    // At least 1 ms per re-arm: a real timer may fire a fraction early, and re-arming for ~0 ms would spin.
    if (quietMs < this.idleMs) return this.arm(Math.max(1, this.idleMs - quietMs));
    this.idle = new IdleTimeoutError(this.idleMs, this.tokens());
    this.abort(this.idle);
  }
}
