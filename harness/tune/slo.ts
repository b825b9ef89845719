/**
 * The SLOs a tuned policy must meet: `--slo ttft.p99<=2000,e2e.p99<=30000,goodput>=5`. Each part becomes a
 * Threshold judged with the scenario report's `metricValue`, so the two always agree on what a figure means.
 */
import type { PolicySummary } from '../measure/result.js';
import { LATENCY_METRICS, LATENCY_STATS, SCALAR_METRICS, type LatencyStat, type Threshold, type ThresholdMetric } from '../measure/types.js';
import { metricValue, thresholdLabel } from '../report/thresholds.js';
import type { Scenario } from '../scenario.js';
import { UsageError } from '../cli/flags.js';

/** Short names accepted on the command line, besides the full metric names. */
export const SLO_ALIASES: Readonly<Record<string, ThresholdMetric>> = {
  ttft: 'ttftMs',
  e2e: 'e2eMs',
  e2eAll: 'e2eAllMs',
  itl: 'itlMs',
  tpot: 'tpotMs',
  queue: 'queueMs',
  backoff: 'backoffMs',
  goodput: 'goodputPerSec',
  ok: 'okFraction',
  degraded: 'degradedFraction',
  shed: 'shedFraction',
  errors: 'errorFraction',
  amplification: 'amplification',
  wasted: 'wastedTokenFraction',
  peakQueue: 'peakQueue',
  gpu: 'gpuUtilization',
  batch: 'meanBatchSize',
  recovery: 'recoveryMs',
};

/** `cost.<name>` on the command line: the cost figures of the summary (USD, or hours). */
export const COST_SLO_ALIASES: Readonly<Record<string, ThresholdMetric>> = {
  per1kGood: 'cost.per1kGoodUsd',
  per1kGoodUsd: 'cost.per1kGoodUsd',
  total: 'cost.totalUsd',
  totalUsd: 'cost.totalUsd',
  wasted: 'cost.wastedUsd',
  wastedUsd: 'cost.wastedUsd',
  gpuHours: 'cost.gpuHours',
};

const ALL_METRICS: readonly string[] = [...LATENCY_METRICS, ...SCALAR_METRICS];
const isLatency = (m: ThresholdMetric): boolean => (LATENCY_METRICS as readonly string[]).includes(m);
const PART_RE = /^([A-Za-z][A-Za-z0-9]*)(?:\.([a-z0-9]+))?\s*(<=|>=|<|>)\s*(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)\s*(ms|s|%)?$/i;

/**
 * Parses an SLO list. Latency metrics take a stat (p50, p90, p99, max, mean; default p99) and a value in ms
 * (`2s` and `2000ms` also work); fractions take `0.01` or `1%`.
 * @throws UsageError naming the bad part, e.g. `--slo: "ttft.p98<=2000": unknown stat "p98"; expected one of ...`.
 */
export function parseSlo(text: string): Threshold[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.some((p) => p === '')) throw new UsageError(`--slo: expected a comma-separated list like ttft.p99<=2000,e2e.p99<=30000, got ${JSON.stringify(text)}`);
  return parts.map((part) => {
    const m = PART_RE.exec(part);
    const where = `--slo: ${JSON.stringify(part)}`;
    if (m === null) throw new UsageError(`${where}: expected metric[.stat]<op>value like ttft.p99<=2000 or goodput>=5`);
    const [, name, stat0, op, num, unit] = m as unknown as [string, string, string | undefined, Threshold['op'], string, string | undefined];
    if (name === 'cost') {
      const cost = stat0 === undefined ? undefined : COST_SLO_ALIASES[stat0];
      if (cost === undefined) throw new UsageError(`${where}: unknown cost figure ${JSON.stringify(stat0 ?? '')}; expected cost.${Object.keys(COST_SLO_ALIASES).join(', cost.')}`);
      if (unit !== undefined) throw new UsageError(`${where}: cost.${stat0} is in ${cost === 'cost.gpuHours' ? 'hours' : 'USD'}; expected a plain number, got unit ${JSON.stringify(unit)}`);
      return { metric: cost, op, value: Number(num) };
    }
    const stat = stat0;
    const metric = SLO_ALIASES[name] ?? (ALL_METRICS.includes(name) ? (name as ThresholdMetric) : undefined);
    if (metric === undefined) throw new UsageError(`${where}: unknown metric ${JSON.stringify(name)}; expected one of ${[...new Set([...Object.keys(SLO_ALIASES), ...ALL_METRICS])].join(', ')}`);
    let value = Number(num);
    if (isLatency(metric) || metric === 'recoveryMs') {
      if (unit === '%') throw new UsageError(`${where}: ${name} is a latency; expected a value in ms or s, got a percentage`);
      if (unit?.toLowerCase() === 's') value *= 1000;
    } else if (unit === '%') {
      if (!metric.endsWith('Fraction') && metric !== 'gpuUtilization') throw new UsageError(`${where}: ${name} is not a fraction; a percentage does not apply`);
      value /= 100;
    } else if (unit !== undefined) {
      throw new UsageError(`${where}: ${name} is not a latency; expected a plain number, got unit ${JSON.stringify(unit)}`);
    }
    if (stat !== undefined && !isLatency(metric)) throw new UsageError(`${where}: ${name} has no stats; write it without .${stat}`);
    if (stat !== undefined && !(LATENCY_STATS as readonly string[]).includes(stat)) {
      throw new UsageError(`${where}: unknown stat ${JSON.stringify(stat)}; expected one of ${LATENCY_STATS.join(', ')}`);
    }
    return { metric, ...(isLatency(metric) ? { stat: (stat ?? 'p99') as LatencyStat } : {}), op, value };
  });
}

/** The default SLO of a scenario: p99 TTFT and p99 E2E within the scenario's per-request bounds. */
export function defaultSlo(s: Scenario): Threshold[] {
  const out: Threshold[] = [];
  if (s.slo.ttftMs !== undefined) out.push({ metric: 'ttftMs', stat: 'p99', op: '<=', value: s.slo.ttftMs });
  if (s.slo.e2eMs !== undefined) out.push({ metric: 'e2eMs', stat: 'p99', op: '<=', value: s.slo.e2eMs });
  return out;
}

/** The SLO list as text: `ttftMs.p99 <= 2000, e2eMs.p99 <= 30000`. */
export function sloLabel(slo: readonly Threshold[]): string {
  return slo.length === 0 ? 'none' : slo.map(thresholdLabel).join(', ');
}

/** One SLO judged on one run. */
export interface SloCheck {
  readonly label: string;
  readonly actual: number | null;
  readonly pass: boolean;
}

/** Judges every SLO on a summary. An unknown value fails. */
export function checkSlo(summary: Omit<PolicySummary, 'thresholds'>, slo: readonly Threshold[]): SloCheck[] {
  return slo.map((t) => {
    const actual = metricValue(summary, t.metric, t.stat);
    const pass = actual !== null && (t.op === '<' ? actual < t.value : t.op === '<=' ? actual <= t.value : t.op === '>' ? actual > t.value : actual >= t.value);
    return { label: thresholdLabel(t), actual, pass };
  });
}
