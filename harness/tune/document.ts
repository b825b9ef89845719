/**
 * `sweep.json`: the versioned, JSON-able record of a sweep (spec, every configuration with every seed's summary,
 * the ranking and meta). The Markdown and HTML reports are pure functions of it.
 */
import type { Policy } from '../../src/policy.js';
import type { RunMeta } from '../report/schema.js';
import type { Threshold } from '../measure/types.js';
import type { ConfigResult, Ranking } from './rank.js';
import { sloLabel } from './slo.js';
import type { Dimension, SearchSpec } from './space.js';
import type { SweepOutcome } from './sweep.js';

export const SWEEP_SCHEMA_VERSION = 1;

/** Facts about the machine and the sweep's own run. */
export interface SweepMeta {
  readonly startedAt: string;
  readonly wallMs: number;
  readonly workers: number;
  /** Runs executed in this invocation / taken from the resume log. */
  readonly ran: number;
  readonly resumed: number;
  readonly gitCommit: string | null;
  readonly nodeVersion: string;
  readonly machine: RunMeta['machine'];
}

/** The content of sweep.json. */
export interface SweepDocument {
  readonly schemaVersion: typeof SWEEP_SCHEMA_VERSION;
  readonly kind: 'tune-sweep';
  readonly scenario: { readonly name: string; readonly description: string; readonly durationMs: number };
  readonly base: { readonly name: string; readonly policy: Policy };
  readonly dimensions: readonly Dimension[];
  readonly search: SearchSpec;
  readonly seeds: readonly number[];
  readonly slo: readonly Threshold[];
  /** Human-readable SLO list. */
  readonly sloText: string;
  readonly ranking: {
    readonly rule: string;
    /** Best first. */
    readonly configs: readonly ConfigResult[];
    readonly bestId: string | null;
    readonly ties: readonly string[];
  };
  readonly meta: SweepMeta;
}

/** How configurations are ranked, in words (the reports print it). */
export const RANKING_RULE =
  'meets every SLO in every seed first; then higher median goodput; then lower median p99 E2E; then sweep order';

export const RANKING_RULE_PER_DOLLAR =
  'meets every SLO in every seed first; then more good requests per dollar billed (median; unknown cost last); then higher median goodput; then lower median p99 E2E; then sweep order';

/** Builds the document of a finished sweep. */
export function sweepDocument(o: SweepOutcome, meta: Omit<SweepMeta, 'ran' | 'resumed' | 'wallMs'>): SweepDocument {
  const s = o.spec;
  return {
    schemaVersion: SWEEP_SCHEMA_VERSION,
    kind: 'tune-sweep',
    scenario: { name: s.scenario.name, description: s.scenario.description, durationMs: s.durationMs },
    base: s.base,
    dimensions: s.dimensions,
    search: s.search,
    seeds: s.seeds,
    slo: s.slo,
    sloText: sloLabel(s.slo),
    ranking: { rule: s.rankBy === 'goodput-per-dollar' ? RANKING_RULE_PER_DOLLAR : RANKING_RULE, configs: o.ranking.configs, bestId: o.ranking.best?.id ?? null, ties: o.ranking.ties },
    meta: { ...meta, wallMs: o.wallMs, ran: o.ran, resumed: o.resumed },
  };
}

/** The Ranking view of a document. */
export function rankingOf(doc: SweepDocument): Ranking {
  const best = doc.ranking.configs.find((c) => c.id === doc.ranking.bestId) ?? null;
  return { configs: doc.ranking.configs, best, ties: doc.ranking.ties };
}

/** The best configuration's full Policy, ready to use (`--base FILE`, parsePolicy, or a scenario's overrides). */
export function bestPolicy(doc: SweepDocument): Policy | null {
  const best = rankingOf(doc).best;
  return best === null ? null : { ...best.policy, name: `${doc.scenario.name}-tuned-${best.id}` };
}

/** sweep.json text: stable two-space JSON with a trailing newline. */
export function serializeSweep(doc: SweepDocument): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}
