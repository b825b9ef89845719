/**
 * `runScenario(scenarioOrPath, options)`: the programmatic way to run a scenario from a user's own code or test.
 * It takes a scenario object, a built-in name or a scenario file, runs every selected policy, and returns the
 * RunResult. It writes nothing unless `out` is given, and prints nothing.
 */
import { scaleScenarioRun } from './scale-run.js';
import { z } from 'zod';
import { ValidationError } from '../../src/errors.js';
import type { RunResult } from '../report/schema.js';
import { writeRunArtifacts } from '../cli/output.js';
import { policyName, type Scenario } from '../scenario.js';
import type { TargetAdapter } from '../targets/target.js';
import { parseWith } from '../workload/validate.js';
import type { LoadLimits } from './live-monitor.js';
import { runScenarioLive, runScenarioVirtual, type ScenarioRunOptions } from './run-scenario.js';
import { loadScenario, validateScenarioFrom } from './scenarios.js';
import type { Transport } from './transport.js';

/** Options of {@link runScenario}. */
export interface RunScenarioOptions {
  /** virtual: one process, simulated time, byte-identical for a seed; live: mock and engine processes on loopback. @default 'virtual' */
  readonly mode?: 'virtual' | 'live';
  /** Names of the scenario's policies (and targets) to run. @default all of them */
  readonly policies?: readonly string[];
  /** @default the scenario's seed */
  readonly seed?: number;
  /** Arrival window (a `burst` longer than it is cut to it at the same rate). @default the scenario's durationMs */
  readonly durationMs?: number;
  /**
   * Run at this share (0 < scale <= 1) of the scenario's load: a burst's sessions, the arrival rate or the user count
   * times it; the rest of the scenario unchanged (harness/run/scale-run.ts; CLI `--scale`). Recorded in
   * `scenario.config.scaling`. @default 1
   */
  readonly scale?: number;
  /** Where relative trace paths resolve. @default process.cwd() */
  readonly baseDir?: string;
  /** Write result.json, report.md and report.html into this folder. @default nothing is written */
  readonly out?: string;
  /** Virtual mode: the HTTP hops of live mode as delays (see harness/run/transport.ts). @default none */
  readonly transport?: Transport;
  /** Live mode: external systems under test, each one more row. @default none */
  readonly targets?: readonly TargetAdapter[];
  /** Live mode: the primary mock's port (the fallback's is the next one). @default free ports */
  readonly mockPort?: number;
  /** Live mode: when the load generator counts as the bottleneck. */
  readonly limits?: LoadLimits;
  /** Live mode: aborts the run; open requests end `cancelled` and every process is stopped. */
  readonly signal?: AbortSignal;
  /** Progress: which policy (index of total) and how far its simulated time has got. */
  readonly onProgress?: ScenarioRunOptions['onProgress'];
}

const optionsSchema = z
  .object({
    mode: z.enum(['virtual', 'live']).optional(),
    policies: z.array(z.string()).min(1).optional(),
    seed: z.number().int().min(0).optional(),
    durationMs: z.number().positive().max(24 * 3_600_000).optional(),
    scale: z.number().positive().max(1).optional(),
    baseDir: z.string().min(1).optional(),
    out: z.string().min(1).optional(),
    transport: z.unknown().optional(),
    targets: z.array(z.unknown()).optional(),
    mockPort: z.number().int().min(1).max(65_535).optional(),
    limits: z.unknown().optional(),
    signal: z.instanceof(AbortSignal).optional(),
    onProgress: z.custom<NonNullable<RunScenarioOptions['onProgress']>>((v) => typeof v === 'function', 'a function').optional(),
  })
  .strict();

/**
 * Runs a scenario and returns its RunResult.
 * @param scenario a scenario object (validated here), a built-in scenario name (`burst-1000`), or the path of a
 *   scenario file (`.ts`, `.mts`, `.js`, `.mjs`, `.json`), relative to the working directory.
 * @throws ValidationError / UsageError naming the field (of the options or of the scenario) before anything runs.
 */
export async function runScenario(scenario: Scenario | string, options: RunScenarioOptions = {}): Promise<RunResult> {
  const o = parseWith(optionsSchema, options, 'options') as RunScenarioOptions;
  // An object scenario's profile .json paths resolve against baseDir (default: the working directory).
  const s = typeof scenario === 'string' ? await loadScenario(scenario) : await validateScenarioFrom(scenario, undefined, o.baseDir ?? process.cwd());
  if (o.policies !== undefined) {
    const known = [...s.policies.map(policyName), ...(s.targets ?? []).map((t) => t.name), ...(o.targets ?? []).map((t) => t.name)];
    const unknown = o.policies.filter((p) => !known.includes(p));
    if (unknown.length > 0) parseWith(z.array(z.enum(known as [string, ...string[]])), o.policies, 'options.policies');
  }
  if ((o.mode ?? 'virtual') === 'virtual' && (o.targets?.length ?? 0) > 0) throw new ValidationError('options.targets', "mode: 'live' (external targets run in live mode only)", 'mode virtual');
  const scaled = scaleScenarioRun(s, { ...(o.scale !== undefined ? { scale: o.scale } : {}), ...(o.durationMs !== undefined ? { durationMs: o.durationMs } : {}) });
  const common = {
    scenario: scaled.scenario,
    ...(scaled.scaling !== null ? { scaling: scaled.scaling } : {}),
    ...(o.policies !== undefined ? { policies: o.policies } : {}),
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
    ...(o.durationMs !== undefined ? { durationMs: o.durationMs } : {}),
    ...(o.baseDir !== undefined ? { baseDir: o.baseDir } : {}),
    ...(o.onProgress !== undefined ? { onProgress: o.onProgress } : {}),
  };
  const result =
    (o.mode ?? 'virtual') === 'virtual'
      ? await runScenarioVirtual({ ...common, ...(o.transport !== undefined ? { transport: o.transport } : {}) })
      : await runScenarioLive({
          ...common,
          ...(o.targets !== undefined ? { targets: o.targets } : {}),
          ...(o.mockPort !== undefined ? { mockPort: o.mockPort } : {}),
          ...(o.limits !== undefined ? { limits: o.limits } : {}),
          ...(o.signal !== undefined ? { signal: o.signal } : {}),
        });
  if (o.out !== undefined) await writeRunArtifacts(result, o.out);
  return result;
}
