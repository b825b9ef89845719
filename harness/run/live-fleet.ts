/**
 * A fleet scenario (`model.deployments`) in live mode: one mock process per deployment serving its replicas on
 * consecutive ports (`sim --replicas N --supervise`: a crash takes down one replica, which restarts in-process in cold
 * start), the engine service with a fleet file generated from the scenario (`serve --fleet`, inline JSON), and each
 * replica's own fault plan (harness/scenario-fleet.ts `replicaFaultPlan`) set on its control endpoint when the load
 * starts. Autoscaling runs in virtual mode only: live deployments keep their starting replicas.
 */
import type { FaultPlanInput } from '../../sim/faults.js';
import { ValidationError } from '../../src/errors.js';
import { resolvePrice } from '../cost/price.js';
import type { Price } from '../measure/billing.js';
import type { ScenarioDeployment, ScenarioFleet } from '../scenario-fleet.js';
import { defaultDeploymentOf, replicaFaultPlan } from '../scenario-fleet.js';
import { freePortRun, type ManagedProcess, type ProcessGroup } from './processes.js';

/** One running replica. */
export interface LiveReplica {
  readonly deployment: string;
  readonly index: number;
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
}

/** The mocks of a fleet: a process per deployment, every replica's URL, and the fleet file for the engine. */
export interface LiveFleetMocks {
  readonly processes: readonly ManagedProcess[];
  readonly replicas: readonly LiveReplica[];
  /** The default deployment's first replica (its GPU is the one reported as the primary's). */
  readonly primaryUrl: string;
  /** The fleet file (src/api/fleet-file.ts) as JSON text, for `serve --fleet`. */
  readonly fleetJson: string;
}

/** Options of {@link startFleetMocks}. */
export interface FleetMockOptions {
  readonly entry: string;
  /** The model name the mocks serve (the name the engine sends). */
  readonly model: string;
  readonly seed: number;
  readonly readyTimeoutMs: number;
  readonly onProcess?: (p: ManagedProcess) => void;
}

type FleetModel = ScenarioFleet & { readonly deployments: Readonly<Record<string, ScenarioDeployment>>; readonly faults?: unknown };

/** The mock's command line for one deployment (its replicas on consecutive ports from `port`). */
export function fleetMockArgs(d: ScenarioDeployment, port: number, model: string, seed: number): string[] {
  // A profile object goes to the mock as inline JSON (sim/cli-options.ts reads `NAME={...}`).
  const profile = d.profile ?? 'h100-llama3-8b';
  const spec = typeof profile === 'string' ? profile : JSON.stringify(profile);
  const args = ['--port', String(port), '--replicas', String(d.replicas), '--model', `${model}=${spec}`, '--seed', String(seed), '--supervise'];
  if (d.rateLimits !== undefined) args.push('--rate-limits', JSON.stringify(d.rateLimits));
  return args;
}

/** The fleet file for the engine service: every deployment's replica URLs, fallback, routes and default. */
export function fleetFileOf(m: FleetModel, urls: Readonly<Record<string, readonly string[]>>): Record<string, unknown> {
  return {
    deployments: Object.fromEntries(
      Object.entries(m.deployments).map(([name, d]) => [name, { replicas: urls[name] ?? [], ...(d.fallback !== undefined ? { fallback: d.fallback } : {}) }]),
    ),
    ...(m.routes !== undefined ? { routes: m.routes } : {}),
    defaultDeployment: defaultDeploymentOf(m),
  };
}

/** Starts one mock process per deployment; every process started is in `group` (stopped with it). */
export async function startFleetMocks(group: ProcessGroup, m: FleetModel, o: FleetMockOptions): Promise<LiveFleetMocks> {
  for (const [name, d] of Object.entries(m.deployments)) {
    if (d.autoscale !== undefined && d.autoscale.minReplicas !== d.replicas) {
      // Not an error: live mode has no autoscaler; the deployment keeps the replicas it starts with.
      process.stderr.write(`live: deployment ${name} autoscales in virtual mode only; live it keeps its ${d.replicas} replica(s)\n`);
    }
  }
  const started = await Promise.all(
    Object.entries(m.deployments).map(async ([name, d]) => {
      const port = await freePortRun(d.replicas);
      const p = await group.start(
        { name: `mock[${name}×${d.replicas}]`, entry: o.entry, args: fleetMockArgs(d, port, o.model, o.seed), port, readyPath: '/health' },
        { readyTimeoutMs: o.readyTimeoutMs },
      );
      o.onProcess?.(p);
      const urls = Array.from({ length: d.replicas }, (_, k) => `http://127.0.0.1:${port + k}`);
      return { name, p, urls };
    }),
  );
  const urls = Object.fromEntries(started.map((s) => [s.name, s.urls]));
  const replicas = started.flatMap((s) => s.urls.map((url, index) => ({ deployment: s.name, index, url })));
  const primaryUrl = urls[defaultDeploymentOf(m)]?.[0];
  if (primaryUrl === undefined) throw new ValidationError('scenario.model.defaultDeployment', 'a deployment with a replica', defaultDeploymentOf(m));
  return { processes: started.map((s) => s.p), replicas, primaryUrl, fleetJson: JSON.stringify(fleetFileOf(m, urls)) };
}

/** Each replica's fault plan, when it has one (set on its control endpoint when the load starts). */
export function fleetFaultPlans(m: FleetModel, replicas: readonly LiveReplica[]): Array<{ url: string; plan: FaultPlanInput }> {
  const out: Array<{ url: string; plan: FaultPlanInput }> = [];
  for (const r of replicas) {
    const plan = replicaFaultPlan(m, r.deployment, r.index);
    if (Object.keys(plan).length > 0) out.push({ url: r.url, plan });
  }
  return out;
}

/** `engineArgs` with the fleet file in place of `--upstream URL`. */
export function withFleet(args: readonly string[], fleetJson: string): string[] {
  const i = args.indexOf('--upstream');
  if (i < 0) return [...args, '--fleet', fleetJson];
  return [...args.slice(0, i), '--fleet', fleetJson, ...args.slice(i + 2)];
}

/** Each deployment's price (undefined: unpriced), resolved as the virtual fleet resolves them. */
export function fleetPrices(m: FleetModel): Record<string, Price | undefined> {
  return Object.fromEntries(
    Object.entries(m.deployments).map(([name, d]) => [name, d.price === undefined ? undefined : resolvePrice(d.price, `scenario.model.deployments.${name}.price`)]),
  );
}
