import { performance } from 'node:perf_hooks';
import { abortReason } from '../errors.js';
import type { Clock, Timer } from './clock.js';

/**
 * A real timer is its own handle: no closure per timer (under tsx, esbuild's keepNames also wraps every named
 * closure in a `__name` call, a measurable cost per request in the engine service). One class for both kinds,
 * so `cancel()` call sites stay monomorphic. Cancelling twice, or after it fired, is harmless: Node ignores it.
 */
class RealTimer implements Timer {
  constructor(
    private readonly timeout: NodeJS.Timeout | undefined,
    private readonly immediate: NodeJS.Immediate | undefined,
  ) {}

  cancel(): void {
    if (this.timeout !== undefined) clearTimeout(this.timeout);
    else clearImmediate(this.immediate);
  }
}

/**
 * One pending `sleep`: the timeout's callback argument and, with a signal, its abort listener (`handleEvent`),
 * so a sleep builds no closure of its own either.
 */
class Sleep {
  private readonly handle: NodeJS.Timeout;

  constructor(
    ms: number,
    private readonly signal: AbortSignal | undefined,
    private readonly resolve: () => void,
    private readonly reject: (reason: unknown) => void,
  ) {
    this.handle = setTimeout(Sleep.fire, Math.max(0, ms), this);
    signal?.addEventListener('abort', this, { once: true });
  }

  private static fire(this: void, s: Sleep): void {
    s.signal?.removeEventListener('abort', s);
    s.resolve();
  }

  /** The signal aborted (the listener is `once`, so it is gone already). */
  handleEvent(): void {
    clearTimeout(this.handle);
    this.reject(abortReason(this.signal as AbortSignal));
  }
}

/** Wall-clock time for live mode. One of the two places allowed to touch real timers. */
export class RealClock implements Clock {
  private readonly origin = performance.now();

  now(): number {
    return performance.now() - this.origin;
  }

  /** Milliseconds since the Unix epoch, for timestamps in reports (`meta`), never for measuring. */
  wallTimeMs(): number {
    return Date.now();
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<void>((resolve, reject) => void new Sleep(ms, signal, resolve, reject));
  }

  setTimer(ms: number, fn: () => void): Timer {
    // Node runs setTimeout(0) after at least 1 ms; "at the end of this instant" is setImmediate.
    return ms <= 0 ? new RealTimer(undefined, setImmediate(fn)) : new RealTimer(setTimeout(fn, ms), undefined);
  }
}
