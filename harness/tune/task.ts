/**
 * One unit of sweep work: one policy, one seed, one scenario, run in a fresh virtual world. The same function runs
 * inside a worker thread and in-process, so a sweep's figures are those of running the configuration alone.
 */
import type { Policy } from '../../src/policy.js';
import { Random } from '../../src/random.js';
import { RealClock } from '../../src/time/real-clock.js';
import type { PolicyCounters, PolicySummary } from '../measure/result.js';
import { runPolicyVirtual } from '../run/virtual.js';
import { resolveScenarioPolicy, type Scenario, type ScenarioPolicy } from '../scenario.js';
import { buildSessions } from '../workload/index.js';
import { contentHash, stableStringify } from './space.js';

/** What a worker is asked to run. Plain data: it crosses the thread boundary by structured clone. */
export interface RunTask {
  /** Resume key: hash of (scenario, duration, policy) and the seed. */
  readonly key: string;
  /** The configuration's id, used as the policy's name in the run. */
  readonly configId: string;
  readonly seed: number;
  readonly policy: Policy;
  readonly scenario: Scenario;
  readonly durationMs: number;
  /** Where relative trace paths resolve. @default process.cwd() */
  readonly baseDir?: string;
}

/** What one task produced: the policy's summary and counters (histograms and time series are left out). */
export interface TaskRecord {
  /** Record format version. */
  readonly v: 1;
  readonly key: string;
  readonly configId: string;
  readonly seed: number;
  readonly summary: PolicySummary;
  readonly counters: PolicyCounters;
  /** Sessions the workload started (after any scaling). */
  readonly sessions: number;
  readonly simulatedMs: number;
  /** Wall time of this run, for progress and ETA only; never part of a comparison. */
  readonly wallMs: number;
}

/** The resume key of (scenario, duration, policy, seed). */
export function taskKey(scenario: Scenario, durationMs: number, policy: Policy, seed: number): string {
  return `${contentHash({ scenario, durationMs, policy }, 16)}:${seed}`;
}

/**
 * The policy as a scenario policy: the full Policy as overrides on a preset. Every field of a full policy is
 * present, so the preset underneath does not matter; `executeTask` checks that the round trip is exact.
 */
export function asScenarioPolicy(name: string, policy: Policy): ScenarioPolicy {
  return { name, preset: 'resilient', overrides: policy };
}

/** Runs one task. `onProgress` gets the simulated time about once per simulated second. */
export async function executeTask(t: RunTask, onProgress?: (simulatedMs: number) => void): Promise<TaskRecord> {
  const clock = new RealClock();
  const sp = asScenarioPolicy(t.configId, t.policy);
  if (stableStringify(resolveScenarioPolicy(sp)) !== stableStringify(t.policy)) {
    throw new Error(`tune: policy ${t.configId} does not survive the preset round trip; this is a bug`);
  }
  const run = await runPolicyVirtual({
    scenario: t.scenario,
    policy: sp,
    seed: t.seed,
    durationMs: t.durationMs,
    ...(t.baseDir !== undefined ? { baseDir: t.baseDir } : {}),
    ...(onProgress !== undefined ? { onProgress } : {}),
  });
  return taskRecord(t, run, Math.round(clock.now()));
}

/** The record of one finished run of task `t` (virtual, or live against a target). */
export function taskRecord(
  t: RunTask,
  run: { readonly result: { readonly summary: PolicySummary; readonly counters: PolicyCounters }; readonly simulatedMs: number },
  wallMs: number,
): TaskRecord {
  // The world derives its workload stream from Random(seed).derive('workload'); the same call counts sessions.
  const sessions = buildSessions(t.scenario.workload, new Random(t.seed).derive('workload'), {
    durationMs: t.durationMs,
    baseDir: t.baseDir ?? process.cwd(),
  }).length;
  return {
    v: 1,
    key: t.key,
    configId: t.configId,
    seed: t.seed,
    summary: run.result.summary,
    counters: run.result.counters,
    sessions,
    simulatedMs: run.simulatedMs,
    wallMs,
  };
}
