/**
 * Per-bucket time series (one bucket per second by default). Bucket i covers simulated time
 * [i·bucketMs, (i+1)·bucketMs). Counts are per bucket; gauges are sampled and carried forward between samples
 * (buckets after the last sample are null: unknown).
 */
import { ValidationError } from '../../src/errors.js';
import { OUTCOMES, type BreakerState, type GaugeSample, type Outcome } from './types.js';

/** The finished series of one policy run. Every array has the same length. */
export interface TimeSeries {
  readonly bucketMs: number;
  /** Client requests that arrived (intended start) in the bucket. */
  readonly arrivals: number[];
  /** Requests that reached a terminal outcome (any) in the bucket, by end time. */
  readonly completions: number[];
  readonly ok: number[];
  readonly degraded: number[];
  readonly shed: number[];
  readonly failed: number[];
  readonly timeout: number[];
  readonly cancelled: number[];
  /** `ok` requests that met every SLO, by end time. */
  readonly goodput: number[];
  /** 429 responses the engine received from upstream. */
  readonly rateLimited: number[];
  /** Requests that did not end `ok`, by reason code (keys sorted), by end time. Absent in older results. */
  readonly reasons?: Record<string, number[]>;
  /** Highest queue depth sampled in the bucket (carried forward between samples; null after the last). */
  readonly queueDepth: Array<number | null>;
  /** Highest in-flight count sampled in the bucket (carried forward). */
  readonly inFlight: Array<number | null>;
  /** Last concurrency limit sampled (carried forward); `null` = unbounded or never sampled. */
  readonly concurrencyLimit: Array<number | null>;
  /** Last breaker state sampled (carried forward). */
  readonly breakerState: Array<BreakerState | null>;
  /** Last retry-budget level sampled (carried forward); `null` = no budget or never sampled. */
  readonly budgetLevel: Array<number | null>;
  /** Mean GPU utilization 0..1 of the samples in the bucket (carried forward); `null` = unknown. */
  readonly gpuUtilization: Array<number | null>;
  /** USD billed per bucket (by when each call ended); absent when the cost is unknown. */
  readonly spendUsd?: number[];
  /**
   * Sessions in flight, the time-weighted mean over the bucket (harness/measure/sessions-in-flight.ts): started
   * and not yet ended, think times inside a session included. Absent in older results and where no session was
   * counted.
   */
  readonly sessionsInFlight?: number[];
}

interface GaugeBucket {
  queueMax: number;
  inFlightMax: number;
  limit: number | null;
  breaker: BreakerState;
  budget: number | null;
  gpuSum: number;
  gpuN: number;
}

/** Accumulates events into buckets; `build` materializes the series. */
export class SeriesBuilder {
  readonly bucketMs: number;
  readonly #counts = new Map<CountKey, number[]>();
  readonly #gauges: Array<GaugeBucket | undefined> = [];
  readonly #reasons = new Map<string, number[]>();
  #maxBucket = -1;

  /** @param bucketMs bucket width; @default 1000 */
  constructor(bucketMs = 1000) {
    if (!Number.isFinite(bucketMs) || bucketMs <= 0) throw new ValidationError('seriesBucketMs', 'a positive number', bucketMs);
    this.bucketMs = bucketMs;
    for (const k of COUNT_KEYS) this.#counts.set(k, []);
  }

  /** The bucket index of a time; times before 0 land in bucket 0. */
  bucketOf(atMs: number): number {
    return Math.max(0, Math.floor(atMs / this.bucketMs));
  }

  /** Adds `n` to a counter at a time. */
  count(key: CountKey, atMs: number, n = 1): void {
    const b = this.bucketOf(atMs);
    const arr = this.#counts.get(key)!;
    while (arr.length <= b) arr.push(0);
    arr[b] = arr[b]! + n;
    if (b > this.#maxBucket) this.#maxBucket = b;
  }

  /** Counts an outcome (and a completion, and the reason of a request that did not end `ok`) at its end time. */
  outcome(outcome: Outcome, atMs: number, metSlo: boolean, reason?: string): void {
    this.count('completions', atMs);
    this.count(outcome, atMs);
    if (metSlo) this.count('goodput', atMs);
    if (reason === undefined) return;
    const b = this.bucketOf(atMs);
    let arr = this.#reasons.get(reason);
    if (arr === undefined) this.#reasons.set(reason, (arr = []));
    while (arr.length <= b) arr.push(0);
    arr[b] = arr[b]! + 1;
  }

  /** Records a gauge sample. */
  gauge(atMs: number, g: GaugeSample): void {
    const b = this.bucketOf(atMs);
    if (b > this.#maxBucket) this.#maxBucket = b;
    const cur = this.#gauges[b];
    const budget = g.budgetLevel ?? null;
    if (cur === undefined) {
      this.#gauges[b] = {
        queueMax: g.queueDepth,
        inFlightMax: g.inFlight,
        limit: g.concurrencyLimit,
        breaker: g.breakerState,
        budget,
        gpuSum: g.gpuUtilization ?? 0,
        gpuN: g.gpuUtilization === undefined ? 0 : 1,
      };
      return;
    }
    cur.queueMax = Math.max(cur.queueMax, g.queueDepth);
    cur.inFlightMax = Math.max(cur.inFlightMax, g.inFlight);
    cur.limit = g.concurrencyLimit;
    cur.breaker = g.breakerState;
    cur.budget = budget;
    if (g.gpuUtilization !== undefined) {
      cur.gpuSum += g.gpuUtilization;
      cur.gpuN += 1;
    }
  }

  /** Materializes the series, covering at least `durationMs` and every event recorded. */
  build(durationMs: number): TimeSeries {
    const n = Math.max(Math.ceil(durationMs / this.bucketMs), this.#maxBucket + 1, 0);
    const counts = (k: CountKey): number[] => {
      const arr = this.#counts.get(k)!;
      return Array.from({ length: n }, (_, i) => arr[i] ?? 0);
    };
    const queueDepth: Array<number | null> = [];
    const inFlight: Array<number | null> = [];
    const concurrencyLimit: Array<number | null> = [];
    const breakerState: Array<BreakerState | null> = [];
    const budgetLevel: Array<number | null> = [];
    const gpuUtilization: Array<number | null> = [];
    let last: GaugeBucket | undefined;
    let lastGpu: number | null = null;
    const lastSampled = this.#gauges.length - 1;
    for (let i = 0; i < n; i++) {
      const g = this.#gauges[i];
      if (i > lastSampled) {
        // After the last sample nothing is known: carrying the value forward would invent data.
        last = undefined;
        lastGpu = null;
      }
      if (g !== undefined) {
        last = g;
        if (g.gpuN > 0) lastGpu = round(g.gpuSum / g.gpuN, 6);
      }
      queueDepth.push(last?.queueMax ?? null);
      inFlight.push(last?.inFlightMax ?? null);
      concurrencyLimit.push(last?.limit ?? null);
      breakerState.push(last?.breaker ?? null);
      budgetLevel.push(last?.budget === undefined || last.budget === null ? null : round(last.budget, 6));
      gpuUtilization.push(lastGpu);
    }
    return {
      bucketMs: this.bucketMs,
      arrivals: counts('arrivals'),
      completions: counts('completions'),
      ok: counts('ok'),
      degraded: counts('degraded'),
      shed: counts('shed'),
      failed: counts('failed'),
      timeout: counts('timeout'),
      cancelled: counts('cancelled'),
      goodput: counts('goodput'),
      rateLimited: counts('rateLimited'),
      reasons: Object.fromEntries(
        [...this.#reasons.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, arr]) => [k, Array.from({ length: n }, (_, i) => arr[i] ?? 0)]),
      ),
      queueDepth,
      inFlight,
      concurrencyLimit,
      breakerState,
      budgetLevel,
      gpuUtilization,
    };
  }
}

/** A counted series. */
export type CountKey = 'arrivals' | 'completions' | 'goodput' | 'rateLimited' | Outcome;

const COUNT_KEYS: readonly CountKey[] = ['arrivals', 'completions', 'goodput', 'rateLimited', ...OUTCOMES];

/** Rounds to a fixed number of decimals, so derived floats serialize identically everywhere. */
export function round(x: number, decimals: number): number {
  const f = 10 ** decimals;
  const r = Math.round(x * f) / f;
  return Object.is(r, -0) ? 0 : r;
}
