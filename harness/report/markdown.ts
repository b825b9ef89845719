/**
 * The Markdown report: fits a PR comment or a GitHub step summary. A pure function of the RunResult.
 */
import { ceilingText, COLUMNS, phaseRecoveryCell, recoveryCriteria, sloText, tableRows } from './columns.js';
import { fmtMetric, fmtMs } from './format.js';
import { autoscaleLines, deploymentsTable, fleetFacts, hasFleet, replicasTable } from './fleet-report.js';
import { RESPONSE_CACHE_LEGEND, responseCacheTable } from './response-cache.js';
import { reasonsCell } from './reasons.js';
import { allThresholdResults } from './run-result.js';
import type { RunResult } from './schema.js';

/** Escapes text for a Markdown table cell or inline text. */
export function mdEscape(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/([*_`<>[\]])/g, '\\$1').replace(/\r?\n/g, ' ');
}

/** A Markdown table with alignment. */
export function mdTable(headers: readonly string[], rows: readonly (readonly string[])[], align?: ReadonlyArray<'left' | 'right' | 'center'>): string {
  const sep = headers.map((_, i) => (align?.[i] === 'right' ? '---:' : align?.[i] === 'center' ? ':---:' : '---'));
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(headers), line(sep), ...rows.map(line)].join('\n');
}

/** The one-line verdict over thresholds. */
export function thresholdVerdict(result: RunResult): string {
  const all = allThresholdResults(result);
  if (all.length === 0) return 'no thresholds';
  const failed = all.filter((t) => !t.pass).length;
  return failed === 0 ? `all ${all.length} thresholds passed` : `${failed} of ${all.length} thresholds failed`;
}

/** Renders the run as Markdown. */
export function renderMarkdown(result: RunResult): string {
  const s = result.scenario;
  const out: string[] = [];
  const all = allThresholdResults(result);
  const icon = all.length === 0 ? '' : all.every((t) => t.pass) ? '✅ ' : '❌ ';
  out.push(`## ${icon}Scenario \`${s.name.replace(/`/g, "'")}\``);
  out.push('');
  if (s.description !== '') out.push(`${mdEscape(s.description)}`, '');
  out.push(
    `**Mode** ${s.mode} · **duration** ${fmtMs(s.durationMs)} · **seed** ${mdEscape(String(result.seed))} · **SLO** ${mdEscape(sloText(result.slo))} · **thresholds** ${thresholdVerdict(result)}`,
  );
  const lg = result.meta.loadGenerator;
  if (lg !== null && !lg.valid) out.push('', `> ⚠️ **Invalid run**: the load generator was a bottleneck (${mdEscape(lg.reasons.join('; '))}). Do not trust these latencies.`);
  out.push('');
  out.push(mdTable(COLUMNS.map((c) => c.header), tableRows(result).map((r) => r.map(mdEscape)), COLUMNS.map((c) => c.align)));
  out.push('');
  const ceiling = ceilingText(result);
  if (ceiling !== null) out.push(mdEscape(ceiling), '');
  if (result.policies.some((p) => p.summary.reasons !== undefined)) {
    out.push('### Why not ok', '', 'Every request that did not end `ok`, by reason code (top 4 per policy; see docs/harness.md).', '');
    out.push(mdTable(['Policy', 'Top reasons (requests)'], result.policies.map((p) => [mdEscape(p.name), mdEscape(reasonsCell(p))]), ['left', 'left']), '');
  }

  const cache = responseCacheTable(result);
  if (cache !== undefined) {
    out.push('### Response cache', '', RESPONSE_CACHE_LEGEND, '');
    out.push(mdTable(cache.headers, cache.rows.map((r) => r.map(mdEscape)), cache.align), '');
  }

  if (all.length > 0) {
    out.push('### Thresholds', '');
    out.push(
      mdTable(
        ['', 'Policy', 'Threshold', 'Actual'],
        all.map((t) => [t.pass ? '✅ pass' : '❌ fail', mdEscape(t.policy), `\`${t.label}\``, fmtMetric(t.metric, t.actual)]),
        ['left', 'left', 'left', 'right'],
      ),
      '',
    );
  }

  if (result.faultPhases.length > 0) {
    out.push('### Fault phases', '');
    out.push(
      mdTable(
        ['Phase', 'From', 'To', ...result.policies.map((p) => `Recovery: ${mdEscape(p.name)}`)],
        result.faultPhases.map((f, i) => [
          f.description === undefined ? `\`${f.name}\`` : `\`${f.name}\` — ${mdEscape(f.description)}`,
          fmtMs(f.atMs),
          fmtMs(f.atMs + f.durationMs),
          ...result.policies.map((p) => phaseRecoveryCell(p.summary.recovery[i])),
        ]),
        ['left', 'right', 'right', ...result.policies.map(() => 'right' as const)],
      ),
      '',
    );
    const crit = recoveryCriteria(result);
    if (crit !== null) out.push(mdEscape(crit), '');
  }

  if (hasFleet(result)) out.push(...fleetMarkdown(result));

  out.push('<details><summary>Column legend</summary>', '');
  for (const c of COLUMNS) out.push(`- **${c.header}**: ${mdEscape(c.legend)}`);
  out.push('- Percentages are shares of finished requests; — means unknown (not measured), never zero.', '', '</details>', '');

  const m = result.meta;
  out.push(
    `<sub>commit ${m.gitCommit === null ? 'unknown' : m.gitCommit.slice(0, 12)} · node ${mdEscape(m.nodeVersion)} · ${mdEscape(m.machine.platform)}/${mdEscape(m.machine.arch)}, ${m.machine.cpus} CPUs · wall ${fmtMs(m.wallMs)} · simulated ${fmtMs(m.simulatedMs)} · started ${m.startedAt}</sub>`,
  );
  return `${out.join('\n')}\n`;
}

/** The per-replica section of a fleet run: deployments, then each policy's replicas. */
function fleetMarkdown(result: RunResult): string[] {
  const out: string[] = ['### Deployments and replicas', ''];
  const d = deploymentsTable(result);
  out.push(mdTable(d.headers, d.rows.map((r) => r.map(mdEscape)), d.align), '');
  out.push(
    'GPU busy is busy time over the time a replica was in service: a continuous-batching GPU with any sequence to run is busy all the time, so spare room shows in the batch (mean of its per-second samples of sequences running) instead; queue is the mean of its samples of sequences waiting for a GPU slot. GPU-hours provisioned include cold starts and idle time.',
    '',
  );
  for (const p of result.policies) {
    if (p.fleet === undefined) continue;
    const t = replicasTable(p.fleet);
    out.push(`#### ${mdEscape(p.name)}`, '', mdEscape(fleetFacts(p.fleet)), '', mdTable(t.headers, t.rows.map((r) => r.map(mdEscape)), t.align), '');
    const scale = autoscaleLines(p.fleet);
    if (scale.length > 0) out.push(...scale.map((l) => `- ${mdEscape(l)}`), '');
  }
  return out;
}
