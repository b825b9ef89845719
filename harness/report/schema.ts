/**
 * RunResult: the versioned JSON a run produces, validated with zod on load. Renderers are pure functions of it.
 * Everything outside `meta` is a function of the seed, the scenario and the code, so two identical runs
 * serialize byte for byte the same (see `serializeRunResult`).
 */
import { z } from 'zod';
import { describe, HarnessError } from '../../src/errors.js';
import { UNKNOWN_COST, UNKNOWN_TOKENS } from '../measure/billing.js';
import { LatencyHistogram } from '../measure/histogram.js';
import { RECOVERY_METRICS, RECOVERY_STATUSES } from '../measure/recovery.js';
import type { PolicyResult } from '../measure/result.js';
import { BREAKER_STATES, LATENCY_METRICS, LATENCY_STATS, SCALAR_METRICS, THRESHOLD_OPS, type JsonValue } from '../measure/types.js';

/** The schema version this code writes and reads. */
export const SCHEMA_VERSION = 1;

export const RUN_MODES = ['virtual', 'live'] as const;
export type RunMode = (typeof RUN_MODES)[number];

const count = z.number().int().nonnegative();
const num = z.number();
const nullableNum = z.number().nullable();

/** JSON with object keys sorted, so configs serialize the same whatever order they were built in. */
const canonicalJson = z.json().transform((v) => sortKeys(v as JsonValue));

function sortKeys(v: JsonValue): JsonValue {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') {
    const out: { [k: string]: JsonValue } = {};
    for (const k of Object.keys(v).sort()) out[k] = sortKeys(v[k]!);
    return out;
  }
  return v;
}

const sortedRecord = z.record(z.string(), count).transform((r) => Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));

const latencyStats = z.object({ count, p50: nullableNum, p90: nullableNum, p99: nullableNum, max: nullableNum, mean: nullableNum });

const sloBounds = z.object({ ttftMs: num.positive().optional(), e2eMs: num.positive().optional(), tpotMs: num.positive().optional() });
const sloSpec = sloBounds.extend({
  classes: z.record(z.string(), sloBounds).transform((r) => Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))).optional(),
});

const faultPhase = z.object({ name: z.string(), atMs: num.nonnegative(), durationMs: num.nonnegative(), description: z.string().optional() });

const thresholdMetric = z.enum([...LATENCY_METRICS, ...SCALAR_METRICS]);
const threshold = z.object({
  metric: thresholdMetric,
  stat: z.enum(LATENCY_STATS).optional(),
  op: z.enum(THRESHOLD_OPS),
  value: num,
  policy: z.string().optional(),
});
const thresholdResult = z.object({
  policy: z.string(),
  label: z.string(),
  metric: thresholdMetric,
  stat: z.enum(LATENCY_STATS).nullable(),
  op: z.enum(THRESHOLD_OPS),
  value: num,
  actual: nullableNum,
  pass: z.boolean(),
});

const phaseRecovery = z.object({
  phase: z.string(),
  phaseEndMs: num,
  metric: z.enum(RECOVERY_METRICS),
  tolerancePct: num,
  consecutiveBuckets: count,
  baseline: nullableNum,
  target: nullableNum,
  recoveryMs: nullableNum,
  metastable: z.boolean(),
  status: z.enum(RECOVERY_STATUSES),
  relapsedAtMs: num.optional(),
});

const nullableCount = count.nullable();
/** Results written before billing existed read as unknown: dashes, never zeros. */
const billedTokens = z
  .object({ billedInput: nullableCount, billedCachedInput: nullableCount, billedOutput: nullableCount, delivered: count })
  .default(UNKNOWN_TOKENS());
const policyCost = z
  .object({
    totalUsd: nullableNum,
    per1kGoodUsd: nullableNum,
    wastedUsd: nullableNum,
    gpuHours: nullableNum,
    idleGpuHours: nullableNum,
    idleUsd: nullableNum,
    byKind: z.object({ first: nullableNum, retry: nullableNum, resume: nullableNum, fallback: nullableNum }),
  })
  .default(UNKNOWN_COST);

const summary = z.object({
  requests: count,
  ok: count,
  degraded: count,
  shed: count,
  failed: count,
  timeout: count,
  cancelled: count,
  okFraction: nullableNum,
  sloMet: count,
  goodputPerSec: num,
  servedWithinSlo: count.optional(),
  servedWithinSloPerSec: num.optional(),
  reasons: sortedRecord.optional(),
  amplification: nullableNum,
  wastedTokenFraction: nullableNum,
  ttftMs: latencyStats,
  e2eMs: latencyStats,
  e2eAllMs: latencyStats,
  itlMs: latencyStats,
  tpotMs: latencyStats,
  queueMs: latencyStats,
  backoffMs: latencyStats,
  peakQueue: nullableNum,
  gpuUtilization: nullableNum,
  meanBatchSize: nullableNum,
  prefixCacheHitRate: nullableNum.optional(),
  responseCache: z.object({ hits: count, misses: count, stale: count, hitRate: num }).optional(),
  recovery: z.array(phaseRecovery),
  tokens: billedTokens,
  cost: policyCost,
  thresholds: z.array(thresholdResult),
});

const counters = z.object({
  arrivals: count,
  requests: count,
  unfinished: count,
  attempts: count,
  upstreamCalls: count,
  rateLimited: count,
  tokensDelivered: count,
  tokensComputed: count.nullable(),
  wastedTokens: count.nullable(),
  degradedReasons: sortedRecord,
});

const encodedHistogram = z.string().min(1);
const histograms = z.object({
  unit: z.literal('us'),
  ttftMs: encodedHistogram,
  e2eMs: encodedHistogram,
  e2eAllMs: encodedHistogram,
  itlMs: encodedHistogram,
  tpotMs: encodedHistogram,
  queueMs: encodedHistogram,
  backoffMs: encodedHistogram,
});

const classSummary = z.object({
  class: z.string(),
  requests: count,
  ok: count,
  degraded: count,
  shed: count,
  failed: count,
  timeout: count,
  cancelled: count,
  sloMet: count,
  ttftMs: latencyStats,
  e2eMs: latencyStats,
});

const countSeries = z.array(count);
const series = z.object({
  bucketMs: num.positive(),
  arrivals: countSeries,
  completions: countSeries,
  ok: countSeries,
  degraded: countSeries,
  shed: countSeries,
  failed: countSeries,
  timeout: countSeries,
  cancelled: countSeries,
  goodput: countSeries,
  rateLimited: countSeries,
  reasons: z.record(z.string(), countSeries).transform((r) => Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))).optional(),
  queueDepth: z.array(nullableNum),
  inFlight: z.array(nullableNum),
  concurrencyLimit: z.array(nullableNum),
  breakerState: z.array(z.enum(BREAKER_STATES).nullable()),
  budgetLevel: z.array(nullableNum),
  gpuUtilization: z.array(nullableNum),
  spendUsd: z.array(num).optional(),
  sessionsInFlight: z.array(num).optional(),
});

const nullableSeries = z.array(nullableNum);
/** A fleet run's deployments and replicas (harness/measure/fleet.ts); absent for a single model. */
const fleet = z.object({
  deployments: z.array(
    z.object({
      name: z.string(),
      replicasStart: count,
      replicasPeak: count,
      replicasEnd: count,
      routed: nullableCount,
      requests: count,
      busyGpuHours: num,
      provisionedGpuHours: num,
      costUsd: nullableNum,
    }),
  ),
  replicas: z.array(
    z.object({
      id: z.string(),
      deployment: z.string(),
      requests: count,
      utilizationMean: nullableNum,
      queueMean: nullableNum,
      batchMean: nullableNum,
      ejections: count,
      busyGpuHours: num,
      provisionedGpuHours: num,
      provisionedAtMs: num,
      joinedAtMs: nullableNum,
      removedAtMs: nullableNum,
    }),
  ),
  hedges: count,
  hedgesLost: count,
  events: z.array(
    z.object({
      atMs: num,
      type: z.enum(['ejected', 'returned', 'provisioned', 'joined', 'removed', 'deprovisioned']),
      deployment: z.string(),
      replica: z.string(),
      detail: z.string().optional(),
    }),
  ),
  series: z.object({
    replicas: z.record(
      z.string(),
      z.object({ gpuUtilization: nullableSeries, waiting: nullableSeries, running: nullableSeries, outstanding: nullableSeries, ejected: nullableSeries }),
    ),
    replicaCount: z.record(z.string(), z.array(count)),
  }),
});

const policyResult = z.object({
  name: z.string().min(1),
  config: canonicalJson,
  summary,
  counters,
  histograms,
  classes: z.array(classSummary),
  series,
  fleet: fleet.optional(),
});

const machine = z.object({
  platform: z.string(),
  arch: z.string(),
  cpus: count,
  cpuModel: z.string().nullable(),
  memoryBytes: count.nullable(),
});

/** Self-monitoring of the load generator (live mode): a run is invalid when the generator was the bottleneck. */
const loadGenerator = z.object({
  valid: z.boolean(),
  reasons: z.array(z.string()),
  eventLoopLagP99Ms: nullableNum,
  cpuPct: nullableNum,
});

const meta = z.object({
  gitCommit: z.string().nullable(),
  machine,
  nodeVersion: z.string(),
  /** Wall-clock time the run took; measured by the caller. */
  wallMs: num.nonnegative(),
  simulatedMs: num.nonnegative(),
  /** ISO 8601, passed in by the caller: reporting code never reads the clock. */
  startedAt: z.iso.datetime({ offset: true }),
  loadGenerator: loadGenerator.nullable(),
});

/** The goodput ceiling of the run (harness/measure/ceiling.ts); absent in results written before it existed. */
const ceiling = z.object({
  goodputPerSec: num.nonnegative(),
  requests: count,
  planned: count,
  feasible: count,
  limit: z.enum(['arrivals', 'capacity']),
  windowMs: nullableNum,
});

const scenario = z.object({
  name: z.string().min(1),
  description: z.string(),
  durationMs: num.positive(),
  mode: z.enum(RUN_MODES),
  config: canonicalJson,
});

/** The RunResult schema. */
export const runResultSchema = z
  .object({
    schemaVersion: z.literal(SCHEMA_VERSION),
    seed: z.union([z.number(), z.string()]),
    scenario,
    slo: sloSpec,
    thresholds: z.array(threshold),
    faultPhases: z.array(faultPhase),
    /** An upper bound on goodput no policy can exceed on this workload and model; null when it could not be bounded. */
    ceiling: ceiling.nullable().optional(),
    policies: z.array(policyResult).min(1),
    meta,
  })
  .superRefine((r, ctx) => {
    const seen = new Set<string>();
    r.policies.forEach((p, i) => {
      if (seen.has(p.name)) ctx.addIssue({ code: 'custom', path: ['policies', i, 'name'], message: `duplicate policy name ${JSON.stringify(p.name)}` });
      seen.add(p.name);
      for (const [k, v] of Object.entries(p.histograms)) {
        if (k === 'unit') continue;
        try {
          LatencyHistogram.decode(v);
        } catch {
          ctx.addIssue({ code: 'custom', path: ['policies', i, 'histograms', k], message: 'expected a compressed base64 HDR histogram' });
        }
      }
      for (const [k, v] of Object.entries(p.series)) {
        if (Array.isArray(v) && v.length !== p.series.arrivals.length)
          ctx.addIssue({ code: 'custom', path: ['policies', i, 'series', k], message: `expected ${p.series.arrivals.length} buckets like series.arrivals, got ${v.length}` });
      }
      const fleetSeries = p.fleet?.series;
      const lists = fleetSeries === undefined ? [] : [...Object.entries(fleetSeries.replicas).flatMap(([id, r]) => Object.entries(r).map(([k, v]) => [['replicas', id, k], v] as const)), ...Object.entries(fleetSeries.replicaCount).map(([d, v]) => [['replicaCount', d], v] as const)];
      for (const [path, v] of lists) {
        if (v.length !== p.series.arrivals.length)
          ctx.addIssue({ code: 'custom', path: ['policies', i, 'fleet', 'series', ...path], message: `expected ${p.series.arrivals.length} buckets like series.arrivals, got ${v.length}` });
      }
    });
  });

/** A validated RunResult. */
export type RunResult = z.output<typeof runResultSchema>;
/** The input form of a RunResult (what `buildRunResult` and JSON files provide). */
export type RunResultInput = z.input<typeof runResultSchema>;
export type RunMeta = RunResult['meta'];
export type ScenarioInfo = RunResult['scenario'];

// The schema and harness/measure's PolicyResult must describe the same data, both ways.
type PolicyOut = z.output<typeof policyResult>;
const _schemaAcceptsMeasure = (p: PolicyResult): z.input<typeof policyResult> => p;
const _measureAcceptsSchema = (p: PolicyOut): PolicyResult => p;
void _schemaAcceptsMeasure;
void _measureAcceptsSchema;

/** A file that is not a valid RunResult. The message names the offending fields. */
export class RunResultError extends HarnessError {
  readonly issues: readonly string[];

  constructor(source: string, issues: readonly string[]) {
    const shown = issues.slice(0, 8).join('; ');
    const more = issues.length > 8 ? `; and ${issues.length - 8} more` : '';
    super('INVALID_RUN_RESULT', `${source}: not a valid RunResult (schemaVersion ${SCHEMA_VERSION}): ${shown}${more}`);
    this.issues = issues;
  }
}

/** Formats a path like `policies[0].summary.ttftMs.p99`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out === '' ? '(root)' : out;
}

function valueAt(root: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let v: unknown = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

/**
 * Validates a RunResult from JSON text or an already-parsed value.
 * @throws RunResultError naming each bad field, e.g. `policies[0].summary.ttftMs.p99: expected number, received string`.
 */
export function parseRunResult(input: string | unknown, source = 'RunResult'): RunResult {
  let value: unknown = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch (err) {
      throw new RunResultError(source, [`invalid JSON: ${(err as Error).message}`]);
    }
  }
  if (value !== null && typeof value === 'object' && 'schemaVersion' in value && value.schemaVersion !== SCHEMA_VERSION) {
    throw new RunResultError(source, [`schemaVersion: expected ${SCHEMA_VERSION}, got ${JSON.stringify(value.schemaVersion)}`]);
  }
  const r = runResultSchema.safeParse(value);
  if (!r.success) {
    throw new RunResultError(
      source,
      r.error.issues.map((i) => {
        const msg = i.message.replace(/^Invalid (input|option): /, '');
        const got = i.code === 'custom' || /received/.test(msg) ? '' : `, got ${describe(valueAt(value, i.path))}`;
        return `${formatPath(i.path)}: ${msg}${got}`;
      }),
    );
  }
  return r.data;
}
