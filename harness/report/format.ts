/**
 * Fixed number formatting shared by every renderer, so the same RunResult always renders the same text.
 * `null` (unknown) renders as an em dash, never as 0.
 */

/** How an unknown value is shown. */
export const UNKNOWN = '—';

/** Milliseconds: `0.42 ms`, `12.3 ms`, `840 ms`, `1.23 s`, `95.0 s`. */
export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return UNKNOWN;
  if (ms === 0) return '0 ms';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${ms.toFixed(0)} ms`;
  if (ms < 100_000) return `${(ms / 1000).toFixed(2)} s`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/** A fraction 0..1 as a percentage with one decimal: `12.5%`. */
export function fmtPct(fraction: number | null | undefined): string {
  if (fraction === null || fraction === undefined) return UNKNOWN;
  return `${(fraction * 100).toFixed(1)}%`;
}

/** `part / whole` as a percentage; unknown when whole is 0. */
export function fmtShare(part: number, whole: number): string {
  return whole === 0 ? UNKNOWN : fmtPct(part / whole);
}

/** A number with fixed decimals. */
export function fmtNum(x: number | null | undefined, decimals = 2): string {
  if (x === null || x === undefined) return UNKNOWN;
  return x.toFixed(decimals);
}

/** An integer count. */
export function fmtInt(x: number | null | undefined): string {
  if (x === null || x === undefined) return UNKNOWN;
  return String(Math.round(x));
}

/** US dollars, with enough decimals for the small sums a simulated run costs: `$0.0123`, `$4.57`, `$1,234`. */
export function fmtUsd(x: number | null | undefined): string {
  if (x === null || x === undefined) return UNKNOWN;
  const a = Math.abs(x);
  if (a === 0) return '$0';
  if (a < 0.01) return `$${x.toFixed(5)}`;
  if (a < 1) return `$${x.toFixed(4)}`;
  if (a < 1000) return `$${x.toFixed(2)}`;
  return `$${Math.round(x).toLocaleString('en-US')}`;
}

/** A threshold metric's value in its natural unit. */
export function fmtMetric(metric: string, value: number | null): string {
  if (value === null) return UNKNOWN;
  if (metric.endsWith('Ms')) return fmtMs(value);
  if (metric.endsWith('Fraction') || metric === 'gpuUtilization') return fmtPct(value);
  if (metric === 'peakQueue') return fmtInt(value);
  if (metric === 'amplification') return `${value.toFixed(2)}×`;
  if (metric.endsWith('Usd')) return fmtUsd(value);
  return fmtNum(value, 2);
}
