/**
 * Aggregating a sweep: per configuration, the SLO verdict and the headline figures of every seed, their spread
 * (min, median, max), and the ranking.
 *
 * Ranking (documented in the reports): configurations that meet every SLO in every seed first; then higher median
 * goodput; then lower median p99 E2E (unknown last); then sweep order. With several seeds, the configurations
 * whose goodput range overlaps the winner's are listed as ties: their order is within seed noise.
 */
import type { Threshold } from '../measure/types.js';
import type { PolicySummary } from '../measure/result.js';
import type { Policy } from '../../src/policy.js';
import { metricValue } from '../report/thresholds.js';
import { checkSlo, type SloCheck } from './slo.js';
import type { FieldValue, TuneConfig } from './space.js';
import type { TaskRecord } from './task.js';

/** The figures the tuning report shows for every configuration. */
export const FIGURE_KEYS = ['goodputPerSec', 'ttftP99Ms', 'e2eP99Ms', 'amplification', 'wastedTokenFraction', 'recoveryMs', 'per1kGoodUsd', 'goodPerDollar'] as const;
export type FigureKey = (typeof FIGURE_KEYS)[number];
export type Figures = Readonly<Record<FigureKey, number | null>>;

/** min / median / max over the seeds that have a value; `n` of `of` seeds had one. */
export interface Spread {
  readonly min: number | null;
  readonly median: number | null;
  readonly max: number | null;
  readonly n: number;
  readonly of: number;
}

/** One seed's run of one configuration. */
export interface SeedRun {
  readonly seed: number;
  readonly meets: boolean;
  readonly slo: readonly SloCheck[];
  readonly figures: Figures;
  /** Some fault phase never recovered in this run. */
  readonly metastable: boolean;
  readonly sessions: number;
  readonly requests: number;
  readonly simulatedMs: number;
  readonly summary: PolicySummary;
}

/** One configuration across its seeds. */
export interface ConfigResult {
  readonly id: string;
  readonly index: number;
  readonly assignments: Readonly<Record<string, FieldValue>>;
  readonly policy: Policy;
  readonly runs: readonly SeedRun[];
  /** Met every SLO in every seed. */
  readonly meetsAll: boolean;
  readonly meetsCount: number;
  readonly figures: Readonly<Record<FigureKey, Spread>>;
  readonly metastableRuns: number;
  /** 1-based. */
  readonly rank: number;
}

/** The ranked sweep. */
export interface Ranking {
  /** Best first. */
  readonly configs: readonly ConfigResult[];
  /** The top configuration when it meets the SLOs; null when none does. */
  readonly best: ConfigResult | null;
  /** Other SLO-meeting configurations whose goodput range overlaps the best's (only with 2+ seeds). */
  readonly ties: readonly string[];
}

/** The headline figures of one run. */
export function figuresOf(s: Omit<PolicySummary, 'thresholds'>): Figures {
  return {
    goodputPerSec: s.goodputPerSec,
    ttftP99Ms: s.ttftMs.p99,
    e2eP99Ms: s.e2eMs.p99,
    amplification: s.amplification,
    wastedTokenFraction: s.wastedTokenFraction,
    recoveryMs: metricValue(s, 'recoveryMs'),
    per1kGoodUsd: s.cost.per1kGoodUsd,
    // Requests that met every SLO per dollar billed; unknown without a price (or with nothing billed).
    goodPerDollar: s.cost.totalUsd === null || s.cost.totalUsd <= 0 ? null : s.sloMet / s.cost.totalUsd,
  };
}

/** What the ranking orders SLO-meeting configurations by. */
export const RANK_BY = ['goodput', 'goodput-per-dollar'] as const;
export type RankBy = (typeof RANK_BY)[number];

/** The median of a non-empty list (mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The spread of values over seeds; nulls count in `of` but not in `n`. */
export function spreadOf(values: ReadonlyArray<number | null>): Spread {
  const xs = values.filter((v): v is number => v !== null);
  if (xs.length === 0) return { min: null, median: null, max: null, n: 0, of: values.length };
  return { min: Math.min(...xs), median: median(xs), max: Math.max(...xs), n: xs.length, of: values.length };
}

/** A seed's run judged against the SLOs. */
export function seedRun(r: TaskRecord, slo: readonly Threshold[]): SeedRun {
  const checks = checkSlo(r.summary, slo);
  return {
    seed: r.seed,
    meets: checks.every((c) => c.pass),
    slo: checks,
    figures: figuresOf(r.summary),
    metastable: r.summary.recovery.some((p) => p.metastable),
    sessions: r.sessions,
    requests: r.summary.requests,
    simulatedMs: r.simulatedMs,
    summary: r.summary,
  };
}

const negate = (v: number | null | undefined): number | null => (v === null || v === undefined ? null : -v);
const nullLast = (a: number | null, b: number | null): number => (a === null ? (b === null ? 0 : 1) : b === null ? -1 : a - b);

/**
 * Orders configurations: meets-SLO first; then (with `goodput-per-dollar`) more good requests per dollar, unknown
 * last; then goodput desc, p99 E2E asc, sweep order.
 */
export function compareConfigs(a: Omit<ConfigResult, 'rank'>, b: Omit<ConfigResult, 'rank'>, rankBy: RankBy = 'goodput'): number {
  if (a.meetsAll !== b.meetsAll) return a.meetsAll ? -1 : 1;
  if (rankBy === 'goodput-per-dollar') {
    const d = nullLast(negate(a.figures.goodPerDollar.median), negate(b.figures.goodPerDollar.median));
    if (d !== 0) return d;
  }
  const ga = a.figures.goodputPerSec.median;
  const gb = b.figures.goodputPerSec.median;
  if (ga !== gb) return ga === null ? 1 : gb === null ? -1 : gb - ga;
  const e = nullLast(a.figures.e2eP99Ms.median, b.figures.e2eP99Ms.median);
  if (e !== 0) return e;
  return a.index - b.index;
}

/**
 * Aggregates and ranks.
 * @param recordOf the record of a config and seed (every pair must have one).
 */
export function rankSweep(
  configs: readonly TuneConfig[],
  seeds: readonly number[],
  slo: readonly Threshold[],
  recordOf: (config: TuneConfig, seed: number) => TaskRecord,
  rankBy: RankBy = 'goodput',
): Ranking {
  const rows = configs.map((c) => {
    const runs = seeds.map((s) => seedRun(recordOf(c, s), slo));
    const figures = Object.fromEntries(FIGURE_KEYS.map((k) => [k, spreadOf(runs.map((r) => r.figures[k]))])) as Record<FigureKey, Spread>;
    const meetsCount = runs.filter((r) => r.meets).length;
    return {
      id: c.id,
      index: c.index,
      assignments: c.assignments,
      policy: c.policy,
      runs,
      meetsAll: meetsCount === runs.length,
      meetsCount,
      figures,
      metastableRuns: runs.filter((r) => r.metastable).length,
    };
  });
  const ranked = [...rows].sort((x, y) => compareConfigs(x, y, rankBy)).map((r, i) => ({ ...r, rank: i + 1 }));
  const top = ranked[0];
  const best = top !== undefined && top.meetsAll ? top : null;
  const ties =
    best === null || seeds.length < 2
      ? []
      : ranked
          .slice(1)
          .filter((c) => c.meetsAll && (c.figures.goodputPerSec.max ?? -Infinity) >= (best.figures.goodputPerSec.min ?? Infinity))
          .map((c) => c.id);
  return { configs: ranked, best, ties };
}
