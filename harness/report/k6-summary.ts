/**
 * The JSON an exported k6 script's `handleSummary` writes (harness/k6/script-lifecycle.ts), and its comparison with
 * a baseline of the same kind by the rules `npm run regress` applies to RunResults: p99 TTFT, p99 E2E and goodput
 * within the scenario's tolerance. Pure functions; the CLI reads and writes the files.
 */
import { z } from 'zod';
import { ValidationError } from '../../src/errors.js';
import { DEFAULT_TOLERANCE, type BaselineComparison, type RegressCheck, type RegressMetric, type RegressTolerance } from './regress.js';

/** `format` of a k6 summary (the same string the script writes). */
export const K6_SUMMARY_FORMAT = 'ai-chaos-harness/k6-summary';

const stat = z.number().nullable();
const latency = z.object({ count: z.number().int().nonnegative(), p50: stat, p90: stat, p99: stat, max: stat, mean: stat });

const k6SummarySchema = z.object({
  format: z.literal(K6_SUMMARY_FORMAT),
  schemaVersion: z.literal(1),
  scenario: z.string().min(1),
  seed: z.union([z.number(), z.string()]),
  policy: z.string().min(1),
  target: z.string(),
  stream: z.boolean(),
  windowMs: z.number().positive(),
  scale: z.number().positive(),
  testRunDurationMs: z.number().nonnegative(),
  summary: z.object({
    requests: z.number().int().nonnegative(),
    ok: z.number().int().nonnegative(),
    degraded: z.number().int().nonnegative(),
    shed: z.number().int().nonnegative(),
    errors: z.number().int().nonnegative(),
    unfinished: z.number(),
    okFraction: stat,
    sloMet: z.number().int().nonnegative(),
    goodputPerSec: z.number().nonnegative(),
    ttftMs: latency,
    e2eMs: latency,
    e2eAllMs: latency,
    itlMs: latency,
    tpotMs: latency,
    responseMs: latency,
    queueMs: latency,
    backoffMs: latency,
  }),
  thresholds: z.array(z.object({ metric: z.string(), expression: z.string(), ok: z.boolean() })),
  thresholdsPassed: z.boolean(),
});

/** A k6 run's summary as handleSummary writes it. */
export type K6Summary = z.infer<typeof k6SummarySchema>;

/**
 * Parses a k6 summary.
 * @throws ValidationError naming the file and the field, e.g. `summary.json: summary.ttftMs.p99`.
 */
export function parseK6Summary(text: string, source: string): K6Summary {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ValidationError(source, 'JSON written by an exported k6 script\'s handleSummary', `unparseable text (${(e as Error).message})`);
  }
  const r = k6SummarySchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    const path = issue === undefined ? '' : issue.path.join('.');
    throw new ValidationError(`${source}${path === '' ? '' : `: ${path}`}`, `a k6 summary (${K6_SUMMARY_FORMAT} v1)`, issue?.message ?? 'invalid');
  }
  return r.data;
}

const round = (x: number): number => Math.round(x * 1e4) / 1e4;

function check(metric: RegressMetric, baseline: number | null, current: number | null, tolerancePct: number, minDeltaMs: number): RegressCheck {
  if (baseline === null || current === null) return { metric, baseline, current, changePct: null, tolerancePct, status: 'unknown' };
  const changePct = baseline === 0 ? null : round(((current - baseline) / baseline) * 100);
  let status: RegressCheck['status'] = 'ok';
  if (metric === 'goodputPerSec') {
    if (current < baseline * (1 - tolerancePct / 100)) status = 'regression';
    else if (current > baseline * (1 + tolerancePct / 100)) status = 'improved';
  } else if (current - baseline > minDeltaMs && current > baseline * (1 + tolerancePct / 100)) status = 'regression';
  else if (current < baseline * (1 - tolerancePct / 100)) status = 'improved';
  return { metric, baseline, current, changePct, tolerancePct, status };
}

/**
 * Compares a k6 run with a baseline k6 run (the same rules as `compareToBaseline`): the system under test is the
 * one policy row. Without a stream there is no TTFT: its check is `unknown`, which is no regression.
 */
export function compareK6Summaries(current: K6Summary, baseline: K6Summary, tolerance: RegressTolerance = DEFAULT_TOLERANCE): BaselineComparison {
  const tol = { ...DEFAULT_TOLERANCE, ...tolerance };
  const warnings: string[] = [];
  if (current.scenario !== baseline.scenario) warnings.push(`scenario differs: baseline ${JSON.stringify(baseline.scenario)}, current ${JSON.stringify(current.scenario)}`);
  if (current.seed !== baseline.seed) warnings.push(`seed differs: baseline ${String(baseline.seed)}, current ${String(current.seed)}`);
  if (current.windowMs !== baseline.windowMs) warnings.push(`arrival window differs: baseline ${baseline.windowMs} ms, current ${current.windowMs} ms`);
  if (current.scale !== baseline.scale) warnings.push(`scale differs: baseline ${baseline.scale}, current ${current.scale}`);
  if (current.stream !== baseline.stream) warnings.push(`streaming differs: baseline ${baseline.stream ? 'streamed' : 'not streamed'}, current ${current.stream ? 'streamed' : 'not streamed'}`);
  const ttft = (s: K6Summary): number | null => (s.stream ? s.summary.ttftMs.p99 : null);
  const checks = [
    check('ttftP99Ms', ttft(baseline), ttft(current), tol.p99TtftPct, tol.minDeltaMs),
    check('e2eP99Ms', baseline.summary.e2eMs.p99, current.summary.e2eMs.p99, tol.p99E2ePct, tol.minDeltaMs),
    check('goodputPerSec', baseline.summary.goodputPerSec, current.summary.goodputPerSec, tol.goodputPct, 0),
  ];
  const regression = checks.some((k) => k.status === 'regression');
  const name = current.policy === baseline.policy ? current.policy : `${current.policy} (baseline ${baseline.policy})`;
  return {
    scenario: current.scenario,
    baselineCommit: null,
    currentCommit: null,
    tolerance: tol,
    warnings,
    policies: [{ policy: name, status: 'compared', checks, regression }],
    regression,
  };
}

/** The k6 thresholds that failed in a run, as `metric expression`. */
export function failedK6Thresholds(s: K6Summary): string[] {
  return s.thresholds.filter((t) => !t.ok).map((t) => `${t.metric} ${t.expression}`);
}
