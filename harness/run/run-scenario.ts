/**
 * Runs every selected policy of a scenario and assembles the versioned RunResult. Running, reporting and printing
 * are separate stages: this returns data; the CLI writes and prints it.
 */
import { HarnessError } from '../../src/errors.js';
import { Random } from '../../src/random.js';
import { RealClock } from '../../src/time/real-clock.js';
import type { JsonValue } from '../measure/types.js';
import { buildRunResult } from '../report/run-result.js';
import type { RunResult } from '../report/schema.js';
import { policyName, type Scenario, type ScenarioPolicy } from '../scenario.js';
import { buildWorkload, type BuiltWorkload } from '../workload/index.js';
import { isTargetAdapter, validateTargets, type TargetAdapter } from '../targets/target.js';
import { runPolicyLive, type LivePolicyRun } from './live.js';
import { mergeReports, type LoadGeneratorReport, type LoadLimits } from './live-monitor.js';
import { gitCommitAsync, machineInfo } from './meta.js';
import type { ManagedProcess } from './processes.js';
import { isZeroTransport, parseTransport, type Transport } from './transport.js';
import { scenarioCeiling } from './ceiling.js';
import { scalingJson, type RunScaling } from './scale-run.js';
import { crossesThreads, runPoliciesInThreads } from './policy-threads.js';
import { faultPhases, runPolicyVirtual, type PolicyRun } from './virtual.js';

/** Options of a scenario run. */
export interface ScenarioRunOptions {
  readonly scenario: Scenario;
  /** Names of the scenario's policies to run. @default all of them */
  readonly policies?: readonly string[];
  /** @default the scenario's seed */
  readonly seed?: number;
  /** @default the scenario's durationMs */
  readonly durationMs?: number;
  /** Where relative trace paths resolve. @default process.cwd() */
  readonly baseDir?: string;
  /**
   * How the scenario was scaled for this run (harness/run/scale-run.ts, `--scale`): recorded in
   * `scenario.config.scaling`. The scenario given is already the scaled one. @default none
   */
  readonly scaling?: RunScaling | null;
  /** Progress: which policy (index of total) and how far its simulated time has got. */
  readonly onProgress?: (p: { policy: string; index: number; total: number; simulatedMs: number; done: boolean }) => void;
}

/** Options of a virtual scenario run. */
export interface VirtualScenarioRunOptions extends ScenarioRunOptions {
  /**
   * The HTTP hops of live mode as delays (harness/run/transport.ts), for every policy. Validated before anything
   * runs; a transport that delays something is recorded in the result's `scenario.config.transport`.
   * @default none (the virtual world without hops)
   */
  readonly transport?: Transport;
  /**
   * Worker threads to run the policies on, side by side (harness/run/policy-threads.ts): the figures are the same
   * as one after another, the wall time shorter. 0 or 1, or a scenario that cannot cross to a thread (a function in
   * it), runs them in this thread. @default 0
   */
  readonly workers?: number;
}

/** Options of a live scenario run. */
export interface LiveScenarioRunOptions extends ScenarioRunOptions {
  /** Aborts the run (Ctrl-C): open requests end `cancelled` and every process is stopped. */
  readonly signal?: AbortSignal;
  /** When the load generator counts as the bottleneck. @default { maxLagP99Ms: 50, maxCpuPct: 90 } */
  readonly limits?: LoadLimits;
  /** Called with every child process once it is ready (tests watch their PIDs). */
  readonly onProcess?: (p: ManagedProcess) => void;
  /** External systems under test run after the scenario's policies and own targets (`--target NAME=URL`). */
  readonly targets?: readonly TargetAdapter[];
  /** The primary mock's port (the fallback's is the next one). @default free ports */
  readonly mockPort?: number;
  /** A chaos proxy in front of a real model, in place of the built-in mock (see `LiveRunOptions.proxyUrl`). */
  readonly proxyUrl?: string;
  /** Zero-load probe requests after each policy's load (see `LiveRunOptions.probes`). @default 0 */
  readonly probes?: number;
  /** Called with each policy's full live run (probes, mock lag), for the agreement report. */
  readonly onPolicyRun?: (run: LivePolicyRun) => void;
}

/** Runs the scenario in virtual mode. Each policy gets a fresh world and the identical workload. */
export async function runScenarioVirtual(o: VirtualScenarioRunOptions): Promise<RunResult> {
  const transport = o.transport === undefined ? undefined : parseTransport(o.transport);
  const hops = isZeroTransport(transport) ? undefined : transport;
  const parallel = (o.workers ?? 0) > 1 && crossesThreads(o.scenario);
  const batch: BatchRunner | undefined = !parallel
    ? undefined
    : (policies, args) =>
        runPoliciesInThreads(
          policies.map((policy) => ({ scenario: args.scenario, policy, seed: args.seed, durationMs: args.durationMs, ...(o.baseDir !== undefined ? { baseDir: o.baseDir } : {}), ...(hops !== undefined ? { transport: hops } : {}) })),
          { workers: o.workers ?? 0, onProgress: args.onProgress },
        );
  return runScenarioWith(
    o,
    'virtual',
    async ({ policy, workload, ...args }) => {
      if (isTargetAdapter(policy)) throw new HarnessError('RUN_FAILED', `target ${policy.name}: external targets run in live mode only`);
      const run = await runPolicyVirtual({
        ...args,
        policy,
        workload: workload(),
        ...(o.baseDir !== undefined ? { baseDir: o.baseDir } : {}),
        ...(hops !== undefined ? { transport: hops } : {}),
      });
      return { run };
    },
    [],
    hops !== undefined ? { transport: hops as JsonValue } : {},
    batch,
  );
}

/**
 * Runs the scenario live: for each policy, fresh mock and engine processes on loopback, the identical workload over
 * HTTP/SSE. `meta.loadGenerator` says whether the load generator kept up (a run where it did not is invalid).
 */
export async function runScenarioLive(o: LiveScenarioRunOptions): Promise<RunResult> {
  const targets = validateTargets([...(o.scenario.targets ?? []), ...(o.targets ?? [])], 'targets', o.scenario.policies.map(policyName));
  return runScenarioWith(o, 'live', async ({ workload: _built, ...args }) => {
    const run = await runPolicyLive({
      ...args,
      ...(o.baseDir !== undefined ? { baseDir: o.baseDir } : {}),
      ...(o.signal !== undefined ? { signal: o.signal } : {}),
      ...(o.limits !== undefined ? { limits: o.limits } : {}),
      ...(o.onProcess !== undefined ? { onProcess: o.onProcess } : {}),
      ...(o.mockPort !== undefined ? { mockPort: o.mockPort } : {}),
      ...(o.proxyUrl !== undefined ? { proxyUrl: o.proxyUrl } : {}),
      ...(o.probes !== undefined ? { probes: o.probes } : {}),
    });
    o.onPolicyRun?.(run);
    return { run, loadGenerator: run.loadGenerator };
  }, targets);
}

type PolicyRunner = (args: {
  scenario: Scenario;
  policy: ScenarioPolicy | TargetAdapter;
  seed: number;
  durationMs: number;
  onProgress: (ms: number) => void;
  /** The scenario's workload at this seed and duration, built on first use and shared by the policies and the ceiling. */
  workload: () => BuiltWorkload;
}) => Promise<{ run: PolicyRun; loadGenerator?: LoadGeneratorReport }>;

/** Runs all the selected policies at once (on worker threads); their runs in the order given. */
type BatchRunner = (
  policies: readonly ScenarioPolicy[],
  args: { scenario: Scenario; seed: number; durationMs: number; onProgress: (index: number, ms: number) => void },
) => Promise<PolicyRun[]>;

async function runScenarioWith(
  o: ScenarioRunOptions,
  mode: 'virtual' | 'live',
  runPolicy: PolicyRunner,
  targets: readonly TargetAdapter[] = [],
  /** Run settings recorded beside the scenario's own config (the virtual transport). */
  configExtras: { readonly [k: string]: JsonValue } = {},
  batch?: BatchRunner,
): Promise<RunResult> {
  const clock = new RealClock();
  const startedAt = new Date(clock.wallTimeMs()).toISOString();
  const t0 = clock.now();
  // The commit for meta, asked of git in child processes while the policies run.
  const commit = gitCommitAsync();
  const s = o.scenario;
  const seed = o.seed ?? s.seed;
  const durationMs = o.durationMs ?? s.durationMs;
  // The scenario's policies, then the external targets (live only), each a row of the table.
  const rows: Array<ScenarioPolicy | TargetAdapter> = [...s.policies, ...targets];
  const rowName = (p: ScenarioPolicy | TargetAdapter): string => (isTargetAdapter(p) ? p.name : policyName(p));
  const selected = o.policies === undefined ? rows : rows.filter((p) => o.policies?.includes(rowName(p)));
  // One build of the workload for every policy and the ceiling: each only reads it (see VirtualRunOptions.workload).
  let built: BuiltWorkload | undefined;
  const workload = (): BuiltWorkload =>
    (built ??= buildWorkload(s.workload, new Random(seed).derive('workload'), { durationMs, baseDir: o.baseDir ?? process.cwd() }));
  const results = [];
  const generators: Array<{ policy: string; report: LoadGeneratorReport }> = [];
  let simulatedMs = 0;
  const signal = (o as LiveScenarioRunOptions).signal;
  const reporter = (index: number) => (simMs: number, done: boolean): void =>
    o.onProgress?.({ policy: rowName(selected[index] as ScenarioPolicy | TargetAdapter), index, total: selected.length, simulatedMs: simMs, done });
  // Virtual runs on worker threads: all at once, then reported below in order as if run one by one.
  const ran = batch === undefined || selected.some(isTargetAdapter)
    ? undefined
    : await batch(selected as ScenarioPolicy[], { scenario: s, seed, durationMs, onProgress: (index, ms) => reporter(index)(ms, false) });
  for (const [index, policy] of selected.entries()) {
    if (signal?.aborted === true && results.length > 0) break; // interrupted: report what ran
    const name = rowName(policy);
    const report = reporter(index);
    const prior = ran?.[index];
    const { run, loadGenerator } = prior !== undefined ? { run: prior, loadGenerator: undefined } : await runPolicy({ scenario: s, policy, seed, durationMs, onProgress: (ms) => report(ms, false), workload });
    report(run.simulatedMs, true);
    simulatedMs += run.simulatedMs;
    results.push(run.result);
    if (loadGenerator !== undefined) generators.push({ policy: name, report: loadGenerator });
  }
  // The ceiling bounds what the simulated GPU can serve; a chaos proxy in front of a real model has no such bound here.
  const proxied = (o as LiveScenarioRunOptions).proxyUrl !== undefined;
  const ceiling = proxied
    ? undefined
    : await Promise.resolve()
        .then(() => scenarioCeiling(s, { seed, durationMs, workload: workload(), ...(o.baseDir !== undefined ? { baseDir: o.baseDir } : {}) }))
        .catch(() => null);
  const gitCommit = await commit;
  return buildRunResult({
    seed,
    scenario: {
      name: s.name,
      description: s.description,
      durationMs,
      mode,
      config: JSON.parse(JSON.stringify({ ...s, seed, durationMs, ...configExtras, ...(o.scaling != null ? { scaling: scalingJson(o.scaling) } : {}) })) as JsonValue,
    },
    slo: s.slo,
    ...(s.thresholds !== undefined ? { thresholds: s.thresholds } : {}),
    faultPhases: faultPhases(s),
    ...(ceiling !== undefined ? { ceiling } : {}),
    policies: results,
    meta: {
      gitCommit,
      machine: machineInfo(),
      nodeVersion: process.version,
      wallMs: Math.round(clock.now() - t0),
      simulatedMs: Math.round(simulatedMs),
      startedAt,
      loadGenerator: mode === 'live' ? mergeReports(generators) : null,
    },
  });
}
