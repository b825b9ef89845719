/**
 * A target's row, finished: what the harness cannot see inside an external system becomes unknown rather than zero,
 * and the requests of the protocol check are taken out of the mock's counters.
 *
 * - Queue wait and backoff wait per request live inside the target: their stats are empty (count 0, nulls) and so
 *   are their histograms. Peak queue and the gauge series (queue, in-flight, limit, breaker, budget) are already
 *   null, because a target exports no engine metrics.
 * - Amplification and wasted tokens come from the mock GPU, as for every row: upstream calls and tokens computed,
 *   minus what the protocol check cost before the load started.
 */
import { LatencyHistogram } from '../measure/histogram.js';
import type { PolicyResult } from '../measure/result.js';
import { round } from '../measure/series.js';
import type { ProbeBaseline } from './start.js';

const UNKNOWN_STATS = { count: 0, p50: null, p90: null, p99: null, max: null, mean: null } as const;

/** `r` with the target's unknowns blanked and the probe's upstream calls and tokens subtracted. */
export function finishTargetResult(r: PolicyResult, baseline: ProbeBaseline): PolicyResult {
  const upstreamCalls = Math.max(0, r.counters.upstreamCalls - baseline.upstreamCalls);
  const tokensComputed = r.counters.tokensComputed === null ? null : Math.max(0, r.counters.tokensComputed - baseline.tokensComputed);
  const wastedTokens = r.counters.wastedTokens === null ? null : Math.max(0, r.counters.wastedTokens - baseline.wastedTokens);
  const n = r.summary.requests;
  const empty = LatencyHistogram.create().encode();
  return {
    ...r,
    summary: {
      ...r.summary,
      amplification: n === 0 ? null : round(upstreamCalls / n, 6),
      wastedTokenFraction: wastedTokens === null || tokensComputed === null ? null : tokensComputed === 0 ? 0 : round(wastedTokens / tokensComputed, 6),
      queueMs: { ...UNKNOWN_STATS },
      backoffMs: { ...UNKNOWN_STATS },
    },
    counters: { ...r.counters, upstreamCalls, tokensComputed, wastedTokens },
    histograms: { ...r.histograms, queueMs: empty, backoffMs: empty },
  };
}
