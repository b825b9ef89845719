/**
 * Trace replay in the Azure LLM inference trace format: CSV with header `TIMESTAMP,ContextTokens,GeneratedTokens`,
 * timestamps like `2023-11-16 18:17:03.9799600` (no time zone; only offsets from the first row matter).
 * Malformed input gets a {@link TraceFormatError} naming the file, line and column.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { HarnessError, describe } from '../../src/errors.js';
import { parseTraceAs, type ParsedTrace, type TraceFormat } from './trace-formats.js';

/** The expected header columns, in order. */
export const TRACE_COLUMNS = ['TIMESTAMP', 'ContextTokens', 'GeneratedTokens'] as const;

/** One request of a trace. */
export interface TraceRow {
  /** 1-based line in the file (the header is line 1). */
  readonly line: number;
  /** Milliseconds after the first row's timestamp (sub-millisecond precision kept). */
  readonly offsetMs: number;
  readonly contextTokens: number;
  readonly generatedTokens: number;
  /** Mooncake: one id per 512-token block of the prompt; equal ids are equal blocks (a shared prefix). */
  readonly hashIds?: readonly number[];
  /** BurstGPT: the request class from its model and log type. */
  readonly class?: string;
}

/** Longest offending text quoted in a {@link TraceFormatError}. */
export const MAX_QUOTED_CHARS = 80;

/** The offending text, cut to {@link MAX_QUOTED_CHARS} with a note of how much was left out. */
export function cutText(s: string): string {
  return s.length <= MAX_QUOTED_CHARS ? s : `${s.slice(0, MAX_QUOTED_CHARS)}… (${s.length} characters)`;
}

/** A trace file is malformed or in another format. `column` is a column name, or a 1-based number past the last. */
export class TraceFormatError extends HarnessError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: string,
    expected: string,
    received: string,
  ) {
    super('TRACE_FORMAT', `${file} line ${line}, column ${column}: expected ${expected}, got ${cutText(received)}`);
  }
}

/** A trace file could not be read at all. */
export class TraceReadError extends HarnessError {
  constructor(readonly file: string, cause: unknown) {
    const why = cause instanceof Error && 'code' in cause ? String(cause.code) : describe(cause instanceof Error ? cause.message : cause);
    super('TRACE_UNREADABLE', `${file}: expected a readable trace file, got ${why}`, { cause });
  }
}

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$/;
const NON_NEGATIVE_INTEGER = /^\d+$/;

/**
 * Parses trace text. `file` names the source in errors. Accepts LF or CRLF line ends, a UTF-8 BOM, blank lines
 * and a missing final newline; rejects anything else, including timestamps that go backwards.
 */
export function parseTrace(text: string, file: string): TraceRow[] {
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  const header = (lines[0] ?? '').replace(/\r$/, '').split(',').map((c) => c.trim());
  TRACE_COLUMNS.forEach((name, i) => {
    const got = header[i];
    if (got !== name) throw new TraceFormatError(file, 1, String(i + 1), `header "${name}"`, got === undefined ? 'nothing' : JSON.stringify(got));
  });
  if (header.length > TRACE_COLUMNS.length) {
    throw new TraceFormatError(file, 1, String(TRACE_COLUMNS.length + 1), 'no further header column', JSON.stringify(header[TRACE_COLUMNS.length]));
  }
  const rows: TraceRow[] = [];
  let first: Instant | undefined;
  let previousMs = Number.NEGATIVE_INFINITY;
  for (let i = 1; i < lines.length; i++) {
    const raw = (lines[i] as string).replace(/\r$/, '');
    if (raw.trim() === '') continue;
    const line = i + 1;
    const cells = raw.split(',').map((c) => c.trim());
    if (cells.length > TRACE_COLUMNS.length) {
      throw new TraceFormatError(file, line, String(TRACE_COLUMNS.length + 1), `${TRACE_COLUMNS.length} columns`, `${cells.length} (${JSON.stringify(cells[TRACE_COLUMNS.length])})`);
    }
    const [ts, context, generated] = cells;
    const at = parseTimestamp(ts, file, line);
    first ??= at;
    // Whole and fractional parts are subtracted separately: epoch milliseconds would eat the fraction's digits.
    const offsetMs = at.wholeMs - first.wholeMs + (at.fracMs - first.fracMs);
    if (offsetMs < previousMs) {
      throw new TraceFormatError(file, line, 'TIMESTAMP', 'a time at or after the previous row', JSON.stringify(ts));
    }
    previousMs = offsetMs;
    rows.push({
      line,
      offsetMs,
      contextTokens: parseCount(context, 'ContextTokens', file, line),
      generatedTokens: parseCount(generated, 'GeneratedTokens', file, line),
    });
  }
  return rows;
}

/** Reads and parses a trace file; `path` is resolved against `baseDir` and named in errors as given. */
export function loadTrace(path: string, baseDir = '.'): TraceRow[] {
  let text: string;
  try {
    text = readFileSync(resolve(baseDir, path), 'utf8');
  } catch (error) {
    throw new TraceReadError(path, error);
  }
  return parseTrace(text, path);
}

/** Reads and parses a trace file in any known format (sniffed unless given); see trace-formats.ts. */
export function loadTraceAs(path: string, baseDir = '.', format?: TraceFormat): ParsedTrace {
  let text: string;
  try {
    text = readFileSync(resolve(baseDir, path), 'utf8');
  } catch (error) {
    throw new TraceReadError(path, error);
  }
  return parseTraceAs(text, path, format);
}

/** A replay window: which rows, and how time is compressed. */
export interface TraceWindow {
  /** Gaps are divided by this. @default 1 */
  readonly speedup?: number;
  /** Window start, in trace time from the first row. @default 0 */
  readonly startMs?: number;
  /** Window length, in trace time. @default to the end */
  readonly durationMs?: number;
}

/** The rows in the window, each with its replay time: (offset - startMs) / speedup. */
export function windowTrace(rows: readonly TraceRow[], w: TraceWindow = {}): Array<{ row: TraceRow; atMs: number }> {
  const speedup = w.speedup ?? 1;
  const start = w.startMs ?? 0;
  const end = w.durationMs === undefined ? Number.POSITIVE_INFINITY : start + w.durationMs;
  return rows.filter((r) => r.offsetMs >= start && r.offsetMs < end).map((row) => ({ row, atMs: (row.offsetMs - start) / speedup }));
}

/** Summary figures of a trace, the ones its README lists. */
export interface TraceStats {
  readonly rows: number;
  /** Last offset minus first, in ms. */
  readonly spanMs: number;
  /** rows / span. */
  readonly meanRatePerSec: number;
  /** Coefficient of variation of the gaps between rows (1 for Poisson). */
  readonly interArrivalCv: number;
  /** Largest gap between consecutive rows, in ms. */
  readonly maxGapMs: number;
  /** Most rows starting within one second-long bucket counted from the first row. */
  readonly peakPerSec: number;
  readonly contextTokens: Moments;
  readonly generatedTokens: Moments;
}

/** Mean, median and 99th percentile (nearest rank). */
export interface Moments {
  readonly mean: number;
  readonly median: number;
  readonly p99: number;
}

/** Computes {@link TraceStats} for the given rows (at least two). */
export function traceStats(rows: readonly TraceRow[]): TraceStats {
  const first = rows[0];
  const last = rows[rows.length - 1];
  if (first === undefined || last === undefined || rows.length < 2) throw new RangeError(`traceStats: expected at least 2 rows, got ${rows.length}`);
  const spanMs = last.offsetMs - first.offsetMs;
  const gaps: number[] = [];
  for (let i = 1; i < rows.length; i++) gaps.push((rows[i] as TraceRow).offsetMs - (rows[i - 1] as TraceRow).offsetMs);
  const buckets = new Map<number, number>();
  for (const r of rows) {
    const b = Math.floor((r.offsetMs - first.offsetMs) / 1000);
    buckets.set(b, (buckets.get(b) ?? 0) + 1);
  }
  return {
    rows: rows.length,
    spanMs,
    meanRatePerSec: spanMs > 0 ? (rows.length * 1000) / spanMs : Number.POSITIVE_INFINITY,
    interArrivalCv: cv(gaps),
    maxGapMs: Math.max(...gaps),
    peakPerSec: Math.max(...buckets.values()),
    contextTokens: moments(rows.map((r) => r.contextTokens)),
    generatedTokens: moments(rows.map((r) => r.generatedTokens)),
  };
}

function cv(xs: readonly number[]): number {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / xs.length;
  return mean > 0 ? Math.sqrt(variance) / mean : 0;
}

function moments(xs: readonly number[]): Moments {
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = (q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
  return { mean: sorted.reduce((a, b) => a + b, 0) / sorted.length, median: rank(0.5), p99: rank(0.99) };
}

interface Instant {
  readonly wholeMs: number;
  readonly fracMs: number;
}

function parseTimestamp(cell: string | undefined, file: string, line: number): Instant {
  if (cell === undefined) throw new TraceFormatError(file, line, 'TIMESTAMP', 'a timestamp like "2023-11-16 18:17:03.9799600"', 'nothing');
  const m = TIMESTAMP.exec(cell);
  const expected = 'a timestamp like "2023-11-16 18:17:03.9799600"';
  if (m === null) throw new TraceFormatError(file, line, 'TIMESTAMP', expected, JSON.stringify(cell));
  const [, y, mo, d, h, mi, s, frac] = m.map((x) => x ?? '');
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    throw new TraceFormatError(file, line, 'TIMESTAMP', expected, JSON.stringify(cell));
  }
  // Date.UTC is pure arithmetic on the given fields; no clock is read. The zone does not matter: only offsets do.
  const wholeMs = Date.UTC(Number(y), month - 1, day, hour, minute, second);
  const fracMs = frac === '' ? 0 : Number(`0.${frac}`) * 1000;
  return { wholeMs, fracMs };
}

function parseCount(cell: string | undefined, column: string, file: string, line: number): number {
  if (cell === undefined || cell === '') throw new TraceFormatError(file, line, column, 'a non-negative integer', 'nothing');
  if (!NON_NEGATIVE_INTEGER.test(cell)) throw new TraceFormatError(file, line, column, 'a non-negative integer', JSON.stringify(cell));
  const n = Number(cell);
  if (!Number.isSafeInteger(n)) throw new TraceFormatError(file, line, column, 'a non-negative integer', JSON.stringify(cell));
  return n;
}
