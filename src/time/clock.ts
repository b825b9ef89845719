/** A scheduled callback that can be cancelled before it fires. Cancelling twice is harmless. */
export interface Timer {
  cancel(): void;
}

/**
 * The only way product code waits or reads time. `RealClock` uses the process's clocks;
 * `VirtualClock` is a discrete-event scheduler, so the same code runs in virtual and real time.
 */
export interface Clock {
  /** Milliseconds since this clock's epoch (0 for a VirtualClock, process start for a RealClock). */
  now(): number;
  /**
   * Resolves after `ms` milliseconds. Rejects with the signal's reason (an `AbortError` by default)
   * as soon as `signal` aborts, and cancels the underlying timer.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Calls `fn` once after `ms` milliseconds unless cancelled. `label` names it in deadlock reports. */
  setTimer(ms: number, fn: () => void, label?: string): Timer;
}
