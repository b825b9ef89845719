/**
 * The HTML report: ONE self-contained file that opens offline. uPlot (JS and CSS) is read from node_modules
 * at render time and inlined; the percentile bars are inline SVG. A pure function of the RunResult (plus the
 * installed uPlot), so the same inputs give the same bytes.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { reasonsCell } from './reasons.js';
import { ceilingText, COLUMNS, COST_BREAKDOWN_HEADERS, costBreakdownRows, phaseRecoveryCell, recoveryCriteria, sloText, tableRows } from './columns.js';
import { fmtMetric, fmtMs } from './format.js';
import { CLIENT_SCRIPT } from './html-client.js';
import { distributionChart, percentileBarsSvg, policyColor, timeSeriesCharts } from './html-charts.js';
import { autoscaleLines, deploymentsTable, fleetCharts, fleetFacts, replicasTable } from './fleet-report.js';
import { thresholdVerdict } from './markdown.js';
import { allThresholdResults } from './run-result.js';
import type { RunResult } from './schema.js';

let uplotAssets: { js: string; css: string } | undefined;

function assets(): { js: string; css: string } {
  if (uplotAssets === undefined) {
    const require = createRequire(import.meta.url);
    const js = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
    const css = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
    uplotAssets = { js: js.replace(/<\/(script)/gi, '<\\/$1'), css: css.replace(/<\/(style)/gi, '<\\/$1') };
  }
  return uplotAssets;
}

/** Escapes text for HTML content and attribute values. */
export function htmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** JSON safe to embed in a `<script type="application/json">`. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function table(headers: readonly string[], rows: readonly (readonly string[])[], align: ReadonlyArray<'left' | 'right'>, cls = ''): string {
  const cell = (tag: string, v: string, i: number): string => `<${tag}${align[i] === 'right' ? ' class="num"' : ''}>${v}</${tag}>`;
  return `<table${cls === '' ? '' : ` class="${cls}"`}><thead><tr>${headers.map((h, i) => cell('th', h, i)).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c, i) => cell('td', c, i)).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

const CSS = `
:root { --fg: #1d2330; --muted: #5b6475; --line: #e3e6ec; --bg: #f6f7f9; --card: #fff; --bad: #b42318; --good: #067647; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
main { max-width: 1240px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 10px; }
.muted { color: var(--muted); } .desc { margin: 4px 0 10px; }
.facts span { display: inline-block; margin-right: 16px; }
.verdict { display: inline-block; padding: 2px 10px; border-radius: 999px; font-weight: 600; font-size: 13px; }
.verdict.pass { background: #dcfae6; color: var(--good); } .verdict.fail { background: #fee4e2; color: var(--bad); } .verdict.none { background: #eef0f4; color: var(--muted); }
.warn { background: #fef0c7; border: 1px solid #fdb022; padding: 8px 12px; border-radius: 6px; margin: 12px 0; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 8px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
th { font-size: 12px; color: var(--muted); font-weight: 600; } td.num, th.num { text-align: right; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: baseline; }
.pass { color: var(--good); font-weight: 600; } .fail { color: var(--bad); font-weight: 600; }
dl.legend { display: grid; grid-template-columns: max-content 1fr; gap: 4px 14px; margin: 0; font-size: 13px; }
dl.legend dt { font-weight: 600; } dl.legend dd { margin: 0; color: var(--muted); }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 16px; }
.chart h3 { font-size: 14px; margin: 0 0 2px; } .chart .sub { font-size: 12px; color: var(--muted); margin: 0 0 6px; }
.chart .plot { width: 100%; min-height: 260px; }
svg .svg-title { font-size: 0; } svg .grid { stroke: #eceef2; } svg .axis { stroke: #9aa1ad; }
svg .tick { font-size: 11px; fill: var(--muted); } svg .tick.policy { font-size: 12px; fill: var(--fg); font-weight: 600; }
svg .axis-label { font-size: 12px; fill: var(--muted); } svg .bar-value { font-size: 10px; fill: var(--fg); }
.uplot { font-family: inherit; } .u-legend { font-size: 12px; }
footer { margin-top: 28px; font-size: 12px; color: var(--muted); }
`;

/** Renders the self-contained HTML report. */
export function renderHtml(result: RunResult): string {
  const s = result.scenario;
  const all = allThresholdResults(result);
  const failed = all.filter((t) => !t.pass).length;
  const verdictCls = all.length === 0 ? 'none' : failed === 0 ? 'pass' : 'fail';
  const policies = result.policies.map((p, i) => ({ name: p.name, color: policyColor(i) }));
  const lines = [
    distributionChart(result, 'ttftMs', 'Time to first token by percentile', 'TTFT from scheduled arrival'),
    distributionChart(result, 'e2eMs', 'End-to-end latency by percentile (served requests)', 'E2E from scheduled arrival'),
    ...timeSeriesCharts(result),
  ];
  const perReplica = fleetCharts(result);
  const data = { policies, durationS: s.durationMs / 1000, faults: result.faultPhases.map((f) => ({ name: f.name, fromS: f.atMs / 1000, toS: (f.atMs + f.durationMs) / 1000 })), charts: [...lines, ...perReplica] };
  const subtitle: Record<string, string> = {
    'cdf-ttftMs': 'Latency (y) reached by each share of requests (x). The x axis stretches the tail: 90%, 99%, 99.9%. Lower is better.',
    'cdf-e2eMs': 'Same view for end-to-end latency of ok and degraded requests. Lower is better.',
  };
  const faultNote = result.faultPhases.length > 0 ? ' Shaded bands are fault phases.' : '';
  const chartCard = (c: (typeof lines)[number]): string =>
    `<div class="card chart" data-chart="${c.id}"><h3>${htmlEscape(c.title)}</h3><p class="sub">${htmlEscape(c.note ?? subtitle[c.id] ?? `x: ${c.xLabel}; y: ${c.yLabel}.${faultNote}`)}</p><div class="plot"></div></div>`;
  const bars = (field: 'ttftMs' | 'e2eMs', title: string, sub: string): string =>
    `<div class="card chart" data-chart="bars-${field}"><h3>${htmlEscape(title)}</h3><p class="sub">${htmlEscape(sub)}</p>${percentileBarsSvg(
      `bars-${field}`,
      title,
      field === 'ttftMs' ? 'TTFT' : 'E2E',
      result.policies.map((p) => ({ name: p.name, stats: p.summary[field] })),
    )}</div>`;

  const rows = tableRows(result).map((r, i) => r.map((c, k) => (k === 0 ? `<span class="swatch" style="background:${policyColor(i)}"></span>${htmlEscape(c)}` : htmlEscape(c))));
  const body: string[] = [];
  body.push(`<h1>Scenario: ${htmlEscape(s.name)} <span class="verdict ${verdictCls}">${htmlEscape(thresholdVerdict(result))}</span></h1>`);
  if (s.description !== '') body.push(`<p class="desc">${htmlEscape(s.description)}</p>`);
  body.push(
    `<p class="facts muted"><span>mode <b>${s.mode}</b></span><span>duration <b>${fmtMs(s.durationMs)}</b></span><span>seed <b>${htmlEscape(String(result.seed))}</b></span><span>SLO <b>${htmlEscape(sloText(result.slo))}</b></span></p>`,
  );
  const lg = result.meta.loadGenerator;
  if (lg !== null && !lg.valid) body.push(`<div class="warn"><b>Invalid run:</b> the load generator was a bottleneck (${htmlEscape(lg.reasons.join('; '))}). Do not trust these latencies.</div>`);
  const ceiling = ceilingText(result);
  body.push(
    '<h2>Policy comparison</h2>',
    `<div class="card">${table(COLUMNS.map((c) => htmlEscape(c.header)), rows, COLUMNS.map((c) => c.align), 'compare')}${ceiling === null ? '' : `<p class="muted" data-ceiling>${htmlEscape(ceiling)}</p>`}</div>`,
  );
  if (result.policies.some((p) => p.summary.reasons !== undefined)) {
    body.push(
      '<h2>Why not ok</h2>',
      `<div class="card">${table(['Policy', 'Top reasons (requests)'], result.policies.map((p, i) => [`<span class="swatch" style="background:${policyColor(i)}"></span>${htmlEscape(p.name)}`, htmlEscape(reasonsCell(p))]), ['left', 'left'])}<p class="muted">Every request that did not end ok, by reason code (top 4 per policy; summary.reasons). Charted per second under Over time, beside the fault phases and the breaker's state.</p></div>`,
    );
  }
  body.push(
    '<h2>What the columns mean</h2>',
    `<div class="card"><dl class="legend">${COLUMNS.map((c) => `<dt>${htmlEscape(c.header)}</dt><dd>${htmlEscape(c.legend)}</dd>`).join('')}<dt>—</dt><dd>unknown: the run did not measure it (never shown as zero)</dd></dl></div>`,
  );
  if (result.policies.some((p) => p.summary.cost.totalUsd !== null)) {
    body.push(
      '<h2>What it cost</h2>',
      `<div class="card">${table(
        COST_BREAKDOWN_HEADERS.map(htmlEscape),
        costBreakdownRows(result).map((r) => r.map(htmlEscape)),
        COST_BREAKDOWN_HEADERS.map((_, i) => (i === 0 ? 'left' : 'right')),
      )}<p class="muted">Every upstream attempt that ran is billed: its prompt (again on each retry; a resume also sends the prefix it continues), prefix-cache hits at the cached price, and every output token computed, delivered or not. First attempts, retries, resumes and fallbacks add up to the total; wasted is the part of it no client received or that a later attempt computed again. Spend per second is charted under Over time, beside the fault phases.</p></div>`,
    );
  }
  if (all.length > 0) {
    body.push(
      '<h2>Thresholds</h2>',
      `<div class="card">${table(
        ['Result', 'Policy', 'Threshold', 'Actual'],
        all.map((t) => [t.pass ? '<span class="pass">pass</span>' : '<span class="fail">fail</span>', htmlEscape(t.policy), `<code>${htmlEscape(t.label)}</code>`, htmlEscape(fmtMetric(t.metric, t.actual))]),
        ['left', 'left', 'left', 'right'],
      )}</div>`,
    );
  }
  if (result.faultPhases.length > 0) {
    const crit = recoveryCriteria(result);
    body.push(
      '<h2>Fault phases and recovery</h2>',
      `<div class="card">${table(
        ['Phase', 'What', 'From', 'To', ...result.policies.map((p) => `Recovery: ${htmlEscape(p.name)}`)],
        result.faultPhases.map((f, i) => [
          `<code>${htmlEscape(f.name)}</code>`,
          htmlEscape(f.description ?? ''),
          fmtMs(f.atMs),
          fmtMs(f.atMs + f.durationMs),
          ...result.policies.map((p) => htmlEscape(phaseRecoveryCell(p.summary.recovery[i]))),
        ]),
        ['left', 'left', 'right', 'right', ...result.policies.map(() => 'right' as const)],
      )}${crit === null ? '' : `<p class="muted">${htmlEscape(crit)}</p>`}</div>`,
    );
  }
  body.push('<h2>Latency distributions</h2>', `<div class="grid">${lines.slice(0, 2).map(chartCard).join('')}</div>`);
  body.push(
    '<h2>Latency percentiles</h2>',
    `<div class="grid">${bars('ttftMs', 'TTFT p50 / p90 / p99 per policy', 'Time to first token from the scheduled arrival, every request that got a token.')}${bars('e2eMs', 'E2E p50 / p90 / p99 per policy', 'End-to-end latency from the scheduled arrival, ok and degraded requests.')}</div>`,
  );
  body.push(`<h2>Over time</h2><p class="muted">One line per policy, one point per second.${faultNote} The dashed vertical line marks the end of the load; what follows is the drain of requests still open. Hover a chart to read values.</p>`, `<div class="grid">${lines.slice(2).map(chartCard).join('')}</div>`);
  if (perReplica.length > 0 || result.policies.some((p) => p.fleet !== undefined)) body.push(...fleetHtml(result, perReplica.map(chartCard)));
  const m = result.meta;
  body.push(
    `<footer>commit ${htmlEscape(m.gitCommit ?? 'unknown')} · node ${htmlEscape(m.nodeVersion)} · ${htmlEscape(m.machine.platform)}/${htmlEscape(m.machine.arch)}, ${m.machine.cpus} CPUs${m.machine.cpuModel === null ? '' : ` (${htmlEscape(m.machine.cpuModel)})`} · wall ${fmtMs(m.wallMs)} · simulated ${fmtMs(m.simulatedMs)} · started ${htmlEscape(m.startedAt)} · schema v${result.schemaVersion}</footer>`,
  );
  const a = assets();
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${htmlEscape(`${s.name}: ${thresholdVerdict(result)}`)}</title>
<style>${a.css}</style>
<style>${CSS}</style>
</head>
<body>
<main>
${body.join('\n')}
</main>
<script id="report-data" type="application/json">${scriptJson(data)}</script>
<script>${a.js}</script>
<script>${CLIENT_SCRIPT}</script>
</body>
</html>
`;
}

/** The per-replica section of a fleet run: deployments, each policy's replicas, and the per-replica charts. */
function fleetHtml(result: RunResult, charts: readonly string[]): string[] {
  const d = deploymentsTable(result);
  const out = [
    '<h2>Deployments and replicas</h2>',
    `<div class="card">${table(d.headers.map(htmlEscape), d.rows.map((r) => r.map(htmlEscape)), d.align)}<p class="muted">GPU busy is busy time over the time a replica was in service: a continuous-batching GPU with any sequence to run is busy all the time, so spare room shows in the batch (mean of its per-second samples of sequences running) instead; queue is the mean of its samples of sequences waiting for a GPU slot. GPU-hours provisioned include cold starts and idle time.</p></div>`,
  ];
  result.policies.forEach((p, i) => {
    if (p.fleet === undefined) return;
    const t = replicasTable(p.fleet);
    const scale = autoscaleLines(p.fleet);
    out.push(
      `<h2><span class="swatch" style="background:${policyColor(i)}"></span>${htmlEscape(p.name)}: replicas</h2>`,
      `<div class="card"><p class="muted">${htmlEscape(fleetFacts(p.fleet))}</p>${table(t.headers.map(htmlEscape), t.rows.map((r) => r.map(htmlEscape)), t.align)}${
        scale.length === 0 ? '' : `<ul>${scale.map((l) => `<li>${htmlEscape(l)}</li>`).join('')}</ul>`
      }</div>`,
    );
  });
  out.push(
    '<h2>Per replica over time</h2><p class="muted">One line per replica, one point per second; shaded bands are fault phases (each names the replica or deployment it hit).</p>',
    `<div class="grid">${charts.join('')}</div>`,
  );
  return out;
}
