/**
 * N runs of one scenario (live runs are noisy): each policy's headline figures per run and their median, as data
 * and as Markdown. `npm run scenario NAME -- --mode live --runs 3` writes it beside the runs.
 */
import { fmtMs, fmtNum } from './format.js';
import { median } from './live-regress.js';
import { mdTable } from './markdown.js';
import type { RunResult } from './schema.js';

export const RUN_FIGURES = ['goodputPerSec', 'servedWithinSloPerSec', 'failedOrTimeout', 'ttftP99Ms', 'e2eP99Ms', 'ceilingShare'] as const;
export type RunFigure = (typeof RUN_FIGURES)[number];

const LABEL: Record<RunFigure, string> = {
  goodputPerSec: 'Goodput/s',
  servedWithinSloPerSec: 'In SLO/s',
  failedOrTimeout: 'Failed + timeout',
  ttftP99Ms: 'TTFT p99',
  e2eP99Ms: 'E2E p99',
  ceilingShare: 'Of ceiling',
};

/** One policy's figures in each run (null = unknown in that run) and their medians. */
export interface PolicyRuns {
  readonly policy: string;
  readonly runs: ReadonlyArray<Record<RunFigure, number | null>>;
  readonly median: Record<RunFigure, number | null>;
}

function figures(r: RunResult, name: string): Record<RunFigure, number | null> {
  const p = r.policies.find((x) => x.name === name);
  if (p === undefined) return { goodputPerSec: null, servedWithinSloPerSec: null, failedOrTimeout: null, ttftP99Ms: null, e2eP99Ms: null, ceilingShare: null };
  const s = p.summary;
  const c = r.ceiling;
  return {
    goodputPerSec: s.goodputPerSec,
    servedWithinSloPerSec: s.servedWithinSloPerSec ?? null,
    failedOrTimeout: s.failed + s.timeout,
    ttftP99Ms: s.ttftMs.p99,
    e2eP99Ms: s.e2eMs.p99,
    ceilingShare: c === undefined || c === null || c.goodputPerSec === 0 ? null : s.goodputPerSec / c.goodputPerSec,
  };
}

/** Each policy of the first run, with its figures across `results` and their medians (over the runs that know it). */
export function summarizeRunsByPolicy(results: readonly RunResult[]): PolicyRuns[] {
  const names = results[0]?.policies.map((p) => p.name) ?? [];
  return names.map((policy) => {
    const runs = results.map((r) => figures(r, policy));
    const med = Object.fromEntries(
      RUN_FIGURES.map((f) => [f, median(runs.map((x) => x[f]).filter((v): v is number => v !== null))]),
    ) as Record<RunFigure, number | null>;
    return { policy, runs, median: med };
  });
}

function fmt(f: RunFigure, v: number | null): string {
  if (v === null) return '—';
  if (f === 'ttftP99Ms' || f === 'e2eP99Ms') return fmtMs(v);
  if (f === 'failedOrTimeout') return fmtNum(v, Number.isInteger(v) ? 0 : 1);
  if (f === 'ceilingShare') return `${(v * 100).toFixed(1)}%`;
  return fmtNum(v, 2);
}

/** A table per figure: a row per policy, a column per run, then the median. */
export function renderRunsMarkdown(results: readonly RunResult[]): string {
  const rows = summarizeRunsByPolicy(results);
  const s = results[0]?.scenario;
  const out = [`## ${s?.name ?? 'scenario'}: ${results.length} ${s?.mode ?? ''} runs, medians`, ''];
  for (const f of RUN_FIGURES) {
    out.push(
      `**${LABEL[f]}**`,
      '',
      mdTable(['Policy', ...results.map((_, i) => `run ${i + 1}`), 'median'], rows.map((r) => [r.policy, ...r.runs.map((x) => fmt(f, x[f])), fmt(f, r.median[f])]), ['left', ...results.map(() => 'right' as const), 'right']),
      '',
    );
  }
  const invalid = results.map((r, i) => (r.meta.loadGenerator !== null && !r.meta.loadGenerator.valid ? i + 1 : null)).filter((x) => x !== null);
  if (invalid.length > 0) out.push(`Invalid runs (the load generator was a bottleneck): ${invalid.join(', ')}.`, '');
  return out.join('\n');
}
