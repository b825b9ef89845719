/**
 * Live regression of an external target (`npm run regress -- --target NAME=URL`): the target's p99 TTFT, p99 E2E,
 * goodput and error share, over several live runs, against a baseline kept per scenario and target. Live runs are
 * noisy, so the comparison uses the median of the runs (metric by metric), shows the spread between runs, and
 * refuses a tolerance tighter than the spread it measured (status `too-noisy`): such a gate would pass or fail by
 * chance. A change beyond both the tolerance and the spread is a regression whatever the noise. Pure functions.
 */
import { ValidationError } from '../../src/errors.js';
import { fmtMs, fmtNum } from './format.js';
import { xmlEscape } from './junit.js';
import { mdEscape, mdTable } from './markdown.js';
import type { RunResult } from './schema.js';

export const LIVE_METRICS = ['ttftP99Ms', 'e2eP99Ms', 'goodputPerSec', 'errorShare'] as const;
export type LiveMetric = (typeof LIVE_METRICS)[number];

/** The compared figures of one run (or their medians). `errorShare`: (failed + timeout + shed) / requests, 0..1. */
export type LiveFigures = Readonly<Record<LiveMetric, number | null>>;

/** One live run of a target. */
export interface LiveRun {
  readonly figures: LiveFigures;
  readonly requests: number;
  readonly wallMs: number;
}

/**
 * Allowed worsening: latencies and goodput in percent of the baseline, the error share in percentage points.
 * A latency must also be worse by more than `minDeltaMs` (absorbs noise near 0).
 */
export interface LiveTolerance {
  readonly p99TtftPct: number;
  readonly p99E2ePct: number;
  readonly goodputPct: number;
  readonly errorSharePts: number;
  readonly minDeltaMs: number;
}

/** Defaults for live runs on loopback: wider than virtual mode's, which repeats exactly. */
export const DEFAULT_LIVE_TOLERANCE: LiveTolerance = { p99TtftPct: 25, p99E2ePct: 25, goodputPct: 15, errorSharePts: 5, minDeltaMs: 50 };

const TOLERANCE_OF: Record<LiveMetric, keyof LiveTolerance> = { ttftP99Ms: 'p99TtftPct', e2eP99Ms: 'p99E2ePct', goodputPerSec: 'goodputPct', errorShare: 'errorSharePts' };

export const LIVE_METRIC_LABELS: Record<LiveMetric, string> = { ttftP99Ms: 'p99 TTFT', e2eP99Ms: 'p99 E2E', goodputPerSec: 'goodput/s', errorShare: 'error share' };

/** The figures of row `row` of a run. @throws ValidationError when the run has no such row */
export function figuresOf(result: RunResult, row: string): LiveFigures {
  const p = result.policies.find((x) => x.name === row);
  if (p === undefined) throw new ValidationError('policies', `a row named ${JSON.stringify(row)}`, result.policies.map((x) => x.name).join(', '));
  const s = p.summary;
  return {
    ttftP99Ms: s.ttftMs.p99,
    e2eP99Ms: s.e2eMs.p99,
    goodputPerSec: s.goodputPerSec,
    errorShare: s.requests === 0 ? null : (s.failed + s.timeout + s.shed) / s.requests,
  };
}

/** The median of `xs`; null when empty. */
export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** The runs' medians and spreads: (max − min) in percent of the median, or in points for the error share. */
export interface LiveSeries {
  readonly runs: readonly LiveRun[];
  readonly median: LiveFigures;
  /** Null with fewer than 2 runs (no spread measured) or a median of 0. */
  readonly spread: Readonly<Record<LiveMetric, number | null>>;
  /** max − min between runs, in the metric's unit (ms, requests/s, share). Null with fewer than 2 runs. */
  readonly range: Readonly<Record<LiveMetric, number | null>>;
}

const r4 = (x: number): number => Math.round(x * 1e4) / 1e4;

export function summarizeRuns(runs: readonly LiveRun[]): LiveSeries {
  const med: Record<string, number | null> = {};
  const spread: Record<string, number | null> = {};
  const ranges: Record<string, number | null> = {};
  for (const m of LIVE_METRICS) {
    const xs = runs.map((r) => r.figures[m]).filter((x): x is number => x !== null);
    const md = median(xs);
    med[m] = md === null ? null : r4(md);
    ranges[m] = xs.length < 2 ? null : r4(Math.max(...xs) - Math.min(...xs));
    if (xs.length < 2 || md === null) spread[m] = null;
    else {
      const range = Math.max(...xs) - Math.min(...xs);
      spread[m] = m === 'errorShare' ? r4(range * 100) : md === 0 ? null : r4((range / md) * 100);
    }
  }
  return { runs, median: med as LiveFigures, spread: spread as LiveSeries['spread'], range: ranges as LiveSeries['range'] };
}

/** A stored live baseline: one scenario, one target. */
export interface LiveBaseline {
  readonly schemaVersion: 1;
  readonly kind: 'live-target';
  readonly scenario: string;
  readonly target: string;
  readonly seed: number;
  readonly durationMs: number;
  readonly median: LiveFigures;
  readonly spread: LiveSeries['spread'];
  readonly range: LiveSeries['range'];
  readonly runs: readonly LiveRun[];
  readonly meta: { readonly gitCommit: string | null; readonly createdAt: string };
}

export function makeLiveBaseline(o: { scenario: string; target: string; seed: number; durationMs: number; series: LiveSeries; gitCommit: string | null; createdAt: string }): LiveBaseline {
  return {
    schemaVersion: 1,
    kind: 'live-target',
    scenario: o.scenario,
    target: o.target,
    seed: o.seed,
    durationMs: o.durationMs,
    median: o.series.median,
    spread: o.series.spread,
    range: o.series.range,
    runs: o.series.runs,
    meta: { gitCommit: o.gitCommit, createdAt: o.createdAt },
  };
}

/** Reads a baseline file's JSON. @throws ValidationError naming what is wrong */
export function parseLiveBaseline(json: unknown, file: string): LiveBaseline {
  const b = json as Partial<LiveBaseline> | null;
  if (b === null || typeof b !== 'object' || b.kind !== 'live-target' || b.schemaVersion !== 1 || typeof b.median !== 'object' || b.median === null) {
    throw new ValidationError(file, 'a live baseline ({"kind":"live-target","schemaVersion":1,...}) written by regress --target --update', JSON.stringify(json).slice(0, 80));
  }
  return b as LiveBaseline;
}

interface Spread {
  readonly pct: number | null;
  readonly range: number | null;
}

export type LiveCheckStatus = 'ok' | 'improved' | 'regression' | 'too-noisy' | 'unknown';

export interface LiveCheck {
  readonly metric: LiveMetric;
  readonly baseline: number | null;
  readonly current: number | null;
  /** Percent for latencies and goodput; percentage points for the error share. */
  readonly change: number | null;
  readonly tolerance: number;
  /** The larger of the spreads measured now and when the baseline was written (same unit as `change`). */
  readonly spread: number | null;
  readonly status: LiveCheckStatus;
}

export interface LiveComparison {
  readonly scenario: string;
  readonly target: string;
  readonly checks: readonly LiveCheck[];
  readonly current: LiveSeries;
  readonly baselineCommit: string | null;
  readonly warnings: readonly string[];
  readonly regression: boolean;
  readonly tooNoisy: boolean;
}

export function validLiveTolerance(t: Partial<LiveTolerance>): LiveTolerance {
  const r = { ...DEFAULT_LIVE_TOLERANCE, ...t };
  for (const k of Object.keys(DEFAULT_LIVE_TOLERANCE) as Array<keyof LiveTolerance>) {
    if (!(Number.isFinite(r[k]) && r[k] >= 0)) throw new ValidationError(`tolerance.${k}`, 'a number >= 0', r[k]);
  }
  return r;
}

function check(metric: LiveMetric, b: number | null, c: number | null, tol: LiveTolerance, now: Spread, then: Spread): LiveCheck {
  const tolerance = tol[TOLERANCE_OF[metric]];
  const latency = metric === 'ttftP99Ms' || metric === 'e2eP99Ms';
  // A latency whose runs differ by no more than minDeltaMs is as steady as the gate can tell: that spread is absorbed.
  const counted = (x: Spread): number | null => (x.pct === null ? null : latency && x.range !== null && x.range <= tol.minDeltaMs ? 0 : x.pct);
  const spreads = [counted(now), counted(then)].filter((x): x is number => x !== null);
  const spread = spreads.length === 0 ? null : Math.max(...spreads);
  if (b === null || c === null) return { metric, baseline: b, current: c, change: null, tolerance, spread, status: 'unknown' };
  const points = metric === 'errorShare';
  const change = points ? r4((c - b) * 100) : b === 0 ? null : r4(((c - b) / b) * 100);
  // Worse is positive: higher latency or error share, lower goodput.
  const worse = change === null ? (c > b ? Infinity : 0) : metric === 'goodputPerSec' ? -change : change;
  const bigEnough = !latency || c - b > tol.minDeltaMs;
  let status: LiveCheckStatus;
  if (worse > Math.max(tolerance, spread ?? 0) && bigEnough) status = 'regression';
  else if (spread !== null && tolerance < spread) status = 'too-noisy';
  else if (worse < -tolerance) status = 'improved';
  else status = 'ok';
  return { metric, baseline: b, current: c, change, tolerance, spread, status };
}

/** Compares the runs' medians with the baseline's. */
export function compareLive(current: LiveSeries, baseline: LiveBaseline, o: { scenario: string; target: string; seed: number; durationMs: number; tolerance?: Partial<LiveTolerance> }): LiveComparison {
  const tol = validLiveTolerance(o.tolerance ?? {});
  const warnings: string[] = [];
  if (baseline.seed !== o.seed) warnings.push(`seed differs: baseline ${baseline.seed}, current ${o.seed}`);
  if (baseline.durationMs !== o.durationMs) warnings.push(`duration differs: baseline ${baseline.durationMs} ms, current ${o.durationMs} ms`);
  if (current.runs.length < 2) warnings.push('one run only: the spread between runs is unknown, so noise cannot be told from change; use --runs 3 or more');
  const checks = LIVE_METRICS.map((m) =>
    check(m, baseline.median[m], current.median[m], tol, { pct: current.spread[m], range: current.range[m] }, { pct: baseline.spread[m], range: baseline.range?.[m] ?? null }),
  );
  return {
    scenario: o.scenario,
    target: o.target,
    checks,
    current,
    baselineCommit: baseline.meta.gitCommit,
    warnings,
    regression: checks.some((k) => k.status === 'regression'),
    tooNoisy: checks.some((k) => k.status === 'too-noisy'),
  };
}

/** A figure in its unit. */
export function fmtLive(metric: LiveMetric, v: number | null): string {
  if (metric === 'goodputPerSec') return fmtNum(v, 2);
  if (metric === 'errorShare') return v === null ? '—' : `${(v * 100).toFixed(1)}%`;
  return fmtMs(v);
}

const fmtChange = (m: LiveMetric, c: number | null): string => (c === null ? '—' : `${c > 0 ? '+' : ''}${c.toFixed(1)}${m === 'errorShare' ? ' pts' : '%'}`);
const fmtTol = (m: LiveMetric, t: number | null): string => (t === null ? '—' : `${t.toFixed(1)}${m === 'errorShare' ? ' pts' : '%'}`);

const VERDICT: Record<LiveCheckStatus, string> = { ok: '✅ ok', improved: '✅ improved', regression: '❌ regression', 'too-noisy': '⚠️ too noisy', unknown: '❔ unknown' };

/** One scenario × target comparison as Markdown. */
export function renderLiveMarkdown(c: LiveComparison): string {
  const title = c.regression ? '❌ Regression' : c.tooNoisy ? '⚠️ Too noisy to judge' : '✅ No regression';
  const out = [`## ${title}: \`${c.target.replace(/`/g, "'")}\` under \`${c.scenario.replace(/`/g, "'")}\` (live, ${c.current.runs.length} runs)`, ''];
  out.push(`Medians of ${c.current.runs.length} runs against the baseline${c.baselineCommit === null ? '' : ` (written at \`${c.baselineCommit.slice(0, 12)}\`)`}. Spread: max − min between runs, now or when the baseline was written, whichever is larger.`, '');
  for (const w of c.warnings) out.push(`> ⚠️ ${mdEscape(w)}`, '');
  const rows = c.checks.map((k) => {
    const xs = c.current.runs.map((r) => r.figures[k.metric]).filter((x): x is number => x !== null);
    const range = xs.length === 0 ? '—' : `${fmtLive(k.metric, Math.min(...xs))} – ${fmtLive(k.metric, Math.max(...xs))}`;
    return [LIVE_METRIC_LABELS[k.metric], fmtLive(k.metric, k.baseline), fmtLive(k.metric, k.current), range, fmtTol(k.metric, k.spread), fmtChange(k.metric, k.change), fmtTol(k.metric, k.tolerance), VERDICT[k.status]];
  });
  out.push(mdTable(['Metric', 'Baseline', 'Current (median)', 'Runs (min – max)', 'Spread', 'Change', 'Tolerance', 'Result'], rows, ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'left']));
  const noisy = c.checks.filter((k) => k.status === 'too-noisy');
  if (noisy.length > 0) {
    out.push(
      '',
      `The tolerance of ${noisy.map((k) => `${LIVE_METRIC_LABELS[k.metric]} (${fmtTol(k.metric, k.tolerance)})`).join(', ')} is tighter than the spread measured between runs, so a pass or a fail would be chance. Use more runs (\`--runs\`), a longer \`--duration\`, a quieter machine, or a wider \`--tolerance\`.`,
    );
  }
  return `${out.join('\n')}\n`;
}

/** A case of the JUnit report: a scenario × target × metric, or a whole pair that could not be compared. */
export interface LiveJUnitCase {
  readonly suite: string;
  readonly name: string;
  readonly failure?: string;
}

export function liveJUnitCases(c: LiveComparison): LiveJUnitCase[] {
  return c.checks.map((k) => {
    const what = `${LIVE_METRIC_LABELS[k.metric]}: baseline ${fmtLive(k.metric, k.baseline)}, current ${fmtLive(k.metric, k.current)} (change ${fmtChange(k.metric, k.change)}, tolerance ${fmtTol(k.metric, k.tolerance)}, spread ${fmtTol(k.metric, k.spread)})`;
    const failure = k.status === 'regression' ? `regression: ${what}` : k.status === 'too-noisy' ? `too noisy: ${what}` : undefined;
    return { suite: `regress-live.${c.scenario}`, name: `${c.target} ${LIVE_METRIC_LABELS[k.metric]}`, ...(failure !== undefined ? { failure } : {}) };
  });
}

/** The JUnit document of a live regression check. */
export function renderLiveJUnit(cases: readonly LiveJUnitCase[]): string {
  const suites = new Map<string, LiveJUnitCase[]>();
  for (const c of cases) suites.set(c.suite, [...(suites.get(c.suite) ?? []), c]);
  const body = [...suites.entries()].map(([name, cs]) => {
    const failures = cs.filter((c) => c.failure !== undefined).length;
    const tcs = cs.map((c) =>
      c.failure === undefined
        ? `    <testcase name="${xmlEscape(c.name)}" classname="${xmlEscape(name)}" time="0"/>`
        : `    <testcase name="${xmlEscape(c.name)}" classname="${xmlEscape(name)}" time="0">\n      <failure message="${xmlEscape(c.failure)}" type="regression">${xmlEscape(c.failure)}</failure>\n    </testcase>`,
    );
    return `  <testsuite name="${xmlEscape(name)}" tests="${cs.length}" failures="${failures}" errors="0" skipped="0" time="0">\n${tcs.join('\n')}\n  </testsuite>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="regress-live">\n${body.join('\n')}\n</testsuites>\n`;
}
