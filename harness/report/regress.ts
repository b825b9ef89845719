/**
 * CI regression against a committed baseline: per policy, p99 TTFT and p99 E2E must not get worse, and
 * goodput must not drop, by more than a tolerance. Pure functions of two RunResults.
 */
import { ValidationError } from '../../src/errors.js';
import { fmtMs, fmtNum, fmtUsd } from './format.js';
import { mdEscape, mdTable } from './markdown.js';
import type { RunResult } from './schema.js';

/** How much worse is still fine, in percent of the baseline value. */
export interface RegressTolerance {
  readonly p99TtftPct: number;
  readonly p99E2ePct: number;
  readonly goodputPct: number;
  /** A latency must also be worse by more than this many ms to count (absorbs noise near 0). @default 0 */
  readonly minDeltaMs?: number;
  /** Allowed rise of dollars per 1,000 good requests, in percent. @default undefined: cost not judged */
  readonly costPct?: number | undefined;
}

/** A tolerance with its defaults filled in (`costPct` stays undefined unless given: cost is then not judged). */
export type ResolvedTolerance = Required<Omit<RegressTolerance, 'costPct'>> & { readonly costPct: number | undefined };

/** Defaults for CI in virtual mode. */
export const DEFAULT_TOLERANCE: ResolvedTolerance = { p99TtftPct: 10, p99E2ePct: 10, goodputPct: 5, minDeltaMs: 0, costPct: undefined };

export const REGRESS_METRICS = ['ttftP99Ms', 'e2eP99Ms', 'goodputPerSec', 'per1kGoodUsd'] as const;
export type RegressMetric = (typeof REGRESS_METRICS)[number];

/** One metric of one policy, compared. `unknown` when either side has no value. */
export interface RegressCheck {
  readonly metric: RegressMetric;
  readonly baseline: number | null;
  readonly current: number | null;
  /** (current − baseline) / baseline in percent; null when the baseline is 0 or unknown. */
  readonly changePct: number | null;
  readonly tolerancePct: number;
  readonly status: 'ok' | 'improved' | 'regression' | 'unknown';
}

export interface PolicyComparison {
  readonly policy: string;
  /** `missing`: in the baseline, not in the current run (a regression); `new`: only in the current run. */
  readonly status: 'compared' | 'missing' | 'new';
  readonly checks: RegressCheck[];
  readonly regression: boolean;
}

export interface BaselineComparison {
  readonly scenario: string;
  readonly baselineCommit: string | null;
  readonly currentCommit: string | null;
  readonly tolerance: ResolvedTolerance;
  /** Differences that make the comparison doubtful (another seed, duration, mode or scenario). */
  readonly warnings: string[];
  readonly policies: PolicyComparison[];
  readonly regression: boolean;
}

const round = (x: number): number => Math.round(x * 1e4) / 1e4;

function check(metric: RegressMetric, baseline: number | null, current: number | null, tolerancePct: number, minDeltaMs: number): RegressCheck {
  if (baseline === null || current === null) return { metric, baseline, current, changePct: null, tolerancePct, status: 'unknown' };
  const changePct = baseline === 0 ? null : round(((current - baseline) / baseline) * 100);
  const higherIsWorse = metric !== 'goodputPerSec';
  let status: RegressCheck['status'] = 'ok';
  if (higherIsWorse) {
    const delta = current - baseline;
    if (delta > minDeltaMs && current > baseline * (1 + tolerancePct / 100)) status = 'regression';
    else if (current < baseline * (1 - tolerancePct / 100)) status = 'improved';
  } else if (current < baseline * (1 - tolerancePct / 100)) status = 'regression';
  else if (current > baseline * (1 + tolerancePct / 100)) status = 'improved';
  return { metric, baseline, current, changePct, tolerancePct, status };
}

function validTolerance(t: RegressTolerance): ResolvedTolerance {
  const r = { ...DEFAULT_TOLERANCE, ...t };
  for (const k of ['p99TtftPct', 'p99E2ePct', 'goodputPct', 'minDeltaMs'] as const) {
    if (!(Number.isFinite(r[k]) && r[k] >= 0)) throw new ValidationError(`tolerance.${k}`, 'a number >= 0', r[k]);
  }
  if (r.costPct !== undefined && !(Number.isFinite(r.costPct) && r.costPct >= 0)) throw new ValidationError('tolerance.costPct', 'a number >= 0', r.costPct);
  return r;
}

/** Compares a run to its baseline, policy by policy (matched by name). */
export function compareToBaseline(current: RunResult, baseline: RunResult, tolerance: RegressTolerance = DEFAULT_TOLERANCE): BaselineComparison {
  const tol = validTolerance(tolerance);
  const warnings: string[] = [];
  const cs = current.scenario;
  const bs = baseline.scenario;
  if (cs.name !== bs.name) warnings.push(`scenario differs: baseline ${JSON.stringify(bs.name)}, current ${JSON.stringify(cs.name)}`);
  if (current.seed !== baseline.seed) warnings.push(`seed differs: baseline ${String(baseline.seed)}, current ${String(current.seed)}`);
  if (cs.durationMs !== bs.durationMs) warnings.push(`duration differs: baseline ${bs.durationMs} ms, current ${cs.durationMs} ms`);
  if (cs.mode !== bs.mode) warnings.push(`mode differs: baseline ${bs.mode}, current ${cs.mode}`);

  const policies: PolicyComparison[] = [];
  for (const b of baseline.policies) {
    const c = current.policies.find((p) => p.name === b.name);
    if (c === undefined) {
      policies.push({ policy: b.name, status: 'missing', checks: [], regression: true });
      continue;
    }
    const checks = [
      check('ttftP99Ms', b.summary.ttftMs.p99, c.summary.ttftMs.p99, tol.p99TtftPct, tol.minDeltaMs),
      check('e2eP99Ms', b.summary.e2eMs.p99, c.summary.e2eMs.p99, tol.p99E2ePct, tol.minDeltaMs),
      check('goodputPerSec', b.summary.goodputPerSec, c.summary.goodputPerSec, tol.goodputPct, 0),
      ...(tol.costPct === undefined ? [] : [check('per1kGoodUsd', b.summary.cost.per1kGoodUsd, c.summary.cost.per1kGoodUsd, tol.costPct, 0)]),
    ];
    policies.push({ policy: b.name, status: 'compared', checks, regression: checks.some((k) => k.status === 'regression') });
  }
  for (const c of current.policies) {
    if (!baseline.policies.some((b) => b.name === c.name)) policies.push({ policy: c.name, status: 'new', checks: [], regression: false });
  }
  return {
    scenario: cs.name,
    baselineCommit: baseline.meta.gitCommit,
    currentCommit: current.meta.gitCommit,
    tolerance: tol,
    warnings,
    policies,
    regression: policies.some((p) => p.regression),
  };
}

/** Human names of the compared metrics. */
export const REGRESS_METRIC_LABELS: Record<RegressMetric, string> = {
  ttftP99Ms: 'p99 TTFT',
  e2eP99Ms: 'p99 E2E',
  goodputPerSec: 'goodput/s',
  per1kGoodUsd: '$/1k good',
};

/** A compared value in its unit. */
export function fmtRegressValue(metric: RegressMetric, v: number | null): string {
  return metric === 'goodputPerSec' ? fmtNum(v, 2) : metric === 'per1kGoodUsd' ? fmtUsd(v) : fmtMs(v);
}

const fmtChange = (c: number | null): string => (c === null ? '—' : `${c > 0 ? '+' : ''}${c.toFixed(1)}%`);

/** The comparison as Markdown, for a PR comment or step summary. */
export function renderRegressMarkdown(c: BaselineComparison): string {
  const out: string[] = [];
  out.push(`## ${c.regression ? '❌ Regression' : '✅ No regression'} against the baseline: \`${c.scenario.replace(/`/g, "'")}\``, '');
  out.push(
    `Baseline ${c.baselineCommit === null ? 'unknown commit' : `\`${c.baselineCommit.slice(0, 12)}\``} → current ${c.currentCommit === null ? 'unknown commit' : `\`${c.currentCommit.slice(0, 12)}\``}. A policy regresses when p99 TTFT is worse by more than ${c.tolerance.p99TtftPct}%, p99 E2E by more than ${c.tolerance.p99E2ePct}%${c.tolerance.minDeltaMs > 0 ? ` (and by more than ${c.tolerance.minDeltaMs} ms)` : ''}, or goodput drops by more than ${c.tolerance.goodputPct}%${c.tolerance.costPct === undefined ? '' : `, or dollars per 1,000 good requests rise by more than ${c.tolerance.costPct}%`}.`,
    '',
  );
  for (const w of c.warnings) out.push(`> ⚠️ ${mdEscape(w)}`, '');
  const rows: string[][] = [];
  for (const p of c.policies) {
    if (p.status === 'missing') rows.push([mdEscape(p.policy), '—', '—', '—', '—', '—', '❌ missing from the current run']);
    else if (p.status === 'new') rows.push([mdEscape(p.policy), '—', '—', '—', '—', '—', 'new (no baseline)']);
    for (const k of p.checks) {
      const verdict = { ok: '✅ ok', improved: '✅ improved', regression: '❌ regression', unknown: '❔ unknown' }[k.status];
      rows.push([mdEscape(p.policy), REGRESS_METRIC_LABELS[k.metric], fmtRegressValue(k.metric, k.baseline), fmtRegressValue(k.metric, k.current), fmtChange(k.changePct), `${k.tolerancePct}%`, verdict]);
    }
  }
  out.push(mdTable(['Policy', 'Metric', 'Baseline', 'Current', 'Change', 'Tolerance', 'Result'], rows, ['left', 'left', 'right', 'right', 'right', 'right', 'left']));
  return `${out.join('\n')}\n`;
}
