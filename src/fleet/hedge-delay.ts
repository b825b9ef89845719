/**
 * The hedge delay of a deployment: a percentile of its recent times to first token (a ring of the last
 * `windowSize`), clamped to [minDelayMs, maxDelayMs]; `maxDelayMs` before anything is known.
 */
export class HedgeDelay {
  private readonly samples: Float64Array;
  private count = 0;
  private next = 0;
  private cached: number | undefined;

  constructor(private readonly o: { readonly percentile: number; readonly minDelayMs: number; readonly maxDelayMs: number; readonly windowSize: number }) {
    this.samples = new Float64Array(o.windowSize);
  }

  /** A call's time to its first event. */
  add(ttftMs: number): void {
    this.samples[this.next] = ttftMs;
    this.next = (this.next + 1) % this.samples.length;
    if (this.count < this.samples.length) this.count++;
    this.cached = undefined;
  }

  /** The delay after which a call that has sent nothing is hedged. */
  delayMs(): number {
    if (this.count === 0) return this.o.maxDelayMs;
    if (this.cached !== undefined) return this.cached;
    const sorted = this.samples.slice(0, this.count).sort();
    // Nearest rank: the smallest sample with at least `percentile` of the samples at or below it.
    const rank = Math.max(1, Math.ceil(this.o.percentile * this.count));
    const p = sorted[rank - 1] as number;
    this.cached = Math.min(this.o.maxDelayMs, Math.max(this.o.minDelayMs, p));
    return this.cached;
  }
}
