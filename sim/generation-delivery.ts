/**
 * The timed deliveries of one generation (sim/generation.ts) when a delivery fault delays them: each chunk the GPU
 * computes becomes visible after the TTFT delay plus its own jitter, never before an earlier chunk. One timer at a
 * time, for the earliest pending delivery; chunks due together are revealed as one.
 */
import type { Clock, Timer } from '../src/time/clock.js';

/** @internal FIFO of pending deliveries (visible-up-to values and their times). */
export class DeliverySchedule {
  private readonly pendingTo: number[] = [];
  private readonly pendingAt: number[] = [];
  private pendingHead = 0;
  private pendingTimer: Timer | undefined;
  private lastDeliverAt: number;

  constructor(
    private readonly clock: Clock,
    private readonly ttftDelayMs: number,
    private readonly jitterMs: (() => number) | undefined,
    /** Makes tokens visible up to the given index; undefined when the timer found nothing due (keep what is visible). */
    private readonly reveal: (upTo: number | undefined) => void,
  ) {
    this.lastDeliverAt = clock.now();
  }

  /** True when no delivery is pending. */
  get empty(): boolean {
    return this.pendingHead === this.pendingTo.length;
  }

  /** Tokens up to `upTo` were computed: reveals them now, or when their delay has passed. */
  schedule(upTo: number): void {
    const now = this.clock.now();
    // The TTFT delay shifts the whole stream (as a slow start would), so inter-token gaps are kept; jitter is per chunk.
    const at = Math.max(this.lastDeliverAt, now + this.ttftDelayMs + (this.jitterMs?.() ?? 0));
    this.lastDeliverAt = at;
    if (at <= now && this.pendingHead === this.pendingTo.length) {
      this.reveal(upTo);
      return;
    }
    this.pendingTo.push(upTo);
    this.pendingAt.push(at);
    if (this.pendingTimer === undefined) this.armPending();
  }

  /** Cancels the pending timer (the stream ended). */
  cancel(): void {
    this.pendingTimer?.cancel();
  }

  private armPending(): void {
    const at = this.pendingAt[this.pendingHead] as number;
    this.pendingTimer = this.clock.setTimer(at - this.clock.now(), this.onPending, 'mock-delivery');
  }

  private readonly onPending = (): void => {
    this.pendingTimer = undefined;
    const now = this.clock.now();
    let upTo: number | undefined;
    while (this.pendingHead < this.pendingTo.length && (this.pendingAt[this.pendingHead] as number) <= now) {
      upTo = this.pendingTo[this.pendingHead++] as number;
    }
    if (this.pendingHead === this.pendingTo.length) {
      this.pendingTo.length = this.pendingAt.length = this.pendingHead = 0;
    } else this.armPending();
    this.reveal(upTo);
  };
}
