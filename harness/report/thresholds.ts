/**
 * Thresholds: typed pass/fail bounds a scenario carries, judged against each policy's summary.
 */
import type { PolicySummary } from '../measure/result.js';
import { LATENCY_METRICS, type LatencyMetric, type LatencyStat, type Threshold, type ThresholdMetric, type ThresholdResult } from '../measure/types.js';

/** The minimal shape thresholds are judged on: policies with a name and a summary. */
export interface PoliciesView {
  readonly policies: ReadonlyArray<{ readonly name: string; readonly summary: Omit<PolicySummary, 'thresholds'> }>;
}

const isLatency = (m: ThresholdMetric): m is LatencyMetric => (LATENCY_METRICS as readonly string[]).includes(m);

/** A threshold as text, e.g. `ttftMs.p99 <= 2000`. */
export function thresholdLabel(t: Threshold): string {
  const metric = isLatency(t.metric) ? `${t.metric}.${t.stat ?? 'p99'}` : t.metric;
  return `${metric} ${t.op} ${t.value}`;
}

const frac = (n: number, of: number): number | null => (of === 0 ? null : n / of);

/**
 * The value a threshold metric takes for one policy; `null` when unknown. `recoveryMs` is the worst recovery
 * over the fault phases and is unknown when any phase never recovered or could not be judged.
 */
export function metricValue(s: Omit<PolicySummary, 'thresholds'>, metric: ThresholdMetric, stat: LatencyStat = 'p99'): number | null {
  if (isLatency(metric)) return s[metric][stat];
  switch (metric) {
    case 'goodputPerSec':
    case 'okFraction':
    case 'amplification':
    case 'wastedTokenFraction':
    case 'peakQueue':
    case 'gpuUtilization':
    case 'meanBatchSize':
      return s[metric];
    case 'servedWithinSloPerSec':
      return s.servedWithinSloPerSec ?? null;
    case 'degradedFraction':
      return frac(s.degraded, s.requests);
    case 'shedFraction':
      return frac(s.shed, s.requests);
    case 'errorFraction':
      return frac(s.failed + s.timeout, s.requests);
    case 'cost.totalUsd':
      return s.cost.totalUsd;
    case 'cost.per1kGoodUsd':
      return s.cost.per1kGoodUsd;
    case 'cost.wastedUsd':
      return s.cost.wastedUsd;
    case 'cost.gpuHours':
      return s.cost.gpuHours;
    case 'recoveryMs': {
      if (s.recovery.length === 0 || s.recovery.some((r) => r.recoveryMs === null)) return null;
      return Math.max(...s.recovery.map((r) => r.recoveryMs ?? 0));
    }
  }
}

function holds(actual: number, op: Threshold['op'], value: number): boolean {
  switch (op) {
    case '<':
      return actual < value;
    case '<=':
      return actual <= value;
    case '>':
      return actual > value;
    case '>=':
      return actual >= value;
  }
}

/**
 * Judges every threshold against every policy it applies to (all policies, or the one named), in threshold
 * order then policy order. An unknown value fails. A threshold naming a policy the run lacks yields one
 * failing result with `actual: null`.
 */
export function evaluateThresholds(result: PoliciesView, thresholds: readonly Threshold[]): ThresholdResult[] {
  const out: ThresholdResult[] = [];
  for (const t of thresholds) {
    const stat = isLatency(t.metric) ? (t.stat ?? 'p99') : null;
    const base = { label: thresholdLabel(t), metric: t.metric, stat, op: t.op, value: t.value };
    const targets = t.policy === undefined ? result.policies : result.policies.filter((p) => p.name === t.policy);
    if (targets.length === 0 && t.policy !== undefined) {
      out.push({ policy: t.policy, ...base, actual: null, pass: false });
      continue;
    }
    for (const p of targets) {
      const actual = metricValue(p.summary, t.metric, stat ?? undefined);
      out.push({ policy: p.name, ...base, actual, pass: actual !== null && holds(actual, t.op, t.value) });
    }
  }
  return out;
}
