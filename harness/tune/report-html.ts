/**
 * The tuning report as ONE self-contained HTML file (report.html): the verdict, the best configuration and its
 * policy, the ranked table, and inline-SVG charts (Pareto fronts, heatmaps, sensitivity). No script and no
 * network: it opens offline and the same sweep gives the same bytes. Styled like the scenario report.
 */
import { PRESET_NAMES } from '../../src/policy.js';
import { fmtMs } from '../report/format.js';
import { htmlEscape as esc } from '../report/html.js';
import { FIGURES, RANK_ALIGN, RANK_HEADERS, figureCell, rankRow } from './columns.js';
import { bestPolicy, rankingOf, type SweepDocument } from './document.js';
import { MAX_TABLE_ROWS, noiseNote, overridesOf, sweepVerdict } from './report-md.js';
import { configLabel } from './space.js';
import { heatmapSvg, paretoSvg, sensitivitySvg } from './svg.js';
import { heatmaps, paretoPoints, sensitivities } from './views.js';

const CSS = `
:root { --fg: #1d2330; --muted: #5b6475; --line: #e3e6ec; --bg: #f6f7f9; --card: #fff; --bad: #b42318; --good: #067647; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
main { max-width: 1240px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 10px; } h3 { font-size: 14px; margin: 0 0 2px; }
.muted { color: var(--muted); } .desc { margin: 4px 0 10px; }
.facts span { display: inline-block; margin-right: 16px; }
.verdict { display: inline-block; padding: 2px 10px; border-radius: 999px; font-weight: 600; font-size: 13px; }
.verdict.pass { background: #dcfae6; color: var(--good); } .verdict.fail { background: #fee4e2; color: var(--bad); }
.warn { background: #fef0c7; border: 1px solid #fdb022; padding: 8px 12px; border-radius: 6px; margin: 12px 0; }
.note { background: #eef3fd; border: 1px solid #c7d5f7; padding: 8px 12px; border-radius: 6px; margin: 12px 0; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 8px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
th { font-size: 12px; color: var(--muted); font-weight: 600; } td.num, th.num { text-align: right; }
tr.best td { background: #f0fdf4; } table.ranked td { font-size: 13px; } table.ranked td:nth-child(2) { white-space: normal; min-width: 240px; } .range { font-size: 11px; color: var(--muted); } .pass { color: var(--good); font-weight: 600; } .fail { color: var(--bad); font-weight: 600; }
pre { background: #f6f7f9; border: 1px solid var(--line); border-radius: 6px; padding: 10px; overflow-x: auto; font-size: 12px; margin: 8px 0 0; }
details summary { cursor: pointer; color: var(--muted); }
dl.legend { display: grid; grid-template-columns: max-content 1fr; gap: 4px 14px; margin: 0; font-size: 13px; }
dl.legend dt { font-weight: 600; } dl.legend dd { margin: 0; color: var(--muted); }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 16px; }
.chart .sub { font-size: 12px; color: var(--muted); margin: 0 0 6px; } .chart svg { max-width: 100%; height: auto; }
svg .svg-title { font-size: 0; } svg .grid { stroke: #eceef2; } svg .axis { stroke: #9aa1ad; }
svg .tick { font-size: 11px; fill: var(--muted); } svg .axis-label { font-size: 12px; fill: var(--muted); } svg .bar-value { font-size: 11px; fill: var(--fg); }
footer { margin-top: 28px; font-size: 12px; color: var(--muted); }
`;

function table(headers: readonly string[], rows: readonly (readonly string[])[], align: ReadonlyArray<'left' | 'right'>, cls: string, rowCls: (i: number) => string = () => ''): string {
  const cell = (tag: string, v: string, i: number): string => `<${tag}${align[i] === 'right' ? ' class="num"' : ''}>${v}</${tag}>`;
  return `<table class="${cls}"><thead><tr>${headers.map((h, i) => cell('th', esc(h), i)).join('')}</tr></thead><tbody>${rows
    .map((r, k) => `<tr${rowCls(k) === '' ? '' : ` class="${rowCls(k)}"`}>${r.map((c, i) => cell('td', c, i)).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

const card = (id: string, title: string, sub: string, svg: string): string =>
  `<div class="card chart" data-card="${id}"><h3>${esc(title)}</h3><p class="sub">${esc(sub)}</p>${svg}</div>`;

/** Renders report.html. */
export function renderTuneHtml(doc: SweepDocument): string {
  const r = rankingOf(doc);
  const body: string[] = [];
  const ok = r.best !== null;
  body.push(`<h1>Tuning: ${esc(doc.scenario.name)} <span class="verdict ${ok ? 'pass' : 'fail'}">${ok ? 'a configuration meets the SLOs' : 'no configuration meets the SLOs'}</span></h1>`);
  if (doc.scenario.description !== '') body.push(`<p class="desc">${esc(doc.scenario.description)}</p>`);
  const search = doc.search.kind === 'grid' ? 'grid' : `random sample of ${doc.search.samples}`;
  body.push(
    `<p class="facts muted"><span>base <b>${esc(doc.base.name)}</b></span><span>search <b>${esc(search)}</b>, <b>${r.configs.length}</b> configurations</span><span>seeds <b>${esc(doc.seeds.join(', '))}</b></span><span>SLO <b>${esc(doc.sloText)}</b></span><span>arrival window <b>${fmtMs(doc.scenario.durationMs)}</b></span></p>`,
  );
  body.push(`<p class="facts muted">${doc.dimensions.map((d) => `<span>vary <b>${esc(d.path)}</b> = ${esc(d.values.map(String).join(', '))}</span>`).join('')}</p>`);

  body.push('<h2>Best configuration</h2>');
  if (r.best === null) {
    body.push(`<div class="warn"><b>No configuration meets every SLO.</b> ${esc(sweepVerdict(doc))}. The top of the ranking is the closest; the table below shows what each misses.</div>`);
  } else {
    const b = r.best;
    const policy = bestPolicy(doc);
    const scenarioSnippet = (PRESET_NAMES as readonly string[]).includes(doc.base.name)
      ? `<p class="muted">As a scenario policy:</p><pre class="overrides">${esc(JSON.stringify({ name: 'tuned', preset: doc.base.name, overrides: overridesOf(b.assignments) }, null, 2))}</pre>`
      : '';
    body.push(
      `<div class="card best" data-best="${b.id}"><p><b>${esc(configLabel(b.assignments))}</b> <span class="muted">(id ${b.id})</span></p><p>${FIGURES.map((f) => `${esc(f.header)} <b>${esc(figureCell(b, f))}</b>`).join(' · ')}</p>${scenarioSnippet}<details><summary>Full policy (best-policy.json; use with <code>--base best-policy.json</code>)</summary><pre class="policy">${esc(JSON.stringify(policy, null, 2))}</pre></details></div>`,
    );
  }
  const noise = noiseNote(doc);
  if (noise !== null) body.push(`<div class="note" data-noise="${r.ties.length}">${esc(noise)}</div>`);

  body.push('<h2>Ranked configurations</h2>');
  const shown = r.configs.slice(0, MAX_TABLE_ROWS);
  // The [min–max] part of a spread is set smaller, so the median reads first.
  const spread = (cell: string): string => esc(cell).replace(/ (\[[^\]]*\])/g, ' <span class="range">$1</span>');
  const rows = shown.map((c) => rankRow(c).map((cell, i) => (i === 2 ? `<span class="${c.meetsAll ? 'pass' : 'fail'}">${esc(cell)}</span>` : spread(cell))));
  body.push(`<div class="card">${table(RANK_HEADERS, rows, RANK_ALIGN, 'ranked', (i) => (shown[i]?.id === r.best?.id ? 'best' : ''))}`);
  body.push(`<p class="muted">Ranking: ${esc(doc.ranking.rule)}.${doc.seeds.length > 1 ? ' Figures are the median over seeds with [min–max].' : ''}${r.configs.length > shown.length ? ` ${r.configs.length - shown.length} more in sweep.json.` : ''}</p></div>`);

  body.push('<h2>Pareto front: goodput against p99 latency</h2>');
  const pe = paretoPoints(r, 'e2eP99Ms');
  const pt = paretoPoints(r, 'ttftP99Ms');
  const whisk = doc.seeds.length > 1 ? ' Whiskers: min–max across seeds.' : '';
  body.push(
    `<div class="grid">${card('pareto-e2e', 'Goodput vs p99 E2E', `One dot per configuration (#1 = the top of the ranking; hover a dot for its rank). Up and left is better; the dashed line joins the front.${whisk}`, paretoSvg('pareto-e2e', 'Goodput vs p99 E2E', 'E2E p99', pe))}${card(
      'pareto-ttft',
      'Goodput vs p99 TTFT',
      `Same view against time to first token.${whisk}`,
      paretoSvg('pareto-ttft', 'Goodput vs p99 TTFT', 'TTFT p99', pt),
    )}</div>`,
  );

  const sens = sensitivities(r, doc.dimensions);
  if (sens.length > 0) {
    body.push('<h2>Sensitivity per parameter</h2>');
    body.push(
      `<p class="muted">Solid: the parameter moved alone, the others held at the top configuration (${esc(configLabel(r.configs[0]!.assignments))}); filled dots meet the SLOs.${whisk} Dashed: the best configuration with that value, whatever the others.</p>`,
    );
    body.push(`<div class="grid">${sens.map((s, i) => card(`sens-${i}`, `Sensitivity to ${s.path}`, `${s.points.length} values (${s.scale})`, sensitivitySvg(`sens-${i}`, s))).join('')}</div>`);
  }
  const maps = heatmaps(r, doc.dimensions);
  if (maps.length > 0) {
    body.push('<h2>Heatmaps per pair of parameters</h2>');
    const sub = `Median goodput per cell, darker = more; ✓ meets every SLO, ✗ misses one.${maps[0]!.marginal ? ' Each cell is the best configuration with that pair, over the other parameters.' : ''} Hover a cell for its p99 E2E.`;
    body.push(`<div class="grid">${maps.map((h, i) => card(`heat-${i}`, `${h.rowPath} × ${h.colPath}`, sub, heatmapSvg(`heat-${i}`, h))).join('')}</div>`);
  }

  body.push(
    '<h2>What the columns mean</h2>',
    `<div class="card"><dl class="legend">${FIGURES.map((f) => `<dt>${esc(f.header)}</dt><dd>${esc(f.legend)}</dd>`).join('')}<dt>Meets SLO</dt><dd>every SLO (${esc(doc.sloText)}) held in every seed</dd><dt>—</dt><dd>unknown: not measured (never shown as zero)</dd></dl></div>`,
  );
  const m = doc.meta;
  body.push(
    `<footer>${m.ran} runs now, ${m.resumed} resumed · ${m.workers} workers · wall ${fmtMs(m.wallMs)} · commit ${esc(m.gitCommit ?? 'unknown')} · node ${esc(m.nodeVersion)} · ${esc(m.machine.platform)}/${esc(m.machine.arch)}, ${m.machine.cpus} CPUs · started ${esc(m.startedAt)} · schema v${doc.schemaVersion}</footer>`,
  );
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(`tune ${doc.scenario.name}: ${sweepVerdict(doc)}`)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
${body.join('\n')}
</main>
</body>
</html>
`;
}
