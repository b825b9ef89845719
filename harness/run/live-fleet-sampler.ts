/**
 * The per-replica section of a live fleet run (`PolicyResult.fleet`, harness/measure/fleet.ts), sampled once a
 * second over the wire: each replica's GPU (busy time, waiting and running sequences) from its `/mock/stats`, and
 * what the engine's fleet sees of it (calls outstanding, ejected, calls, ejections, routing, hedges) from the
 * engine's `/metrics` (src/telemetry/fleet-metrics.ts). A replica that does not answer (crashed, port closed) counts
 * as out of service for that second. Ejections and returns are the changes of the ejected gauge between samples.
 * What live mode cannot know stays null: dollars per deployment (virtual mode prices them).
 */
import type { Clock, Timer } from '../../src/time/clock.js';
import { FleetSampler, type FleetEventRecord, type FleetResult, type ReplicaSample } from '../measure/fleet.js';
import { round } from '../measure/series.js';
import type { LiveReplica } from './live-fleet.js';
import { fetchMockStats, fetchText, metricSum, parsePrometheus, type PromSample } from './live-metrics.js';

/** Options of {@link LiveFleetSampler}. */
export interface LiveFleetSamplerOptions {
  readonly clock: Clock;
  /** Ms since the load started. */
  readonly now: () => number;
  readonly engineUrl: string;
  readonly replicas: readonly LiveReplica[];
  /** The model name the mocks serve. */
  readonly model: string;
  /** @default 1000 */
  readonly periodMs?: number;
}

interface Last {
  busyMs: number;
  requests: number;
  ejected: boolean;
}

const idOf = (r: LiveReplica): string => `${r.deployment}/${r.index}`;

export class LiveFleetSampler {
  readonly #o: LiveFleetSamplerOptions;
  readonly #sampler = new FleetSampler();
  readonly #last = new Map<string, Last>();
  readonly #events: FleetEventRecord[] = [];
  #engine: PromSample[] = [];
  #timer: Timer | undefined;
  #ticking: Promise<void> | undefined;
  #stopped = false;

  constructor(o: LiveFleetSamplerOptions) {
    this.#o = o;
    for (const r of o.replicas) {
      this.#sampler.provisioned(idOf(r), r.deployment, 0);
      this.#last.set(idOf(r), { busyMs: 0, requests: 0, ejected: false });
    }
  }

  start(): void {
    const period = this.#o.periodMs ?? 1000;
    const loop = (): void => {
      if (this.#stopped) return;
      this.#ticking = this.#tick().finally(() => {
        this.#ticking = undefined;
        if (!this.#stopped) this.#timer = this.#o.clock.setTimer(period, loop, 'live-fleet-sample');
      });
    };
    this.#timer = this.#o.clock.setTimer(period, loop, 'live-fleet-sample');
  }

  /** Stops sampling after one last sample. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    await this.#ticking;
    await this.#tick();
  }

  async #tick(): Promise<void> {
    const [engineText, stats] = await Promise.all([fetchText(`${this.#o.engineUrl}/metrics`), Promise.all(this.#o.replicas.map((r) => fetchMockStats(r.url)))]);
    const atMs = this.#o.now();
    if (engineText !== undefined) this.#engine = parsePrometheus(engineText);
    const samples: ReplicaSample[] = this.#o.replicas.map((r, i) => {
      const id = idOf(r);
      const last = this.#last.get(id) as Last;
      const m = stats[i]?.models[this.#o.model];
      const where = { deployment: r.deployment, replica: id };
      const ejected = metricSum(this.#engine, ['engine_fleet_replica_ejected'], where) === 1;
      if (ejected !== last.ejected) this.#events.push({ atMs: Math.round(atMs), type: ejected ? 'ejected' : 'returned', deployment: r.deployment, replica: id });
      last.ejected = ejected;
      // Counters never go backwards here: a replica's model lives across its in-process restarts.
      if (m !== undefined) {
        last.busyMs = Math.max(last.busyMs, m.busyMs);
        last.requests = Math.max(last.requests, m.requests);
      }
      return {
        id,
        deployment: r.deployment,
        busyMs: last.busyMs,
        waiting: m?.waiting ?? 0,
        running: m?.running ?? 0,
        outstanding: metricSum(this.#engine, ['engine_fleet_replica_outstanding'], where) ?? 0,
        ejected,
        inService: m !== undefined && !ejected,
      };
    });
    this.#sampler.sample(atMs, samples);
  }

  /** The fleet section, its series `buckets` long; `endMs` is when the run's last request ended. */
  finish(buckets: number, endMs: number): FleetResult {
    const hours = (ms: number): number => round(ms / 3_600_000, 9);
    const replicas = this.#o.replicas.map((r) => {
      const id = idOf(r);
      const last = this.#last.get(id) as Last;
      const { queueMean, batchMean } = this.#sampler.means(id);
      return {
        id,
        deployment: r.deployment,
        requests: last.requests,
        utilizationMean: endMs > 0 ? round(Math.min(1, last.busyMs / endMs), 6) : null,
        queueMean,
        batchMean,
        ejections: metricSum(this.#engine, ['engine_fleet_ejections_total'], { deployment: r.deployment, replica: id }) ?? 0,
        busyGpuHours: hours(last.busyMs),
        provisionedGpuHours: hours(endMs),
        provisionedAtMs: 0,
        joinedAtMs: 0,
        removedAtMs: null,
      };
    });
    const names = [...new Set(this.#o.replicas.map((r) => r.deployment))];
    const deployments = names.map((name) => {
      const own = replicas.filter((r) => r.deployment === name);
      return {
        name,
        replicasStart: own.length,
        replicasPeak: own.length,
        replicasEnd: own.length,
        routed: metricSum(this.#engine, ['engine_fleet_routed_total'], { deployment: name }) ?? null,
        requests: own.reduce((n, r) => n + r.requests, 0),
        busyGpuHours: round(own.reduce((n, r) => n + r.busyGpuHours, 0), 9),
        provisionedGpuHours: round(own.reduce((n, r) => n + r.provisionedGpuHours, 0), 9),
        costUsd: null,
      };
    });
    return {
      deployments,
      replicas,
      hedges: metricSum(this.#engine, ['engine_fleet_hedges_total']) ?? 0,
      hedgesLost: metricSum(this.#engine, ['engine_fleet_hedges_lost_total']) ?? 0,
      events: this.#events,
      series: this.#sampler.series(buckets),
    };
  }
}
