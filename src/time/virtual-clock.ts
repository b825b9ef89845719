import { abortReason, HarnessError } from '../errors.js';
import { BinaryHeap } from '../lib/heap.js';
import type { Clock, Timer } from './clock.js';

/** Options for {@link VirtualClock}. */
export interface VirtualClockOptions {
  /** Virtual time at start, in ms. @default 0 */
  startMs?: number;
  /** The run stops with {@link EventLimitError} after firing this many events (a runaway guard). @default 100_000_000 */
  maxEvents?: number;
  /**
   * How pending promise work is settled before each instant. `turn`: an event-loop turn (setImmediate), which also
   * lets real I/O callbacks run (a server driven by inject, a socket). `tick`: a `process.nextTick`, as complete a
   * drain of promise work and much cheaper, for runs where nothing waits on real I/O (the virtual runner's
   * worlds); one drain in 64 is still a turn. Which is used changes nothing simulated. @default 'turn'
   */
  drain?: 'turn' | 'tick';
}

/** A scheduled timer: its own Timer handle, so scheduling allocates one object and no closure. */
class Entry implements Timer {
  cancelled = false;
  /** Popped from the heap to fire: cancelling it now is a no-op. */
  done = false;

  constructor(
    readonly dueMs: number,
    readonly seq: number,
    readonly fn: () => void,
    readonly label: string,
    private readonly onCancel: () => void,
  ) {}

  cancel(): void {
    if (this.cancelled || this.done) return;
    this.cancelled = true;
    this.onCancel();
  }
}

/** A run waited on a promise that nothing scheduled can ever settle. */
export class DeadlockError extends HarnessError {
  constructor(label: string, atMs: number, waiting: readonly string[]) {
    const what = waiting.length > 0 ? waiting.join('; ') : 'no component reported a waiter';
    super('DEADLOCK', `deadlock at t=${atMs}ms: "${label}" is still pending but no timer is scheduled; still waiting: ${what}`);
  }
}

/** More events fired than `maxEvents` allows: usually a timer that reschedules itself forever. */
export class EventLimitError extends HarnessError {
  constructor(limit: number, atMs: number, next: readonly string[]) {
    super('EVENT_LIMIT', `event limit of ${limit} reached at t=${atMs}ms; next events: ${next.join(', ') || 'none'}`);
  }
}

const macrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const tick = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve));

/** One drain in this many is a real event-loop turn (setImmediate); the others are a process.nextTick. */
const TURN_EVERY = 64;

/**
 * A discrete-event clock: a binary heap of timers ordered by (due time, sequence). Time moves only when the
 * run loop pops the next timer, and only after all pending promise work has settled, so code that awaits
 * `sleep` behaves exactly as under real time, minus the waiting.
 */
export class VirtualClock implements Clock {
  private nowMs: number;
  private seq = 0;
  private cancelledCount = 0;
  private fired = 0;
  private readonly maxEvents: number;
  private readonly heap = new BinaryHeap<Entry>((a, b) => a.dueMs < b.dueMs || (a.dueMs === b.dueMs && a.seq < b.seq));
  private readonly probes = new Map<string, () => string | undefined>();
  private drains = 0;
  private readonly tickDrain: boolean;

  constructor(options: VirtualClockOptions = {}) {
    this.nowMs = options.startMs ?? 0;
    this.maxEvents = options.maxEvents ?? 100_000_000;
    this.tickDrain = options.drain === 'tick';
  }

  now(): number {
    return this.nowMs;
  }

  /** Timers scheduled and not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.heap.size - this.cancelledCount;
  }

  /** Timer events fired so far. */
  get eventsFired(): number {
    return this.fired;
  }

  setTimer(ms: number, fn: () => void, label = 'timer'): Timer {
    const entry = new Entry(this.nowMs + Math.max(0, ms), this.seq++, fn, label, this.noteCancel);
    this.heap.push(entry);
    return entry;
  }

  /** A timer still in the heap was cancelled. Lazy deletion; compact when cancelled entries dominate. */
  private readonly noteCancel = (): void => {
    this.cancelledCount++;
    if (this.cancelledCount > 1024 && this.cancelledCount * 2 > this.heap.size) {
      this.heap.filter((e) => !e.cancelled);
      this.cancelledCount = 0;
    }
  };

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        timer.cancel();
        reject(abortReason(signal as AbortSignal));
      };
      const timer = this.setTimer(ms, () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, 'sleep');
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Registers a probe that describes what a component is waiting for (for example "semaphore: 3 waiters").
   * Deadlock errors list every probe that returns a string. Returns a function that removes the probe.
   */
  registerProbe(name: string, describe: () => string | undefined): () => void {
    this.probes.set(name, describe);
    return () => this.probes.delete(name);
  }

  /** Fires timers until none is left. Resolves with the number of events fired. */
  async runUntilIdle(): Promise<number> {
    const start = this.fired;
    while (await this.step(Number.POSITIVE_INFINITY));
    return this.fired - start;
  }

  /** Fires every timer due within `ms` from now, then sets the time to now + `ms`. */
  async advanceBy(ms: number): Promise<void> {
    await this.advanceTo(this.nowMs + ms);
  }

  /** Fires every timer due at or before `timeMs`, then sets the time to `timeMs`. */
  async advanceTo(timeMs: number): Promise<void> {
    while (await this.step(timeMs));
    if (timeMs > this.nowMs) this.nowMs = timeMs;
    await macrotask();
  }

  /**
   * Runs the clock until `work` settles and returns its value. Throws {@link DeadlockError} when no timer is
   * left and `work` is still pending.
   */
  async run<T>(work: Promise<T>, label = 'run'): Promise<T> {
    let settled = false;
    const observed = work.then(
      (value) => {
        settled = true;
        return value;
      },
      (error: unknown) => {
        settled = true;
        throw error;
      },
    );
    observed.catch(() => undefined);
    for (;;) {
      await this.drain();
      if (settled) return observed;
      if (!(await this.step(Number.POSITIVE_INFINITY))) {
        await macrotask();
        if (settled) return observed;
        throw new DeadlockError(label, this.nowMs, this.describeWaiters());
      }
    }
  }

  /** What registered components report they are waiting for. */
  describeWaiters(): string[] {
    const out: string[] = [];
    for (const [name, probe] of this.probes) {
      const d = probe();
      if (d !== undefined) out.push(`${name}: ${d}`);
    }
    return out;
  }

  /**
   * Drains promise work, then fires every timer due at the earliest due time (if it is at or before `limitMs`).
   * Timers due at the same instant fire back to back, in sequence order, before the next drain: any order of
   * same-instant work is a valid one, this one is deterministic, and time still never moves while promise work
   * is pending. False when no timer was due.
   */
  private async step(limitMs: number): Promise<boolean> {
    await this.drain();
    let entry = this.nextLive();
    if (entry === undefined || entry.dueMs > limitMs) return false;
    const dueMs = entry.dueMs;
    if (dueMs > this.nowMs) this.nowMs = dueMs;
    while (entry !== undefined && entry.dueMs === dueMs) {
      if (this.fired >= this.maxEvents) throw new EventLimitError(this.maxEvents, this.nowMs, this.peekLabels(5));
      this.heap.pop();
      this.fired++;
      entry.done = true;
      entry.fn();
      entry = this.nextLive();
    }
    return true;
  }

  /**
   * Resolves once every pending promise reaction has run: an event-loop turn, or with `drain: 'tick'` a
   * `process.nextTick`. Node runs a tick callback only after the microtask queue is empty (each checkpoint drains
   * it, reactions queued meanwhile included), so where nothing queues ticks or waits on real I/O a tick is as
   * complete a drain and costs no trip through the event loop (an epoll call per simulated instant). Every
   * TURN_EVERY-th drain is a real turn even then, so a long run still lets I/O, signals and worker messages through.
   */
  private drain(): Promise<void> {
    return this.tickDrain && ++this.drains % TURN_EVERY !== 0 ? tick() : macrotask();
  }

  private nextLive(): Entry | undefined {
    let top = this.heap.peek();
    while (top?.cancelled) {
      this.heap.pop();
      this.cancelledCount--;
      top = this.heap.peek();
    }
    return top;
  }

  private peekLabels(n: number): string[] {
    return [...this.heap.toArray()]
      .filter((e) => !e.cancelled)
      .sort((a, b) => a.dueMs - b.dueMs || a.seq - b.seq)
      .slice(0, n)
      .map((e) => `${e.label}@${e.dueMs}ms`);
  }
}
