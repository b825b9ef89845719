import { performance } from 'node:perf_hooks';
import { abortReason } from '../errors.js';
import type { Clock, Timer } from './clock.js';

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
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        clearTimeout(handle);
        reject(abortReason(signal as AbortSignal));
      };
      const handle = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, Math.max(0, ms));
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  setTimer(ms: number, fn: () => void): Timer {
    // Node runs setTimeout(0) after at least 1 ms; "at the end of this instant" is setImmediate.
    if (ms <= 0) {
      const immediate = setImmediate(fn);
      return { cancel: () => clearImmediate(immediate) };
    }
    const handle = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(handle) };
  }
}
