/**
 * Autoscaling of a fleet's deployments in virtual mode (scenario `deployments.<name>.autoscale`).
 *
 * Once per simulated second (`tick`) it reads each autoscaled deployment's signals over the last second: the mean
 * GPU queue wait of the requests its replicas finished, and the mean GPU utilization of its replicas in service.
 * - Scale out: when a signal has stayed above its target for `sustainMs`, one replica is provisioned at once (its
 *   GPU-hours start) and joins the deployment (`Deployment.addReplica`) only after `coldStartMs`, the model load:
 *   no request reaches it before. The sustain window then starts over. Replicas cold starting count toward
 *   `maxReplicas`.
 * - Scale in: a replica beyond `minReplicas` with nothing running, waiting or open for `scaleInIdleMs` leaves the
 *   deployment (`removeReplica`: calls in flight finish) and is deprovisioned once it has nothing open.
 */
import type { Deployment, Replica } from '../../src/fleet/types.js';
import type { AutoscaleSpec } from '../scenario-fleet.js';

/** A replica the autoscaler can see and steer. */
export interface ScaledReplica {
  readonly id: string;
  readonly replica: Replica;
  /** GPU busy ms so far. */
  busyMs(): number;
  /** Nothing running, waiting or open on its model. */
  idle(): boolean;
}

/** What the autoscaler reports (the world records it, and deprovisions on `deprovisioned`). */
export type AutoscaleEvent = {
  readonly type: 'provisioned' | 'joined' | 'removed' | 'deprovisioned';
  readonly deployment: string;
  readonly replica: string;
  readonly atMs: number;
  readonly detail?: string;
};

/** One autoscaled deployment. */
export interface AutoscaledDeployment {
  readonly name: string;
  readonly spec: AutoscaleSpec;
  readonly deployment: Deployment;
  /** Its replicas at the start, all in service. */
  readonly initial: readonly ScaledReplica[];
  /** Provisions the next replica (a new model, its GPU time starting now). */
  provision(): ScaledReplica;
}

interface Member {
  readonly r: ScaledReplica;
  state: 'cold' | 'in-service' | 'draining';
  lastBusyMs: number;
  idleSinceMs: number;
}

interface Scaled {
  readonly d: AutoscaledDeployment;
  readonly members: Member[];
  aboveSinceMs: number | undefined;
  lastTickMs: number;
  queueWaitSum: number;
  queueWaitN: number;
}

/** Scales deployments out and in on their signals; see the file comment. */
export class Autoscaler {
  readonly #scaled: Scaled[];
  readonly #listeners = new Set<(e: AutoscaleEvent) => void>();

  constructor(
    deployments: readonly AutoscaledDeployment[],
    private readonly clock: { now(): number; setTimer(ms: number, fn: () => void, label: string): unknown },
  ) {
    const now = clock.now();
    this.#scaled = deployments.map((d) => ({
      d,
      members: d.initial.map((r) => ({ r, state: 'in-service' as const, lastBusyMs: r.busyMs(), idleSinceMs: now })),
      aboveSinceMs: undefined,
      lastTickMs: now,
      queueWaitSum: 0,
      queueWaitN: 0,
    }));
  }

  onEvent(listener: (e: AutoscaleEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** A request of deployment `name` finished after waiting `queueMs` for a GPU slot (the queue-wait signal). */
  queueWait(name: string, queueMs: number): void {
    const s = this.#scaled.find((x) => x.d.name === name);
    if (s === undefined) return;
    s.queueWaitSum += queueMs;
    s.queueWaitN += 1;
  }

  /** Whether `name` is autoscaled (its queue waits are worth reporting). */
  scales(name: string): boolean {
    return this.#scaled.some((x) => x.d.name === name);
  }

  /** Evaluates every deployment's signals over the interval since the last tick. */
  tick(): void {
    const now = this.clock.now();
    for (const s of this.#scaled) this.#tickOne(s, now);
  }

  #tickOne(s: Scaled, now: number): void {
    const { spec } = s.d;
    const dt = now - s.lastTickMs;
    let busy = 0;
    let serving = 0;
    for (const m of s.members) {
      const b = m.r.busyMs();
      if (m.state === 'in-service') {
        busy += b - m.lastBusyMs;
        serving += 1;
      }
      if (b !== m.lastBusyMs || !m.r.idle()) m.idleSinceMs = now;
      m.lastBusyMs = b;
    }
    const utilization = serving > 0 && dt > 0 ? busy / (serving * dt) : 0;
    const queueWaitMs = s.queueWaitN > 0 ? s.queueWaitSum / s.queueWaitN : 0;
    s.queueWaitSum = 0;
    s.queueWaitN = 0;
    s.lastTickMs = now;

    const above = (spec.target.utilization !== undefined && utilization > spec.target.utilization) || (spec.target.queueWaitMs !== undefined && queueWaitMs > spec.target.queueWaitMs);
    s.aboveSinceMs = above ? (s.aboveSinceMs ?? now) : undefined;
    const provisioned = s.members.filter((m) => m.state !== 'draining').length;
    if (above && s.aboveSinceMs !== undefined && now - s.aboveSinceMs >= spec.sustainMs && provisioned < spec.maxReplicas) {
      this.#scaleOut(s, now, `utilization ${fmt(utilization)}, queue wait ${Math.round(queueWaitMs)} ms`);
      s.aboveSinceMs = undefined;
    } else if (!above) {
      this.#scaleIn(s, now);
    }
    // Removed replicas leave once their calls have finished.
    for (const m of s.members) {
      if (m.state !== 'draining' || !m.r.idle()) continue;
      s.members.splice(s.members.indexOf(m), 1);
      this.#emit({ type: 'deprovisioned', deployment: s.d.name, replica: m.r.id, atMs: now });
      break;
    }
  }

  #scaleOut(s: Scaled, now: number, why: string): void {
    const r = s.d.provision();
    const m: Member = { r, state: 'cold', lastBusyMs: r.busyMs(), idleSinceMs: now };
    s.members.push(m);
    this.#emit({ type: 'provisioned', deployment: s.d.name, replica: r.id, atMs: now, detail: why });
    this.clock.setTimer(
      s.d.spec.coldStartMs,
      () => {
        m.state = 'in-service';
        m.idleSinceMs = this.clock.now();
        s.d.deployment.addReplica(r.replica);
        this.#emit({ type: 'joined', deployment: s.d.name, replica: r.id, atMs: this.clock.now() });
      },
      `autoscale-cold-start:${r.id}`,
    );
  }

  #scaleIn(s: Scaled, now: number): void {
    const serving = s.members.filter((m) => m.state === 'in-service');
    if (serving.length <= s.d.spec.minReplicas || s.members.some((m) => m.state === 'cold')) return;
    // The newest idle replica goes first.
    const idle = serving.filter((m) => now - m.idleSinceMs >= s.d.spec.scaleInIdleMs).at(-1);
    if (idle === undefined) return;
    idle.state = 'draining';
    s.d.deployment.removeReplica(idle.r.id);
    this.#emit({ type: 'removed', deployment: s.d.name, replica: idle.r.id, atMs: now, detail: `idle ${Math.round(now - idle.idleSinceMs)} ms` });
  }

  #emit(e: AutoscaleEvent): void {
    for (const l of this.#listeners) l(e);
  }
}

const fmt = (x: number): string => `${Math.round(x * 100)}%`;
