/**
 * Binds one Engine to a Telemetry: its events drive the metrics and the per-request traces; the caller
 * (the API) marks each request's lifecycle with `begin`, `admitted` and `tokens`.
 */
import type { Attributes, Tracer } from '@opentelemetry/api';
import type { EngineEvent, EngineSnapshot, TokenChunk } from '../engine/engine-types.js';
import type { Clock } from '../time/clock.js';
import type { ServicePrices } from '../engine/billed-usage.js';
import { CostMetrics } from './cost-metrics.js';
import { EngineMetrics } from './engine-metrics.js';
import { RequestTracer, type BeginOptions, type ReplayOptions } from './request-tracing.js';
import type { Telemetry } from './setup.js';

/** What is observed: the Engine's snapshot and typed events. */
export interface ObservedEngine {
  snapshot(): EngineSnapshot;
  onEvent(listener: (e: EngineEvent) => void): () => void;
}

/** Metrics and traces of one Engine. `close()` unsubscribes (the Telemetry stays the caller's). */
export class EngineTelemetry {
  readonly metrics: EngineMetrics;
  readonly tracer: RequestTracer;
  readonly cost: CostMetrics;
  private readonly submitted = new Map<string, number>();
  /** The tenant of each begun request, for the cost metrics (until it is done). */
  private readonly tenants = new Map<string, string>();
  private readonly off: () => void;
  /** Spans go somewhere: without a span processor, tracing is skipped altogether (no per-request state). */
  private readonly tracing: boolean;
  private readonly rawTracer: Tracer;

  constructor(engine: ObservedEngine, telemetry: Telemetry, private readonly clock: Clock, prices?: ServicePrices) {
    this.metrics = new EngineMetrics(telemetry.meter, engine);
    this.cost = new CostMetrics(telemetry.meter, prices);
    this.tracer = new RequestTracer(telemetry.tracer, clock);
    this.tracing = telemetry.tracing;
    this.rawTracer = telemetry.tracer;
    this.off = engine.onEvent((e) => {
      this.metrics.onEvent(e);
      if (this.tracing) this.tracer.onEvent(e);
      if (e.type === 'done') {
        const tenant = this.tenants.get(e.result.id);
        this.tenants.delete(e.result.id);
        this.cost.record(e.result, tenant ?? 'unknown');
        const submitMs = this.submitted.get(e.result.id);
        if (submitMs !== undefined) {
          this.submitted.delete(e.result.id);
          this.metrics.recordLatency(e.result, submitMs);
        }
      }
    });
  }

  /** A request arrived (before validation against the store and the engine's admission). */
  begin(id: string, o: BeginOptions = {}): void {
    const tenant = o.attributes?.['tenant'];
    if (typeof tenant === 'string') this.tenants.set(id, tenant);
    if (this.tracing) this.tracer.begin(id, o);
  }

  /** Call right after `engine.submit` returned: latencies count from here. */
  admitted(id: string): void {
    this.submitted.set(id, this.clock.now());
    if (this.tracing) this.tracer.admitted(id);
  }

  tokens(id: string, chunk: TokenChunk): void {
    if (this.tracing) this.tracer.tokens(id, chunk);
  }

  /** A begun request that never reached the engine because it was refused or failed: its trace ends in ERROR. */
  abandon(id: string, reason: string): void {
    this.submitted.delete(id);
    this.tenants.delete(id);
    if (this.tracing) this.tracer.abandon(id, reason);
  }

  /** A begun request answered by an idempotent replay (not an error): see {@link RequestTracer.replayed}. */
  replayed(id: string, o: ReplayOptions): void {
    this.submitted.delete(id);
    this.tenants.delete(id);
    if (this.tracing) this.tracer.replayed(id, o);
  }

  /** A one-off span, ended at once (e.g. `job.enqueue` of a job handed to a worker, carrying its `job.id`). */
  mark(name: string, attributes: Attributes): void {
    if (this.tracing) this.rawTracer.startSpan(name, { attributes }).end();
  }

  close(): void {
    this.off();
    this.metrics.close();
  }
}
