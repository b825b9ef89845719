/**
 * The Scenario: one typed object per file in `scenarios/`. It says what load to generate, what the model does
 * (profile, rate limits, faults and a timeline of fault phases), which policies to compare, and how to judge them.
 * `validateScenario` checks every field up front; an error names the field, what was expected and what was got.
 */
import { z } from 'zod';
import { ValidationError } from '../src/errors.js';
import { PRESET_NAMES, withOverrides, preset, type Policy, type PresetName } from '../src/policy.js';
import { parseFaultPlan, type FaultPlanInput } from '../sim/faults.js';
import { PROFILE_NAMES, resolveProfile, type GpuProfile, type ProfileOverrides } from '../sim/profiles.js';
import { providerLimitsSchema, type ProviderLimitsInput } from '../sim/rate-limit.js';
import { RECOVERY_METRICS, type RecoveryOptions } from './measure/recovery.js';
import { validateTargets, type TargetAdapter } from './targets/target.js';
import { LATENCY_METRICS, LATENCY_STATS, SCALAR_METRICS, THRESHOLD_OPS, type SloSpec, type Threshold } from './measure/types.js';
import { resolvePrice, type PriceInput } from './cost/price.js';
import { parseWorkload, type WorkloadSpec } from './workload/index.js';
import { parseWith } from './workload/validate.js';
import { isFleetModel, validateFleet, type FleetFaultPlanInput, type ScenarioFleet } from './scenario-fleet.js';

/** A policy to compare: a preset name, or a preset with overrides under a name of its own. */
export type ScenarioPolicy = PresetName | { readonly name: string; readonly preset: PresetName; readonly overrides?: unknown; readonly description?: string };

/**
 * The model side of a scenario: one primary (and optionally a fallback) model, or a fleet of named deployments
 * (`deployments`, `routes`, `defaultDeployment`: harness/scenario-fleet.ts). A scenario uses one form or the other.
 */
export interface ScenarioModel extends ScenarioFleet {
  /**
   * The primary model's GPU profile: a built-in name, a full profile, overrides of a built-in one
   * (`{ base: 'a100-llama3-8b', kvBlocks: 4096 }`), or (in a scenario file) a path to a profile `.json` file,
   * relative to the scenario file. @default 'h100-llama3-8b'
   */
  readonly profile?: ScenarioProfile;
  /** The fallback model's profile, in the same forms; without it, policies have no fallback. */
  readonly fallbackProfile?: ScenarioProfile;
  /** Provider-style RPM/TPM limits on the primary. */
  readonly rateLimits?: ProviderLimitsInput;
  /**
   * The primary's fault plan, including its `timeline` of phases. Beside `deployments`: the fleet's timeline only,
   * each phase aimed at a `deployment` or a `replica` (`'default/3'`).
   */
  readonly faults?: FaultPlanInput | FleetFaultPlanInput;
  /** The fallback's fault plan. @default {} */
  readonly fallbackFaults?: FaultPlanInput;
  /**
   * What the primary's tokens cost: a sheet of harness/cost/price-sheets.ts (`'openai/gpt-4o-mini'`,
   * `'gpu/h100-sxm'`, ...) or numbers (`{ inputPer1M, cachedInputPer1M?, outputPer1M }` or `{ gpuHourUsd }`).
   * @default undefined: cost unknown (shown as a dash)
   */
  readonly price?: PriceInput;
  /** The fallback's price. @default `price` */
  readonly fallbackPrice?: PriceInput;
}

/** A GPU profile as a scenario gives it: a built-in name (or a `.json` path, read when the file loads) or an object. */
export type ScenarioProfile = string | GpuProfile | ProfileOverrides;

/** How `npm run regress` judges this scenario against its committed baseline. */
export interface RegressSpec {
  /** Allowed worsening before it counts as a regression, in percent. */
  readonly tolerance: {
    readonly p99TtftPct: number;
    readonly p99E2ePct: number;
    readonly goodputPct: number;
    /** Allowed rise of cost per 1,000 good requests, in percent. @default not judged */
    readonly costPct?: number;
  };
}

/** A scenario definition. */
export interface Scenario {
  readonly name: string;
  readonly description: string;
  /** @default 1 */
  readonly seed: number;
  /** Arrivals are generated within this window; the run continues until every accepted request has ended. */
  readonly durationMs: number;
  readonly workload: WorkloadSpec;
  readonly model: ScenarioModel;
  readonly policies: readonly ScenarioPolicy[];
  /** External systems under test, each a row beside the policies (live mode only; harness/targets). */
  readonly targets?: readonly TargetAdapter[];
  readonly slo: SloSpec;
  readonly thresholds?: readonly Threshold[];
  /** Present when the scenario belongs to the CI regression set. */
  readonly regress?: RegressSpec;
  /** Whether `--trace PATH` feeds the workload (trace replay). @default false */
  readonly takesTrace?: boolean;
  /** How recovery after each fault phase is judged (harness/measure/recovery.ts). @default RECOVERY_DEFAULTS */
  readonly recovery?: RecoveryOptions;
}

/** Identity function that gives scenario files their type. */
export function defineScenario(s: Scenario): Scenario {
  return s;
}

const nameRe = /^[a-z0-9][a-z0-9-]*$/;
const policyRef = z.union([
  z.enum(PRESET_NAMES),
  z.object({ name: z.string().regex(nameRe), preset: z.enum(PRESET_NAMES), overrides: z.unknown().optional(), description: z.string().optional() }).strict(),
]);
const sloBounds = { ttftMs: z.number().positive().optional(), e2eMs: z.number().positive().optional(), tpotMs: z.number().positive().optional() };
const threshold = z
  .object({
    metric: z.enum([...LATENCY_METRICS, ...SCALAR_METRICS]),
    stat: z.enum(LATENCY_STATS).optional(),
    op: z.enum(THRESHOLD_OPS),
    value: z.number(),
    policy: z.string().optional(),
    abortOnFail: z.boolean().optional(),
  })
  .strict();
const pct = z.number().min(0).max(1000);
const scenarioSchema = z
  .object({
    name: z.string().regex(nameRe),
    description: z.string().min(1),
    seed: z.number().int().min(0),
    durationMs: z.number().positive().max(24 * 3_600_000),
    workload: z.unknown(),
    model: z
      .object({
        profile: z.unknown().optional(),
        fallbackProfile: z.unknown().optional(),
        rateLimits: providerLimitsSchema.optional(),
        faults: z.unknown().optional(),
        fallbackFaults: z.unknown().optional(),
        price: z.unknown().optional(),
        fallbackPrice: z.unknown().optional(),
        deployments: z.unknown().optional(),
        routes: z.unknown().optional(),
        defaultDeployment: z.unknown().optional(),
      })
      .strict(),
    policies: z.array(policyRef).min(1),
    targets: z.array(z.unknown()).optional(),
    slo: z.object({ ...sloBounds, classes: z.record(z.string(), z.object(sloBounds).strict()).optional() }).strict(),
    thresholds: z.array(threshold).optional(),
    regress: z.object({ tolerance: z.object({ p99TtftPct: pct, p99E2ePct: pct, goodputPct: pct, costPct: pct.optional() }).strict() }).strict().optional(),
    takesTrace: z.boolean().optional(),
    recovery: z
      .object({
        metric: z.enum(RECOVERY_METRICS).optional(),
        tolerancePct: z.number().min(0).lt(100).optional(),
        consecutiveBuckets: z.number().int().min(1).optional(),
        baselineWindowMs: z.number().positive().optional(),
        relapseBuckets: z.number().int().min(1).optional(),
        relapseTolerancePct: z.number().min(0).lt(100).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/**
 * Validates a scenario (its workload, fault plans and policy overrides included).
 * @throws ValidationError naming the field, e.g. `scenario.policies[1].overrides.retry.maxAttempts`.
 */
export function validateScenario(input: unknown): Scenario {
  const s = parseWith(scenarioSchema, input, 'scenario') as Scenario;
  parseWorkload(s.workload, 'scenario.workload');
  validateProfile(s.model.profile, 'scenario.model.profile');
  validateProfile(s.model.fallbackProfile, 'scenario.model.fallbackProfile');
  validateFleet(s.model as Record<string, unknown>, validateProfile);
  if (!isFleetModel(s.model)) parseFaultPlan(s.model.faults ?? {}, 'scenario.model.faults');
  parseFaultPlan(s.model.fallbackFaults ?? {}, 'scenario.model.fallbackFaults');
  if (s.model.price !== undefined) resolvePrice(s.model.price, 'scenario.model.price');
  if (s.model.fallbackPrice !== undefined) resolvePrice(s.model.fallbackPrice, 'scenario.model.fallbackPrice');
  const seen = new Set<string>();
  s.policies.forEach((p, i) => {
    const name = policyName(p);
    if (seen.has(name)) throw new ValidationError(`scenario.policies[${i}]`, 'a policy name not used before in this scenario', name);
    seen.add(name);
    resolveScenarioPolicy(p, `scenario.policies[${i}].overrides`);
  });
  if (s.targets !== undefined) validateTargets(s.targets, 'scenario.targets', [...seen]);
  return s;
}

/** A profile is a built-in name or an object `resolveProfile` accepts; its errors are named from `path`. */
function validateProfile(p: unknown, path: string): void {
  if (p === undefined) return;
  const expected = `one of ${PROFILE_NAMES.join(', ')}, a profile object, or a path to a profile .json file (read when a scenario file loads)`;
  if (typeof p === 'string') {
    if (!PROFILE_NAMES.includes(p)) throw new ValidationError(path, expected, p);
    return;
  }
  if (p === null || typeof p !== 'object' || Array.isArray(p)) throw new ValidationError(path, expected, p);
  try {
    resolveProfile(p as ProfileOverrides);
  } catch (e) {
    if (e instanceof ValidationError) throw new ValidationError(`${path}${e.path.replace(/^profile/, '')}`, ...splitMessage(e));
    throw e;
  }
}

/** The name a policy has in reports. */
export function policyName(p: ScenarioPolicy): string {
  return typeof p === 'string' ? p : p.name;
}

/** The full, validated Policy of a scenario policy. */
export function resolveScenarioPolicy(p: ScenarioPolicy, path = 'overrides'): Policy {
  if (typeof p === 'string') return preset(p);
  if (p.overrides === undefined) return preset(p.preset);
  try {
    return withOverrides(preset(p.preset), p.overrides);
  } catch (e) {
    if (e instanceof ValidationError) throw new ValidationError(`${path}.${e.path}`.replace(/\.$/, ''), ...splitMessage(e));
    throw e;
  }
}

function splitMessage(e: ValidationError): [string, unknown] {
  const m = /: expected (.*), got (.*)$/.exec(e.message);
  return m ? [m[1] as string, rawValue(m[2] as string)] : [e.message, undefined];
}

function rawValue(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}
