/**
 * Recovery after a fault phase, and the metastable flag.
 *
 * Definition (bucket resolution; buckets are the time-series buckets, one second by default):
 * - The per-bucket health value is either goodput per second (`metric: 'goodput'`, the default) or the ok
 *   rate, ok / completions in the bucket (`metric: 'okRate'`; a bucket with no completions has no value and
 *   never counts as healthy).
 * - Only complete buckets inside the run count: bucket i is usable when (i+1)·bucketMs <= durationMs.
 *   Drain after the load stops is never mistaken for an outage or a recovery.
 * - Baseline: the mean health of the usable buckets that lie entirely within
 *   [phase.atMs − baselineWindowMs, phase.atMs) and overlap no fault phase. No such bucket, or a baseline
 *   of 0, gives status `no-baseline` (recoveryMs null, metastable false).
 * - Target: baseline × (1 − tolerancePct / 100).
 * - Recovery: the first bucket b starting at or after the phase end (b = ceil(endMs / bucketMs)) such that
 *   buckets b .. b+consecutiveBuckets−1 are all usable and at or above target. recoveryMs = b·bucketMs − endMs,
 *   status `recovered`. It counts from the end of the phase: if another phase starts meanwhile, its damage
 *   delays this recovery too.
 * - No such window, with at least `consecutiveBuckets` usable buckets after the phase end: status
 *   `metastable`, recoveryMs null, metastable true — the fault went away and the system stayed degraded until
 *   the run ended. With fewer usable buckets left than that, the run was too short to tell: status
 *   `insufficient-data`, recoveryMs null, metastable false.
 * - Relapse: after recovering, `relapseBuckets` buckets in a row below baseline × (1 − relapseTolerancePct / 100)
 *   before the next fault phase starts (or the run ends) mean it collapsed again with no fault to blame: status
 *   `metastable`, metastable true, recoveryMs kept (when it first recovered) and `relapsedAtMs` the start of the
 *   collapse. The relapse bar is lower than the recovery target (half the baseline by default): per-second goodput
 *   near saturation swings by ±√rate from arrival noise alone, and 5 s in a row just under 90% of the baseline
 *   happens by chance; a collapse is much deeper.
 */
import { ValidationError } from '../../src/errors.js';
import type { TimeSeries } from './series.js';
import type { FaultPhase } from './types.js';

export const RECOVERY_METRICS = ['goodput', 'okRate'] as const;
export type RecoveryMetric = (typeof RECOVERY_METRICS)[number];

/** How recovery is judged. */
export interface RecoveryOptions {
  /** @default 'goodput' */
  readonly metric?: RecoveryMetric;
  /** How far below the pre-fault baseline still counts as recovered, in percent. @default 10 */
  readonly tolerancePct?: number;
  /** Healthy buckets needed in a row. @default 3 */
  readonly consecutiveBuckets?: number;
  /** Length of the pre-fault window the baseline is averaged over. @default 10_000 */
  readonly baselineWindowMs?: number;
  /**
   * Unhealthy buckets in a row, after a recovery and before the next fault phase, that make it a relapse (the
   * run collapsed again with no fault to blame: metastable). @default 5
   */
  readonly relapseBuckets?: number;
  /** How far below the pre-fault baseline a bucket must be to count towards a relapse, in percent. @default 50 */
  readonly relapseTolerancePct?: number;
}

export const RECOVERY_DEFAULTS: Required<RecoveryOptions> = {
  metric: 'goodput',
  tolerancePct: 10,
  consecutiveBuckets: 3,
  baselineWindowMs: 10_000,
  relapseBuckets: 5,
  relapseTolerancePct: 50,
};

export const RECOVERY_STATUSES = ['recovered', 'metastable', 'no-baseline', 'insufficient-data'] as const;
export type RecoveryStatus = (typeof RECOVERY_STATUSES)[number];

/** Recovery after one fault phase. */
export interface PhaseRecovery {
  readonly phase: string;
  readonly phaseEndMs: number;
  readonly metric: RecoveryMetric;
  /** The criteria used, so a report can state them. */
  readonly tolerancePct: number;
  readonly consecutiveBuckets: number;
  /** Pre-fault mean health (goodput/s or ok fraction); null without a baseline. */
  readonly baseline: number | null;
  readonly target: number | null;
  /** Time from phase end to the start of the first healthy window; null when it never recovered. */
  readonly recoveryMs: number | null;
  readonly metastable: boolean;
  readonly status: RecoveryStatus;
  /**
   * When it recovered (recoveryMs) and then collapsed again, before the next fault phase, for `relapseBuckets`
   * in a row: the start of that collapse, ms since the run started. Such a phase is `metastable`.
   */
  readonly relapsedAtMs?: number;
}

/** Validates and defaults recovery options once. */
export function recoveryOptions(o: RecoveryOptions = {}): Required<RecoveryOptions> {
  const r = { ...RECOVERY_DEFAULTS, ...o };
  if (!RECOVERY_METRICS.includes(r.metric)) throw new ValidationError('recovery.metric', RECOVERY_METRICS.join(' | '), r.metric);
  if (!(r.tolerancePct >= 0 && r.tolerancePct < 100)) throw new ValidationError('recovery.tolerancePct', 'a number in [0, 100)', r.tolerancePct);
  if (!Number.isInteger(r.consecutiveBuckets) || r.consecutiveBuckets < 1)
    throw new ValidationError('recovery.consecutiveBuckets', 'an integer >= 1', r.consecutiveBuckets);
  if (!Number.isInteger(r.relapseBuckets) || r.relapseBuckets < 1) throw new ValidationError('recovery.relapseBuckets', 'an integer >= 1', r.relapseBuckets);
  if (!(r.relapseTolerancePct >= 0 && r.relapseTolerancePct < 100)) throw new ValidationError('recovery.relapseTolerancePct', 'a number in [0, 100)', r.relapseTolerancePct);
  if (!(r.baselineWindowMs > 0)) throw new ValidationError('recovery.baselineWindowMs', 'a positive number', r.baselineWindowMs);
  return r;
}

/** Per-bucket health values of a series; `null` where a bucket has no value. */
export function healthValues(series: Pick<TimeSeries, 'bucketMs' | 'goodput' | 'ok' | 'completions'>, metric: RecoveryMetric): Array<number | null> {
  if (metric === 'goodput') return series.goodput.map((n) => (n * 1000) / series.bucketMs);
  return series.ok.map((n, i) => {
    const c = series.completions[i] ?? 0;
    return c === 0 ? null : n / c;
  });
}

/** Recovery for every fault phase, in the order given. See the module comment for the definition. */
export function computeRecovery(
  series: Pick<TimeSeries, 'bucketMs' | 'goodput' | 'ok' | 'completions'>,
  durationMs: number,
  phases: readonly FaultPhase[],
  options: RecoveryOptions = {},
): PhaseRecovery[] {
  const o = recoveryOptions(options);
  const values = healthValues(series, o.metric);
  const bucketMs = series.bucketMs;
  const usable = Math.min(values.length, Math.floor(durationMs / bucketMs));
  const inAnyPhase = (i: number): boolean =>
    phases.some((p) => i * bucketMs < p.atMs + p.durationMs && (i + 1) * bucketMs > p.atMs);

  return phases.map((phase): PhaseRecovery => {
    const endMs = phase.atMs + phase.durationMs;
    const base = { phase: phase.name, phaseEndMs: endMs, metric: o.metric, tolerancePct: o.tolerancePct, consecutiveBuckets: o.consecutiveBuckets };
    const fromBucket = Math.max(0, Math.ceil((phase.atMs - o.baselineWindowMs) / bucketMs));
    let sum = 0;
    let n = 0;
    for (let i = fromBucket; (i + 1) * bucketMs <= phase.atMs && i < usable; i++) {
      const v = values[i];
      if (v === null || v === undefined || inAnyPhase(i)) continue;
      sum += v;
      n++;
    }
    if (n === 0 || sum <= 0) {
      return { ...base, baseline: null, target: null, recoveryMs: null, metastable: false, status: 'no-baseline' };
    }
    const baseline = sum / n;
    const target = baseline * (1 - o.tolerancePct / 100);
    const relapseBar = baseline * (1 - o.relapseTolerancePct / 100);
    const healthy = (i: number): boolean => {
      const v = values[i];
      return v !== null && v !== undefined && v >= target - 1e-9;
    };
    const first = Math.max(0, Math.ceil(endMs / bucketMs));
    let run = 0;
    for (let i = first; i < usable; i++) {
      run = healthy(i) ? run + 1 : 0;
      if (run === o.consecutiveBuckets) {
        const b = i - o.consecutiveBuckets + 1;
        const recovered = { ...base, baseline: round6(baseline), target: round6(target), recoveryMs: b * bucketMs - endMs };
        // A relapse: unhealthy again for relapseBuckets in a row before the next phase starts (or the run ends).
        const nextAtMs = Math.min(...phases.map((p) => p.atMs).filter((at) => at >= endMs), Number.POSITIVE_INFINITY);
        let bad = 0;
        for (let j = i + 1; j < usable && (j + 1) * bucketMs <= nextAtMs; j++) {
          const v = values[j];
          const collapsed = v === null || v === undefined || v < relapseBar - 1e-9;
          bad = collapsed ? bad + 1 : 0;
          if (bad === o.relapseBuckets) {
            return { ...recovered, metastable: true, status: 'metastable', relapsedAtMs: (j - o.relapseBuckets + 1) * bucketMs };
          }
        }
        return { ...recovered, metastable: false, status: 'recovered' };
      }
    }
    const observed = usable - first;
    const status: RecoveryStatus = observed >= o.consecutiveBuckets ? 'metastable' : 'insufficient-data';
    return { ...base, baseline: round6(baseline), target: round6(target), recoveryMs: null, metastable: status === 'metastable', status };
  });
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
