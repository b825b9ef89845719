/**
 * Prometheus metrics of the mock server, named as vLLM names them (so dashboards and autoscalers written for
 * vLLM read the mock unchanged), on a Registry owned by one app. Gauges and counters are read from the models'
 * snapshots at scrape time; latency histograms are fed by the models' `request-done` events.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ServedModel, ServedModelEvent } from './served-model.js';
import { TokenHistogram, type TokenSeries } from './token-histogram.js';

/** vLLM's bucket boundaries (seconds), so histogram_quantile reads the same on the mock and the real thing. */
const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
const ITL_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 10];
const E2E_BUCKETS = [0.01, 0.05, 0.1, 0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240];

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);

/** What the metrics read of a model: its name, snapshot and events (a mock model, or the chaos proxy's fault state). */
export type MeteredModel = Pick<ServedModel, 'name' | 'metrics' | 'onEvent'>;

/** The metrics of one app. `close()` detaches from the models' events. */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly unsubscribe: Array<() => void> = [];
  private readonly ttft: Histogram<'model_name'>;
  /** Per-token: its own cheap histogram (see sim/token-histogram.ts), one series per model. */
  private readonly itl = new Map<string, TokenSeries>();
  private readonly e2e: Histogram<'model_name'>;
  private readonly queue: Histogram<'model_name'>;
  /** Refusals by model and status, counted in a plain map (a refusal can come thousands of times a second). */
  private readonly rejectedCounts = new Map<string, Map<string, number>>();

  constructor(models: readonly MeteredModel[]) {
    const r = this.registry;
    const labelNames = ['model_name'] as const;
    const gauge = (name: string, help: string, read: (m: ReturnType<ServedModel['metrics']>) => number): void => {
      new Gauge({
        name,
        help,
        labelNames,
        registers: [r],
        collect(this: Gauge<'model_name'>) {
          for (const m of models) this.set({ model_name: m.name }, read(m.metrics()));
        },
      });
    };
    const counter = (name: string, help: string, read: (m: ReturnType<ServedModel['metrics']>) => number): void => {
      new Counter({
        name,
        help,
        labelNames,
        registers: [r],
        collect(this: Counter<'model_name'>) {
          this.reset();
          for (const m of models) this.inc({ model_name: m.name }, read(m.metrics()));
        },
      });
    };
    gauge('vllm:num_requests_running', 'Number of requests in the running batch.', (s) => s.running);
    gauge('vllm:num_requests_waiting', 'Number of requests waiting to be admitted.', (s) => s.waiting);
    gauge('vllm:kv_cache_usage_perc', 'KV-cache usage; 1 means 100 percent.', (s) => s.kvCacheUsage);
    gauge('mock:gpu_busy_fraction', 'Fraction of time the simulated GPU was stepping.', (s) => s.busyFraction);
    gauge('mock:mean_batch_size', 'Mean number of sequences per step.', (s) => s.meanBatchSize);
    counter('mock:tokens_computed_total', 'Tokens the simulated GPU computed (prefill and decode).', (s) => s.tokensComputed);
    counter('mock:wasted_tokens_total', 'Tokens computed for output no client received.', (s) => s.wastedTokens);
    // vLLM V1's prefix-cache counters, in tokens (hit rate = hits / queries), as it exposes them.
    counter('vllm:prefix_cache_queries_total', 'Prefix cache queries, in terms of number of queried tokens.', (s) => s.prefixCacheQueries);
    counter('vllm:prefix_cache_hits_total', 'Prefix cache hits, in terms of number of cached tokens.', (s) => s.prefixCacheHits);
    counter('mock:billed_input_tokens_total', 'Uncached input tokens billed (prompt and resumed prefix, on every attempt).', (s) => s.billedInputTokens ?? 0);
    counter('mock:billed_cached_input_tokens_total', 'Input tokens billed at the cached-input price (prefix-cache hits).', (s) => s.billedCachedInputTokens ?? 0);
    counter('mock:billed_output_tokens_total', 'Output tokens billed: every token computed, delivered or not.', (s) => s.billedOutputTokens ?? 0);
    counter('mock:requests_total', 'Generation requests the models received.', (s) => s.requests);
    new Counter({
      name: 'mock:faults_injected_total',
      help: 'Faults injected, by kind.',
      labelNames: ['model_name', 'kind'] as const,
      registers: [r],
      collect(this: Counter<'model_name' | 'kind'>) {
        this.reset();
        for (const m of models) {
          for (const [kind, n] of Object.entries(m.metrics().faultCounts)) this.inc({ model_name: m.name, kind }, n);
        }
      },
    });
    const histogram = (name: string, help: string, buckets: number[]): Histogram<'model_name'> =>
      new Histogram({ name, help, labelNames, buckets, registers: [r] });
    this.ttft = histogram('vllm:time_to_first_token_seconds', 'Time to first token.', TTFT_BUCKETS);
    const itl = new TokenHistogram('vllm:inter_token_latency_seconds', 'Time between tokens.', ITL_BUCKETS, r);
    for (const m of models) this.itl.set(m.name, itl.for(m.name));
    this.e2e = histogram('vllm:e2e_request_latency_seconds', 'End-to-end request latency.', E2E_BUCKETS);
    this.queue = histogram('vllm:request_queue_time_seconds', 'Time spent waiting before admission.', E2E_BUCKETS);
    const rejectedCounts = this.rejectedCounts;
    new Counter({
      name: 'mock:requests_rejected_total',
      help: 'Requests refused at admission (injected faults, rate limits, full queue, cold start), by HTTP status; 0 means a refused connection.',
      labelNames: ['model_name', 'status'] as const,
      registers: [r],
      collect(this: Counter<'model_name' | 'status'>) {
        this.reset();
        for (const [model_name, byStatus] of rejectedCounts) for (const [status, n] of byStatus) this.inc({ model_name, status }, n);
      },
    });
    for (const m of models) this.unsubscribe.push(m.onEvent((e) => this.onEvent(m.name, e)));
  }

  private onEvent(model: string, e: ServedModelEvent): void {
    if (e.type === 'request-rejected') {
      const status = e['status'];
      // An abort (the client left during a hang or a delay) is not a refusal.
      if (e['code'] !== 'ABORTED') {
        const key = typeof status === 'number' ? String(status) : '0';
        let byStatus = this.rejectedCounts.get(model);
        if (byStatus === undefined) this.rejectedCounts.set(model, (byStatus = new Map()));
        byStatus.set(key, (byStatus.get(key) ?? 0) + 1);
      }
      return;
    }
    if (e.type !== 'request-done') return;
    const labels = { model_name: model };
    const ttft = num(e['ttftMs']);
    if (ttft !== undefined) this.ttft.observe(labels, ttft / 1000);
    const e2e = num(e['e2eMs']);
    if (e2e !== undefined) this.e2e.observe(labels, e2e / 1000);
    const queue = num(e['queueMs']);
    if (queue !== undefined) this.queue.observe(labels, queue / 1000);
    const itl = e['itlMs'] ?? e['itl'];
    const series = this.itl.get(model);
    if (series === undefined) return;
    if (Array.isArray(itl)) {
      for (const v of itl) {
        const x = num(v);
        if (x !== undefined) series.observe(x / 1000);
      }
    } else {
      const x = num(itl);
      if (x !== undefined) series.observe(x / 1000);
    }
  }

  /** The Prometheus text exposition. */
  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  close(): void {
    for (const u of this.unsubscribe.splice(0)) u();
  }
}
