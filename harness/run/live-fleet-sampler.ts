/**
 * The per-replica section of a live fleet run (`PolicyResult.fleet`, harness/measure/fleet.ts), sampled once a
 * second over the wire: each replica's GPU (busy time, waiting and running sequences) from its `/mock/stats`, and
 * what the engine's fleet sees of it (calls outstanding, ejected, calls, ejections, routing, hedges) from the
 * engine's `/metrics` (src/telemetry/fleet-metrics.ts). A replica that does not answer (crashed, port closed) counts
 * as out of service for that second. Ejections and returns are the changes of the ejected gauge between samples.
 * Each deployment's dollars are priced as in virtual mode (harness/run/fleet-world.ts `deploymentCost`): its replicas'
 * busy GPU-hours at a GPU-hour price, or the tokens its replicas billed (their `/mock/stats` bill book) at a token
 * price. The fleet's headline GPU utilization and mean batch size are over every replica, as in virtual mode.
 */
import type { Clock, Timer } from '../../src/time/clock.js';
import type { CostInput, Price } from '../measure/billing.js';
import { FleetSampler, type FleetEventRecord, type FleetResult, type ReplicaSample } from '../measure/fleet.js';
import { deploymentCost } from './fleet-world.js';
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
  /** Each deployment's price (undefined: unpriced, its dollars unknown). @default none */
  readonly prices?: Readonly<Record<string, Price | undefined>>;
}

interface Last {
  busyMs: number;
  requests: number;
  ejected: boolean;
  /** GPU steps, and sequences summed over them (mean batch = seqSteps / steps). */
  steps: number;
  seqSteps: number;
  /** Tokens billed: uncached input, cached input, output. */
  input: number;
  cached: number;
  output: number;
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
      this.#last.set(idOf(r), { busyMs: 0, requests: 0, ejected: false, steps: 0, seqSteps: 0, input: 0, cached: 0, output: 0 });
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
        if (m.steps >= last.steps) {
          last.steps = m.steps;
          last.seqSteps = m.batchedSeqs ?? m.meanBatchSize * m.steps;
        }
        last.input = Math.max(last.input, m.billedInputTokens ?? 0);
        last.cached = Math.max(last.cached, m.billedCachedInputTokens ?? 0);
        last.output = Math.max(last.output, m.billedOutputTokens ?? 0);
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

  /**
   * The fleet's GPU utilization (busy over provisioned time, every replica provisioned until `endMs`) and mean batch
   * size (per step, every replica), as virtual mode reports a fleet's; null before any sample.
   */
  gpu(endMs: number): { gpuUtilization: number | null; meanBatchSize: number | null } {
    const rows = [...this.#last.values()];
    const busy = rows.reduce((n, r) => n + r.busyMs, 0);
    const steps = rows.reduce((n, r) => n + r.steps, 0);
    return {
      gpuUtilization: endMs > 0 && rows.length > 0 ? Math.min(1, busy / (endMs * rows.length)) : null,
      meanBatchSize: steps > 0 ? rows.reduce((n, r) => n + r.seqSteps, 0) / steps : null,
    };
  }

  /** The cost input of a fleet: each deployment's price and its replicas' GPU time (the recorder prices bills by `deployment`). */
  costInput(endMs: number): CostInput {
    return { deployments: Object.fromEntries(this.#names().map((name) => [name, { price: this.#o.prices?.[name], gpu: this.#gpuOf(name, endMs) }])) };
  }

  #names(): string[] {
    return [...new Set(this.#o.replicas.map((r) => r.deployment))];
  }

  #gpuOf(name: string, endMs: number): { busyMs: number; elapsedMs: number } {
    const own = this.#o.replicas.filter((r) => r.deployment === name).map((r) => this.#last.get(idOf(r)) as Last);
    return { busyMs: own.reduce((n, r) => n + r.busyMs, 0), elapsedMs: endMs * own.length };
  }

  #billedOf(name: string): { input: number; cached: number; output: number } {
    const own = this.#o.replicas.filter((r) => r.deployment === name).map((r) => this.#last.get(idOf(r)) as Last);
    return { input: own.reduce((n, r) => n + r.input, 0), cached: own.reduce((n, r) => n + r.cached, 0), output: own.reduce((n, r) => n + r.output, 0) };
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
    const deployments = this.#names().map((name) => {
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
        costUsd: deploymentCost(this.#o.prices?.[name], this.#billedOf(name), this.#gpuOf(name, endMs)),
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
