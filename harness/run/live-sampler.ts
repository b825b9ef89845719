/**
 * Once per second during a live run: scrape the engine's `/metrics` (queue depth, in-flight, concurrency limit,
 * breaker, budget, upstream calls, 429s) and each mock's `/mock/stats` and `/metrics` (GPU busy time, tokens,
 * 429s sent), feed the Recorder's gauges and 429 series, and notice mock restarts. At the end it gives the run's
 * totals; a figure nobody exported is null.
 */
import type { Clock } from '../../src/time/clock.js';
import type { Recorder } from '../measure/recorder.js';
import { engineExplanation, type EngineExplanation } from './live-explain.js';
import { engineScrape, fetchMockStats, fetchText, gaugeFrom, metricSum, MockTotals, parsePrometheus, type EngineScrape } from './live-metrics.js';

/** One mock model the sampler watches. */
export interface SampledMock {
  readonly url: string;
  readonly model: string;
  /** The primary model: its GPU is the one whose utilization is reported. */
  readonly primary: boolean;
}

/** Options of {@link LiveSampler}. */
export interface LiveSamplerOptions {
  readonly clock: Clock;
  /** Ms since the load started. */
  readonly now: () => number;
  readonly recorder: Recorder;
  readonly engineUrl?: string;
  readonly mocks: readonly SampledMock[];
  /** A mock process was restarted (its counters went back to zero). */
  readonly onRestart?: (url: string, model: string) => void;
  readonly onProgress?: (elapsedMs: number) => void;
  /** @default 1000 */
  readonly periodMs?: number;
}

/** What the sampler saw over the run. */
export interface SampledTotals {
  /** Null when the primary's process was restarted: a crashed process's last counts die with it. */
  readonly tokensComputed: number | null;
  /** Null when the primary's process was restarted (what a crash threw away cannot be read). */
  readonly wastedTokens: number | null;
  readonly primaryBusyMs: number | null;
  readonly meanBatchSize: number | null;
  /** The mocks' prefix-cache counters summed, in prompt tokens. */
  readonly prefixCache: { readonly queries: number; readonly hits: number };
  /** Upstream calls: the engine's attempts less its breaker refusals, else what the mocks received. */
  readonly upstreamCalls: number | null;
  /** The engine's own count of attempts, when it exports one. */
  readonly attempts: number | null;
  readonly primaryRestarts: number;
  /** The primary mock's event-loop delay: the worst per-second p99 seen (its step loop runs late by this much). */
  readonly mockLagP99Ms: number;
  /** The engine's account of its breaker and give-ups (./live-explain.ts); null without an engine that exports it. */
  readonly engineExplanation: EngineExplanation | null;
}

export class LiveSampler {
  readonly #o: LiveSamplerOptions;
  readonly #totals: MockTotals[];
  readonly #seen: boolean[];
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;
  #engine: EngineScrape = {};
  #explanation: EngineExplanation | undefined;
  #lastBusyMs = 0;
  #lastAtMs = 0;
  #last429 = 0;
  #mockLagP99Ms = 0;

  constructor(o: LiveSamplerOptions) {
    this.#o = o;
    this.#totals = o.mocks.map(() => new MockTotals());
    this.#seen = o.mocks.map(() => false);
  }

  start(): void {
    this.#lastAtMs = this.#o.now();
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    const period = this.#o.periodMs ?? 1000;
    for (;;) {
      try {
        await this.#o.clock.sleep(period, this.#stop.signal);
      } catch {
        return;
      }
      await this.sample(true);
      this.#o.onProgress?.(this.#o.now());
    }
  }

  /** Takes one sample; with `gauge`, records a gauge point. */
  async sample(gauge: boolean): Promise<void> {
    const [engineText, ...mockReads] = await Promise.all([
      this.#o.engineUrl === undefined ? Promise.resolve(undefined) : fetchText(`${this.#o.engineUrl}/metrics`),
      ...this.#o.mocks.map(async (m) => ({ stats: await fetchMockStats(m.url, true), metrics: await fetchText(`${m.url}/metrics`) })),
    ]);
    if (engineText !== undefined) {
      const samples = parsePrometheus(engineText);
      this.#engine = engineScrape(samples);
      this.#explanation = engineExplanation(samples) ?? this.#explanation;
    }
    let gpu: number | undefined;
    mockReads.forEach((r, i) => {
      const m = this.#o.mocks[i] as SampledMock;
      const stats = r.stats?.models[m.model];
      if (stats === undefined) return; // down (crash) or not answering: nothing to read this second
      const rejected = r.metrics === undefined ? 0 : (metricSum(parsePrometheus(r.metrics), ['mock:requests_rejected_total'], { model_name: m.model, status: '429' }) ?? 0);
      const totals = this.#totals[i] as MockTotals;
      this.#seen[i] = true;
      if (totals.update(stats, rejected)) this.#o.onRestart?.(m.url, m.model);
      if (m.primary && r.stats !== undefined && r.stats.eventLoopDelay.p99Ms > this.#mockLagP99Ms) this.#mockLagP99Ms = r.stats.eventLoopDelay.p99Ms;
      if (m.primary) {
        const busy = totals.totals().busyMs;
        const at = this.#o.now();
        if (at > this.#lastAtMs) gpu = Math.max(0, Math.min(1, (busy - this.#lastBusyMs) / (at - this.#lastAtMs)));
        this.#lastBusyMs = busy;
        this.#lastAtMs = at;
      }
    });
    // 429s the engine received: its own counter (absent until the first failed attempt) when there is an engine,
    // else what the mocks say they sent.
    const total429 = this.#o.engineUrl !== undefined ? (this.#engine.rateLimited ?? 0) : this.#totals.reduce((s, t) => s + t.totals().rateLimited, 0);
    if (total429 > this.#last429) this.#o.recorder.rateLimited(this.#o.now(), total429 - this.#last429);
    this.#last429 = Math.max(this.#last429, total429);
    if (gauge) {
      const g = gaugeFrom(this.#engine, gpu);
      if (g !== undefined) this.#o.recorder.gauge(this.#o.now(), g);
    }
  }

  /** Stops sampling, takes a last reading, and returns the totals. */
  async stop(): Promise<SampledTotals> {
    this.#stop.abort();
    await this.#loop;
    await this.sample(false);
    const seen = this.#totals.filter((_, i) => this.#seen[i]).map((t) => t.totals());
    const primaryIndex = this.#o.mocks.findIndex((m) => m.primary);
    const primary = this.#seen[primaryIndex] === true ? (this.#totals[primaryIndex] as MockTotals) : undefined;
    const sum = (f: (t: ReturnType<MockTotals['totals']>) => number): number | null => (seen.length === 0 ? null : seen.reduce((s, t) => s + f(t), 0));
    const mockWasted = sum((t) => t.wastedTokens);
    // A crash ends the process with its in-flight work: what it computed since the last reading and what it threw
    // away are gone with it. Those totals are then unknown, not smaller.
    const crashed = this.#totals.some((t) => t.restarts > 0);
    const e = this.#engine;
    const engineCalls = e.upstreamCalls ?? (e.attempts === undefined ? undefined : e.attempts - (e.breakerRejected ?? 0));
    return {
      tokensComputed: crashed ? null : sum((t) => t.outputTokens),
      wastedTokens: crashed || mockWasted === null ? null : mockWasted + (e.tokensDiscarded ?? 0),
      primaryBusyMs: primary?.totals().busyMs ?? null,
      meanBatchSize: primary?.totals().meanBatchSize ?? null,
      upstreamCalls: engineCalls ?? sum((t) => t.requests),
      attempts: e.attempts ?? null,
      primaryRestarts: primary?.restarts ?? 0,
      mockLagP99Ms: this.#mockLagP99Ms,
      engineExplanation: this.#explanation ?? null,
      prefixCache: this.#totals
        .filter((_, i) => this.#seen[i])
        .map((t) => t.prefixCache())
        .reduce((a, c) => ({ queries: a.queries + c.queries, hits: a.hits + c.hits }), { queries: 0, hits: 0 }),
    };
  }
}
