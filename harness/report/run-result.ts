/**
 * Assembling a RunResult from the per-policy results of one scenario run.
 */
import { ValidationError } from '../../src/errors.js';
import type { GoodputCeiling } from '../measure/ceiling.js';
import type { PolicyResult } from '../measure/result.js';
import type { FaultPhase, JsonValue, SloSpec, Threshold, ThresholdResult } from '../measure/types.js';
import { parseRunResult, SCHEMA_VERSION, type RunMeta, type RunResult, type ScenarioInfo } from './schema.js';
import { evaluateThresholds } from './thresholds.js';

/** What the runner hands over once every policy has run. */
export interface RunResultParts {
  readonly seed: number | string;
  readonly scenario: { readonly name: string; readonly description: string; readonly durationMs: number; readonly mode: ScenarioInfo['mode']; readonly config: JsonValue };
  readonly slo: SloSpec;
  /** @default [] */
  readonly thresholds?: readonly Threshold[];
  readonly faultPhases: readonly FaultPhase[];
  /** The run's goodput ceiling (harness/run/ceiling.ts); null when it could not be bounded. @default absent */
  readonly ceiling?: GoodputCeiling | null;
  readonly policies: readonly PolicyResult[];
  /** Built by the caller (git commit, machine, node version, wall time, startedAt ISO string). */
  readonly meta: RunMeta;
}

/**
 * Builds a validated, canonical RunResult: evaluates the thresholds and stores each policy's results in its
 * `summary.thresholds`.
 * @throws ValidationError when there is no policy or a threshold names a policy the run lacks; RunResultError when the parts do not form a valid result.
 */
export function buildRunResult(parts: RunResultParts): RunResult {
  if (parts.policies.length === 0) throw new ValidationError('policies', 'at least one policy result', parts.policies);
  const thresholds = parts.thresholds ?? [];
  const names = new Set(parts.policies.map((p) => p.name));
  thresholds.forEach((t, i) => {
    if (t.policy !== undefined && !names.has(t.policy)) throw new ValidationError(`thresholds[${i}].policy`, `one of ${[...names].join(', ')}`, t.policy);
  });
  const results = evaluateThresholds(parts, thresholds);
  const byPolicy = (name: string): ThresholdResult[] => results.filter((r) => r.policy === name);
  return parseRunResult(
    {
      schemaVersion: SCHEMA_VERSION,
      seed: parts.seed,
      scenario: parts.scenario,
      slo: parts.slo,
      thresholds,
      faultPhases: parts.faultPhases,
      ...(parts.ceiling !== undefined ? { ceiling: parts.ceiling } : {}),
      policies: parts.policies.map((p) => ({ ...p, summary: { ...p.summary, thresholds: byPolicy(p.name) } })),
      meta: parts.meta,
    },
    `RunResult of ${parts.scenario.name}`,
  );
}

/** Every threshold result of the run, in policy order. */
export function allThresholdResults(result: RunResult): ThresholdResult[] {
  return result.policies.flatMap((p) => p.summary.thresholds);
}

/** True when no threshold failed (also when there are none). */
export function thresholdsPassed(result: RunResult): boolean {
  return allThresholdResults(result).every((t) => t.pass);
}
