/**
 * A Prometheus histogram for values observed once per streamed token (inter-token latency), labelled by model.
 * prom-client's Histogram validates and hashes its labels and builds a closure on every `observe`: at 100,000
 * tokens/s that was a visible share of the server's CPU, and when 1,000 streams ended in the same GPU step (each
 * handing over 300 gaps) it stalled the event loop for tens of ms. Here a model's series is looked up once, and an
 * observation is a bucket search and two additions. It registers on a prom-client Registry as a custom metric: its
 * `get()` returns what prom-client's own histograms return, so the exposition text is the same.
 */
import type { Metric, Registry } from 'prom-client';

/** One exported line, as prom-client's metrics return them from `get()`. */
export interface HistogramValue {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
  readonly metricName: string;
}

/** One model's observations. */
export class TokenSeries {
  /** Non-cumulative count per bucket; the last slot counts values above every bound (le="+Inf" only). */
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(
    private readonly bounds: readonly number[],
    readonly modelName: string,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Values observed since the last reset. */
  get observed(): number {
    return this.count;
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const b = this.bounds;
    let lo = 0;
    let hi = b.length;
    // The first bound >= value (Prometheus buckets are upper-inclusive).
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((b[mid] as number) < value) lo = mid + 1;
      else hi = mid;
    }
    this.counts[lo] = (this.counts[lo] as number) + 1;
    this.sum += value;
    this.count++;
  }

  /** The series as prom-client values: cumulative buckets, +Inf, sum and count. */
  values(name: string): HistogramValue[] {
    const out: HistogramValue[] = [];
    let acc = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      acc += this.counts[i] as number;
      out.push({ labels: { le: this.bounds[i] as number, model_name: this.modelName }, value: acc, metricName: `${name}_bucket` });
    }
    out.push({ labels: { le: '+Inf', model_name: this.modelName }, value: this.count, metricName: `${name}_bucket` });
    out.push({ labels: { model_name: this.modelName }, value: this.sum, metricName: `${name}_sum` });
    out.push({ labels: { model_name: this.modelName }, value: this.count, metricName: `${name}_count` });
    return out;
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

/** A histogram with a `model_name` label, registered on `registry`. */
export class TokenHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, TokenSeries>();

  /** @param bounds bucket upper bounds, ascending. */
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    for (let i = 1; i < bounds.length; i++) {
      if (!((bounds[i] as number) > (bounds[i - 1] as number))) throw new RangeError(`${name}: expected ascending bucket bounds, got ${bounds.join(', ')}`);
    }
    // A custom metric: the Registry only calls get() (and reset()) on it.
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series of one model: keep it, and observe into it without a label lookup per value. */
  for(modelName: string): TokenSeries {
    let s = this.series.get(modelName);
    if (s === undefined) this.series.set(modelName, (s = new TokenSeries(this.bounds, modelName)));
    return s;
  }

  async get(): Promise<{ name: string; help: string; type: 'histogram'; values: HistogramValue[]; aggregator: 'sum' }> {
    const values: HistogramValue[] = [];
    // A series with nothing observed is left out, as prom-client leaves out a label set it has not seen.
    for (const s of this.series.values()) if (s.observed > 0) values.push(...s.values(this.name));
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    for (const s of this.series.values()) s.reset();
  }
}
