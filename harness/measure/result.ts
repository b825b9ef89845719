/**
 * What one policy's run produces: the data a RunResult holds per policy. Plain JSON-able data.
 * The zod schema in harness/report/schema.ts validates exactly this shape.
 */
import type { BilledTokens, PolicyCost } from './billing.js';
import type { FleetResult } from './fleet.js';
import type { LatencyStats } from './histogram.js';
import type { PhaseRecovery } from './recovery.js';
import type { TimeSeries } from './series.js';
import type { JsonValue, ThresholdResult } from './types.js';

/** The headline numbers of one policy. Counts are client requests; `null` means unknown, never 0. */
export interface PolicySummary {
  readonly requests: number;
  readonly ok: number;
  readonly degraded: number;
  readonly shed: number;
  readonly failed: number;
  readonly timeout: number;
  readonly cancelled: number;
  /** ok / requests; null with no requests. */
  readonly okFraction: number | null;
  /** ok requests that met every SLO. */
  readonly sloMet: number;
  /** sloMet / (durationMs / 1000). */
  readonly goodputPerSec: number;
  /** ok or degraded answers within every SLO (a fallback answer in time counts; a failure does not). */
  readonly servedWithinSlo?: number;
  /** servedWithinSlo / (durationMs / 1000). */
  readonly servedWithinSloPerSec?: number;
  /**
   * Every request that did not end `ok`, counted by stable reason code (`breaker_open`, `deadline`,
   * `shed_queue_full`, `upstream_5xx`, `stream_broken`, `fallback`, ...), keys sorted. Absent only in results
   * written before it existed.
   */
  readonly reasons?: Record<string, number>;
  /** Upstream calls / client requests; null with no requests. */
  readonly amplification: number | null;
  /** Wasted GPU tokens / tokens computed; null when the model did not say. */
  readonly wastedTokenFraction: number | null;
  /** TTFT of every request that received a first token, whatever its outcome (the user saw it). */
  readonly ttftMs: LatencyStats;
  /** E2E of served requests (ok and degraded). */
  readonly e2eMs: LatencyStats;
  /** E2E of every request, failures and rejections included. */
  readonly e2eAllMs: LatencyStats;
  /** Inter-token latency of every token after a stream's first chunk (chunk of k = k samples of Δ/k). */
  readonly itlMs: LatencyStats;
  /** TPOT of served requests with at least two tokens. */
  readonly tpotMs: LatencyStats;
  /** Queue wait of every request. */
  readonly queueMs: LatencyStats;
  /** Backoff wait of every request. */
  readonly backoffMs: LatencyStats;
  /** Highest queue depth sampled; null when never sampled. */
  readonly peakQueue: number | null;
  readonly gpuUtilization: number | null;
  readonly meanBatchSize: number | null;
  /**
   * Prompt tokens served from the models' prefix caches / prompt tokens looked up (vLLM's
   * prefix_cache_hits / prefix_cache_queries); null when unknown or nothing was looked up. Absent in older results.
   */
  readonly prefixCacheHitRate?: number | null;
  /**
   * The engine's response cache over the requests it looked up: `hits` answered with no upstream call of their own,
   * `misses` went upstream (`stale` of them were then served an older answer as `degraded: cached`). Absent when
   * the policy has no response cache or no request was cacheable.
   */
  readonly responseCache?: { readonly hits: number; readonly misses: number; readonly stale: number; readonly hitRate: number };
  readonly recovery: PhaseRecovery[];
  /** Tokens billed across every attempt (retries, resumes and fallbacks bill again), and tokens delivered. */
  readonly tokens: BilledTokens;
  /** Dollars (and GPU hours) those tokens cost at the scenario's prices; nulls where unknown. */
  readonly cost: PolicyCost;
  /** Filled in by `buildRunResult`; empty straight out of the Recorder. */
  readonly thresholds: ThresholdResult[];
}

/** Raw counters of one policy. */
export interface PolicyCounters {
  /** `Recorder.arrival` calls. */
  readonly arrivals: number;
  /** Requests completed (any outcome). */
  readonly requests: number;
  /** arrivals − requests when positive: requests still open at finish. */
  readonly unfinished: number;
  /** Sum of attempts over requests. */
  readonly attempts: number;
  /** Upstream calls (from the model side when known, else the sum over requests). */
  readonly upstreamCalls: number;
  /** 429s received from upstream. */
  readonly rateLimited: number;
  /** Output tokens delivered to clients. */
  readonly tokensDelivered: number;
  readonly tokensComputed: number | null;
  readonly wastedTokens: number | null;
  /** Degraded requests by reason, keys sorted. */
  readonly degradedReasons: Record<string, number>;
}

/** Encoded HDR histograms (compressed base64, integer microseconds). */
export interface PolicyHistograms {
  readonly unit: 'us';
  readonly ttftMs: string;
  readonly e2eMs: string;
  readonly e2eAllMs: string;
  readonly itlMs: string;
  readonly tpotMs: string;
  readonly queueMs: string;
  readonly backoffMs: string;
}

/** Outcomes and key latencies of one request class. */
export interface ClassSummary {
  readonly class: string;
  readonly requests: number;
  readonly ok: number;
  readonly degraded: number;
  readonly shed: number;
  readonly failed: number;
  readonly timeout: number;
  readonly cancelled: number;
  readonly sloMet: number;
  readonly ttftMs: LatencyStats;
  readonly e2eMs: LatencyStats;
}

/** Everything measured for one policy. */
export interface PolicyResult {
  readonly name: string;
  readonly config: JsonValue;
  readonly summary: PolicySummary;
  readonly counters: PolicyCounters;
  readonly histograms: PolicyHistograms;
  /** Per request class, sorted by class name. */
  readonly classes: ClassSummary[];
  readonly series: TimeSeries;
  /** Per deployment and per replica (summaries, events, per-second series): fleet scenarios only. */
  readonly fleet?: FleetResult;
}
