/**
 * Whether a mock model is up: `crashed` (connections refused) during a crash's downtime or once closed, then
 * `cold-start` (503 with the time left) for the crash's cold start, then `ready` again, announced by a `ready` event.
 */
import type { Clock, Timer } from '../src/time/clock.js';
import { ConnectionRefusedError } from '../src/upstream/errors.js';
import { MockOverloadedError, withoutStack } from './mock-errors.js';
import type { ModelEvents } from './mock-model-events.js';

/** The liveness states of a model. */
export type ModelState = 'ready' | 'cold-start' | 'crashed';

/** A model's crash, cold-start and closed state, on its clock. */
export class Liveness {
  private downUntilMs = -Infinity;
  private coldUntilMs = -Infinity;
  private readyTimer: Timer | undefined;
  private closed = false;

  constructor(
    private readonly clock: Clock,
    private readonly name: string,
    private readonly events: ModelEvents,
  ) {}

  state(): ModelState {
    const now = this.clock.now();
    if (this.closed || now < this.downUntilMs) return 'crashed';
    if (now < this.coldUntilMs) return 'cold-start';
    return 'ready';
  }

  /** Throws what a request to a model that is not up gets: a refused connection, or a 503 in cold start. */
  assertUp(id: string): void {
    const state = this.state();
    if (state === 'crashed') {
      this.events.count('refused', id);
      // Without a stack trace, as the cold start's 503 below: a crash refuses every request and retry it gets.
      throw withoutStack(() => new ConnectionRefusedError(`connection refused: model ${this.name} is ${this.closed ? 'closed' : 'down'}`));
    }
    if (state === 'cold-start') {
      this.events.count('cold-start', id);
      const wait = this.coldUntilMs - this.clock.now();
      throw withoutStack(() => new MockOverloadedError(wait, `overloaded (503): model ${this.name} is starting (cold start, ${Math.ceil(wait)}ms left)`));
    }
  }

  /**
   * Down for `downtimeMs` from now, then in cold start for `coldStartMs`; a `ready` event when both are over.
   * `restarted` runs in between (a restarted process loses its state: the caller resets what it must).
   */
  enterDowntime(downtimeMs: number, coldStartMs: number, restarted: () => void): void {
    const now = this.clock.now();
    this.downUntilMs = now + downtimeMs;
    this.coldUntilMs = now + downtimeMs + coldStartMs;
    restarted();
    this.readyTimer?.cancel();
    this.readyTimer = this.clock.setTimer(downtimeMs + coldStartMs, () => {
      this.readyTimer = undefined;
      this.events.emit({ type: 'ready' });
    }, `mock-ready:${this.name}`);
  }

  /** Closed for good: `crashed` from now on, and no `ready` event pending. */
  close(): void {
    this.closed = true;
    this.readyTimer?.cancel();
  }
}
