/**
 * The tuning report's charts as inline SVG (no script needed, same bytes for the same sweep): the Pareto
 * scatter, the parameter-pair heatmaps and the sensitivity slices. Style follows the scenario report's charts.
 */
import { fmtMs, fmtNum } from '../report/format.js';
import { niceStep, PALETTE } from '../report/html-charts.js';
import { htmlEscape as esc } from '../report/html.js';
import type { Spread } from './rank.js';
import type { FieldValue } from './space.js';
import type { Heatmap, ParetoPoint, Sensitivity } from './views.js';

const GOOD = '#067647';
const BAD = '#b42318';
const BLUE = PALETTE[0]!;
const ORANGE = PALETTE[2]!;

const f1 = (n: number): string => n.toFixed(1);

interface Axis {
  readonly lo: number;
  readonly hi: number;
  readonly step: number;
}

function axisFor(values: readonly number[]): Axis {
  const max = Math.max(0, ...values);
  const step = niceStep(max);
  return { lo: 0, hi: Math.max(step, Math.ceil(max / step) * step), step };
}

function open(id: string, title: string, w: number, h: number): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="${esc(title)}" data-chart="${id}"><text x="0" y="0" class="svg-title">${esc(title)}</text>`;
}

/** Vertical grid lines and ticks of a numeric axis along x, horizontal along y. */
function gridY(ax: Axis, y: (v: number) => number, x0: number, x1: number, fmt: (v: number) => string): string {
  const parts: string[] = [];
  for (let v = ax.lo; v <= ax.hi + ax.step / 2; v += ax.step) {
    const yy = f1(y(v));
    parts.push(`<line x1="${x0}" x2="${x1}" y1="${yy}" y2="${yy}" class="grid"/><text x="${x0 - 6}" y="${yy}" class="tick" text-anchor="end" dominant-baseline="middle">${esc(fmt(v))}</text>`);
  }
  return parts.join('');
}

function gridX(ax: Axis, x: (v: number) => number, y0: number, y1: number, fmt: (v: number) => string): string {
  const parts: string[] = [];
  for (let v = ax.lo; v <= ax.hi + ax.step / 2; v += ax.step) {
    const xx = f1(x(v));
    parts.push(`<line x1="${xx}" x2="${xx}" y1="${y0}" y2="${y1}" class="grid"/><text x="${xx}" y="${y1 + 16}" class="tick" text-anchor="middle">${esc(fmt(v))}</text>`);
  }
  return parts.join('');
}

/**
 * Goodput (y) against a p99 latency (x), one dot per configuration labelled with its rank. Filled green: meets
 * the SLOs; hollow red: does not. The Pareto front is joined by a line. Whiskers show min–max across seeds.
 */
export function paretoSvg(id: string, title: string, xLabel: string, points: readonly ParetoPoint[]): string {
  const W = 560;
  const H = 340;
  const m = { top: 28, right: 20, bottom: 48, left: 64 };
  const xs = points.flatMap((p) => [p.latency.max ?? 0]);
  const ys = points.flatMap((p) => [p.goodput.max ?? 0]);
  const ax = axisFor(xs);
  const ay = axisFor(ys);
  const x = (v: number): number => m.left + ((v - ax.lo) / (ax.hi - ax.lo)) * (W - m.left - m.right);
  const y = (v: number): number => H - m.bottom - ((v - ay.lo) / (ay.hi - ay.lo)) * (H - m.top - m.bottom);
  const parts = [open(id, title, W, H)];
  parts.push(gridY(ay, y, m.left, W - m.right, (v) => fmtNum(v, v < 10 ? 1 : 0)));
  parts.push(gridX(ax, x, m.top, H - m.bottom, fmtMs));
  parts.push(`<text transform="translate(14 ${(m.top + H - m.bottom) / 2}) rotate(-90)" class="axis-label" text-anchor="middle">goodput (req/s within SLO)</text>`);
  parts.push(`<text x="${(m.left + W - m.right) / 2}" y="${H - 6}" class="axis-label" text-anchor="middle">${esc(xLabel)}</text>`);
  const front = points.filter((p) => p.onFront);
  if (front.length > 1) {
    const d = front.map((p, i) => `${i === 0 ? 'M' : 'L'}${f1(x(p.latency.median as number))} ${f1(y(p.goodput.median as number))}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${BLUE}" stroke-width="1.5" stroke-dasharray="5 3" class="front"/>`);
  }
  for (const p of points) {
    const cx = x(p.latency.median as number);
    const cy = y(p.goodput.median as number);
    const color = p.meets ? GOOD : BAD;
    if (p.latency.min !== null && p.latency.max !== null && p.latency.min !== p.latency.max) {
      parts.push(`<line x1="${f1(x(p.latency.min))}" x2="${f1(x(p.latency.max))}" y1="${f1(cy)}" y2="${f1(cy)}" stroke="${color}" stroke-opacity="0.5" class="whisker"/>`);
    }
    if (p.goodput.min !== null && p.goodput.max !== null && p.goodput.min !== p.goodput.max) {
      parts.push(`<line x1="${f1(cx)}" x2="${f1(cx)}" y1="${f1(y(p.goodput.min))}" y2="${f1(y(p.goodput.max))}" stroke="${color}" stroke-opacity="0.5" class="whisker"/>`);
    }
    const fill = p.meets ? color : '#fff';
    const r = p.onFront ? 6 : 4.5;
    parts.push(
      `<circle cx="${f1(cx)}" cy="${f1(cy)}" r="${r}" fill="${fill}" stroke="${color}" stroke-width="1.5" class="point${p.onFront ? ' on-front' : ''}" data-id="${p.id}"><title>${esc(
        `#${p.rank} ${p.id}: goodput ${fmtNum(p.goodput.median, 2)}/s, ${xLabel} ${fmtMs(p.latency.median)}${p.meets ? ', meets the SLOs' : ', misses an SLO'}${p.onFront ? ', on the Pareto front' : ''}`,
      )}</title></circle>`,
    );
    // Only the winner is labelled: the top few usually sit on top of each other. Hover shows every rank.
    if (p.rank === 1) parts.push(`<text x="${f1(cx + 8)}" y="${f1(cy - 6)}" class="bar-value">#1</text>`);
  }
  parts.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${H - m.bottom}" y2="${H - m.bottom}" class="axis"/>`);
  parts.push(
    `<circle cx="${W - 250}" cy="14" r="5" fill="${GOOD}"/><text x="${W - 240}" y="18" class="tick">meets SLOs</text><circle cx="${W - 160}" cy="14" r="5" fill="#fff" stroke="${BAD}" stroke-width="1.5"/><text x="${W - 150}" y="18" class="tick">misses</text><line x1="${W - 95}" x2="${W - 75}" y1="14" y2="14" stroke="${BLUE}" stroke-dasharray="5 3"/><text x="${W - 70}" y="18" class="tick">front</text>`,
  );
  parts.push('</svg>');
  return parts.join('');
}

function mix(a: string, b: string, t: number): string {
  const p = (s: string, i: number): number => parseInt(s.slice(1 + 2 * i, 3 + 2 * i), 16);
  const c = [0, 1, 2].map((i) => Math.round(p(a, i) + (p(b, i) - p(a, i)) * t));
  return `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

const label = (v: FieldValue): string => String(v);

/**
 * A heatmap of median goodput over a pair of parameters. Each cell is the best-ranked configuration with that
 * pair (over the other parameters, when there are more). ✓ meets the SLOs, ✗ does not; grey: not run.
 */
export function heatmapSvg(id: string, h: Heatmap): string {
  const cw = Math.max(56, Math.min(96, 460 / Math.max(1, h.cols.length)));
  const ch = 34;
  const m = { top: 40, right: 16, bottom: 12, left: 110 };
  const W = m.left + cw * h.cols.length + m.right;
  const H = m.top + ch * h.rows.length + m.bottom;
  const goodputs = h.cells.flatMap((r) => r.map((c) => c.config?.figures.goodputPerSec.median ?? null)).filter((v): v is number => v !== null);
  // The colour scale spans the cells' own range, so differences show even when all goodputs are high.
  const lo = goodputs.length === 0 ? 0 : Math.min(...goodputs);
  const hi = goodputs.length === 0 ? 0 : Math.max(...goodputs);
  const title = `Median goodput by ${h.rowPath} × ${h.colPath}`;
  const parts = [open(id, title, W, H)];
  parts.push(`<text x="${m.left}" y="20" class="axis-label">${esc(h.colPath)} →</text>`);
  h.cols.forEach((c, j) => parts.push(`<text x="${f1(m.left + j * cw + cw / 2)}" y="${m.top - 6}" class="tick" text-anchor="middle">${esc(label(c))}</text>`));
  h.rows.forEach((r, i) => parts.push(`<text x="${m.left - 8}" y="${f1(m.top + i * ch + ch / 2)}" class="tick" text-anchor="end" dominant-baseline="middle">${esc(label(r))}</text>`));
  parts.push(`<text transform="translate(14 ${m.top + (ch * h.rows.length) / 2}) rotate(-90)" class="axis-label" text-anchor="middle">${esc(h.rowPath)}</text>`);
  h.cells.forEach((row, i) =>
    row.forEach((cell, j) => {
      const x0 = m.left + j * cw;
      const y0 = m.top + i * ch;
      const g = cell.config?.figures.goodputPerSec.median ?? null;
      const t = g === null || hi === lo ? 0 : (g - lo) / (hi - lo);
      const fill = cell.config === null ? '#eef0f4' : mix('#e8eefc', '#2a4fae', t);
      const meets = cell.config?.meetsAll === true;
      const text = cell.config === null ? '—' : `${meets ? '✓' : '✗'} ${fmtNum(g, 2)}`;
      const tip = cell.config === null ? 'not run' : `#${cell.config.rank} ${cell.config.id}: goodput ${fmtNum(g, 2)}/s, E2E p99 ${fmtMs(cell.config.figures.e2eP99Ms.median)}${meets ? ', meets the SLOs' : ', misses an SLO'}`;
      parts.push(
        `<rect x="${f1(x0 + 1)}" y="${f1(y0 + 1)}" width="${f1(cw - 2)}" height="${ch - 2}" fill="${fill}" stroke="${cell.config === null ? 'none' : meets ? GOOD : BAD}" stroke-width="${meets ? 1.5 : 1}" class="cell${meets ? ' meets' : ''}"><title>${esc(`${h.rowPath}=${label(cell.row)}, ${h.colPath}=${label(cell.col)}: ${tip}`)}</title></rect>`,
      );
      parts.push(`<text x="${f1(x0 + cw / 2)}" y="${f1(y0 + ch / 2)}" class="bar-value" text-anchor="middle" dominant-baseline="middle" style="fill:${t > 0.5 ? '#fff' : '#1d2330'}">${esc(text)}</text>`);
    }),
  );
  parts.push('</svg>');
  return parts.join('');
}

interface Panel {
  readonly title: string;
  readonly fmt: (v: number) => string;
  readonly pick: (s: Sensitivity['points'][number]['slice']) => Spread | null;
}

/**
 * How goodput (left) and p99 E2E (right) move with one parameter, the others held at the top configuration's
 * values (solid, whiskers = min–max across seeds), and the best with each value over any other values (dashed).
 */
export function sensitivitySvg(id: string, s: Sensitivity): string {
  const W = 560;
  const H = 260;
  const pw = (W - 20) / 2;
  const panels: Panel[] = [
    { title: 'goodput (req/s)', fmt: (v) => fmtNum(v, v < 10 ? 1 : 0), pick: (c) => c?.figures.goodputPerSec ?? null },
    { title: 'E2E p99', fmt: fmtMs, pick: (c) => c?.figures.e2eP99Ms ?? null },
  ];
  const parts = [open(id, `Sensitivity to ${s.path}`, W, H)];
  panels.forEach((p, k) => {
    const m = { top: 30, bottom: 44, left: k * (pw + 20) + 58, right: k * (pw + 20) + pw - 6 };
    const vals = s.points.flatMap((pt) => [p.pick(pt.slice)?.max ?? 0, p.pick(pt.best)?.max ?? 0]);
    const ay = axisFor(vals);
    const n = s.points.length;
    const x = (i: number): number => m.left + ((i + 0.5) / n) * (m.right - m.left);
    const y = (v: number): number => H - m.bottom - (v / ay.hi) * (H - m.top - m.bottom);
    parts.push(`<text x="${m.left}" y="18" class="axis-label">${esc(p.title)}</text>`);
    parts.push(gridY(ay, y, m.left, m.right, p.fmt));
    s.points.forEach((pt, i) => parts.push(`<text x="${f1(x(i))}" y="${H - m.bottom + 16}" class="tick" text-anchor="middle">${esc(label(pt.value))}</text>`));
    parts.push(`<text x="${(m.left + m.right) / 2}" y="${H - 8}" class="axis-label" text-anchor="middle">${esc(s.path)}</text>`);
    const line = (which: 'slice' | 'best', color: string, dash: boolean): void => {
      let d = '';
      s.points.forEach((pt, i) => {
        const v = p.pick(pt[which])?.median ?? null;
        if (v === null) return;
        d += `${d === '' ? 'M' : 'L'}${f1(x(i))} ${f1(y(v))} `;
      });
      if (d !== '') parts.push(`<path d="${d.trim()}" fill="none" stroke="${color}" stroke-width="${dash ? 1.5 : 2}"${dash ? ' stroke-dasharray="5 3"' : ''} class="line-${which}"/>`);
    };
    line('best', ORANGE, true);
    line('slice', BLUE, false);
    s.points.forEach((pt, i) => {
      const sp = p.pick(pt.slice);
      if (sp === null || sp.median === null) return;
      const meets = pt.slice?.meetsAll === true;
      if (sp.min !== null && sp.max !== null && sp.min !== sp.max) {
        parts.push(`<line x1="${f1(x(i))}" x2="${f1(x(i))}" y1="${f1(y(sp.min))}" y2="${f1(y(sp.max))}" stroke="${BLUE}" stroke-width="1.5" class="whisker"/>`);
      }
      parts.push(
        `<circle cx="${f1(x(i))}" cy="${f1(y(sp.median))}" r="4" fill="${meets ? BLUE : '#fff'}" stroke="${BLUE}" stroke-width="1.5" class="point"><title>${esc(`${s.path}=${label(pt.value)}: ${p.title} ${p.fmt(sp.median)}${sp.min !== sp.max ? ` [${p.fmt(sp.min ?? 0)}–${p.fmt(sp.max ?? 0)}]` : ''}${meets ? ', meets the SLOs' : ', misses an SLO'}`)}</title></circle>`,
      );
    });
    parts.push(`<line x1="${m.left}" x2="${m.right}" y1="${H - m.bottom}" y2="${H - m.bottom}" class="axis"/>`);
  });
  parts.push('</svg>');
  return parts.join('');
}
