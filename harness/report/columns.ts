/**
 * The comparison table's columns, shared by the Markdown, terminal and HTML renderers so they always agree.
 */
import type { PhaseRecovery } from '../measure/recovery.js';
import { fmtInt, fmtMs, fmtNum, fmtPct, fmtShare, fmtUsd, UNKNOWN } from './format.js';
import type { RunResult } from './schema.js';

export type PolicyEntry = RunResult['policies'][number];

/** One column: a header, a one-line legend, and how to render a policy's cell. */
export interface Column {
  readonly header: string;
  readonly legend: string;
  readonly align: 'left' | 'right';
  cell(p: PolicyEntry, result: RunResult): string;
}

/** A policy's goodput as a share of the run's ceiling, e.g. `71%`; — without a ceiling. */
export function ceilingShareCell(p: PolicyEntry, result: RunResult): string {
  const c = result.ceiling;
  if (c === undefined || c === null) return UNKNOWN;
  if (c.goodputPerSec === 0) return p.summary.goodputPerSec === 0 ? 'n/a' : UNKNOWN;
  return fmtPct(p.summary.goodputPerSec / c.goodputPerSec);
}

/** The ceiling as one sentence, or null when the run has none. */
export function ceilingText(result: RunResult): string | null {
  const c = result.ceiling;
  if (c === undefined) return null;
  if (c === null) {
    return isFleetRun(result)
      ? 'Goodput ceiling: not computed for a fleet (the bound models one GPU; deployments of several replicas are not bounded yet).'
      : 'Goodput ceiling: unknown (the workload could not be bounded).';
  }
  const why =
    c.limit === 'arrivals'
      ? `the ${fmtInt(c.feasible)} of ${fmtInt(c.planned)} requests the workload sends that could meet their SLO at all`
      : `what the GPU can compute around its outages and brownouts, and the provider's rate limits admit, in windows of ${fmtMs(c.windowMs)}; ${fmtInt(c.feasible)} of ${fmtInt(c.planned)} requests could meet their SLO alone`;
  return `Goodput ceiling: ${fmtNum(c.goodputPerSec, 2)}/s (${fmtInt(c.requests)} requests), an upper bound no policy can exceed on this workload and model, set by ${why}. "Of ceiling" is each policy's goodput as a share of it.`;
}

/** The run's model side is a fleet (`model.deployments` in the scenario's recorded config). */
function isFleetRun(result: RunResult): boolean {
  const config = result.scenario.config;
  const model = typeof config === 'object' && config !== null && !Array.isArray(config) ? config['model'] : undefined;
  return typeof model === 'object' && model !== null && !Array.isArray(model) && model['deployments'] !== undefined;
}

/** Worst recovery over the fault phases, as text. */
export function recoveryCell(recovery: readonly PhaseRecovery[]): string {
  if (recovery.length === 0) return 'n/a';
  const relapse = recovery.find((r) => r.relapsedAtMs !== undefined);
  if (relapse?.relapsedAtMs !== undefined) return `relapsed at ${fmtMs(relapse.relapsedAtMs)} (metastable)`;
  if (recovery.some((r) => r.metastable)) return 'never (metastable)';
  if (recovery.some((r) => r.recoveryMs === null)) return UNKNOWN;
  return fmtMs(Math.max(...recovery.map((r) => r.recoveryMs ?? 0)));
}

/** One phase's recovery, as text. */
export function phaseRecoveryCell(r: PhaseRecovery | undefined): string {
  if (r === undefined) return UNKNOWN;
  switch (r.status) {
    case 'recovered':
      return fmtMs(r.recoveryMs);
    case 'metastable':
      return r.relapsedAtMs === undefined ? 'never (metastable)' : `${fmtMs(r.recoveryMs)}, relapsed at ${fmtMs(r.relapsedAtMs)} (metastable)`;
    case 'no-baseline':
      return `${UNKNOWN} (no baseline)`;
    case 'insufficient-data':
      return `${UNKNOWN} (run ended)`;
  }
}

/** The comparison columns, in order. */
export const COLUMNS: readonly Column[] = [
  { header: 'Policy', align: 'left', legend: 'the serving policy (preset or override) under test', cell: (p) => p.name },
  { header: 'Requests', align: 'right', legend: 'client requests that finished, any outcome', cell: (p) => fmtInt(p.summary.requests) },
  { header: 'OK', align: 'right', legend: 'share answered in full by the primary model', cell: (p) => fmtShare(p.summary.ok, p.summary.requests) },
  { header: 'Degraded', align: 'right', legend: 'share answered explicitly degraded (fallback model, partial answer)', cell: (p) => fmtShare(p.summary.degraded, p.summary.requests) },
  { header: 'Shed', align: 'right', legend: 'share rejected fast by admission control (429 with Retry-After)', cell: (p) => fmtShare(p.summary.shed, p.summary.requests) },
  { header: 'Failed', align: 'right', legend: 'share that failed or timed out (client cancellations are not counted)', cell: (p) => fmtShare(p.summary.failed + p.summary.timeout, p.summary.requests) },
  { header: 'TTFT p50', align: 'right', legend: 'median time to first token, from the scheduled arrival (so queueing and stalls count)', cell: (p) => fmtMs(p.summary.ttftMs.p50) },
  { header: 'TTFT p99', align: 'right', legend: '99th percentile time to first token, from the scheduled arrival', cell: (p) => fmtMs(p.summary.ttftMs.p99) },
  { header: 'E2E p99', align: 'right', legend: '99th percentile end-to-end latency of served (ok + degraded) requests, from the scheduled arrival', cell: (p) => fmtMs(p.summary.e2eMs.p99) },
  { header: 'Goodput/s', align: 'right', legend: 'ok requests per second that met every SLO', cell: (p) => fmtNum(p.summary.goodputPerSec, 2) },
  {
    header: 'In SLO/s',
    align: 'right',
    legend: 'served within SLO: ok or degraded (e.g. fallback) answers per second that met every SLO; a fallback answer in time beats a failure',
    cell: (p) => (p.summary.servedWithinSloPerSec === undefined ? UNKNOWN : fmtNum(p.summary.servedWithinSloPerSec, 2)),
  },
  {
    header: 'Of ceiling',
    align: 'right',
    legend: 'goodput as a share of the goodput ceiling: an upper bound no policy can exceed on this workload and model (from the arrivals that could meet their SLO and what the GPU can compute around outages and brownouts)',
    cell: ceilingShareCell,
  },
  { header: 'Amplif.', align: 'right', legend: 'upstream calls per client request (retries multiply load; batching and dedup divide it)', cell: (p) => (p.summary.amplification === null ? UNKNOWN : `${p.summary.amplification.toFixed(2)}×`) },
  { header: 'Wasted', align: 'right', legend: 'share of GPU output tokens computed that no client received', cell: (p) => fmtPct(p.summary.wastedTokenFraction) },
  { header: '$/1k good', align: 'right', legend: 'dollars billed (every attempt: prompts again on each retry and resume, output computed whether delivered or not) per 1,000 requests that met every SLO', cell: (p) => fmtUsd(p.summary.cost.per1kGoodUsd) },
  { header: 'Wasted $', align: 'right', legend: 'dollars paid beyond one clean call per answer kept: requests that failed or timed out, output no client received, prompts and prefixes sent again by retries and resumes', cell: (p) => fmtUsd(p.summary.cost.wastedUsd) },
  { header: 'Peak queue', align: 'right', legend: 'highest engine queue depth sampled', cell: (p) => fmtInt(p.summary.peakQueue) },
  { header: 'GPU util', align: 'right', legend: 'mean GPU utilization reported by the model', cell: (p) => fmtPct(p.summary.gpuUtilization) },
  { header: 'Recovery', align: 'right', legend: 'worst time, over the fault phases, from the end of a fault until goodput (or the ok rate, as the fault-phase note says) is back to its pre-fault level; "never" = metastable', cell: (p) => recoveryCell(p.summary.recovery) },
];

/** The cost breakdown's headers: what each policy's money went to. */
export const COST_BREAKDOWN_HEADERS = ['Policy', 'Total $', 'First attempts', 'Retries', 'Resumes', 'Fallbacks', 'Wasted $', 'Input tok', 'Cached tok', 'Output tok', 'Delivered tok', 'GPU h'] as const;

/** One row per policy: dollars by kind of attempt, the waste across them, billed tokens, GPU hours; — = unknown. */
export function costBreakdownRows(result: RunResult): string[][] {
  return result.policies.map((p) => {
    const c = p.summary.cost;
    const t = p.summary.tokens;
    return [
      p.name,
      fmtUsd(c.totalUsd),
      fmtUsd(c.byKind.first),
      fmtUsd(c.byKind.retry),
      fmtUsd(c.byKind.resume),
      fmtUsd(c.byKind.fallback),
      fmtUsd(c.wastedUsd),
      fmtInt(t.billedInput),
      fmtInt(t.billedCachedInput),
      fmtInt(t.billedOutput),
      fmtInt(t.delivered),
      fmtNum(c.gpuHours, 4),
    ];
  });
}

/** Rows of cells, one per policy, in run order. */
export function tableRows(result: RunResult): string[][] {
  return result.policies.map((p) => COLUMNS.map((c) => c.cell(p, result)));
}

/** One sentence stating how recovery was judged in this run, or null without fault phases. */
export function recoveryCriteria(result: RunResult): string | null {
  const r = result.policies.flatMap((p) => p.summary.recovery)[0];
  if (r === undefined) return null;
  const what = r.metric === 'goodput' ? 'goodput per second' : 'the ok rate';
  const bucketS = (result.policies[0]?.series.bucketMs ?? 1000) / 1000;
  return `Recovery = time from the end of a fault phase until ${what} stays within ${r.tolerancePct}% of its pre-fault mean for ${r.consecutiveBuckets} consecutive ${bucketS === 1 ? 'seconds' : `${bucketS} s buckets`}; "never" means it had not recovered when the run ended (metastable).`;
}

/** The SLO as text, e.g. `TTFT ≤ 1.00 s, E2E ≤ 8.00 s; batch: TTFT ≤ 5.00 s`. */
export function sloText(slo: RunResult['slo']): string {
  const bounds = (b: { ttftMs?: number | undefined; e2eMs?: number | undefined; tpotMs?: number | undefined }): string[] => [
    ...(b.ttftMs === undefined ? [] : [`TTFT ≤ ${fmtMs(b.ttftMs)}`]),
    ...(b.e2eMs === undefined ? [] : [`E2E ≤ ${fmtMs(b.e2eMs)}`]),
    ...(b.tpotMs === undefined ? [] : [`TPOT ≤ ${fmtMs(b.tpotMs)}`]),
  ];
  const main = bounds(slo).join(', ') || 'none';
  const classes = Object.entries(slo.classes ?? {}).map(([k, b]) => `${k}: ${bounds(b).join(', ') || 'none'}`);
  return [main, ...classes].join('; ');
}
