/** The headroom report: the headline `X sessions / Y req/s at SLO`, and every probe (capacity.md). Pure functions. */
import { fmtMs, fmtNum, fmtUsd } from '../report/format.js';
import { mdEscape, mdTable } from '../report/markdown.js';
import type { CapacityResult } from './capacity.js';
import { FIGURES, spreadCell } from './columns.js';
import { spreadOf, type FigureKey } from './rank.js';

/** The capacity document written as capacity.json. */
export interface CapacityDocument {
  readonly schemaVersion: 1;
  readonly kind: 'tune-capacity';
  readonly scenario: { readonly name: string; readonly description: string; readonly durationMs: number };
  readonly seeds: readonly number[];
  readonly sloText: string;
  readonly result: CapacityResult;
  readonly meta: { readonly startedAt: string; readonly workers: number; readonly gitCommit: string | null; readonly nodeVersion: string };
}

/** Goodput, TTFT p99, E2E p99, and the cost per 1,000 good requests at each probed load. */
const CAPACITY_FIGURES: ReadonlyArray<{ key: FigureKey; header: string; fmt: (v: number | null) => string }> = [
  ...FIGURES.slice(0, 3),
  { key: 'per1kGoodUsd', header: '$/1k good', fmt: fmtUsd },
];

const fmtMult = (m: number): string => `${Number(m.toPrecision(3))}×`;

/** `2,150 sessions / 71.3 req/s at SLO (2.15× the scenario's load)`, or why there is no such figure. */
export function capacityHeadline(r: CapacityResult): string {
  if (r.multiplier === null) {
    return `no load meets the SLOs: even ${fmtMult(r.probes[0]?.multiplier ?? 0)} the scenario's load (${r.scaled}) misses one`;
  }
  const figure = `${Math.round(r.sessions ?? 0).toLocaleString('en-US')} sessions / ${fmtNum(r.requestsPerSec, 1)} req/s at SLO`;
  const bound = r.limitedBy === 'max' ? `; still meets them at the largest multiplier tried, so the real headroom is higher` : r.failedAt !== null ? `; misses at ${fmtMult(r.failedAt)}` : '';
  // What that load costs, from the passing probe at the headroom (median over seeds); omitted without a price.
  const at = r.probes.find((p) => p.multiplier === r.multiplier);
  const per1k = at?.figures.per1kGoodUsd.median ?? null;
  const cost = per1k === null ? '' : `, ${fmtUsd(per1k)} per 1,000 good requests`;
  return `${figure} (${fmtMult(r.multiplier)} the scenario's load, ${r.scaled}${bound})${cost}`;
}

/** Renders capacity.md. */
export function renderCapacityMarkdown(doc: CapacityDocument): string {
  const r = doc.result;
  const out: string[] = [];
  out.push(`## ${r.multiplier === null ? '❌' : '✅'} Headroom of \`${mdEscape(r.policyName)}\` on \`${doc.scenario.name}\``, '');
  out.push(`**${mdEscape(capacityHeadline(r))}**`, '');
  out.push(
    `**SLO** \`${doc.sloText}\` · **scaled** ${r.scaled} · **seeds** ${doc.seeds.join(', ')} · **tolerance** ${(r.tolerance * 100).toFixed(0)}% · **arrival window** ${fmtMs(doc.scenario.durationMs)}`,
    '',
  );
  out.push(
    'Bracketing search: the load multiplier is doubled (or halved) until the SLO verdict flips, then the bracket is narrowed geometrically to the tolerance. A multiplier passes when every SLO holds in every seed. Req/s = client requests over the arrival window.',
    '',
  );
  const labels = r.probes[0]?.runs[0]?.slo.map((c) => c.label) ?? [];
  const sloCell = (p: CapacityResult['probes'][number], k: number): string => {
    const vals = p.runs.map((run) => run.slo[k]?.actual ?? null);
    const fmt = (v: number | null): string => (/Ms[. ]/.test(labels[k] ?? '') ? fmtMs(v) : fmtNum(v, 3));
    const ok = p.runs.every((run) => run.slo[k]?.pass === true);
    return `${ok ? '✅' : '❌'} ${spreadCell(spreadOf(vals), fmt)}`;
  };
  out.push(
    mdTable(
      ['Multiplier', 'Meets SLO', 'Sessions', 'Req/s', ...labels.map((l) => `\`${l}\``), ...CAPACITY_FIGURES.map((f) => f.header)],
      r.probes.map((p) => [
        fmtMult(p.multiplier),
        p.runs.length > 1 ? `${p.pass ? 'yes' : 'no'} (${p.meetsCount}/${p.runs.length})` : p.pass ? 'yes' : 'no',
        String(Math.round(p.sessions)),
        fmtNum(p.requestsPerSec, 1),
        ...labels.map((_, k) => sloCell(p, k)),
        ...CAPACITY_FIGURES.map((f) => spreadCell(p.figures[f.key], f.fmt)),
      ]),
      ['right', 'left', 'right', 'right', ...labels.map(() => 'right' as const), ...CAPACITY_FIGURES.map(() => 'right' as const)],
    ),
    '',
  );
  out.push(`<sub>${r.ran} runs now, ${r.resumed} resumed · ${doc.meta.workers} workers · wall ${fmtMs(r.wallMs)} · started ${doc.meta.startedAt}</sub>`);
  return `${out.join('\n')}\n`;
}
