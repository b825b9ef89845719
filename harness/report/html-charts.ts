/**
 * Chart data for the HTML report, computed from a RunResult (latency distributions are decoded from the HDR
 * histograms), and the percentile bar charts drawn as inline SVG.
 */
import { DISTRIBUTION_PERCENTILES, LatencyHistogram } from '../measure/histogram.js';
import type { LatencyStats } from '../measure/histogram.js';
import type { PolicyEntry } from './columns.js';
import { fmtMs } from './format.js';
import { topReasons } from './reasons.js';
import type { RunResult } from './schema.js';

/** Observable 10: distinct, colour-blind-aware series colours. */
export const PALETTE = ['#4269d0', '#efb118', '#ff725c', '#6cc5b0', '#3ca951', '#ff8ab7', '#a463f2', '#97bbf5', '#9c6b4e', '#9498a0'];

export const policyColor = (i: number): string => PALETTE[i % PALETTE.length]!;

/** A line series of a chart. */
export interface LineSeries {
  readonly label: string;
  readonly color: string;
  readonly dash?: boolean;
  readonly values: Array<number | null>;
}

/** An x-aligned line chart. */
export interface LineChart {
  readonly id: string;
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  /** `nines`: x is −log10(1 − p), shown as percentiles. `time`: x is seconds since start. */
  readonly xKind: 'time' | 'nines';
  readonly xs: number[];
  readonly series: LineSeries[];
  /** Shown under the title when the run did not report this metric. */
  readonly note?: string;
}

/** Percentiles plotted on the distribution charts: all but 100 (its nines value is infinite). */
const CDF_PERCENTILES = DISTRIBUTION_PERCENTILES.filter((p) => p < 100);

/** x position of a percentile on a "nines" axis: 90% → 1, 99% → 2, 99.9% → 3. */
export const nines = (p: number): number => Math.round(-Math.log10(1 - p / 100) * 1e6) / 1e6;

/** The latency-by-percentile chart (an inverse CDF with a tail-stretching axis) of one histogram field. */
export function distributionChart(result: RunResult, field: 'ttftMs' | 'e2eMs', title: string, yLabel: string): LineChart {
  return {
    id: `cdf-${field}`,
    title,
    xLabel: 'percentile of requests (log scale of the tail)',
    yLabel,
    xKind: 'nines',
    xs: CDF_PERCENTILES.map(nines),
    series: result.policies.map((p, i) => {
      const dist = LatencyHistogram.decode(p.histograms[field]).distribution(CDF_PERCENTILES);
      return { label: p.name, color: policyColor(i), values: dist.length === 0 ? CDF_PERCENTILES.map(() => null) : dist.map((d) => d.valueMs) };
    }),
  };
}

type SeriesOf = PolicyEntry['series'];

const BREAKER_LEVEL = { closed: 0, 'half-open': 1, open: 2 } as const;

/** Per-second time-series charts, one line per policy. */
export function timeSeriesCharts(result: RunResult): LineChart[] {
  const n = Math.max(...result.policies.map((p) => p.series.arrivals.length));
  const bucketMs = result.policies[0]!.series.bucketMs;
  const xs = Array.from({ length: n }, (_, i) => (i * bucketMs) / 1000);
  const perSec = (v: number | null): number | null => (v === null ? null : Math.round(((v * 1000) / bucketMs) * 1e6) / 1e6);
  const pad = (vals: ReadonlyArray<number | null>): Array<number | null> => Array.from({ length: n }, (_, i) => vals[i] ?? null);
  const line = (p: PolicyEntry, i: number, values: ReadonlyArray<number | null>, suffix = '', dash = false): LineSeries => ({
    label: p.name + suffix,
    color: policyColor(i),
    ...(dash ? { dash: true } : {}),
    values: pad(values),
  });
  const chart = (id: string, title: string, yLabel: string, pick: (s: SeriesOf) => ReadonlyArray<number | null>, rate: boolean): LineChart => {
    const series = result.policies.map((p, i) => line(p, i, rate ? pick(p.series).map(perSec) : pick(p.series)));
    const empty = series.every((s) => s.values.every((v) => v === null));
    return { id, title, xLabel: 'time since start (s)', yLabel, xKind: 'time', xs, series, ...(empty ? { note: 'not reported in this run' } : {}) };
  };
  const xLabel = 'time since start (s)';
  return [
    chart('ts-arrivals', 'Arrivals per second (scheduled)', 'requests / s', (s) => s.arrivals, true),
    chart('ts-completions', 'Completions per second (any outcome)', 'requests / s', (s) => s.completions, true),
    // Closed-loop users hold this flat; an open-loop burst shows it decay as it drains.
    chart('ts-sessions', 'Sessions in flight (mean over each second)', 'sessions', (s) => s.sessionsInFlight ?? [], false),
    {
      id: 'ts-ok',
      title: 'OK per second (solid) and goodput per second within SLO (dashed)',
      xLabel,
      yLabel: 'requests / s',
      xKind: 'time',
      xs,
      series: result.policies.flatMap((p, i) => [
        line(p, i, p.series.ok.map(perSec), ' ok'),
        line(p, i, p.series.goodput.map(perSec), ' goodput', true),
      ]),
    },
    chart('ts-errors', 'Failed, timed out or shed per second', 'requests / s', (s) => s.failed.map((f, i) => f + (s.timeout[i] ?? 0) + (s.shed[i] ?? 0)), true),
    chart('ts-queue', 'Queue depth (peak in each second)', 'queued requests', (s) => s.queueDepth, false),
    {
      id: 'ts-inflight',
      title: 'In flight (solid, peak in each second) and concurrency limit (dashed)',
      xLabel,
      yLabel: 'requests',
      xKind: 'time',
      xs,
      series: result.policies.flatMap((p, i) => [line(p, i, p.series.inFlight, ' in flight'), line(p, i, p.series.concurrencyLimit, ' limit', true)]),
    },
    {
      id: 'ts-reasons',
      title: 'Not ok per second, by reason (the top 3 of each policy; summary.reasons)',
      xLabel,
      yLabel: 'requests / s',
      xKind: 'time',
      xs,
      series: result.policies.flatMap((p, i) =>
        topReasons(p, 3).map((r, k) => line(p, i, (p.series.reasons?.[r.reason] ?? []).map(perSec), ` ${r.reason}`, k > 0)),
      ),
    },
    chart('ts-breaker', 'Circuit breaker state (0 closed, 1 half-open, 2 open)', 'state', (s) => s.breakerState.map((b) => (b === null ? null : BREAKER_LEVEL[b])), false),
    chart('ts-429', '429 responses from upstream per second', '429s / s', (s) => s.rateLimited, true),
    chart('ts-gpu', 'GPU utilization', 'utilization (%)', (s) => s.gpuUtilization.map((v) => (v === null ? null : Math.round(v * 1e6) / 1e4)), false),
    // By when each billed call ended: retries and resumes during a fault phase show up as spend inside its band.
    chart('ts-spend', 'Spend per second (USD billed, every attempt)', 'USD / s', (s) => s.spendUsd ?? [], true),
  ];
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A round step for about `target` ticks up to `max`. */
export function niceStep(max: number, target = 5): number {
  if (!(max > 0)) return 1;
  const raw = max / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * mag;
}

const STATS = [
  { key: 'p50', label: 'p50', opacity: 0.4 },
  { key: 'p90', label: 'p90', opacity: 0.7 },
  { key: 'p99', label: 'p99', opacity: 1 },
] as const;

/** Grouped bars of p50/p90/p99 per policy as an SVG string. */
export function percentileBarsSvg(id: string, title: string, yLabel: string, policies: ReadonlyArray<{ name: string; stats: LatencyStats }>): string {
  const W = 560;
  const H = 300;
  const m = { top: 40, right: 16, bottom: 44, left: 64 };
  const iw = W - m.left - m.right;
  const ih = H - m.top - m.bottom;
  const max = Math.max(0, ...policies.flatMap((p) => STATS.map((s) => p.stats[s.key] ?? 0)));
  const step = niceStep(max);
  const top = Math.max(step, Math.ceil(max / step) * step);
  const y = (v: number): number => m.top + ih - (v / top) * ih;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}" data-chart="${id}">`);
  parts.push(`<text x="${m.left}" y="20" class="svg-title">${esc(title)}</text>`);
  for (let v = 0; v <= top + step / 2; v += step) {
    const yy = y(v).toFixed(1);
    parts.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${yy}" y2="${yy}" class="grid"/>`);
    parts.push(`<text x="${m.left - 6}" y="${yy}" class="tick" text-anchor="end" dominant-baseline="middle">${esc(fmtMs(v))}</text>`);
  }
  parts.push(`<text transform="translate(14 ${m.top + ih / 2}) rotate(-90)" class="axis-label" text-anchor="middle">${esc(yLabel)}</text>`);
  const gw = iw / Math.max(1, policies.length);
  const bw = Math.min(40, (gw * 0.8) / STATS.length);
  policies.forEach((p, i) => {
    const gx = m.left + i * gw + (gw - bw * STATS.length) / 2;
    STATS.forEach((s, k) => {
      const v = p.stats[s.key];
      const x = gx + k * bw;
      if (v === null) {
        parts.push(`<text x="${(x + bw / 2).toFixed(1)}" y="${y(0) - 4}" class="bar-value" text-anchor="middle">—</text>`);
        return;
      }
      const yy = y(v);
      parts.push(
        `<rect x="${(x + 1).toFixed(1)}" y="${yy.toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${(y(0) - yy).toFixed(1)}" fill="${policyColor(i)}" fill-opacity="${s.opacity}"><title>${esc(`${p.name} ${s.label}: ${fmtMs(v)}`)}</title></rect>`,
      );
      parts.push(`<text x="${(x + bw / 2).toFixed(1)}" y="${(yy - 4).toFixed(1)}" class="bar-value" text-anchor="middle">${esc(fmtMs(v).replace(' ', '\u202f'))}</text>`);
    });
    parts.push(`<text x="${(m.left + i * gw + gw / 2).toFixed(1)}" y="${H - m.bottom + 18}" class="tick policy" text-anchor="middle">${esc(p.name)}</text>`);
  });
  parts.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${y(0)}" y2="${y(0)}" class="axis"/>`);
  STATS.forEach((s, k) => {
    const lx = W - m.right - (STATS.length - k) * 56;
    parts.push(`<rect x="${lx}" y="10" width="12" height="12" fill="#555" fill-opacity="${s.opacity}"/><text x="${lx + 16}" y="20" class="tick">${s.label}</text>`);
  });
  parts.push(`<text x="${m.left + iw / 2}" y="${H - 8}" class="axis-label" text-anchor="middle">policy (bar shade: p50 light → p99 dark)</text>`);
  parts.push('</svg>');
  return parts.join('');
}
