/**
 * Telling overload from failure. A first token that does not come within the idle timeout means one of two
 * things: the upstream is hung (a failure: the breaker should count it), or it is busy (queueing our own
 * load: the concurrency limit and admission should handle it, and opening the breaker would only refuse work
 * the upstream could serve). This keeps a smoothed time to first event of recent successful calls; when that is
 * already a sizeable share of the idle timeout, the upstream is answering slowly because it is loaded, and a
 * first-token timeout is load, not breakage. Mid-stream stalls (tokens stopped after they had started) are
 * always failures.
 */

/** Options of {@link LoadSignal}. */
export interface LoadSignalOptions {
  /** Weight of a new sample in the moving average, in (0, 1]. @default 0.1 */
  readonly smoothing?: number;
  /**
   * A first-token timeout counts as load when the average time to first event of recent successes is at least
   * this share of the idle timeout. @default 0.25
   */
  readonly loadedShare?: number;
}

/** Smoothed time to first event of successful calls, and the verdict on first-token timeouts. */
export class LoadSignal {
  private avgMs = 0;
  private samples = 0;
  private readonly smoothing: number;
  private readonly loadedShare: number;

  constructor(o: LoadSignalOptions = {}) {
    this.smoothing = o.smoothing ?? 0.1;
    this.loadedShare = o.loadedShare ?? 0.25;
  }

  /** The moving average of time to first event of successful calls, ms; 0 before the first. */
  get firstEventMs(): number {
    return this.avgMs;
  }

  /** A call succeeded; its first event came `ms` after dispatch. */
  success(firstEventMs: number): void {
    this.avgMs = this.samples++ === 0 ? firstEventMs : this.avgMs + (firstEventMs - this.avgMs) * this.smoothing;
  }

  /**
   * Whether a timeout is load rather than failure: true when no event came at all (`gotFirstEvent` false)
   * and recent successes were slow to start, at least `loadedShare` of `idleMs`.
   */
  isLoad(gotFirstEvent: boolean, idleMs: number): boolean {
    return !gotFirstEvent && this.samples > 0 && this.avgMs >= this.loadedShare * idleMs;
  }
}
