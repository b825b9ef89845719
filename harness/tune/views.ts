/**
 * The derived views of a ranked sweep that the reports draw: the Pareto front of goodput against p99 latency,
 * a heatmap per pair of varied parameters, and a sensitivity slice per parameter. Pure data.
 */
import type { ConfigResult, Ranking, Spread } from './rank.js';
import type { Dimension, FieldValue } from './space.js';

/** Which p99 latency a Pareto view uses. */
export type LatencyKey = 'e2eP99Ms' | 'ttftP99Ms';

/** A point of a Pareto view: a configuration's median goodput and median p99 latency, with their spreads. */
export interface ParetoPoint {
  readonly id: string;
  readonly rank: number;
  readonly meets: boolean;
  readonly latency: Spread;
  readonly goodput: Spread;
  readonly onFront: boolean;
}

/**
 * Configurations not dominated on (higher median goodput, lower median p99 latency). Points with an unknown
 * median are left out. Sorted by latency.
 */
export function paretoPoints(ranking: Ranking, key: LatencyKey): ParetoPoint[] {
  const pts = ranking.configs
    .filter((c) => c.figures[key].median !== null && c.figures.goodputPerSec.median !== null)
    .map((c) => ({ c, x: c.figures[key].median as number, y: c.figures.goodputPerSec.median as number }));
  return pts
    .map(({ c, x, y }) => ({
      id: c.id,
      rank: c.rank,
      meets: c.meetsAll,
      latency: c.figures[key],
      goodput: c.figures.goodputPerSec,
      onFront: !pts.some((o) => o.c !== c && o.x <= x && o.y >= y && (o.x < x || o.y > y)),
    }))
    .sort((a, b) => (a.latency.median as number) - (b.latency.median as number) || a.rank - b.rank);
}

/** One cell of a heatmap: the best-ranked configuration with this pair of values (over the other parameters). */
export interface HeatCell {
  readonly row: FieldValue;
  readonly col: FieldValue;
  readonly config: ConfigResult | null;
}

/** A heatmap of a pair of parameters: rows are `rowPath` values, columns `colPath` values. */
export interface Heatmap {
  readonly rowPath: string;
  readonly colPath: string;
  readonly rows: readonly FieldValue[];
  readonly cols: readonly FieldValue[];
  /** cells[r][c]. */
  readonly cells: ReadonlyArray<ReadonlyArray<HeatCell>>;
  /** Whether other parameters were varied too (cells then show the best over them). */
  readonly marginal: boolean;
}

const same = (a: FieldValue | undefined, b: FieldValue): boolean => a === b;

function bestWith(ranking: Ranking, fixed: ReadonlyArray<readonly [string, FieldValue]>): ConfigResult | null {
  return ranking.configs.find((c) => fixed.every(([p, v]) => same(c.assignments[p], v))) ?? null;
}

/** One heatmap per pair of varied parameters, in --vary order. */
export function heatmaps(ranking: Ranking, dims: readonly Dimension[]): Heatmap[] {
  const out: Heatmap[] = [];
  for (let i = 0; i < dims.length; i++) {
    for (let j = i + 1; j < dims.length; j++) {
      const a = dims[i]!;
      const b = dims[j]!;
      out.push({
        rowPath: a.path,
        colPath: b.path,
        rows: a.values,
        cols: b.values,
        cells: a.values.map((rv) => b.values.map((cv) => ({ row: rv, col: cv, config: bestWith(ranking, [[a.path, rv], [b.path, cv]]) }))),
        marginal: dims.length > 2,
      });
    }
  }
  return out;
}

/** One value of a sensitivity slice. */
export interface SensitivityPoint {
  readonly value: FieldValue;
  /** The anchor with this parameter changed to `value` (null when the sweep did not run that combination). */
  readonly slice: ConfigResult | null;
  /** The best-ranked configuration with this value, whatever the other parameters. */
  readonly best: ConfigResult | null;
}

/** How goodput and p99 latency move with one parameter, the others held at the anchor's values. */
export interface Sensitivity {
  readonly path: string;
  readonly scale: Dimension['scale'];
  /** The configuration the slice goes through: the best, or the top-ranked when none meets the SLOs. */
  readonly anchorId: string;
  readonly points: readonly SensitivityPoint[];
}

/** One sensitivity slice per varied parameter, through the top-ranked configuration. */
export function sensitivities(ranking: Ranking, dims: readonly Dimension[]): Sensitivity[] {
  const anchor = ranking.configs[0];
  if (anchor === undefined) return [];
  return dims.map((d) => ({
    path: d.path,
    scale: d.scale,
    anchorId: anchor.id,
    points: d.values.map((v) => ({
      value: v,
      slice: bestWith(ranking, [...dims.filter((o) => o.path !== d.path).map((o) => [o.path, anchor.assignments[o.path] as FieldValue] as const), [d.path, v]]),
      best: bestWith(ranking, [[d.path, v]]),
    })),
  }));
}
