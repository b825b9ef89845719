/**
 * The fleet part of a virtual world (scenario `model.deployments`): one MockModel per replica, each with its own
 * seeded stream (`model/<deployment>/<index>`) and fault plan, the replicas of a deployment sharing the seed of
 * their token text (a request resumed or hedged on another replica continues byte for byte), in-process clients,
 * and `buildFleet` with the policy's `fleet` section: the Fleet is the engine's primary. Autoscaled deployments
 * get an Autoscaler (harness/run/autoscaler.ts). The world samples every replica once per simulated second
 * (harness/measure/fleet.ts) and, at the end, prices each deployment's bills at its own price.
 */
import { buildFleet } from '../../src/fleet/build.js';
import type { Fleet, FleetConfig, Replica } from '../../src/fleet/types.js';
import type { Policy } from '../../src/policy.js';
import type { Random } from '../../src/random.js';
import type { VirtualClock } from '../../src/time/virtual-clock.js';
import type { ModelClient } from '../../src/upstream/model-client.js';
import { MockModel, type BilledAttempt, type MockModelMetrics } from '../../sim/mock-model.js';
import { resolvePrice } from '../cost/price.js';
import type { CostInput, GpuTime, Price } from '../measure/billing.js';
import { FleetSampler, type DeploymentSummary, type FleetEventRecord, type FleetResult, type ReplicaSummary } from '../measure/fleet.js';
import { round } from '../measure/series.js';
import { defaultDeploymentOf, replicaFaultPlan, type ScenarioDeployment } from '../scenario-fleet.js';
import type { Scenario } from '../scenario.js';
import { Autoscaler, type ScaledReplica } from './autoscaler.js';

/** One replica's model and its life. */
export interface FleetReplicaModel {
  readonly id: string;
  readonly deployment: string;
  readonly model: MockModel;
  readonly provisionedAtMs: number;
  joinedAtMs: number | null;
  removedAtMs: number | null;
  /** Its counters when it was deprovisioned (scale in); undefined while it serves. */
  final?: MockModelMetrics;
}

/** The fleet of a virtual world. */
export interface FleetWorld {
  readonly fleet: Fleet;
  /** Every replica ever provisioned, in order (grows when the autoscaler provisions one). */
  readonly replicas: readonly FleetReplicaModel[];
  /** Every model, in the same order (the world's `models`). */
  readonly models: MockModel[];
  /** Called with each replica provisioned after the start. */
  onReplica(listener: (r: FleetReplicaModel) => void): void;
  /** The deployment of a model's bill. */
  deploymentOf(b: BilledAttempt): string | undefined;
  /** Samples every replica (and ticks the autoscaler); returns the fleet's GPU utilization over the interval. */
  sample(): number | null;
  /** Every replica's counters, in order: as of its removal for a replica the autoscaler deprovisioned. */
  metrics(): MockModelMetrics[];
  /** Each deployment's price and GPU time. */
  costInput(): CostInput;
  /** The fleet section of the PolicyResult, series `buckets` long. */
  finish(buckets: number): FleetResult;
  close(): void;
}

/** Builds the fleet of `scenario` (which has `model.deployments`) for one policy. */
export function buildFleetWorld(
  scenario: Scenario,
  policy: Policy,
  clock: VirtualClock,
  random: Random,
  served: (model: MockModel) => ModelClient,
): FleetWorld {
  const deployments = scenario.model.deployments as Readonly<Record<string, ScenarioDeployment>>;
  const replicas: FleetReplicaModel[] = [];
  const models: MockModel[] = [];
  const byModel = new Map<string, FleetReplicaModel>();
  const listeners: Array<(r: FleetReplicaModel) => void> = [];
  const sampler = new FleetSampler();
  const events: FleetEventRecord[] = [];
  const next = new Map<string, number>();
  const bills = new Map<string, { input: number; cached: number; output: number }>();

  const provision = (name: string): { r: FleetReplicaModel; replica: Replica } => {
    const d = deployments[name] as ScenarioDeployment;
    const index = next.get(name) ?? 0;
    next.set(name, index + 1);
    const id = `${name}/${index}`;
    const model = new MockModel({
      name: id,
      profile: d.profile as string,
      clock,
      random: random.derive(`model/${name}/${index}`),
      // Every replica of a deployment writes the same answer for a request id.
      textSeed: `${String(random.seed)}/model/${name}`,
      faults: replicaFaultPlan(scenario.model, name, index),
      ...(d.rateLimits !== undefined ? { rateLimits: d.rateLimits } : {}),
    });
    const r: FleetReplicaModel = { id, deployment: name, model, provisionedAtMs: clock.now(), joinedAtMs: null, removedAtMs: null };
    replicas.push(r);
    models.push(model);
    byModel.set(id, r);
    sampler.provisioned(id, name, clock.now());
    model.onBill((b) => {
      const t = bills.get(name) ?? { input: 0, cached: 0, output: 0 };
      t.input += b.inputTokens - b.cachedInputTokens;
      t.cached += b.cachedInputTokens;
      t.output += b.outputTokens;
      bills.set(name, t);
    });
    return { r, replica: { id, client: served(model) } };
  };

  const initial: Record<string, Array<{ r: FleetReplicaModel; replica: Replica }>> = {};
  for (const [name, d] of Object.entries(deployments)) {
    initial[name] = Array.from({ length: d.replicas }, () => provision(name));
    for (const x of initial[name]) x.r.joinedAtMs = clock.now();
  }
  const config: FleetConfig = {
    deployments: Object.fromEntries(Object.entries(deployments).map(([name, d]) => [name, d.fallback !== undefined ? { fallback: d.fallback } : {}])),
    ...(scenario.model.routes !== undefined ? { routes: scenario.model.routes } : {}),
    defaultDeployment: defaultDeploymentOf(scenario.model),
  };
  const fleet = buildFleet({
    config,
    replicas: Object.fromEntries(Object.entries(initial).map(([name, xs]) => [name, xs.map((x) => x.replica)])),
    policy: policy.fleet,
    clock,
    random: random.derive('fleet'),
  });

  const routed = new Map<string, number>();
  let hedges = 0;
  let hedgesLost = 0;
  fleet.onEvent((e) => {
    if (e.type === 'routed') routed.set(e.deployment, (routed.get(e.deployment) ?? 0) + 1);
    else if (e.type === 'hedge') hedges++;
    else if (e.type === 'hedge-lost') hedgesLost++;
    else if (e.type === 'ejected') events.push({ atMs: e.atMs, type: 'ejected', deployment: e.deployment, replica: e.replica, detail: `${e.reason} until ${Math.round(e.untilMs)} ms` });
    else if (e.type === 'returned') events.push({ atMs: e.atMs, type: 'returned', deployment: e.deployment, replica: e.replica });
  });

  const scaled = (x: { r: FleetReplicaModel; replica: Replica }): ScaledReplica => ({
    id: x.r.id,
    replica: x.replica,
    busyMs: () => x.r.model.metrics().busyMs,
    idle: () => {
      const m = x.r.model.metrics();
      return m.running === 0 && m.waiting === 0 && m.inFlight === 0;
    },
  });
  const autoscaled = Object.entries(deployments).filter(([, d]) => d.autoscale !== undefined);
  const autoscaler =
    autoscaled.length === 0
      ? undefined
      : new Autoscaler(
          autoscaled.map(([name, d]) => ({
            name,
            spec: d.autoscale!,
            deployment: fleet.deployment(name)!,
            initial: (initial[name] ?? []).map(scaled),
            provision: () => {
              const x = provision(name);
              for (const l of listeners) l(x.r);
              return scaled(x);
            },
          })),
          clock,
        );
  if (autoscaler !== undefined) {
    // The queue-wait signal: each finished request's wait for a GPU slot (events are built only when listened to).
    const listen = (r: FleetReplicaModel): void => {
      if (deployments[r.deployment]?.autoscale?.target.queueWaitMs === undefined) return;
      r.model.onEvent((e) => {
        if (e.type === 'request-done' && e.queueMs !== undefined) autoscaler.queueWait(r.deployment, e.queueMs);
      });
    };
    replicas.forEach(listen);
    listeners.push(listen);
    autoscaler.onEvent((e) => {
      const r = byModel.get(e.replica);
      if (r !== undefined && e.type === 'joined') r.joinedAtMs = e.atMs;
      if (r !== undefined && e.type === 'removed') r.removedAtMs = e.atMs;
      if (r !== undefined && e.type === 'deprovisioned') {
        r.final = r.model.metrics();
        r.model.close();
      }
      events.push({ atMs: e.atMs, type: e.type, deployment: e.deployment, replica: e.replica, ...(e.detail !== undefined ? { detail: e.detail } : {}) });
    });
  }

  const metricsOf = (r: FleetReplicaModel): MockModelMetrics => r.final ?? r.model.metrics();
  const prices: Record<string, Price | undefined> = Object.fromEntries(
    Object.entries(deployments).map(([name, d]) => [name, d.price === undefined ? undefined : resolvePrice(d.price, `scenario.model.deployments.${name}.price`)]),
  );
  const gpuOf = (name: string): GpuTime =>
    replicas.filter((r) => r.deployment === name).reduce((g, r) => {
      const m = metricsOf(r);
      return { busyMs: g.busyMs + m.busyMs, elapsedMs: g.elapsedMs + m.elapsedMs };
    }, { busyMs: 0, elapsedMs: 0 });

  return {
    fleet,
    replicas,
    models,
    onReplica: (l) => void listeners.push(l),
    deploymentOf: (b) => byModel.get(b.model)?.deployment,
    sample: () => {
      const now = clock.now();
      const states = new Map<string, { outstanding: number; ejected: boolean }>();
      for (const d of fleet.deployments()) for (const s of d.states()) states.set(s.id, s);
      const util = sampler.sample(
        now,
        replicas
          .filter((r) => r.final === undefined)
          .map((r) => {
            const m = r.model.metrics();
            const s = states.get(r.id);
            const inService = r.joinedAtMs !== null && r.removedAtMs === null;
            return { id: r.id, deployment: r.deployment, busyMs: m.busyMs, waiting: m.waiting, running: m.running, outstanding: s?.outstanding ?? 0, ejected: s?.ejected ?? false, inService };
          }),
      );
      autoscaler?.tick();
      return util;
    },
    metrics: () => replicas.map(metricsOf),
    costInput: () => ({ deployments: Object.fromEntries(Object.keys(deployments).map((name) => [name, { price: prices[name], gpu: gpuOf(name) }])) }),
    finish: (buckets) => {
      const states = new Map<string, { ejections: number }>();
      for (const d of fleet.deployments()) for (const s of d.states()) states.set(s.id, s);
      const series = sampler.series(buckets);
      const replicaRows: ReplicaSummary[] = replicas.map((r) => {
        const m = metricsOf(r);
        const servedMs = r.joinedAtMs === null ? 0 : m.elapsedMs - (r.joinedAtMs - r.provisionedAtMs);
        return {
          id: r.id,
          deployment: r.deployment,
          requests: m.requests,
          utilizationMean: servedMs > 0 ? round(Math.min(1, m.busyMs / servedMs), 6) : null,
          ...sampler.means(r.id),
          ejections: states.get(r.id)?.ejections ?? 0,
          busyGpuHours: round(m.busyMs / 3_600_000, 6),
          provisionedGpuHours: round(m.elapsedMs / 3_600_000, 6),
          provisionedAtMs: r.provisionedAtMs,
          joinedAtMs: r.joinedAtMs,
          removedAtMs: r.removedAtMs,
        };
      });
      const deploymentRows: DeploymentSummary[] = Object.entries(deployments).map(([name, d]) => {
        const rows = replicaRows.filter((r) => r.deployment === name);
        const counts = series.replicaCount[name] ?? [];
        const gpu = gpuOf(name);
        return {
          name,
          replicasStart: d.replicas,
          replicasPeak: Math.max(d.replicas, ...counts),
          replicasEnd: replicas.filter((r) => r.deployment === name && r.joinedAtMs !== null && r.removedAtMs === null).length,
          routed: routed.size === 0 ? null : (routed.get(name) ?? 0),
          requests: rows.reduce((s, r) => s + r.requests, 0),
          busyGpuHours: round(gpu.busyMs / 3_600_000, 6),
          provisionedGpuHours: round(gpu.elapsedMs / 3_600_000, 6),
          costUsd: deploymentCost(prices[name], bills.get(name), gpu),
        };
      });
      return { deployments: deploymentRows, replicas: replicaRows, hedges, hedgesLost, events: [...events].sort((a, b) => a.atMs - b.atMs), series };
    },
    close: () => models.forEach((m) => m.close()),
  };
}

/** One deployment's dollars at its own price: tokens billed, or busy GPU-hours (live fleets price theirs the same way). */
export function deploymentCost(price: Price | undefined, t: { input: number; cached: number; output: number } | undefined, gpu: GpuTime): number | null {
  if (price === undefined) return null;
  if (price.kind === 'gpu-hour') return round((gpu.busyMs / 3_600_000) * price.gpuHourUsd, 6);
  const x = t ?? { input: 0, cached: 0, output: 0 };
  return round((x.input * price.inputPer1M + x.cached * price.cachedInputPer1M + x.output * price.outputPer1M) / 1e6, 6);
}
