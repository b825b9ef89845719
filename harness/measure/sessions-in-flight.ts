/**
 * Sessions in flight over time: a count that goes up when a session starts and down when it ends, integrated per
 * bucket into the time-weighted mean (a bucket where 1,000 sessions were open all second reads 1,000; one where
 * they were open for half of it reads 500). Exact from the events, not sampled, so virtual and live runs count
 * the same way. Times must not go backwards; one that does counts at the latest time seen.
 */
import { round } from './series.js';

export class SessionsInFlight {
  readonly bucketMs: number;
  /** Session-milliseconds per bucket. */
  readonly #area: number[] = [];
  #count = 0;
  #lastMs = 0;
  #events = 0;

  constructor(bucketMs: number) {
    this.bucketMs = bucketMs;
  }

  /** Sessions open now. */
  get count(): number {
    return this.#count;
  }

  /** True once a session started or ended. */
  get seen(): boolean {
    return this.#events > 0;
  }

  started(atMs: number): void {
    this.#advance(atMs);
    this.#count++;
    this.#events++;
  }

  ended(atMs: number): void {
    this.#advance(atMs);
    this.#count = Math.max(0, this.#count - 1);
    this.#events++;
  }

  /** The mean sessions in flight of each of `buckets` buckets (sessions still open count to the end). */
  build(buckets: number): number[] {
    this.#advance(buckets * this.bucketMs);
    return Array.from({ length: buckets }, (_, i) => round((this.#area[i] ?? 0) / this.bucketMs, 3));
  }

  #advance(toMs: number): void {
    let t = this.#lastMs;
    if (!(toMs > t)) return;
    while (t < toMs) {
      const b = Math.floor(t / this.bucketMs);
      const end = Math.min(toMs, (b + 1) * this.bucketMs);
      if (this.#count > 0) {
        while (this.#area.length <= b) this.#area.push(0);
        this.#area[b] = (this.#area[b] as number) + this.#count * (end - t);
      }
      t = end;
    }
    this.#lastMs = toMs;
  }
}
