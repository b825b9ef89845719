/**
 * The trace flags of `npm run scenario` for scenarios that replay a trace (trace-replay): `--trace FILE`,
 * `--trace-format F`, `--trace-speed X` and `--trace-window START..END`. They rewrite the scenario's trace spec,
 * its arrival window (the window replayed at that speed) and its description (file, format, window, speed), so the
 * report says what was replayed.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Scenario } from '../scenario.js';
import { sniffTraceFormat, TRACE_FORMATS, type TraceFormat, type TraceSpec } from '../workload/index.js';
import { UsageError, parseChoice, parseDuration } from './flags.js';

/** The trace flags as given. */
export interface TraceFlags {
  readonly trace?: string;
  readonly traceFormat?: string;
  readonly traceSpeed?: string;
  readonly traceWindow?: string;
}

/** `--trace-window START..END`: START a duration or 0, END a duration or empty (to the end of the trace). */
export function parseTraceWindow(value: string): { startMs: number; durationMs?: number } {
  const m = /^\s*([^.]*)\.\.([^.]*)\s*$/.exec(value);
  if (m === null) throw new UsageError(`--trace-window: expected START..END like 0..10m or 5m..15m (END may be empty), got ${JSON.stringify(value)}`);
  const startText = (m[1] as string).trim();
  const endText = (m[2] as string).trim();
  const startMs = startText === '' || /^0+(ms|s|m|h)?$/.test(startText) ? 0 : parseDuration('--trace-window START', startText);
  if (endText === '') return { startMs };
  const endMs = parseDuration('--trace-window END', endText);
  if (endMs <= startMs) throw new UsageError(`--trace-window: expected END after START, got ${JSON.stringify(value)}`);
  return { startMs, durationMs: endMs - startMs };
}

/** `--trace-speed X`: a positive number (4 replays four times faster). */
export function parseTraceSpeed(value: string): number {
  const x = Number(value.trim());
  if (value.trim() === '' || !Number.isFinite(x) || x <= 0 || x > 1e6) {
    throw new UsageError(`--trace-speed: expected a positive number like 4 or 0.5, got ${JSON.stringify(value)}`);
  }
  return x;
}

/** Applies the trace flags to a scenario that replays a trace; refuses them for one that does not. */
export function withTraceFlags(s: Scenario, f: TraceFlags, baseDir = process.cwd()): Scenario {
  const given = (['trace', 'traceFormat', 'traceSpeed', 'traceWindow'] as const).filter((k) => f[k] !== undefined);
  if (given.length === 0) return s;
  const flag = `--${given[0]?.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  if (s.takesTrace !== true || !('trace' in s.workload)) throw new UsageError(`${flag}: scenario ${s.name} does not replay a trace`);
  const format = f.traceFormat === undefined ? undefined : parseChoice('--trace-format', f.traceFormat, TRACE_FORMATS);
  const speed = f.traceSpeed === undefined ? undefined : parseTraceSpeed(f.traceSpeed);
  const window = f.traceWindow === undefined ? undefined : parseTraceWindow(f.traceWindow);
  const old = s.workload.trace;
  const { durationMs: _oldLength, ...rest } = old;
  const trace: TraceSpec = {
    ...(window !== undefined ? rest : old),
    ...(f.trace !== undefined ? { path: f.trace } : {}),
    // Another file is another format: sniff it again unless told.
    ...(format !== undefined ? { format } : f.trace !== undefined ? { format: undefined } : {}),
    ...(speed !== undefined ? { speedup: speed } : {}),
    ...(window !== undefined ? { startMs: window.startMs, ...(window.durationMs !== undefined ? { durationMs: window.durationMs } : {}) } : {}),
    // A file of another format keeps no class named after the old one.
    ...(f.trace !== undefined ? { class: undefined } : {}),
  };
  const clean = Object.fromEntries(Object.entries(trace).filter(([, v]) => v !== undefined)) as TraceSpec;
  const speedup = clean.speedup ?? 1;
  // The arrival window: the trace window replayed at this speed (the whole of it), unless it is open-ended.
  const durationMs = clean.durationMs !== undefined ? Math.max(1, Math.ceil(clean.durationMs / speedup)) : s.durationMs;
  return { ...s, durationMs, workload: { trace: clean }, description: describeTrace(clean, baseDir) };
}

/** `trace replay of FILE (FORMAT), window 0..10m of trace time, 4× speed`. */
export function describeTrace(t: TraceSpec, baseDir = process.cwd()): string {
  const format: TraceFormat | 'unknown format' = t.format ?? sniffFile(resolve(baseDir, t.path), t.path);
  const start = t.startMs ?? 0;
  const window = `${fmt(start)}..${t.durationMs === undefined ? 'end' : fmt(start + t.durationMs)}`;
  return `trace replay of ${t.path} (${format}), window ${window} of trace time, ${t.speedup ?? 1}× speed`;
}

function fmt(ms: number): string {
  if (ms === 0) return '0';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** The format of a file by its first 64 KiB; 'unknown format' when it cannot be read (the run reports why). */
function sniffFile(path: string, shown: string): TraceFormat | 'unknown format' {
  try {
    const fd = openSync(path, 'r');
    try {
      const buf = Buffer.alloc(65_536);
      const n = readSync(fd, buf, 0, buf.length, 0);
      return sniffTraceFormat(buf.subarray(0, n).toString('utf8'), shown);
    } finally {
      closeSync(fd);
    }
  } catch {
    return 'unknown format';
  }
}
