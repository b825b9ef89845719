/**
 * The Recorder: the runner reports arrivals, finished requests, 429s and gauge samples for ONE policy's run,
 * then calls `finish` once to get that policy's PolicyResult. It never reads a clock: every time is passed in
 * (simulated ms since the run started).
 */
import { HarnessError, ValidationError } from '../../src/errors.js';
import { BillingAcc, type AttemptBill } from './billing.js';
import { LatencyHistogram } from './histogram.js';
import { e2eMs, meetsSlo, servedWithinSlo, tpotMs, ttftMs } from './latency.js';
import { computeRecovery, recoveryOptions, type RecoveryOptions } from './recovery.js';
import type { ClassSummary, PolicyResult } from './result.js';
import { round, SeriesBuilder } from './series.js';
import { SessionsInFlight } from './sessions-in-flight.js';
import { OUTCOMES, type FinishInput, type GaugeSample, type JsonValue, type Outcome, type RequestObservation, type SloSpec, type TokenChunk } from './types.js';

/** Options of a Recorder. */
export interface RecorderOptions {
  /** The policy's name as reports show it. */
  readonly policy: string;
  /** The policy's resolved config, stored verbatim in the result. @default null */
  readonly config?: JsonValue;
  readonly slo: SloSpec;
  /** Time-series bucket width. @default 1000 */
  readonly seriesBucketMs?: number;
  /** How recovery after fault phases is judged; see harness/measure/recovery.ts. @default RECOVERY_DEFAULTS */
  readonly recovery?: RecoveryOptions;
}

/** Thrown when a Recorder is used after `finish`. */
export class RecorderFinishedError extends HarnessError {
  constructor(method: string) {
    super('RECORDER_FINISHED', `Recorder.${method}: expected a recorder still recording, got one already finished`);
  }
}

type OutcomeCounts = Record<Outcome, number>;

interface ClassAcc {
  counts: OutcomeCounts;
  sloMet: number;
  ttft: LatencyHistogram;
  e2e: LatencyHistogram;
}

const zeroCounts = (): OutcomeCounts => ({ ok: 0, degraded: 0, shed: 0, failed: 0, timeout: 0, cancelled: 0 });

/** Measures one policy's run. */
export class Recorder {
  readonly #o: Required<Omit<RecorderOptions, 'config' | 'recovery'>> & { config: JsonValue; recovery: Required<RecoveryOptions> };
  readonly #series: SeriesBuilder;
  readonly #sessions: SessionsInFlight;
  readonly #h = {
    ttftMs: LatencyHistogram.create(),
    e2eMs: LatencyHistogram.create(),
    e2eAllMs: LatencyHistogram.create(),
    itlMs: LatencyHistogram.create(),
    tpotMs: LatencyHistogram.create(),
    queueMs: LatencyHistogram.create(),
    backoffMs: LatencyHistogram.create(),
  };
  readonly #counts = zeroCounts();
  readonly #classes = new Map<string, ClassAcc>();
  readonly #degradedReasons = new Map<string, number>();
  readonly #reasons = new Map<string, number>();
  #servedWithinSlo = 0;
  #arrivals = 0;
  #requests = 0;
  #sloMet = 0;
  /** The engine's response cache, by lookup result (only when some request was looked up). */
  readonly #cache = { hits: 0, misses: 0, stale: 0 };
  #attempts = 0;
  #upstreamCalls = 0;
  #rateLimited = 0;
  #tokens = 0;
  readonly #billing = new BillingAcc();
  #peakQueue: number | null = null;
  #gpuSum = 0;
  #gpuN = 0;
  #finished = false;

  constructor(options: RecorderOptions) {
    if (typeof options.policy !== 'string' || options.policy === '') throw new ValidationError('policy', 'a non-empty string', options.policy);
    for (const [k, v] of Object.entries(options.slo)) {
      if (k !== 'classes' && v !== undefined && !(typeof v === 'number' && v > 0)) throw new ValidationError(`slo.${k}`, 'a positive number', v);
    }
    this.#o = {
      policy: options.policy,
      config: options.config ?? null,
      slo: options.slo,
      seriesBucketMs: options.seriesBucketMs ?? 1000,
      recovery: recoveryOptions(options.recovery),
    };
    this.#series = new SeriesBuilder(this.#o.seriesBucketMs);
    this.#sessions = new SessionsInFlight(this.#o.seriesBucketMs);
  }

  /** A client request arrived; `atMs` is its intended start. */
  arrival(atMs: number): void {
    this.#live('arrival');
    this.#arrivals++;
    this.#series.count('arrivals', atMs);
  }

  /** The engine received `count` 429 responses from upstream at `atMs`. */
  rateLimited(atMs: number, count = 1): void {
    this.#live('rateLimited');
    this.#rateLimited += count;
    this.#series.count('rateLimited', atMs, count);
  }

  /** A sample of the system's gauges. */
  gauge(atMs: number, g: GaugeSample): void {
    this.#live('gauge');
    this.#peakQueue = Math.max(this.#peakQueue ?? 0, g.queueDepth);
    if (g.gpuUtilization !== undefined) {
      this.#gpuSum += g.gpuUtilization;
      this.#gpuN++;
    }
    this.#series.gauge(atMs, g);
  }

  /** A session (a conversation, an agent run, a closed-loop user's session) started playing at `atMs`. */
  sessionStarted(atMs: number): void {
    this.#live('sessionStarted');
    this.#sessions.started(atMs);
  }

  /** A session ended at `atMs`. */
  sessionEnded(atMs: number): void {
    this.#live('sessionEnded');
    this.#sessions.ended(atMs);
  }

  /**
   * A client request reached its terminal outcome. `times`, when given, holds the request's chunks in place of
   * `obs.chunks` (which is then not read for them): the virtual runner's typed arrays, so that recording a
   * request makes no object per chunk.
   */
  complete(obs: RequestObservation, times?: ChunkSeries): void {
    this.#live('complete');
    const chunks = times ?? seriesOf(obs.chunks);
    validate(obs, chunks);
    this.#requests++;
    this.#counts[obs.outcome]++;
    this.#attempts += obs.attempts;
    this.#upstreamCalls += obs.upstreamCalls;
    this.#tokens += obs.tokens;
    if (obs.cache === 'hit') this.#cache.hits++;
    else if (obs.cache !== undefined) {
      this.#cache.misses++;
      if (obs.cache === 'stale') this.#cache.stale++;
    }
    if (obs.outcome === 'degraded') {
      const reason = obs.degraded ?? 'unspecified';
      this.#degradedReasons.set(reason, (this.#degradedReasons.get(reason) ?? 0) + 1);
    }
    const met = meetsSlo(obs, this.#o.slo);
    if (met) this.#sloMet++;
    if (servedWithinSlo(obs, this.#o.slo)) this.#servedWithinSlo++;
    const reason = obs.outcome === 'ok' ? undefined : (obs.reason ?? obs.degraded ?? obs.outcome);
    if (reason !== undefined) this.#reasons.set(reason, (this.#reasons.get(reason) ?? 0) + 1);
    this.#series.outcome(obs.outcome, obs.endAtMs, met, reason);

    const served = obs.outcome === 'ok' || obs.outcome === 'degraded';
    if (obs.bills !== undefined) this.#billing.request(obs.bills, served);
    const ttft = ttftMs(obs);
    const e2e = e2eMs(obs);
    if (ttft !== null) this.#h.ttftMs.record(ttft);
    this.#h.e2eAllMs.record(e2e);
    if (served) {
      this.#h.e2eMs.record(e2e);
      const tpot = tpotMs(obs);
      if (tpot !== null) this.#h.tpotMs.record(tpot);
    }
    recordItl(this.#h.itlMs, chunks);
    this.#h.queueMs.record(obs.queuedMs);
    this.#h.backoffMs.record(obs.backoffMs);

    let c = this.#classes.get(obs.class);
    if (c === undefined) {
      c = { counts: zeroCounts(), sloMet: 0, ttft: LatencyHistogram.create(), e2e: LatencyHistogram.create() };
      this.#classes.set(obs.class, c);
    }
    c.counts[obs.outcome]++;
    if (met) c.sloMet++;
    if (ttft !== null) c.ttft.record(ttft);
    if (served) c.e2e.record(e2e);
  }

  /**
   * Bills that matched no completed request: a batch call (judged alone, harness/measure/billing.ts
   * `splitLoneBill`), or with `abandoned` a call that ended after its request did (all of it waste).
   */
  unmatchedBills(bills: readonly AttemptBill[], abandoned = false): void {
    this.#live('unmatchedBills');
    this.#billing.lone(bills, abandoned);
  }

  /** Ends the recording and returns the policy's result. Call once. */
  finish(extra: FinishInput): PolicyResult {
    this.#live('finish');
    if (!(extra.durationMs > 0)) throw new ValidationError('finish.durationMs', 'a positive number', extra.durationMs);
    this.#finished = true;
    const built = this.#series.build(extra.durationMs);
    const priced = this.#billing.cost(extra.cost ?? {}, this.#sloMet, built.bucketMs, built.arrivals.length);
    const withSessions = this.#sessions.seen ? { ...built, sessionsInFlight: this.#sessions.build(built.arrivals.length) } : built;
    const series = priced.spendUsd === null ? withSessions : { ...withSessions, spendUsd: priced.spendUsd };
    const n = this.#requests;
    const upstreamCalls = extra.upstreamCalls ?? this.#upstreamCalls;
    const wasted =
      extra.wastedTokens === null || extra.tokensComputed === null
        ? null
        : extra.tokensComputed === 0
          ? 0
          : round(extra.wastedTokens / extra.tokensComputed, 6);
    const gpu = extra.gpuUtilization ?? (this.#gpuN > 0 ? this.#gpuSum / this.#gpuN : null);
    const classes: ClassSummary[] = [...this.#classes.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, c]) => ({
        class: name,
        requests: OUTCOMES.reduce((s, o) => s + c.counts[o], 0),
        ...c.counts,
        sloMet: c.sloMet,
        ttftMs: c.ttft.stats(),
        e2eMs: c.e2e.stats(),
      }));
    return {
      name: this.#o.policy,
      config: this.#o.config,
      summary: {
        requests: n,
        ...this.#counts,
        okFraction: n === 0 ? null : round(this.#counts.ok / n, 6),
        sloMet: this.#sloMet,
        goodputPerSec: round(this.#sloMet / (extra.durationMs / 1000), 6),
        servedWithinSlo: this.#servedWithinSlo,
        servedWithinSloPerSec: round(this.#servedWithinSlo / (extra.durationMs / 1000), 6),
        reasons: sortedObject(this.#reasons),
        amplification: n === 0 ? null : round(upstreamCalls / n, 6),
        wastedTokenFraction: wasted,
        ttftMs: this.#h.ttftMs.stats(),
        e2eMs: this.#h.e2eMs.stats(),
        e2eAllMs: this.#h.e2eAllMs.stats(),
        itlMs: this.#h.itlMs.stats(),
        tpotMs: this.#h.tpotMs.stats(),
        queueMs: this.#h.queueMs.stats(),
        backoffMs: this.#h.backoffMs.stats(),
        peakQueue: this.#peakQueue,
        gpuUtilization: gpu === null ? null : round(gpu, 6),
        meanBatchSize: extra.meanBatchSize === null ? null : round(extra.meanBatchSize, 6),
        ...(this.#cache.hits + this.#cache.misses > 0
          ? { responseCache: { ...this.#cache, hitRate: round(this.#cache.hits / (this.#cache.hits + this.#cache.misses), 6) } }
          : {}),
        prefixCacheHitRate: extra.prefixCache === undefined || extra.prefixCache === null || extra.prefixCache.queries <= 0 ? null : round(extra.prefixCache.hits / extra.prefixCache.queries, 6),
        recovery: computeRecovery(series, extra.durationMs, extra.faultPhases, this.#o.recovery),
        tokens: this.#billing.tokens(this.#tokens),
        cost: priced.cost,
        thresholds: [],
      },
      counters: {
        arrivals: this.#arrivals,
        requests: n,
        unfinished: Math.max(0, this.#arrivals - n),
        attempts: this.#attempts,
        upstreamCalls,
        rateLimited: this.#rateLimited,
        tokensDelivered: this.#tokens,
        tokensComputed: extra.tokensComputed,
        wastedTokens: extra.wastedTokens,
        degradedReasons: sortedObject(this.#degradedReasons),
      },
      histograms: {
        unit: 'us',
        ttftMs: this.#h.ttftMs.encode(),
        e2eMs: this.#h.e2eMs.encode(),
        e2eAllMs: this.#h.e2eAllMs.encode(),
        itlMs: this.#h.itlMs.encode(),
        tpotMs: this.#h.tpotMs.encode(),
        queueMs: this.#h.queueMs.encode(),
        backoffMs: this.#h.backoffMs.encode(),
      },
      classes,
      series,
    };
  }

  #live(method: string): void {
    if (this.#finished) throw new RecorderFinishedError(method);
  }
}

function sortedObject(m: ReadonlyMap<string, number>): Record<string, number> {
  return Object.fromEntries([...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** A request's chunks read by index: an array of TokenChunk objects, or typed arrays (harness/measure/chunk-times.ts). */
export interface ChunkSeries {
  readonly length: number;
  atMsAt(i: number): number;
  countAt(i: number): number;
}

function seriesOf(chunks: readonly TokenChunk[]): ChunkSeries {
  return { length: chunks.length, atMsAt: (i) => (chunks[i] as TokenChunk).atMs, countAt: (i) => (chunks[i] as TokenChunk).count };
}

function validate(obs: RequestObservation, chunks: ChunkSeries): void {
  const at = (field: string): string => `observation[${obs.id}].${field}`;
  if (!OUTCOMES.includes(obs.outcome)) throw new ValidationError(at('outcome'), OUTCOMES.join(' | '), obs.outcome);
  for (const f of ['intendedStartMs', 'endAtMs', 'queuedMs', 'backoffMs'] as const) {
    if (!Number.isFinite(obs[f])) throw new ValidationError(at(f), 'a finite number', obs[f]);
  }
  for (const f of ['tokens', 'attempts', 'upstreamCalls'] as const) {
    if (!Number.isInteger(obs[f]) || obs[f] < 0) throw new ValidationError(at(f), 'a non-negative integer', obs[f]);
  }
  if (obs.endAtMs < obs.intendedStartMs) throw new ValidationError(at('endAtMs'), `>= intendedStartMs (${obs.intendedStartMs})`, obs.endAtMs);
  let prevAtMs = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < chunks.length; i++) {
    const count = chunks.countAt(i);
    const atMs = chunks.atMsAt(i);
    if (!Number.isInteger(count) || count < 1) throw new ValidationError(at(`chunks[${i}].count`), 'an integer >= 1', count);
    if (atMs < prevAtMs) throw new ValidationError(at(`chunks[${i}].atMs`), `>= the previous chunk's ${prevAtMs}`, atMs);
    prevAtMs = atMs;
  }
}

/**
 * Records the ITL samples of a request's chunks (`itlSamples` in harness/measure/latency.ts: a chunk of k tokens Δ
 * after the previous one is k samples of Δ/k), a run of consecutive samples with equal histogram units as one
 * call with their count: the same histogram as one call per sample, without a sample object per chunk.
 */
function recordItl(h: LatencyHistogram, chunks: ChunkSeries): void {
  if (chunks.length < 2) return;
  let runUnits = -1;
  let runCount = 0;
  let prevAtMs = chunks.atMsAt(0);
  for (let i = 1; i < chunks.length; i++) {
    const atMs = chunks.atMsAt(i);
    const count = chunks.countAt(i);
    const units = LatencyHistogram.units((atMs - prevAtMs) / count);
    prevAtMs = atMs;
    if (units === runUnits) {
      runCount += count;
      continue;
    }
    if (runCount > 0) h.recordUnits(runUnits, runCount);
    runUnits = units;
    runCount = count;
  }
  if (runCount > 0) h.recordUnits(runUnits, runCount);
}
