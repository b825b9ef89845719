/**
 * The cancellation of one HTTP call: the caller's signal, the idle timeout and the client's close, folded into
 * one AbortController handed to undici, and the rule that decides which error a failure becomes.
 */
import { abortReason } from '../errors.js';
import type { Clock, Timer } from '../time/clock.js';
import { IdleTimeoutError } from './errors.js';

/**
 * One call's controller. The idle timer is lazy: `touch()` only records the time, and the timer re-arms itself
 * for the remainder when it fires early, so a token costs a clock read, not a timer. While the consumer holds a
 * yielded chunk (`suspend()`), a slow consumer never counts as an idle server.
 */
export class CallControl {
  private readonly controller = new AbortController();
  private readonly onAbort: (() => void) | undefined;
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
    if (outer !== undefined) {
      const onAbort = (): void => this.controller.abort(outer.reason);
      this.onAbort = onAbort;
      outer.addEventListener('abort', onAbort, { once: true });
    }
    if (idleMs > 0) {
      this.lastMs = clock.now();
      this.arm(idleMs);
    }
  }

  /** The signal for undici: aborts on the caller's abort, the idle timeout or `abort()`. */
  get signal(): AbortSignal {
    return this.controller.signal;
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
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  /**
   * The error a failure of this call stands for when it was ours to cause: the caller's abort reason, then the
   * idle timeout, then any other abort reason (the client closing); undefined for a failure of the server or
   * the network.
   */
  failure(): Error | undefined {
    if (this.outer?.aborted === true) return abortReason(this.outer);
    if (this.idle !== undefined) return this.idle;
    if (this.controller.signal.aborted) return abortReason(this.controller.signal);
    return undefined;
  }

  /** Stops the timer and unlinks the caller's signal. */
  dispose(): void {
    this.timer?.cancel();
    this.timer = undefined;
    if (this.onAbort !== undefined) this.outer?.removeEventListener('abort', this.onAbort);
  }

  private arm(ms: number): void {
    this.timer = this.clock.setTimer(ms, () => this.fire(), 'http-idle-timeout');
  }

  private fire(): void {
    this.timer = undefined;
    if (this.controller.signal.aborted) return;
    if (this.suspended) return this.arm(this.idleMs);
    const quietMs = this.clock.now() - this.lastMs;
    // At least 1 ms per re-arm: a real timer may fire a fraction early, and re-arming for ~0 ms would spin.
    if (quietMs < this.idleMs) return this.arm(Math.max(1, this.idleMs - quietMs));
    this.idle = new IdleTimeoutError(this.idleMs, this.tokens());
    this.controller.abort(this.idle);
  }
}
