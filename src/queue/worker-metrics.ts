/**
 * A queue worker's own metrics, beside the engine's (`engine_*`, see telemetry/engine-metrics.ts) on the worker's
 * `/metrics` (`--metrics-port`). In Redis mode each delivery is one engine request with one attempt, so the
 * retries of a job are redeliveries: `job_retries_total{code}` counts them (the engine's `engine_retries_total`
 * stays 0 on a worker). Prometheus names: `job_deliveries_total`, `job_retries_total{code}`,
 * `job_breaker_waits_total` (jobs held back by the shared breaker, unsent), `job_finished_total{status}` and,
 * with a shared policy, `job_shared_retry_budget_level` (the budget every worker draws from) and
 * `job_shared_breaker_state` (0 closed, 1 half-open, 2 open; the worker engines' own breakers are off then).
 */
import type { BatchObservableCallback, Meter } from '@opentelemetry/api';

const BREAKER_VALUE: Readonly<Record<string, number>> = { closed: 0, 'half-open': 1, open: 2 };

/** The events counted (a subset of QueueWorkerEvent). */
export type WorkerMetricEvent =
  | { readonly type: 'delivered' }
  | { readonly type: 'retry'; readonly code: string }
  | { readonly type: 'breaker-wait' }
  | { readonly type: 'finished'; readonly status: string }
  | { readonly type: 'lease-lost' };

/** Registers the instruments; `onEvent` counts, `close` detaches the gauge. */
export class WorkerMetrics {
  private readonly deliveries;
  private readonly retries;
  private readonly breakerWaits;
  private readonly finished;
  private readonly detach: (() => void) | undefined;

  /** `shared`: the shared budget's level and breaker state, read at scrape time (absent: no such gauge). */
  constructor(meter: Meter, shared: { readonly budgetLevel?: () => Promise<number>; readonly breakerState?: () => Promise<string> } = {}) {
    const { budgetLevel, breakerState } = shared;
    this.deliveries = meter.createCounter('job_deliveries', { description: 'Jobs taken from the queue for a run (first runs and redeliveries)' });
    this.retries = meter.createCounter('job_retries', { description: 'Jobs put back for another delivery after a retryable failure, by error code' });
    this.breakerWaits = meter.createCounter('job_breaker_waits', { description: 'Deliveries held back unsent by the shared open breaker' });
    this.finished = meter.createCounter('job_finished', { description: 'Jobs this worker brought to a terminal state, by status' });
    const level = budgetLevel === undefined ? undefined : meter.createObservableGauge('job_shared_retry_budget_level', { description: 'Retries the shared (Redis) budget allows now' });
    const breaker = breakerState === undefined ? undefined : meter.createObservableGauge('job_shared_breaker_state', { description: 'Shared (Redis) breaker of the primary: 0 closed, 1 half-open, 2 open' });
    const gauges = [level, breaker].filter((g) => g !== undefined);
    if (gauges.length > 0) {
      const cb: BatchObservableCallback = async (r) => {
        // Redis away: no value rather than a stale one.
        if (level !== undefined && budgetLevel !== undefined) await budgetLevel().then((v) => r.observe(level, v), () => undefined);
        if (breaker !== undefined && breakerState !== undefined) await breakerState().then((v) => r.observe(breaker, BREAKER_VALUE[v] ?? 0), () => undefined);
      };
      meter.addBatchObservableCallback(cb, gauges);
      this.detach = () => meter.removeBatchObservableCallback(cb, gauges);
    }
  }

  onEvent(e: WorkerMetricEvent): void {
    switch (e.type) {
      case 'delivered':
        this.deliveries.add(1);
        break;
      case 'retry':
        this.retries.add(1, { code: e.code });
        break;
      case 'breaker-wait':
        this.breakerWaits.add(1);
        break;
      case 'finished':
        this.finished.add(1, { status: e.status });
        break;
      default:
        break;
    }
  }

  close(): void {
    this.detach?.();
  }
}
