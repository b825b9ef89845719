/**
 * Per-replica measurement of a fleet run (scenario `model.deployments`): a sample per replica once per simulated
 * second (GPU utilization over the second, waiting and running sequences, calls outstanding at the balancer,
 * ejected or not), the replica count of each deployment, and at the end a summary per replica and per deployment.
 * Plain data; the world (harness/run/fleet-world.ts) feeds it, the RunResult carries it as `PolicyResult.fleet`.
 */
import { round } from './series.js';

/** One replica's per-second series; null where the replica was not provisioned. */
export interface ReplicaSeries {
  /** Busy share of the second, 0..1. */
  readonly gpuUtilization: Array<number | null>;
  /** Sequences waiting for a GPU slot at the sample. */
  readonly waiting: Array<number | null>;
  /** Sequences holding a slot at the sample. */
  readonly running: Array<number | null>;
  /** Calls sent by the balancer and not finished, at the sample. */
  readonly outstanding: Array<number | null>;
  /** 1 while ejected by outlier detection (or not yet joined, or removed), else 0. */
  readonly ejected: Array<number | null>;
}

/** One replica over the run. */
export interface ReplicaSummary {
  readonly id: string;
  readonly deployment: string;
  /** Generate and embed calls it received. */
  readonly requests: number;
  /** Busy time over the time it was in service; null when never in service. */
  readonly utilizationMean: number | null;
  /** Mean of the per-second waiting samples while provisioned; null when never sampled. */
  readonly queueMean: number | null;
  /**
   * Mean of the per-second running samples (the decode batch) while provisioned; null when never sampled. A
   * continuous-batching GPU with any work is busy all the time, so this, not `utilizationMean`, shows spare room.
   */
  readonly batchMean: number | null;
  /** Times outlier detection ejected it. */
  readonly ejections: number;
  /** GPU-hours busy, and provisioned (paid for: from provisioning, cold start included, to removal or the end). */
  readonly busyGpuHours: number;
  readonly provisionedGpuHours: number;
  readonly provisionedAtMs: number;
  /** When it joined its deployment (after a cold start, for an autoscaled replica); null when it never did. */
  readonly joinedAtMs: number | null;
  /** When it was removed (scale in); null when it served to the end. */
  readonly removedAtMs: number | null;
}

/** One deployment over the run. */
export interface DeploymentSummary {
  readonly name: string;
  readonly replicasStart: number;
  readonly replicasPeak: number;
  readonly replicasEnd: number;
  /** Requests the fleet's router sent to it (`routed` events); null when the fleet did not report routing. */
  readonly routed: number | null;
  readonly requests: number;
  readonly busyGpuHours: number;
  readonly provisionedGpuHours: number;
  /** What it cost at its own price (token price per bill, or GPU-hour price on busy time); null when unpriced. */
  readonly costUsd: number | null;
}

/** Something that changed the fleet: an ejection, a return, or an autoscaling step. */
export interface FleetEventRecord {
  readonly atMs: number;
  readonly type: 'ejected' | 'returned' | 'provisioned' | 'joined' | 'removed' | 'deprovisioned';
  readonly deployment: string;
  readonly replica: string;
  readonly detail?: string;
}

/** The fleet section of a PolicyResult. */
export interface FleetResult {
  readonly deployments: DeploymentSummary[];
  readonly replicas: ReplicaSummary[];
  /** Hedged second attempts sent, and hedges that lost (cancelled). */
  readonly hedges: number;
  readonly hedgesLost: number;
  readonly events: FleetEventRecord[];
  /** Per-second series, as long as the policy's `series.arrivals`. */
  readonly series: {
    readonly replicas: Record<string, ReplicaSeries>;
    /** Replicas in service per deployment (joined and not removed). */
    readonly replicaCount: Record<string, number[]>;
  };
}

/** What the sampler reads of one replica at a sample. */
export interface ReplicaSample {
  readonly id: string;
  readonly deployment: string;
  /** GPU busy ms so far. */
  readonly busyMs: number;
  readonly waiting: number;
  readonly running: number;
  readonly outstanding: number;
  readonly ejected: boolean;
  readonly inService: boolean;
}

interface Track {
  readonly deployment: string;
  lastBusyMs: number;
  lastAtMs: number;
  readonly s: { [K in keyof ReplicaSeries]: Array<number | null> };
  queueSum: number;
  runningSum: number;
  queueN: number;
}

/** Collects the per-second samples of every replica. */
export class FleetSampler {
  readonly #bucketMs: number;
  readonly #tracks = new Map<string, Track>();
  readonly #counts = new Map<string, number[]>();

  constructor(bucketMs = 1000) {
    this.#bucketMs = bucketMs;
  }

  /** A replica was provisioned at `atMs` (its busy time counts from there). */
  provisioned(id: string, deployment: string, atMs: number): void {
    this.#tracks.set(id, { deployment, lastBusyMs: 0, lastAtMs: atMs, s: { gpuUtilization: [], waiting: [], running: [], outstanding: [], ejected: [] }, queueSum: 0, runningSum: 0, queueN: 0 });
  }

  /**
   * One sample of every provisioned replica at `atMs` (bucket of `atMs`, as the policy's own gauges). Returns the
   * fleet's GPU utilization over the interval: busy time over provisioned time, every replica that was provisioned.
   */
  sample(atMs: number, replicas: readonly ReplicaSample[]): number | null {
    const b = Math.max(0, Math.floor(atMs / this.#bucketMs));
    let busy = 0;
    let span = 0;
    const inService = new Map<string, number>();
    for (const r of replicas) {
      const t = this.#tracks.get(r.id);
      if (t === undefined) continue;
      const dt = atMs - t.lastAtMs;
      const db = r.busyMs - t.lastBusyMs;
      const util = dt > 0 ? Math.min(1, db / dt) : null;
      busy += db;
      span += Math.max(0, dt);
      set(t.s.gpuUtilization, b, util === null ? null : round(util, 6));
      set(t.s.waiting, b, r.waiting);
      set(t.s.running, b, r.running);
      set(t.s.outstanding, b, r.outstanding);
      set(t.s.ejected, b, r.ejected || !r.inService ? 1 : 0);
      t.queueSum += r.waiting;
      t.runningSum += r.running;
      t.queueN += 1;
      t.lastBusyMs = r.busyMs;
      t.lastAtMs = atMs;
      if (r.inService) inService.set(r.deployment, (inService.get(r.deployment) ?? 0) + 1);
    }
    for (const d of new Set([...this.#counts.keys(), ...[...this.#tracks.values()].map((t) => t.deployment)])) {
      let arr = this.#counts.get(d);
      if (arr === undefined) this.#counts.set(d, (arr = []));
      set(arr, b, inService.get(d) ?? 0);
    }
    return span > 0 ? Math.min(1, busy / span) : null;
  }

  /** Mean of a replica's waiting and running samples; nulls when never sampled. */
  means(id: string): { queueMean: number | null; batchMean: number | null } {
    const t = this.#tracks.get(id);
    if (t === undefined || t.queueN === 0) return { queueMean: null, batchMean: null };
    return { queueMean: round(t.queueSum / t.queueN, 6), batchMean: round(t.runningSum / t.queueN, 6) };
  }

  /** The series, `n` buckets each (null before a replica's first sample and after its last). */
  series(n: number): FleetResult['series'] {
    const pad = (arr: ReadonlyArray<number | null>): Array<number | null> => Array.from({ length: n }, (_, i) => arr[i] ?? null);
    const replicas: Record<string, ReplicaSeries> = {};
    for (const [id, t] of this.#tracks) {
      replicas[id] = { gpuUtilization: pad(t.s.gpuUtilization), waiting: pad(t.s.waiting), running: pad(t.s.running), outstanding: pad(t.s.outstanding), ejected: pad(t.s.ejected) };
    }
    const replicaCount: Record<string, number[]> = {};
    for (const [d, arr] of this.#counts) {
      // Carried forward between samples: the count holds until it changes (and before the first sample, was it).
      let last = arr.find((x) => typeof x === 'number') ?? 0;
      replicaCount[d] = Array.from({ length: n }, (_, i) => (last = arr[i] ?? last));
    }
    return { replicas, replicaCount };
  }
}

function set(arr: Array<number | null>, i: number, v: number | null): void {
  while (arr.length < i) arr.push(null);
  arr[i] = v;
}
