/**
 * What a live run can see of the system while it runs: the engine service's Prometheus `/metrics` (queue depth,
 * in-flight, concurrency limit, breaker state, budget level, upstream calls and 429s) and the mock's
 * `/mock/stats` (GPU busy time, tokens computed and wasted, faults). Parsing is tolerant: a metric the engine does
 * not export stays `undefined`, and the runner reports it as unknown (null), never as 0.
 */
import { request } from 'undici';
import type { BreakerState, GaugeSample } from '../measure/types.js';

/** One sample of a Prometheus text exposition: name, labels, value. */
export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses the Prometheus text format (comments skipped; `NaN`, `+Inf` kept as numbers). */
export function parsePrometheus(text: string): PromSample[] {
  const out: PromSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[2] !== undefined) for (const l of m[2].matchAll(LABEL)) labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, '$1');
    const v = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    out.push({ name: m[1] as string, labels, value: v });
  }
  return out;
}

/** The sum of every sample of the first of `names` that is present (labels matching `where`, if given). */
export function metricSum(samples: readonly PromSample[], names: readonly string[], where?: Readonly<Record<string, string>>): number | undefined {
  for (const name of names) {
    const hits = samples.filter((s) => s.name === name && (where === undefined || Object.entries(where).every(([k, v]) => s.labels[k] === v)));
    if (hits.length > 0) return hits.reduce((a, s) => a + s.value, 0);
  }
  return undefined;
}

/** Engine metric names, first match wins: OpenTelemetry's Prometheus exporter adds unit and `_total` suffixes. */
const ENGINE = {
  queueDepth: ['engine_queue_depth', 'engine_queue_size', 'queue_depth'],
  inFlight: ['engine_in_flight', 'engine_inflight', 'engine_in_flight_requests', 'in_flight'],
  concurrencyLimit: ['engine_concurrency_limit', 'concurrency_limit'],
  budgetLevel: ['engine_retry_budget_level', 'engine_budget_level', 'engine_retry_budget_tokens', 'retry_budget_level'],
  breakerState: ['engine_breaker_state', 'breaker_state'],
  upstreamCalls: ['engine_upstream_calls_total', 'engine_upstream_calls'],
  attempts: ['engine_attempts_total', 'engine_attempts'],
  /** Attempts that failed, by `code`; RATE_LIMITED ones are the upstream 429s. */
  attemptFailures: ['engine_attempt_failures_total', 'engine_attempt_failures'],
  tokensDiscarded: ['engine_tokens_discarded_total', 'engine_tokens_discarded'],
} as const;

/** What one scrape of the engine says; `undefined` where it exports nothing. */
export interface EngineScrape {
  readonly queueDepth?: number;
  readonly inFlight?: number;
  /** `null`: unbounded. */
  readonly concurrencyLimit?: number | null;
  readonly breakerState?: BreakerState;
  readonly budgetLevel?: number;
  readonly upstreamCalls?: number;
  /** Passes through the attempt loop (a breaker refusal counts). */
  readonly attempts?: number;
  /** Attempts the primary's open breaker refused (no upstream call). */
  readonly breakerRejected?: number;
  readonly rateLimited?: number;
  readonly tokensDiscarded?: number;
}

/** src/telemetry/engine-metrics.ts: 0 closed, 1 half-open, 2 open. */
const BREAKER_BY_CODE: Record<number, BreakerState> = { 0: 'closed', 1: 'half-open', 2: 'open' };

/** Reads the engine's gauges and counters out of a scrape. */
export function engineScrape(samples: readonly PromSample[]): EngineScrape {
  const out: { -readonly [K in keyof EngineScrape]: EngineScrape[K] } = {};
  const set = <K extends keyof typeof ENGINE>(k: K): number | undefined => metricSum(samples, ENGINE[k]);
  const q = set('queueDepth');
  if (q !== undefined) out.queueDepth = q;
  const f = set('inFlight');
  if (f !== undefined) out.inFlight = f;
  const c = set('concurrencyLimit');
  if (c !== undefined) out.concurrencyLimit = Number.isFinite(c) && c >= 0 ? c : null;
  const b = set('budgetLevel');
  if (b !== undefined && Number.isFinite(b)) out.budgetLevel = b;
  const u = set('upstreamCalls');
  if (u !== undefined) out.upstreamCalls = u;
  const a = set('attempts');
  if (a !== undefined) out.attempts = a;
  const br = metricSum(samples, ENGINE.attemptFailures, { code: 'BREAKER_OPEN' });
  if (br !== undefined) out.breakerRejected = br;
  const r = metricSum(samples, ENGINE.attemptFailures, { code: 'RATE_LIMITED' });
  if (r !== undefined) out.rateLimited = r;
  const t = set('tokensDiscarded');
  if (t !== undefined) out.tokensDiscarded = t;
  // Breaker state: a numeric gauge (0 closed, 1 half-open, 2 open), or one sample per state labelled `state`.
  const byLabel = samples.find((s) => (ENGINE.breakerState as readonly string[]).includes(s.name) && s.labels['state'] !== undefined && s.value === 1);
  if (byLabel !== undefined && ['closed', 'open', 'half-open', 'half_open'].includes(byLabel.labels['state'] as string)) {
    out.breakerState = (byLabel.labels['state'] === 'half_open' ? 'half-open' : byLabel.labels['state']) as BreakerState;
  } else {
    const code = metricSum(samples, ENGINE.breakerState);
    if (code !== undefined && BREAKER_BY_CODE[code] !== undefined) out.breakerState = BREAKER_BY_CODE[code];
  }
  return out;
}

/** A gauge sample for the Recorder, or undefined when the engine exported too little to make one. */
export function gaugeFrom(s: EngineScrape, gpuUtilization: number | undefined): GaugeSample | undefined {
  if (s.queueDepth === undefined || s.inFlight === undefined) return undefined;
  return {
    queueDepth: s.queueDepth,
    inFlight: s.inFlight,
    concurrencyLimit: s.concurrencyLimit ?? null,
    breakerState: s.breakerState ?? 'closed',
    ...(s.budgetLevel !== undefined ? { budgetLevel: s.budgetLevel } : {}),
    ...(gpuUtilization !== undefined ? { gpuUtilization } : {}),
  };
}

/** GET `url` as text; undefined when it fails or answers other than 200. */
export async function fetchText(url: string, timeoutMs = 2_000): Promise<string | undefined> {
  try {
    const res = await request(url, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    const body = await res.body.text();
    return res.statusCode === 200 ? body : undefined;
  } catch {
    return undefined;
  }
}

/** The counters of one mock model in `/mock/stats` that a run reads. */
export interface MockModelStats {
  readonly busyMs: number;
  readonly elapsedMs: number;
  readonly steps: number;
  readonly outputTokens: number;
  readonly wastedTokens: number;
  readonly requests: number;
  readonly embeddingCalls: number;
  readonly batchedSeqs?: number;
  readonly meanBatchSize: number;
  /** Prompt tokens looked up in / found in the prefix cache (absent from mocks that predate it). */
  readonly prefixCacheQueries?: number;
  readonly prefixCacheHits?: number;
  readonly faultCounts: Readonly<Record<string, number>>;
  /** Sequences waiting for a GPU slot, and holding one, at the reading. */
  readonly waiting?: number;
  readonly running?: number;
  /** What the model billed (sim/billing.ts): uncached input, cached input and output tokens (absent from a chaos proxy). */
  readonly billedInputTokens?: number;
  readonly billedCachedInputTokens?: number;
  readonly billedOutputTokens?: number;
}

/** One mock process's `/mock/stats`. */
export interface MockStats {
  readonly eventLoopDelay: { readonly p99Ms: number; readonly maxMs: number };
  readonly models: Readonly<Record<string, MockModelStats>>;
}

/** `/mock/stats`; with `resetLoop`, the mock's event-loop histogram restarts, so each reading covers one period. */
export async function fetchMockStats(baseUrl: string, resetLoop = false): Promise<MockStats | undefined> {
  const t = await fetchText(`${baseUrl}/mock/stats${resetLoop ? '?reset=1' : ''}`);
  if (t === undefined) return undefined;
  try {
    return JSON.parse(t) as MockStats;
  } catch {
    return undefined;
  }
}

/**
 * Totals of one mock model across restarts of its process: a crash resets the process's counters, so each
 * process lifetime's last reading is banked when a reading goes backwards (a new process).
 */
export class MockTotals {
  #banked = { busyMs: 0, outputTokens: 0, wastedTokens: 0, requests: 0, steps: 0, seqSteps: 0, rateLimited: 0, cacheQueries: 0, cacheHits: 0 };
  #last: MockModelStats | undefined;
  #lastRateLimited = 0;
  /** Process restarts seen. */
  restarts = 0;

  /**
   * Feeds a reading and the model's 429 count from the same process (`mock:requests_rejected_total{status="429"}`:
   * injected 429s, provider rate limits, a full queue answered with 429). Returns true when it came from a new
   * process (a restart happened since the last reading).
   */
  update(s: MockModelStats, rateLimited: number): boolean {
    const restarted = this.#last !== undefined && s.elapsedMs < this.#last.elapsedMs;
    if (restarted && this.#last !== undefined) {
      this.#bank(this.#last, this.#lastRateLimited);
      this.restarts++;
    }
    this.#last = s;
    this.#lastRateLimited = rateLimited;
    return restarted;
  }

  #bank(s: MockModelStats, rateLimited: number): void {
    const b = this.#banked;
    b.busyMs += s.busyMs;
    b.outputTokens += s.outputTokens;
    b.wastedTokens += s.wastedTokens;
    b.requests += s.requests;
    b.steps += s.steps;
    b.seqSteps += s.meanBatchSize * s.steps;
    b.rateLimited += rateLimited;
    b.cacheQueries += s.prefixCacheQueries ?? 0;
    b.cacheHits += s.prefixCacheHits ?? 0;
  }

  /** Prefix-cache counters so far, in prompt tokens (banked lifetimes plus the current one). */
  prefixCache(): { queries: number; hits: number } {
    const b = this.#banked;
    return { queries: b.cacheQueries + (this.#last?.prefixCacheQueries ?? 0), hits: b.cacheHits + (this.#last?.prefixCacheHits ?? 0) };
  }

  /** Totals so far (banked lifetimes plus the current one). */
  totals(): { busyMs: number; outputTokens: number; wastedTokens: number; requests: number; steps: number; meanBatchSize: number | null; rateLimited: number } {
    const b = this.#banked;
    const l = this.#last;
    const steps = b.steps + (l?.steps ?? 0);
    const seqSteps = b.seqSteps + (l === undefined ? 0 : l.meanBatchSize * l.steps);
    return {
      busyMs: b.busyMs + (l?.busyMs ?? 0),
      outputTokens: b.outputTokens + (l?.outputTokens ?? 0),
      wastedTokens: b.wastedTokens + (l?.wastedTokens ?? 0),
      requests: b.requests + (l?.requests ?? 0),
      steps,
      meanBatchSize: steps > 0 ? seqSteps / steps : null,
      rateLimited: b.rateLimited + this.#lastRateLimited,
    };
  }
}
