/**
 * The tuning report in Markdown (report.md): verdict, the best configuration, the ranked table, SLO detail, the
 * Pareto front, sensitivity and heatmaps as tables. A pure function of the sweep document.
 */
import { PRESET_NAMES } from '../../src/policy.js';
import { fmtMs, fmtNum } from '../report/format.js';
import { mdEscape, mdTable } from '../report/markdown.js';
import { FIGURES, RANK_ALIGN, RANK_HEADERS, figureCell, rankRow, spreadCell } from './columns.js';
import { rankingOf, type SweepDocument } from './document.js';
import type { ConfigResult } from './rank.js';
import { configLabel, type FieldValue } from './space.js';
import { heatmaps, paretoPoints, sensitivities } from './views.js';

/** Rows of the ranked table shown in full; the rest are in sweep.json. */
export const MAX_TABLE_ROWS = 100;

/** The best configuration's changes as scenario-file overrides: `{ concurrency: { limit: 64 } }`. */
export function overridesOf(assignments: Readonly<Record<string, FieldValue>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [path, v] of Object.entries(assignments)) {
    const keys = path.split('.');
    let cur = out;
    keys.slice(0, -1).forEach((k) => {
      cur[k] = (cur[k] as Record<string, unknown> | undefined) ?? {};
      cur = cur[k] as Record<string, unknown>;
    });
    cur[keys[keys.length - 1]!] = v;
  }
  return out;
}

/** The one-line verdict. */
export function sweepVerdict(doc: SweepDocument): string {
  const r = rankingOf(doc);
  const meeting = r.configs.filter((c) => c.meetsAll).length;
  if (r.best === null) return `no configuration meets the SLOs (0 of ${r.configs.length})`;
  return `${meeting} of ${r.configs.length} configurations meet the SLOs; best: ${configLabel(r.best.assignments)}`;
}

/** What the spread across seeds says about the winner. */
export function noiseNote(doc: SweepDocument): string | null {
  const r = rankingOf(doc);
  if (r.best === null) return null;
  if (doc.seeds.length < 2) return 'One seed per configuration: no spread was measured. Run with --seeds 3 or more to tell a real winner from noise.';
  if (r.ties.length === 0) return `Across ${doc.seeds.length} seeds, no other configuration that meets the SLOs reaches the winner's lowest goodput: the win is larger than the seed-to-seed noise.`;
  const ranks = r.ties.map((id) => `#${r.configs.find((c) => c.id === id)?.rank ?? '?'}`);
  return `Within noise: the goodput range across ${doc.seeds.length} seeds of ${ranks.join(', ')} overlaps the winner's (${spreadCell(r.best.figures.goodputPerSec, (v) => fmtNum(v, 2))}); the order among them may be seed luck. Prefer the simplest of them, or add seeds.`;
}

function sloDetail(doc: SweepDocument, configs: readonly ConfigResult[]): string {
  const labels = doc.slo.map((_, i) => configs[0]?.runs[0]?.slo[i]?.label ?? `slo ${i + 1}`);
  const rows = configs.map((c) => [
    String(c.rank),
    mdEscape(configLabel(c.assignments)),
    ...labels.map((_, i) => {
      const actual = c.runs.map((r) => r.slo[i]?.actual ?? null);
      const pass = c.runs.filter((r) => r.slo[i]?.pass === true).length;
      const metric = doc.slo[i]!.metric;
      const fmt = (v: number | null): string => (metric.endsWith('Ms') ? fmtMs(v) : fmtNum(v, 3));
      const nums = actual.filter((v): v is number => v !== null).sort((a, b) => a - b);
      const med = nums.length === 0 ? null : nums.length % 2 === 1 ? nums[nums.length >> 1]! : (nums[nums.length / 2 - 1]! + nums[nums.length / 2]!) / 2;
      return `${pass === c.runs.length ? '✅' : '❌'} ${fmt(med)}${c.runs.length > 1 ? ` (${pass}/${c.runs.length})` : ''}`;
    }),
  ]);
  return mdTable(['#', 'Configuration', ...labels.map((l) => `\`${l}\``)], rows, ['right', 'left', ...labels.map(() => 'right' as const)]);
}

/** Renders report.md. */
export function renderTuneMarkdown(doc: SweepDocument): string {
  const r = rankingOf(doc);
  const out: string[] = [];
  out.push(`## ${r.best === null ? '❌' : '✅'} Tuning \`${doc.scenario.name}\`: ${mdEscape(sweepVerdict(doc))}`, '');
  if (doc.scenario.description !== '') out.push(mdEscape(doc.scenario.description), '');
  const dims = doc.dimensions.map((d) => `\`${d.path}\` (${d.values.map(String).join(', ')})`).join('; ');
  const search = doc.search.kind === 'grid' ? 'grid' : `random sample of ${doc.search.samples}`;
  out.push(
    `**Base** \`${mdEscape(doc.base.name)}\` · **varied** ${dims} · **search** ${search}, ${r.configs.length} configurations · **seeds** ${doc.seeds.join(', ')} · **SLO** \`${doc.sloText}\` · **arrival window** ${fmtMs(doc.scenario.durationMs)}`,
    '',
  );

  out.push('### Best configuration', '');
  if (r.best === null) {
    out.push('**No configuration meets every SLO.** The closest (top of the ranking) is shown first below; the SLO detail says which bound each one misses.', '');
  } else {
    const b = r.best;
    out.push(`\`${mdEscape(configLabel(b.assignments))}\` (id \`${b.id}\`): ${FIGURES.map((f) => `${f.header} **${figureCell(b, f)}**`).join(' · ')}`, '');
    out.push('Full policy: `best-policy.json` (use it with `--base best-policy.json`, or load it with `parsePolicy`).');
    if ((PRESET_NAMES as readonly string[]).includes(doc.base.name)) {
      out.push('As a scenario policy:', '', '```json', JSON.stringify({ name: 'tuned', preset: doc.base.name, overrides: overridesOf(b.assignments) }, null, 2), '```');
    }
    out.push('');
  }
  const noise = noiseNote(doc);
  if (noise !== null) out.push(`> ${mdEscape(noise)}`, '');

  out.push('### Ranked configurations', '');
  const shown = r.configs.slice(0, MAX_TABLE_ROWS);
  out.push(mdTable([...RANK_HEADERS], shown.map((c) => rankRow(c).map(mdEscape)), RANK_ALIGN), '');
  if (r.configs.length > shown.length) out.push(`${r.configs.length - shown.length} more in sweep.json.`, '');
  out.push(`Ranking: ${RANKING_TEXT(doc)}.${doc.seeds.length > 1 ? ' Figures are the median over seeds with [min–max].' : ''}`, '');

  if (doc.slo.length > 0) out.push('### SLO detail (top 10)', '', sloDetail(doc, r.configs.slice(0, 10)), '');

  const front = paretoPoints(r, 'e2eP99Ms').filter((p) => p.onFront);
  out.push('### Pareto front: goodput against p99 E2E', '');
  out.push(
    mdTable(
      ['#', 'Configuration', 'Goodput/s', 'E2E p99', 'Meets SLO'],
      front.map((p) => {
        const c = r.configs.find((x) => x.id === p.id)!;
        return [String(p.rank), mdEscape(configLabel(c.assignments)), spreadCell(p.goodput, (v) => fmtNum(v, 2)), spreadCell(p.latency, fmtMs), c.meetsAll ? 'yes' : 'no'];
      }),
      ['right', 'left', 'right', 'right', 'left'],
    ),
    '',
    'No other configuration has both more goodput and a lower p99 E2E than one on the front.',
    '',
  );

  const sens = sensitivities(r, doc.dimensions);
  if (sens.length > 0) {
    const anchor = r.configs[0]!;
    out.push('### Sensitivity', '', `Each parameter moved alone, the others held at the top configuration (\`${mdEscape(configLabel(anchor.assignments))}\`).`, '');
    for (const s of sens) {
      out.push(`**${mdEscape(s.path)}**`, '');
      out.push(
        mdTable(
          ['Value', 'Goodput/s', 'TTFT p99', 'E2E p99', 'Meets SLO'],
          s.points.map((p) =>
            p.slice === null
              ? [mdEscape(String(p.value)), '—', '—', '—', 'not run']
              : [
                  mdEscape(String(p.value)),
                  spreadCell(p.slice.figures.goodputPerSec, (v) => fmtNum(v, 2)),
                  spreadCell(p.slice.figures.ttftP99Ms, fmtMs),
                  spreadCell(p.slice.figures.e2eP99Ms, fmtMs),
                  p.slice.meetsAll ? 'yes' : 'no',
                ],
          ),
          ['right', 'right', 'right', 'right', 'left'],
        ),
        '',
      );
    }
  }

  const maps = heatmaps(r, doc.dimensions);
  if (maps.length > 0) {
    out.push('### Heatmaps: median goodput per pair of parameters', '', `✅ meets every SLO, ❌ misses one.${maps[0]!.marginal ? ' Each cell is the best configuration with that pair, over the other parameters.' : ''}`, '');
    for (const h of maps) {
      out.push(`**${mdEscape(h.rowPath)} (rows) × ${mdEscape(h.colPath)} (columns)**`, '');
      out.push(
        mdTable(
          [mdEscape(`${h.rowPath} \\ ${h.colPath}`), ...h.cols.map((c) => mdEscape(String(c)))],
          h.cells.map((row, i) => [mdEscape(String(h.rows[i])), ...row.map((c) => (c.config === null ? '—' : `${c.config.meetsAll ? '✅' : '❌'} ${fmtNum(c.config.figures.goodputPerSec.median, 2)}`))]),
          ['left', ...h.cols.map(() => 'right' as const)],
        ),
        '',
      );
    }
  }

  out.push('<details><summary>Column legend</summary>', '');
  for (const f of FIGURES) out.push(`- **${f.header}**: ${mdEscape(f.legend)}`);
  out.push('- **Meets SLO**: every SLO held in every seed (count of seeds that held with several).', '- — means unknown (not measured), never zero.', '', '</details>', '');
  const m = doc.meta;
  out.push(
    `<sub>${m.ran} runs now, ${m.resumed} resumed · ${m.workers} workers · wall ${fmtMs(m.wallMs)} · commit ${m.gitCommit === null ? 'unknown' : m.gitCommit.slice(0, 12)} · node ${mdEscape(m.nodeVersion)} · ${m.machine.cpus} CPUs · started ${m.startedAt}</sub>`,
  );
  return `${out.join('\n')}\n`;
}

const RANKING_TEXT = (doc: SweepDocument): string => doc.ranking.rule;
