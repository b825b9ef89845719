/**
 * A fleet's metrics (`serve --fleet`), in the engine's naming style: gauges read from every deployment's replica
 * states at collection time, counters fed by the fleet's typed events. Prometheus names (after the exporter's
 * `_total` suffix on counters):
 * - `engine_fleet_replica_outstanding{deployment,replica}`: calls sent and not finished (hedges included);
 * - `engine_fleet_replica_ejected{deployment,replica}`: 1 while outlier detection keeps it out, else 0;
 * - `engine_fleet_replica_calls_total`, `engine_fleet_replica_failures_total{deployment,replica}`: since the start;
 * - `engine_fleet_ejections_total{deployment,replica,reason}` and `engine_fleet_returns_total{deployment,replica}`;
 * - `engine_fleet_hedges_total{deployment}` (second attempts sent) and `engine_fleet_hedges_lost_total{deployment}`
 *   (attempts cancelled because the other answered first);
 * - `engine_fleet_routed_total{deployment,rule}`: requests each routing rule (or `default`) sent to a deployment.
 */
import type { BatchObservableCallback, Counter, Meter, Observable } from '@opentelemetry/api';
import type { Fleet, FleetEvent } from '../fleet/types.js';

/** Registers a fleet's instruments on `meter`. `close()` detaches the gauges and the event listener. */
export class FleetMetrics {
  private readonly ejections: Counter;
  private readonly returns: Counter;
  private readonly hedges: Counter;
  private readonly hedgesLost: Counter;
  private readonly routed: Counter;
  private readonly observables: Observable[];
  private readonly callback: BatchObservableCallback;
  private readonly off: () => void;

  constructor(
    private readonly meter: Meter,
    fleet: Pick<Fleet, 'deployments' | 'onEvent'>,
  ) {
    this.ejections = meter.createCounter('engine_fleet_ejections', { description: 'Replicas ejected by outlier detection, by deployment, replica and reason' });
    this.returns = meter.createCounter('engine_fleet_returns', { description: 'Ejected replicas returned to service, by deployment and replica' });
    this.hedges = meter.createCounter('engine_fleet_hedges', { description: 'Hedged second attempts sent to another replica, by deployment' });
    this.hedgesLost = meter.createCounter('engine_fleet_hedges_lost', { description: 'Attempts cancelled because the other attempt of the hedge answered first, by deployment' });
    this.routed = meter.createCounter('engine_fleet_routed', { description: 'Requests sent to a deployment, by deployment and routing rule' });
    const outstanding = meter.createObservableGauge('engine_fleet_replica_outstanding', { description: 'Calls sent to a replica and not finished (hedges included)' });
    const ejected = meter.createObservableGauge('engine_fleet_replica_ejected', { description: 'Replica ejected by outlier detection: 1, else 0' });
    const calls = meter.createObservableCounter('engine_fleet_replica_calls', { description: 'Calls sent to a replica since the start' });
    const failures = meter.createObservableCounter('engine_fleet_replica_failures', { description: 'Calls to a replica that failed, since the start' });
    this.observables = [outstanding, ejected, calls, failures];
    this.callback = (r) => {
      for (const d of fleet.deployments()) {
        for (const s of d.states()) {
          const attrs = { deployment: d.name, replica: s.id };
          r.observe(outstanding, s.outstanding, attrs);
          r.observe(ejected, s.ejected ? 1 : 0, attrs);
          r.observe(calls, s.calls, attrs);
          r.observe(failures, s.failures, attrs);
        }
      }
    };
    meter.addBatchObservableCallback(this.callback, this.observables);
    this.off = fleet.onEvent((e) => this.onEvent(e));
  }

  private onEvent(e: FleetEvent): void {
    switch (e.type) {
      case 'ejected':
        this.ejections.add(1, { deployment: e.deployment, replica: e.replica, reason: e.reason });
        break;
      case 'returned':
        this.returns.add(1, { deployment: e.deployment, replica: e.replica });
        break;
      case 'hedge':
        this.hedges.add(1, { deployment: e.deployment });
        break;
      case 'hedge-lost':
        this.hedgesLost.add(1, { deployment: e.deployment });
        break;
      case 'routed':
        this.routed.add(1, { deployment: e.deployment, rule: e.rule });
        break;
      default:
        break;
    }
  }

  close(): void {
    this.off();
    this.meter.removeBatchObservableCallback(this.callback, this.observables);
  }
}
