/**
 * "Why not ok": each policy's top reason codes for the requests that did not end `ok` (summary.reasons), as
 * plain-text lines for the terminal and Markdown. Pure functions of a RunResult.
 */
import { fmtInt } from './format.js';
import type { PolicyEntry } from './columns.js';
import type { RunResult } from './schema.js';

/** The `n` most frequent reasons of a policy, most frequent first (ties by name), with their counts. */
export function topReasons(p: PolicyEntry, n = 4): Array<{ reason: string; count: number }> {
  return Object.entries(p.summary.reasons ?? {})
    .map(([reason, count]) => ({ reason, count }))
    .sort((a, b) => b.count - a.count || (a.reason < b.reason ? -1 : a.reason > b.reason ? 1 : 0))
    .slice(0, n);
}

/** One policy's cell, e.g. `fallback 420, breaker_open 120, deadline 3 (+2 more)`; `—` when every request was ok. */
export function reasonsCell(p: PolicyEntry, n = 4): string {
  const all = Object.keys(p.summary.reasons ?? {}).length;
  if (p.summary.reasons === undefined) return 'not recorded';
  if (all === 0) return '—';
  const top = topReasons(p, n).map((r) => `${r.reason} ${fmtInt(r.count)}`);
  return `${top.join(', ')}${all > n ? ` (+${all - n} more)` : ''}`;
}

/** Lines `  policy: reason count, ...` for the terminal table; empty when no policy recorded reasons. */
export function reasonLines(result: RunResult, n = 4): string[] {
  if (result.policies.every((p) => p.summary.reasons === undefined)) return [];
  const width = Math.max(...result.policies.map((p) => [...p.name].length));
  return result.policies.map((p) => `  ${p.name.padEnd(width)}  ${reasonsCell(p, n)}`);
}
