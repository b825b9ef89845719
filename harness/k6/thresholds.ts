/**
 * The k6 thresholds of a generated script: the scenario's SLO bounds per request class (via the `class` tag), its
 * thresholds where k6 measures the same thing (or a stated bound of it), and an error-rate bound, with the rest
 * listed with the reason. The custom metrics named here are the ones the generated script records, named as in the
 * RunResult (harness/report/schema.ts).
 */
import { sloBoundsFor } from '../measure/latency.js';
import type { LatencyStat, SloSpec, Threshold } from '../measure/types.js';

/** Custom metrics the generated script records (names as k6 shows them). */
export const K6_METRICS = {
  /** Trend (time, streamed only): first token event − intended start. */
  ttft: 'ttftMs',
  /** Trend (time): E2E of served (ok or degraded) requests, from the intended start. */
  e2e: 'e2eMs',
  /** Trend (time): E2E of every request, tagged with its `outcome`. */
  e2eAll: 'e2eAllMs',
  /** Trend (time, streamed only): inter-token latency, a chunk of k tokens counted k times. */
  itl: 'itlMs',
  /** Trend (time, streamed only): (E2E − TTFT) / (tokens − 1) of served requests. */
  tpot: 'tpotMs',
  /** Trend (time, --no-stream only): the whole answer's time from the intended start (not TTFT). */
  response: 'responseMs',
  /** Trends from the engine's `x_engine` (no samples from other targets). */
  queue: 'queueMs',
  backoff: 'backoffMs',
  attempts: 'attempts',
  /** Rates over requests, as the RunResult's outcome fractions. */
  ok: 'okFraction',
  degraded: 'degradedFraction',
  shed: 'shedFraction',
  /** Rate: failed or timed out. */
  error: 'errorFraction',
  /** Rate: ok and within every SLO bound of its class. */
  sloMet: 'sloMetFraction',
  /** Counter: requests that met every SLO bound (goodput). */
  goodput: 'goodput',
  /** Counter: +1 per started request, −1 per finished one (a request open when k6 stops leaves it above 0). */
  unfinished: 'requestsUnfinished',
} as const;

/** One threshold of the script. `stat: true` means the expression's statistic is the script's SLO_STAT. */
export interface MappedThreshold {
  /** The scenario threshold it comes from; absent for SLO bounds and the default bounds. */
  readonly threshold?: Threshold;
  /** What it checks, for the header: `slo ttftMs (class chat) <= 1000`, `errorFraction <= 0`. */
  readonly label: string;
  /** k6 metric, possibly with a tag filter, e.g. `ttftMs{class:chat}`. */
  readonly metric: string;
  /** k6 expression, e.g. `p(99)<=30000`; for SLO bounds the statistic is replaced by SLO_STAT at run time. */
  readonly expression: string;
  /** The bound's `op value`, e.g. `<=1000`: for SLO bounds, the expression is `SLO_STAT + bound`. */
  readonly bound?: string;
  readonly abortOnFail: boolean;
  /** What differs from the harness's definition; absent when the equivalence is close. */
  readonly caveat?: string;
}

/** A scenario threshold k6 cannot check, and why. */
export interface UnmappedThreshold {
  readonly threshold: Threshold;
  readonly reason: string;
}

/** The result of {@link mapThresholds}. */
export interface ThresholdMapping {
  readonly mapped: readonly MappedThreshold[];
  readonly unmapped: readonly UnmappedThreshold[];
}

const K6_STAT: Record<LatencyStat, string> = { p50: 'med', p90: 'p(90)', p99: 'p(99)', max: 'max', mean: 'avg' };

const SERVER_SIDE = 'measured inside the engine or the model; k6 sees only HTTP responses';
const ENGINE_ONLY = 'from the engine\'s x_engine field: a target that does not send it records no sample, and a threshold on no samples passes';
const UNMAPPED_REASONS: Readonly<Partial<Record<Threshold['metric'], string>>> = {
  wastedTokenFraction: `wasted tokens are ${SERVER_SIDE}`,
  peakQueue: `queue depth is ${SERVER_SIDE}`,
  gpuUtilization: `GPU utilization is ${SERVER_SIDE}`,
  meanBatchSize: `batch size is ${SERVER_SIDE}`,
  recoveryMs: 'recovery time needs the fault timeline and goodput per time bucket; k6 thresholds judge whole-run aggregates',
  servedWithinSloPerSec: 'served within SLO counts degraded answers in time, and the k6 script does not tell a degraded answer from an ok one',
  'cost.totalUsd': `billed tokens per upstream attempt are ${SERVER_SIDE}`,
  'cost.per1kGoodUsd': `billed tokens per upstream attempt are ${SERVER_SIDE}`,
  'cost.wastedUsd': `billed tokens per upstream attempt are ${SERVER_SIDE}`,
  'cost.gpuHours': `GPU busy time is ${SERVER_SIDE}`,
};
const NEEDS_STREAM = 'needs a token stream; this script was exported with --no-stream (it records responseMs, the whole answer\'s time, not TTFT)';

/** A threshold's label in the harness's form, e.g. `ttftMs.p99 <= 2000`. */
export function thresholdLabel(t: Threshold): string {
  const stat = t.stat ?? (isLatency(t.metric) ? 'p99' : undefined);
  return `${t.metric}${stat !== undefined ? `.${stat}` : ''} ${t.op} ${t.value}${t.policy !== undefined ? ` (policy ${t.policy})` : ''}`;
}

function isLatency(m: Threshold['metric']): boolean {
  return m.endsWith('Ms') && m !== 'recoveryMs';
}

/** Maps one scenario threshold, or says why it has no k6 equivalent. */
export function mapThreshold(t: Threshold, stream = true): MappedThreshold | UnmappedThreshold {
  const noEquivalent = UNMAPPED_REASONS[t.metric];
  if (noEquivalent !== undefined) return { threshold: t, reason: noEquivalent };
  if (t.policy !== undefined) {
    return { threshold: t, reason: `scoped to policy ${t.policy}; the engine under k6 runs one policy, so add it by hand when that is ${t.policy}` };
  }
  if (!stream && (t.metric === 'ttftMs' || t.metric === 'itlMs' || t.metric === 'tpotMs')) return { threshold: t, reason: NEEDS_STREAM };
  const stat = K6_STAT[t.stat ?? 'p99'];
  const bound = `${t.op}${t.value}`;
  const base = { threshold: t, label: thresholdLabel(t), abortOnFail: t.abortOnFail === true };
  const latency = (metric: string, caveat?: string): MappedThreshold => ({ ...base, metric, expression: `${stat}${bound}`, ...(caveat !== undefined ? { caveat } : {}) });
  const rate = (metric: string, caveat?: string): MappedThreshold => ({ ...base, metric, expression: `rate${bound}`, ...(caveat !== undefined ? { caveat } : {}) });
  switch (t.metric) {
    case 'ttftMs':
    case 'e2eMs':
    case 'e2eAllMs':
    case 'itlMs':
    case 'tpotMs':
      return latency(t.metric);
    case 'queueMs':
    case 'backoffMs':
      return latency(t.metric, ENGINE_ONLY);
    case 'amplification':
      return { ...base, metric: K6_METRICS.attempts, expression: `avg${bound}`, caveat: `engine attempts per request, ${ENGINE_ONLY}` };
    case 'okFraction':
      return rate(K6_METRICS.ok, 'degraded answers are not ok');
    case 'degradedFraction':
      return rate(K6_METRICS.degraded);
    case 'shedFraction':
      return rate(K6_METRICS.shed, 'shed = the engine\'s verdict, else a 429 with a shedding code');
    case 'errorFraction':
      return rate(K6_METRICS.error, 'failed or timed out (k6 timeouts included)');
    case 'goodputPerSec':
      return {
        ...base,
        metric: K6_METRICS.goodput,
        expression: `rate${bound}`,
        caveat: 'k6 divides by the whole test time including the drain after the arrival window (the harness divides by the window; the summary JSON does too)',
      };
    default:
      return { threshold: t, reason: 'no k6 equivalent' };
  }
}

/** Options of {@link scriptThresholds}. */
export interface ScriptThresholdOptions {
  readonly stream: boolean;
  /** Request classes the script plays. */
  readonly classes: readonly string[];
  /** Classes that stream tokens (chat); embeddings have no TTFT or TPOT. */
  readonly chatClasses: readonly string[];
}

/** The scenario's thresholds, mapped. */
export function mapThresholds(thresholds: readonly Threshold[], stream = true): ThresholdMapping {
  const mapped: MappedThreshold[] = [];
  const unmapped: UnmappedThreshold[] = [];
  for (const t of thresholds) {
    const m = mapThreshold(t, stream);
    if ('reason' in m) unmapped.push(m);
    else mapped.push(m);
  }
  return { mapped, unmapped };
}

/**
 * Every threshold of the script: the SLO bounds per class (TTFT and TPOT when streamed, E2E always), the scenario's
 * own thresholds, an error-rate bound when the scenario sets none (MAX_ERROR_RATE, default 0.05), and the guard
 * that fails a run in which requests were still open when k6 stopped it.
 */
export function scriptThresholds(slo: SloSpec, thresholds: readonly Threshold[], o: ScriptThresholdOptions): ThresholdMapping {
  const sloRows: MappedThreshold[] = [];
  for (const cls of o.classes) {
    const b = sloBoundsFor(slo, cls);
    const chat = o.chatClasses.includes(cls);
    const add = (metric: 'ttftMs' | 'e2eMs' | 'tpotMs', value: number | undefined): void => {
      if (value === undefined) return;
      sloRows.push({ label: `slo ${metric} (class ${cls}) <= ${value}`, metric: `${metric}{class:${cls}}`, expression: `p(99)<=${value}`, bound: `<=${value}`, abortOnFail: false });
    };
    if (o.stream && chat) add('ttftMs', b.ttftMs);
    add('e2eMs', b.e2eMs);
    if (o.stream && chat) add('tpotMs', b.tpotMs);
  }
  const own = mapThresholds(thresholds, o.stream);
  const hasErrorBound = own.mapped.some((m) => m.metric === K6_METRICS.error);
  const defaults: MappedThreshold[] = [
    ...(hasErrorBound
      ? []
      : [{ label: 'errorFraction <= MAX_ERROR_RATE (default 0.05; the scenario sets no error bound)', metric: K6_METRICS.error, expression: 'rate<=0.05', abortOnFail: false }]),
    { label: 'no request still open when k6 stopped the run', metric: K6_METRICS.unfinished, expression: 'count<=0', abortOnFail: false },
  ];
  return { mapped: [...sloRows, ...own.mapped, ...defaults], unmapped: own.unmapped };
}
