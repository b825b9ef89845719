/**
 * The engine's metrics as OpenTelemetry instruments: gauges read from `Engine.snapshot()` at collection time,
 * counters and latency histograms fed from the Engine's typed events. Prometheus names (after the exporter's
 * `_total` suffix on counters): `engine_queue_depth`, `engine_in_flight`, `engine_concurrency_limit`,
 * `engine_breaker_state` (0 closed, 1 half-open, 2 open), `engine_retry_budget_level`, `engine_cache_bytes`,
 * `engine_cache_entries`, `engine_cache_hits_total`, `engine_cache_misses_total`, `engine_cache_stale_served_total`, `engine_requests_total`
 * `{outcome}`, `engine_attempts_total{model}`, `engine_attempt_failures_total{code,model,breaker}` (`breaker`: what
 * the primary's breaker made of it: failure, load, ignored, success, or none), `engine_give_ups_total{reason,code}`,
 * `engine_retries_total{cause}`, `engine_sheds_total{reason}`, `engine_breaker_transitions_total{to}`,
 * `engine_breaker_open_failures_total{code,reason}` (the failures the breaker had counted when it opened, by code:
 * why it opened), and the histograms
 * `engine_ttft_seconds`, `engine_e2e_seconds`, `engine_queue_wait_seconds`, `engine_backoff_seconds`.
 */
import type { BatchObservableCallback, Counter, Histogram, Meter, Observable } from '@opentelemetry/api';
import type { EngineEvent, EngineResult, EngineSnapshot } from '../engine/engine-types.js';

/** Where gauges are read from (the Engine). */
export interface SnapshotSource {
  snapshot(): EngineSnapshot;
}

/** Latency buckets in seconds: 5 ms to 2 min, roughly ×2 apart (TTFT and E2E of LLM calls span that range). */
export const LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 120] as const;

const BREAKER_VALUE = { closed: 0, 'half-open': 1, open: 2 } as const;

/** Registers the engine's instruments on `meter`. `close()` detaches the gauge callback. */
export class EngineMetrics {
  private readonly requests: Counter;
  private readonly attempts: Counter;
  private readonly attemptFailures: Counter;
  private readonly retries: Counter;
  private readonly sheds: Counter;
  private readonly breakerTransitions: Counter;
  private readonly breakerOpenFailures: Counter;
  private readonly giveUps: Counter;
  private readonly cacheHits: Counter;
  private readonly cacheMisses: Counter;
  private readonly cacheStale: Counter;
  private readonly ttft: Histogram;
  private readonly e2e: Histogram;
  private readonly queueWait: Histogram;
  private readonly backoff: Histogram;
  private readonly gauges: Observable[];
  private readonly callback: BatchObservableCallback;
  private readonly meter: Meter;

  constructor(meter: Meter, source: SnapshotSource) {
    this.meter = meter;
    const buckets = { advice: { explicitBucketBoundaries: [...LATENCY_BUCKETS_S] } };
    this.requests = meter.createCounter('engine_requests', { description: 'Requests finished, by outcome' });
    this.attempts = meter.createCounter('engine_attempts', { description: 'Passes through the attempt loop, by model' });
    this.attemptFailures = meter.createCounter('engine_attempt_failures', { description: 'Failed attempts, by error code' });
    this.retries = meter.createCounter('engine_retries', { description: 'Retries scheduled, by cause' });
    this.sheds = meter.createCounter('engine_sheds', { description: 'Requests shed without being served, by reason' });
    this.breakerTransitions = meter.createCounter('engine_breaker_transitions', { description: 'Circuit breaker state changes, by new state' });
    this.breakerOpenFailures = meter.createCounter('engine_breaker_open_failures', {
      description: 'Failures the breaker had counted when it opened (its window on a trip, the probe on a failed probe), by code: why it opened',
    });
    this.giveUps = meter.createCounter('engine_give_ups', { description: 'Requests the attempt loop stopped retrying, by reason and the last error code' });
    this.cacheHits = meter.createCounter('engine_cache_hits', { description: 'Cacheable requests answered by the response cache (or an identical request in flight): no upstream call of their own' });
    this.cacheMisses = meter.createCounter('engine_cache_misses', { description: 'Cacheable requests the response cache could not answer fresh' });
    this.cacheStale = meter.createCounter('engine_cache_stale_served', { description: 'Stale answers served as degraded: cached because the upstream failed or its breaker was open' });
    this.ttft = meter.createHistogram('engine_ttft_seconds', { description: 'Time to first token, from submit', unit: 's', ...buckets });
    this.e2e = meter.createHistogram('engine_e2e_seconds', { description: 'Submit to outcome', unit: 's', ...buckets });
    this.queueWait = meter.createHistogram('engine_queue_wait_seconds', { description: 'Time queued for a concurrency slot', unit: 's', ...buckets });
    this.backoff = meter.createHistogram('engine_backoff_seconds', { description: 'Time spent waiting between attempts', unit: 's', ...buckets });
    const queueDepth = meter.createObservableGauge('engine_queue_depth', { description: 'Requests waiting for a concurrency slot' });
    const inFlight = meter.createObservableGauge('engine_in_flight', { description: 'Upstream calls holding a slot' });
    const limit = meter.createObservableGauge('engine_concurrency_limit', { description: 'Current concurrency limit (fixed or adaptive)' });
    const breaker = meter.createObservableGauge('engine_breaker_state', { description: 'Primary breaker: 0 closed, 1 half-open, 2 open' });
    const budget = meter.createObservableGauge('engine_retry_budget_level', { description: 'Retries the budget would allow now' });
    const active = meter.createObservableGauge('engine_active_requests', { description: 'Requests submitted and not finished' });
    const cacheBytes = meter.createObservableGauge('engine_cache_bytes', { description: 'Bytes of answers the response cache holds (in-memory store)' });
    const cacheEntries = meter.createObservableGauge('engine_cache_entries', { description: 'Answers the response cache holds (in-memory store)' });
    this.gauges = [queueDepth, inFlight, limit, breaker, budget, active, cacheBytes, cacheEntries];
    this.callback = (r) => {
      const s = source.snapshot();
      r.observe(queueDepth, s.queueDepth);
      r.observe(inFlight, s.inFlight);
      r.observe(limit, Number.isFinite(s.concurrencyLimit) ? s.concurrencyLimit : -1);
      r.observe(breaker, BREAKER_VALUE[s.breaker]);
      if (s.budgetLevel !== undefined) r.observe(budget, s.budgetLevel);
      r.observe(active, s.active);
      if (s.cache?.bytes !== undefined) r.observe(cacheBytes, s.cache.bytes);
      if (s.cache?.entries !== undefined) r.observe(cacheEntries, s.cache.entries);
    };
    meter.addBatchObservableCallback(this.callback, this.gauges);
  }

  /** Counts one engine event. */
  onEvent(e: EngineEvent): void {
    switch (e.type) {
      case 'attempt':
        this.attempts.add(1, { model: e.model });
        break;
      case 'attempt-failed':
        this.attemptFailures.add(1, { code: e.code, model: e.model, breaker: e.breaker ?? 'none' });
        break;
      case 'give-up':
        this.giveUps.add(1, { reason: e.reason, code: e.code });
        break;
      case 'retry':
        this.retries.add(1, { cause: e.cause });
        break;
      case 'shed':
        this.sheds.add(1, { reason: e.reason });
        break;
      case 'breaker-state':
        this.breakerTransitions.add(1, { to: e.to });
        if (e.to === 'open' && e.counted !== undefined) for (const [code, n] of Object.entries(e.counted.codes)) this.breakerOpenFailures.add(n, { code, reason: e.reason });
        break;
      case 'done':
        this.requests.add(1, { outcome: e.result.outcome });
        // Counted from the outcome, as the engine's counters are: a stale answer is a miss that was then served stale.
        if (e.result.cache === 'hit') this.cacheHits.add(1);
        else if (e.result.cache !== undefined) this.cacheMisses.add(1);
        if (e.result.cache === 'stale') this.cacheStale.add(1);
        break;
      default:
        break;
    }
  }

  /** Records the latencies of one finished request submitted at `submitMs` (engine clock). */
  recordLatency(result: EngineResult, submitMs: number): void {
    const attrs = { outcome: result.outcome };
    this.e2e.record(Math.max(0, result.endAtMs - submitMs) / 1000, attrs);
    if (result.firstTokenAtMs !== undefined) this.ttft.record(Math.max(0, result.firstTokenAtMs - submitMs) / 1000, attrs);
    if (result.deduped === undefined && result.outcome !== 'shed') {
      this.queueWait.record(result.queuedMs / 1000);
      if (result.backoffMs > 0) this.backoff.record(result.backoffMs / 1000);
    }
  }

  /** Detaches the gauges' callback (the meter provider stays the caller's). */
  close(): void {
    this.meter.removeBatchObservableCallback(this.callback, this.gauges);
  }
}
