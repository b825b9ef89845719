import type { AttemptBill, CostInput } from './billing.js';

/**
 * The vocabulary of measurement: what the runner reports about each request and about the system, and the
 * SLOs and fault phases that results are judged against. Pure types and constants; no behaviour.
 */

/** How a client request ended. The engine has an identical union; this copy keeps harness/measure standalone. */
export const OUTCOMES = ['ok', 'degraded', 'shed', 'failed', 'timeout', 'cancelled'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** Circuit-breaker state as sampled by the runner. */
export const BREAKER_STATES = ['closed', 'open', 'half-open'] as const;
export type BreakerState = (typeof BREAKER_STATES)[number];

/** Per-request latency objectives. A request "meets the SLO" when every set bound holds (`<=`). */
export interface SloBounds {
  /** Time to first token, from the intended start. */
  readonly ttftMs?: number;
  /** End to end, from the intended start to the last event. */
  readonly e2eMs?: number;
  /** Time per output token after the first: (E2E − TTFT) / (tokens − 1). Ignored for requests of one token. */
  readonly tpotMs?: number;
}

/**
 * The scenario's SLO: default bounds, optionally overridden per request class (e.g. `interactive` vs `batch`).
 * A class entry replaces the defaults field by field.
 */
export interface SloSpec extends SloBounds {
  readonly classes?: Readonly<Record<string, SloBounds>>;
}

/** A window of the scenario's fault timeline, in simulated time since the run started. */
export interface FaultPhase {
  readonly name: string;
  readonly atMs: number;
  readonly durationMs: number;
  /** Free text for reports, e.g. "primary answers 503 to 60% of requests". */
  readonly description?: string;
}

/** One token chunk as the client received it. */
export interface TokenChunk {
  readonly atMs: number;
  /** Tokens in the chunk, at least 1. */
  readonly count: number;
}

/**
 * Everything the runner knows about one finished client request. Times are simulated ms since run start.
 * Latencies are measured from `intendedStartMs`, the scheduled arrival, never from when the request was
 * actually sent: a stalled load generator must not hide a stall (coordinated omission).
 */
export interface RequestObservation {
  readonly id: string;
  /** Request class, e.g. `interactive` or `batch`; selects per-class SLO bounds. */
  readonly class: string;
  readonly intendedStartMs: number;
  /** When the first token reached the client; absent when none did. */
  readonly firstTokenAtMs?: number;
  /** The last event the client saw: final token, error or rejection. */
  readonly endAtMs: number;
  /** Chunks in arrival order, across every attempt (a resumed stream continues the list). */
  readonly chunks: readonly TokenChunk[];
  /** Output tokens the client received. */
  readonly tokens: number;
  readonly outcome: Outcome;
  /** Why it was degraded (`fallback`, `partial`, ...); only meaningful with outcome `degraded`. */
  readonly degraded?: string;
  /**
   * Why it did not end `ok`, as a stable snake_case code (`breaker_open`, `deadline`, `shed_queue_full`,
   * `upstream_5xx`, `stream_broken`, `fallback`, ...; see src/engine/reasons.ts). Ignored for `ok`; when absent
   * the degraded reason, else the outcome, stands in.
   */
  readonly reason?: string;
  /** Time spent waiting in the engine's queue(s). */
  readonly queuedMs: number;
  /** Time spent waiting between attempts (backoff, Retry-After). */
  readonly backoffMs: number;
  /** Attempts the engine made for this request (1 = no retry; 0 = never sent, e.g. shed). */
  readonly attempts: number;
  /** Upstream calls attributable to this request (batching and dedup make this differ from attempts). */
  readonly upstreamCalls: number;
  /**
   * The engine's response cache, for a cacheable request when it is on: `hit` (no upstream call of its own), `miss`,
   * or `stale` (an older answer served as `degraded: cached` because the upstream failed). Absent: not looked up.
   */
  readonly cache?: 'hit' | 'miss' | 'stale';
  /**
   * What the model side billed for this request's calls (harness/measure/billing.ts), when it reports usage.
   * Absent = unknown: the policy's billed tokens and cost stay null (a dash), never 0.
   */
  readonly bills?: readonly AttemptBill[];
}

/** A sample of the system's gauges at one instant. */
export interface GaugeSample {
  readonly queueDepth: number;
  readonly inFlight: number;
  /** Current concurrency limit; `null` when unbounded. */
  readonly concurrencyLimit: number | null;
  readonly breakerState: BreakerState;
  /** Retry-budget tokens available; omit when the policy has no budget. */
  readonly budgetLevel?: number;
  /** GPU utilization 0..1 over the last sampling interval, when the model reports it. */
  readonly gpuUtilization?: number;
}

/** What only the run as a whole (and the mock GPU) knows, handed to `Recorder.finish`. `null` = unknown. */
export interface FinishInput {
  /** Simulated duration of the load phase; per-second rates and series use it. */
  readonly durationMs: number;
  /** Tokens the GPU computed for output no client received (aborted, duplicated, discarded). */
  readonly wastedTokens: number | null;
  /** Output tokens the GPU computed in total. */
  readonly tokensComputed: number | null;
  /** Mean GPU utilization 0..1 over the run. */
  readonly gpuUtilization: number | null;
  /** Mean number of sequences per GPU step. */
  readonly meanBatchSize: number | null;
  readonly faultPhases: readonly FaultPhase[];
  /**
   * Upstream calls counted at the model side. When given, amplification uses it instead of the sum of
   * `RequestObservation.upstreamCalls`.
   */
  readonly upstreamCalls?: number | null;
  /** The models' prefix-cache counters, in prompt tokens (vLLM's queries and hits); null or absent: unknown. */
  readonly prefixCache?: { readonly queries: number; readonly hits: number } | null;
  /** Prices and GPU time, turning billed tokens into dollars. Absent = cost unknown. */
  readonly cost?: CostInput;
}

/** JSON data: what configs are stored as in a RunResult. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Metrics a threshold can test. Latency metrics take a `stat`; the rest are scalars of the policy summary. */
export const LATENCY_METRICS = ['ttftMs', 'e2eMs', 'e2eAllMs', 'itlMs', 'tpotMs', 'queueMs', 'backoffMs'] as const;
export type LatencyMetric = (typeof LATENCY_METRICS)[number];
export const SCALAR_METRICS = [
  'goodputPerSec',
  'servedWithinSloPerSec',
  'okFraction',
  'degradedFraction',
  'shedFraction',
  'errorFraction',
  'amplification',
  'wastedTokenFraction',
  'peakQueue',
  'gpuUtilization',
  'meanBatchSize',
  'recoveryMs',
  'cost.totalUsd',
  'cost.per1kGoodUsd',
  'cost.wastedUsd',
  'cost.gpuHours',
] as const;
export type ScalarMetric = (typeof SCALAR_METRICS)[number];
export type ThresholdMetric = LatencyMetric | ScalarMetric;

export const LATENCY_STATS = ['p50', 'p90', 'p99', 'max', 'mean'] as const;
export type LatencyStat = (typeof LATENCY_STATS)[number];

export const THRESHOLD_OPS = ['<', '<=', '>', '>='] as const;
export type ThresholdOp = (typeof THRESHOLD_OPS)[number];

/**
 * A pass/fail bound on a policy's summary, e.g. `{ metric: 'ttftMs', stat: 'p99', op: '<=', value: 2000 }`.
 * Without `policy` it applies to every policy of the run.
 */
export interface Threshold {
  readonly metric: ThresholdMetric;
  /** For latency metrics only. @default 'p99' */
  readonly stat?: LatencyStat;
  readonly op: ThresholdOp;
  readonly value: number;
  readonly policy?: string;
  /** Exported k6 scripts stop the run as soon as this threshold fails (k6 `abortOnFail`). @default false */
  readonly abortOnFail?: boolean;
}

/** One threshold judged against one policy. `actual` null = the value is unknown, which fails. */
export interface ThresholdResult {
  readonly policy: string;
  /** Human-readable form, e.g. `ttftMs.p99 <= 2000`. */
  readonly label: string;
  readonly metric: ThresholdMetric;
  readonly stat: LatencyStat | null;
  readonly op: ThresholdOp;
  readonly value: number;
  readonly actual: number | null;
  readonly pass: boolean;
}
