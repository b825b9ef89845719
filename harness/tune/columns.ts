/**
 * The ranked table's columns, shared by the terminal, Markdown and HTML renderers so they always agree. With
 * several seeds a figure reads `median [min–max]`.
 */
import { fmtMs, fmtNum, fmtPct, UNKNOWN } from '../report/format.js';
import type { ConfigResult, FigureKey, Spread } from './rank.js';
import { configLabel } from './space.js';

/** One figure's formatting. */
export interface FigureInfo {
  readonly key: FigureKey;
  readonly header: string;
  readonly legend: string;
  readonly better: 'higher' | 'lower';
  fmt(v: number | null): string;
}

const amp = (v: number | null): string => (v === null ? UNKNOWN : `${v.toFixed(2)}×`);

export const FIGURES: readonly FigureInfo[] = [
  { key: 'goodputPerSec', header: 'Goodput/s', better: 'higher', legend: 'ok requests per second that met every per-request SLO of the scenario', fmt: (v) => fmtNum(v, 2) },
  { key: 'ttftP99Ms', header: 'TTFT p99', better: 'lower', legend: '99th percentile time to first token, from the scheduled arrival', fmt: fmtMs },
  { key: 'e2eP99Ms', header: 'E2E p99', better: 'lower', legend: '99th percentile end-to-end latency of served requests, from the scheduled arrival', fmt: fmtMs },
  { key: 'amplification', header: 'Amplif.', better: 'lower', legend: 'upstream calls per client request', fmt: amp },
  { key: 'wastedTokenFraction', header: 'Wasted', better: 'lower', legend: 'share of GPU output tokens computed that no client received', fmt: fmtPct },
  { key: 'recoveryMs', header: 'Recovery', better: 'lower', legend: 'worst time from the end of a fault phase until goodput is back; "never" = metastable', fmt: fmtMs },
];

/** A spread as text: the value with one seed, `median [min–max]` with several. */
export function spreadCell(s: Spread, fmt: (v: number | null) => string): string {
  if (s.median === null) return UNKNOWN;
  const missing = s.n < s.of ? ` (${s.n}/${s.of})` : '';
  if (s.of <= 1 || s.min === s.max) return `${fmt(s.median)}${missing}`;
  return `${fmt(s.median)} [${fmt(s.min)}–${fmt(s.max)}]${missing}`;
}

/** The recovery cell: `n/a` without fault phases, `never` when metastable (in k of n seeds). */
export function recoveryCell(c: ConfigResult): string {
  const first = c.runs[0];
  if (first === undefined || first.summary.recovery.length === 0) return 'n/a';
  const s = c.figures.recoveryMs;
  if (c.metastableRuns === c.runs.length) return 'never (metastable)';
  const base = s.median === null ? UNKNOWN : spreadCell({ ...s, of: s.n }, fmtMs);
  return c.metastableRuns > 0 ? `${base}; never in ${c.metastableRuns}/${c.runs.length}` : base;
}

/** The SLO verdict cell: `yes`/`no`, with the count of seeds that met it when there are several. */
export function verdictCell(c: ConfigResult): string {
  const word = c.meetsAll ? 'yes' : 'no';
  return c.runs.length > 1 ? `${word} (${c.meetsCount}/${c.runs.length})` : word;
}

/** The cells of one figure. */
export function figureCell(c: ConfigResult, f: FigureInfo): string {
  return f.key === 'recoveryMs' ? recoveryCell(c) : spreadCell(c.figures[f.key], f.fmt);
}

/** Headers of the ranked table. */
export const RANK_HEADERS = ['#', 'Configuration', 'Meets SLO', ...FIGURES.map((f) => f.header), 'Id'] as const;
export const RANK_ALIGN: ReadonlyArray<'left' | 'right'> = ['right', 'left', 'left', ...FIGURES.map(() => 'right' as const), 'left'];

/** One row of the ranked table, as plain text. */
export function rankRow(c: ConfigResult): string[] {
  return [String(c.rank), configLabel(c.assignments), verdictCell(c), ...FIGURES.map((f) => figureCell(c, f)), c.id];
}
