/**
 * Maps scenario thresholds onto k6 thresholds where k6 measures the same thing (or a stated bound of it), and
 * lists the rest with the reason. The custom metrics named here are the ones the generated script records.
 */
import type { LatencyStat, Threshold } from '../measure/types.js';

/** Custom metrics the generated script records (names as k6 shows them). */
export const K6_METRICS = {
  /** Trend (time): `timings.waiting` of each chat request, i.e. time to the first byte of a non-streamed answer. */
  ttfb: 'ttfb_ms',
  /** Rate: a 200 with a usable body (choices for chat, data for embeddings). */
  ok: 'request_ok',
  /** Rate: 429 or 503, the statuses a shedding or rate-limited engine answers with. */
  shed: 'request_shed',
  /** Rate: neither ok nor shed (other statuses, network errors, k6 timeouts: status 0). */
  error: 'request_error',
  /** Rate: ok and within the class's E2E SLO bound. */
  sloMet: 'slo_e2e_met',
  /** Counter: requests that met the E2E SLO (goodput). */
  goodput: 'goodput',
} as const;

/** One scenario threshold as a k6 threshold expression on a metric. */
export interface MappedThreshold {
  readonly threshold: Threshold;
  /** k6 metric, possibly with a tag filter, e.g. `http_req_duration{expected_response:true}`. */
  readonly metric: string;
  /** k6 expression, e.g. `p(99)<=30000`. */
  readonly expression: string;
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
  /** `options.thresholds`: expressions grouped by metric, in input order. */
  readonly k6: Readonly<Record<string, readonly string[]>>;
}

const K6_STAT: Record<LatencyStat, string> = { p50: 'p(50)', p90: 'p(90)', p99: 'p(99)', max: 'max', mean: 'avg' };

const k6Timing = 'k6 times from when the request is sent, not from its intended start, and excludes connection setup';
const SERVER_SIDE = 'measured inside the engine or the model; k6 sees only HTTP responses';
const UNMAPPED_REASONS: Readonly<Partial<Record<Threshold['metric'], string>>> = {
  itlMs: 'inter-token latency needs a token stream; the script sends non-streaming requests (k6 core has no SSE client)',
  tpotMs: 'time per output token needs a token stream; the script sends non-streaming requests',
  queueMs: `engine queue time is ${SERVER_SIDE}`,
  backoffMs: `retry backoff is ${SERVER_SIDE}`,
  degradedFraction: 'a degraded answer (fallback model, partial inputs) is not visible in the OpenAI response shape',
  amplification: `upstream calls per request are ${SERVER_SIDE}`,
  wastedTokenFraction: `wasted tokens are ${SERVER_SIDE}`,
  peakQueue: `queue depth is ${SERVER_SIDE}`,
  gpuUtilization: `GPU utilization is ${SERVER_SIDE}`,
  meanBatchSize: `batch size is ${SERVER_SIDE}`,
  recoveryMs: 'recovery time needs the fault timeline and goodput per time bucket; k6 thresholds judge whole-run aggregates',
  'cost.totalUsd': `billed tokens per upstream attempt are ${SERVER_SIDE}`,
  'cost.per1kGoodUsd': `billed tokens per upstream attempt are ${SERVER_SIDE}`,
  'cost.wastedUsd': `billed tokens per upstream attempt are ${SERVER_SIDE}`,
  'cost.gpuHours': `GPU busy time is ${SERVER_SIDE}`,
};

/** A threshold's label in the harness's form, e.g. `ttftMs.p99 <= 2000`. */
export function thresholdLabel(t: Threshold): string {
  const stat = t.stat ?? (isLatency(t.metric) ? 'p99' : undefined);
  return `${t.metric}${stat !== undefined ? `.${stat}` : ''} ${t.op} ${t.value}${t.policy !== undefined ? ` (policy ${t.policy})` : ''}`;
}

function isLatency(m: Threshold['metric']): boolean {
  return m.endsWith('Ms') && m !== 'recoveryMs';
}

/** Maps one threshold, or says why it has no k6 equivalent. */
export function mapThreshold(t: Threshold): MappedThreshold | UnmappedThreshold {
  const noEquivalent = UNMAPPED_REASONS[t.metric];
  if (noEquivalent !== undefined) return { threshold: t, reason: noEquivalent };
  if (t.policy !== undefined) {
    return { threshold: t, reason: `scoped to policy ${t.policy}; the engine under k6 runs one policy, so add it by hand when that is ${t.policy}` };
  }
  const stat = K6_STAT[t.stat ?? 'p99'];
  const bound = `${t.op}${t.value}`;
  switch (t.metric) {
    case 'e2eMs':
      return { threshold: t, metric: 'http_req_duration{expected_response:true}', expression: `${stat}${bound}`, caveat: k6Timing };
    case 'e2eAllMs':
      return { threshold: t, metric: 'http_req_duration', expression: `${stat}${bound}`, caveat: k6Timing };
    case 'ttftMs':
      return {
        threshold: t,
        metric: K6_METRICS.ttfb,
        expression: `${stat}${bound}`,
        caveat:
          'TTFB of a non-streamed answer, an upper bound of TTFT (the engine answers only when the generation is done), ' +
          'so this can fail while the real TTFT holds; it cannot pass while TTFT fails',
      };
    case 'okFraction':
      return { threshold: t, metric: K6_METRICS.ok, expression: `rate${bound}`, caveat: 'ok = a 200 with a usable body; degraded answers count as ok' };
    case 'shedFraction':
      return { threshold: t, metric: K6_METRICS.shed, expression: `rate${bound}`, caveat: 'shed = a 429 or 503 answer' };
    case 'errorFraction':
      return { threshold: t, metric: K6_METRICS.error, expression: `rate${bound}`, caveat: 'error = neither a usable 200 nor a 429/503 (k6 timeouts included)' };
    case 'goodputPerSec':
      return {
        threshold: t,
        metric: K6_METRICS.goodput,
        expression: `rate${bound}`,
        caveat: 'k6 divides by the whole test time including the drain after the arrival window (the harness divides by the window); only the E2E SLO bound is checked, not TTFT',
      };
    default:
      return { threshold: t, reason: 'no k6 equivalent' };
  }
}

/** Maps every threshold; see {@link mapThreshold}. */
export function mapThresholds(thresholds: readonly Threshold[]): ThresholdMapping {
  const mapped: MappedThreshold[] = [];
  const unmapped: UnmappedThreshold[] = [];
  const k6: Record<string, string[]> = {};
  for (const t of thresholds) {
    const m = mapThreshold(t);
    if ('reason' in m) {
      unmapped.push(m);
      continue;
    }
    mapped.push(m);
    (k6[m.metric] ??= []).push(m.expression);
  }
  return { mapped, unmapped, k6 };
}
