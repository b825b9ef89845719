/**
 * The plain-text comparison table for a terminal: the same columns as the Markdown report, aligned.
 * A pure function; only the CLI prints.
 */
import { ceilingText, COLUMNS, phaseRecoveryCell, tableRows } from './columns.js';
import { fmtMetric, fmtMs } from './format.js';
import { thresholdVerdict } from './markdown.js';
import { reasonLines } from './reasons.js';
import { responseCacheTable } from './response-cache.js';
import { allThresholdResults } from './run-result.js';
import type { RunResult } from './schema.js';

/** Lays out rows as aligned columns separated by two spaces. */
export function alignColumns(headers: readonly string[], rows: readonly (readonly string[])[], align: ReadonlyArray<'left' | 'right'>): string {
  const widths = headers.map((h, i) => Math.max([...h].length, ...rows.map((r) => [...(r[i] ?? '')].length)));
  const pad = (s: string, i: number): string => {
    const fill = ' '.repeat(Math.max(0, widths[i]! - [...s].length));
    return align[i] === 'right' ? fill + s : s + fill;
  };
  const line = (cells: readonly string[]): string => cells.map((c, i) => pad(c, i)).join('  ').trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Renders the comparison table, then threshold failures and fault-phase recoveries, as plain text. */
export function renderTable(result: RunResult): string {
  const s = result.scenario;
  const lines: string[] = [];
  lines.push(`${s.name} (${s.mode}, ${fmtMs(s.durationMs)}, seed ${String(result.seed)}): ${thresholdVerdict(result)}`);
  const lg = result.meta.loadGenerator;
  if (lg !== null && !lg.valid) lines.push(`INVALID RUN: the load generator was a bottleneck (${lg.reasons.join('; ')})`);
  lines.push('');
  lines.push(alignColumns(COLUMNS.map((c) => c.header), tableRows(result), COLUMNS.map((c) => c.align)));
  const ceiling = ceilingText(result);
  if (ceiling !== null) lines.push('', ceiling);
  const why = reasonLines(result);
  if (why.length > 0) lines.push('', 'Why not ok (top reasons per policy, requests):', ...why);
  const cache = responseCacheTable(result);
  if (cache !== undefined) {
    lines.push('', 'Response cache (hits make no upstream call; stale = degraded: cached while the upstream failed):');
    lines.push(
      alignColumns(cache.headers, cache.rows, cache.align)
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    );
  }
  const failed = allThresholdResults(result).filter((t) => !t.pass);
  if (failed.length > 0) {
    lines.push('', 'Failed thresholds:');
    for (const t of failed) lines.push(`  FAIL  ${t.policy}  ${t.label}  (actual ${fmtMetric(t.metric, t.actual)})`);
  }
  if (result.faultPhases.length > 0) {
    lines.push('', 'Recovery after fault phases:');
    lines.push(
      alignColumns(
        ['Phase', 'From', 'To', ...result.policies.map((p) => p.name)],
        result.faultPhases.map((f, i) => [f.name, fmtMs(f.atMs), fmtMs(f.atMs + f.durationMs), ...result.policies.map((p) => phaseRecoveryCell(p.summary.recovery[i]))]),
        ['left', 'right', 'right', ...result.policies.map(() => 'right' as const)],
      )
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    );
  }
  return `${lines.join('\n')}\n`;
}
