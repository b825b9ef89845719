/**
 * The fleet form of a scenario's model side (issue #18): named deployments, each a GPU profile with N replicas, its
 * own faults, rate limits, price, fallback deployment and autoscaling; ordered routing rules; a default deployment.
 * A timeline fault phase may target one deployment (`deployment: 'fast'`) or one replica (`replica: 'default/3'`).
 *
 * The single-model form (`model.profile`, `model.faults`, `model.fallbackProfile`, ...) stays as it was; a scenario
 * uses one form or the other, and `validateFleet` says which field conflicts. `replicaFaultPlan` gives each replica
 * the plain fault plan its mock model runs (sim/faults.ts knows nothing of replicas).
 */
import { z } from 'zod';
import { ValidationError } from '../src/errors.js';
import type { RouteRule } from '../src/fleet/types.js';
import { parseFaultPlan, type FaultPhase, type FaultPlanInput } from '../sim/faults.js';
import { providerLimitsSchema, type ProviderLimitsInput } from '../sim/rate-limit.js';
import { resolvePrice, type PriceInput } from './cost/price.js';
import { parseWith } from './workload/validate.js';

/** A timeline phase of a fleet: a plain phase, optionally aimed at one deployment or one replica. */
export type FleetFaultPhase = FaultPhase & {
  /** Only this deployment's replicas (in `model.faults.timeline`). @default every replica the plan applies to */
  readonly deployment?: string;
  /** Only this replica, by id `<deployment>/<index>` (e.g. `default/3`). @default every replica the plan applies to */
  readonly replica?: string;
};

/** A fault plan whose timeline phases may target a deployment or a replica. */
export type FleetFaultPlanInput = Omit<FaultPlanInput, 'timeline'> & { timeline?: FleetFaultPhase[] };

/** Autoscaling of one deployment, in virtual mode (harness/run/autoscaler.ts). */
export interface AutoscaleSpec {
  readonly minReplicas: number;
  readonly maxReplicas: number;
  /** Scale out when a signal stays above its target for `sustainMs`. At least one target. */
  readonly target: {
    /** Mean GPU queue wait of the deployment's requests, ms. */
    readonly queueWaitMs?: number;
    /** Mean GPU utilization of the deployment's replicas in service, 0..1. */
    readonly utilization?: number;
  };
  readonly sustainMs: number;
  /** Model load time: a new replica is provisioned (and paid for) at once but joins only after this long. */
  readonly coldStartMs: number;
  /** A replica beyond `minReplicas` with nothing running or waiting for this long is removed. */
  readonly scaleInIdleMs: number;
}

/** One deployment of a fleet scenario. */
export interface ScenarioDeployment {
  /** The GPU profile of every replica, in the forms `model.profile` takes. */
  readonly profile: unknown;
  /** Replicas at the start (at least 1). */
  readonly replicas: number;
  /** Every replica's fault plan; a phase with `replica` hits that replica only. @default {} */
  readonly faults?: FleetFaultPlanInput;
  /** Provider-style limits, per replica. */
  readonly rateLimits?: ProviderLimitsInput;
  /** What its tokens (or GPU-hours) cost, as `model.price` takes. @default undefined: cost unknown */
  readonly price?: PriceInput;
  /** Another deployment, for when this one has no replica in service. */
  readonly fallback?: string;
  readonly autoscale?: AutoscaleSpec;
}

/** The fleet fields of `model`. */
export interface ScenarioFleet {
  readonly deployments?: Readonly<Record<string, ScenarioDeployment>>;
  /** Ordered rules on request metadata; the first that matches picks a deployment. @default none */
  readonly routes?: readonly RouteRule[];
  /** Where a request no rule matches goes. @default the only deployment, when there is one */
  readonly defaultDeployment?: string;
}

const nameRe = /^[a-z0-9][a-z0-9-]*$/;
const ms = z.number().min(0);
const autoscaleSchema = z
  .object({
    minReplicas: z.number().int().min(1),
    maxReplicas: z.number().int().min(1),
    target: z.object({ queueWaitMs: z.number().positive().optional(), utilization: z.number().gt(0).max(1).optional() }).strict(),
    sustainMs: ms,
    coldStartMs: ms,
    scaleInIdleMs: z.number().positive(),
  })
  .strict();
const deploymentSchema = z
  .object({
    profile: z.unknown(),
    replicas: z.number().int().min(1),
    faults: z.unknown().optional(),
    rateLimits: providerLimitsSchema.optional(),
    price: z.unknown().optional(),
    fallback: z.string().optional(),
    autoscale: autoscaleSchema.optional(),
  })
  .strict();
const strOrList = z.union([z.string(), z.array(z.string()).min(1)]);
const routeSchema = z
  .object({
    name: z.string().min(1).optional(),
    deployment: z.string(),
    when: z
      .object({
        priority: z.union([z.enum(['interactive', 'batch']), z.object({ min: z.number().int().min(1).max(10).optional(), max: z.number().int().min(1).max(10).optional() }).strict()]).optional(),
        tenantId: strOrList.optional(),
        modelHint: z.string().optional(),
        minPromptTokens: z.number().int().min(1).optional(),
        batchable: z.boolean().optional(),
        requestClass: strOrList.optional(),
      })
      .strict(),
  })
  .strict();
const fleetSchema = z.object({
  deployments: z.record(z.string().regex(nameRe), deploymentSchema).optional(),
  routes: z.array(routeSchema).optional(),
  defaultDeployment: z.string().optional(),
});

/** The fields of the single-model form that have no meaning beside `deployments`. */
const SINGLE_MODEL_FIELDS = ['profile', 'fallbackProfile', 'fallbackFaults', 'rateLimits', 'price', 'fallbackPrice'] as const;

/** The target fields of a phase, which sim/faults.ts does not know. */
const TARGET_KEYS = ['deployment', 'replica'] as const;

/** True when the scenario's model side is a fleet. */
export function isFleetModel(model: ScenarioFleet): model is ScenarioFleet & { deployments: Readonly<Record<string, ScenarioDeployment>> } {
  return model.deployments !== undefined;
}

/**
 * Validates the fleet fields of `scenario.model` (`model` already passed the scenario's own schema).
 * `validateProfile` checks a profile and names it by the path given.
 * @throws ValidationError naming the field, e.g. `scenario.model.routes[1].deployment`.
 */
export function validateFleet(model: Record<string, unknown>, validateProfile: (p: unknown, path: string) => void): void {
  const root = 'scenario.model';
  const f = parseWith(fleetSchema, { deployments: model.deployments, routes: model.routes, defaultDeployment: model.defaultDeployment }, root);
  if (f.deployments === undefined) {
    for (const k of ['routes', 'defaultDeployment'] as const) {
      if (f[k] !== undefined) throw new ValidationError(`${root}.${k}`, 'no such field without model.deployments', f[k]);
    }
    return;
  }
  const names = Object.keys(f.deployments);
  if (names.length === 0) throw new ValidationError(`${root}.deployments`, 'at least one deployment', f.deployments);
  for (const k of SINGLE_MODEL_FIELDS) {
    if (model[k] !== undefined) throw new ValidationError(`${root}.${k}`, `no ${k} beside model.deployments (give each deployment its own)`, model[k]);
  }
  const known = (n: string): boolean => names.includes(n);
  const list = names.map((n) => JSON.stringify(n)).join(', ');
  for (const [name, d] of Object.entries(f.deployments)) {
    const at = `${root}.deployments.${name}`;
    if (d.profile === undefined) throw new ValidationError(`${at}.profile`, 'a GPU profile (a built-in name, a profile object or overrides of one)', undefined);
    validateProfile(d.profile, `${at}.profile`);
    if (d.price !== undefined) resolvePrice(d.price, `${at}.price`);
    if (d.fallback !== undefined && (!known(d.fallback) || d.fallback === name)) throw new ValidationError(`${at}.fallback`, `another deployment (${list})`, d.fallback);
    if (d.autoscale !== undefined) validateAutoscale(d.autoscale, d.replicas, `${at}.autoscale`);
    validatePlan(d.faults, `${at}.faults`, (p, i) => {
      if (p.deployment !== undefined) throw new ValidationError(`${at}.faults.timeline[${i}].deployment`, `no deployment in a deployment's own timeline (it is ${JSON.stringify(name)}; aim at another one from model.faults.timeline)`, p.deployment);
      if (p.replica !== undefined) checkReplica(p.replica, `${at}.faults.timeline[${i}].replica`, f.deployments!, name);
    });
  }
  checkFallbackCycles(f.deployments, root);
  f.routes?.forEach((r, i) => {
    if (!known(r.deployment)) throw new ValidationError(`${root}.routes[${i}].deployment`, `a deployment of model.deployments (${list})`, r.deployment);
    const p = r.when.priority;
    if (typeof p === 'object' && p.min !== undefined && p.max !== undefined && p.min > p.max) throw new ValidationError(`${root}.routes[${i}].when.priority.max`, `at least min (${p.min})`, p.max);
  });
  const def = f.defaultDeployment ?? (names.length === 1 ? names[0] : undefined);
  if (def === undefined) throw new ValidationError(`${root}.defaultDeployment`, `the deployment for requests no route matches (one of ${list})`, undefined);
  if (!known(def)) throw new ValidationError(`${root}.defaultDeployment`, `a deployment of model.deployments (${list})`, def);
  // With deployments, `model.faults` is the fleet's timeline: phases only, each aimed at a deployment or a replica.
  if (model.faults !== undefined) {
    const plan = model.faults as Record<string, unknown>;
    const other = plan !== null && typeof plan === 'object' ? Object.keys(plan).find((k) => k !== 'timeline') : undefined;
    if (other !== undefined) throw new ValidationError(`${root}.faults.${other}`, 'only a timeline in model.faults beside model.deployments (put standing faults in a deployment\'s faults)', plan[other]);
    validatePlan(model.faults, `${root}.faults`, (p, i) => {
      const at = `${root}.faults.timeline[${i}]`;
      if (p.deployment === undefined && p.replica === undefined) throw new ValidationError(at, 'a phase naming its deployment or replica', p);
      if (p.deployment !== undefined && p.replica !== undefined) throw new ValidationError(`${at}.replica`, 'a deployment or a replica, not both', p.replica);
      if (p.deployment !== undefined && !known(p.deployment)) throw new ValidationError(`${at}.deployment`, `a deployment of model.deployments (${list})`, p.deployment);
      if (p.replica !== undefined) checkReplica(p.replica, `${at}.replica`, f.deployments!);
    });
  }
}

/** The default deployment of a fleet model (validated). */
export function defaultDeploymentOf(model: ScenarioFleet): string {
  const names = Object.keys(model.deployments ?? {});
  return model.defaultDeployment ?? (names[0] as string);
}

/**
 * The plain fault plan of replica `index` of `deployment`: the deployment's standing faults, then its timeline phases
 * (those aimed at this replica or at none), then the fleet timeline's phases aimed at this deployment or replica.
 */
export function replicaFaultPlan(model: ScenarioFleet & { readonly faults?: unknown }, deployment: string, index: number): FaultPlanInput {
  const id = `${deployment}/${index}`;
  const own = model.deployments?.[deployment]?.faults ?? {};
  const fleet = (model.faults as FleetFaultPlanInput | undefined)?.timeline ?? [];
  const { timeline, ...base } = own;
  const phases = [
    ...(timeline ?? []).filter((p) => p.replica === undefined || p.replica === id),
    ...fleet.filter((p) => p.deployment === deployment || p.replica === id),
  ].map(stripTarget);
  return phases.length === 0 ? (base as FaultPlanInput) : ({ ...base, timeline: phases } as FaultPlanInput);
}

/** Every phase of a fleet model with what it targets (for reports): deployments' timelines, then the fleet's. */
export function fleetPhases(model: ScenarioFleet & { readonly faults?: unknown }): Array<{ phase: FaultPhase; target: string }> {
  const out: Array<{ phase: FaultPhase; target: string }> = [];
  for (const [name, d] of Object.entries(model.deployments ?? {})) {
    for (const p of d.faults?.timeline ?? []) out.push({ phase: stripTarget(p), target: p.replica ?? name });
  }
  for (const p of (model.faults as FleetFaultPlanInput | undefined)?.timeline ?? []) out.push({ phase: stripTarget(p), target: p.replica ?? p.deployment ?? 'fleet' });
  return out;
}

function stripTarget(p: FleetFaultPhase): FaultPhase {
  const out: Record<string, unknown> = { ...p };
  for (const k of TARGET_KEYS) delete out[k];
  return out as FaultPhase;
}

/** Validates a plan whose phases may carry target fields: `check` sees each phase, then sim/faults.ts the rest. */
function validatePlan(plan: unknown, path: string, check: (p: FleetFaultPhase, i: number) => void): void {
  if (plan === undefined) return;
  const timeline = plan !== null && typeof plan === 'object' ? (plan as { timeline?: unknown }).timeline : undefined;
  if (Array.isArray(timeline)) {
    timeline.forEach((p: unknown, i) => {
      if (p === null || typeof p !== 'object') return;
      const t = p as Record<string, unknown>;
      for (const k of TARGET_KEYS) if (t[k] !== undefined && typeof t[k] !== 'string') throw new ValidationError(`${path}.timeline[${i}].${k}`, 'a string', t[k]);
      check(t as unknown as FleetFaultPhase, i);
    });
  }
  const stripped = Array.isArray(timeline) ? { ...(plan as object), timeline: timeline.map((p: unknown) => (p !== null && typeof p === 'object' ? stripTarget(p as FleetFaultPhase) : p)) } : plan;
  parseFaultPlan(stripped as FaultPlanInput, path);
}

/** A replica id names a deployment (`only` when given) and an index below its replicas at the start. */
function checkReplica(id: string, path: string, deployments: Readonly<Record<string, { replicas: number }>>, only?: string): void {
  const m = /^(.+)\/(\d+)$/.exec(id);
  const d = m === null ? undefined : deployments[m[1] as string];
  const index = m === null ? NaN : Number(m[2]);
  if (m === null || d === undefined || (only !== undefined && m[1] !== only)) {
    const where = only === undefined ? Object.keys(deployments).join(', ') : only;
    throw new ValidationError(path, `a replica id <deployment>/<index> of ${where}`, id);
  }
  if (!(index < d.replicas)) throw new ValidationError(path, `a replica that exists at the start (${m[1]}/0 to ${m[1]}/${d.replicas - 1})`, id);
}

function validateAutoscale(a: AutoscaleSpec, replicas: number, path: string): void {
  if (a.maxReplicas < a.minReplicas) throw new ValidationError(`${path}.maxReplicas`, `at least minReplicas (${a.minReplicas})`, a.maxReplicas);
  if (replicas < a.minReplicas || replicas > a.maxReplicas) throw new ValidationError(`${path.replace(/\.autoscale$/, '')}.replicas`, `between autoscale.minReplicas and maxReplicas (${a.minReplicas} to ${a.maxReplicas})`, replicas);
  if (a.target.queueWaitMs === undefined && a.target.utilization === undefined) throw new ValidationError(`${path}.target`, 'queueWaitMs or utilization (or both)', a.target);
}

function checkFallbackCycles(deployments: Readonly<Record<string, { fallback?: string | undefined }>>, root: string): void {
  for (const start of Object.keys(deployments)) {
    const seen = new Set([start]);
    let cur = deployments[start]?.fallback;
    while (cur !== undefined) {
      if (seen.has(cur)) throw new ValidationError(`${root}.deployments.${start}.fallback`, 'a fallback chain that ends (no cycle)', [...seen, cur].join(' → '));
      seen.add(cur);
      cur = deployments[cur]?.fallback;
    }
  }
}
