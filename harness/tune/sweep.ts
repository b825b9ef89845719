/**
 * A tuning sweep: every configuration of the search space × every seed, run in virtual mode across worker
 * threads, logged for resume, then judged against the SLOs and ranked. Returns data; the CLI writes and prints.
 */
import { join } from 'node:path';
import type { Policy } from '../../src/policy.js';
import { RealClock } from '../../src/time/real-clock.js';
import type { Threshold } from '../measure/types.js';
import type { Scenario } from '../scenario.js';
import { runTasks } from './pool.js';
import { rankSweep, type RankBy, type Ranking } from './rank.js';
import { buildConfigs, type Dimension, type SearchSpec, type TuneConfig } from './space.js';
import { RESULTS_FILE, ResultStore } from './store.js';
import { taskKey, type RunTask, type TaskRecord } from './task.js';

/** What a sweep explores. */
export interface SweepSpec {
  readonly scenario: Scenario;
  /** Arrival window of every run. */
  readonly durationMs: number;
  /** The policy every configuration starts from. */
  readonly base: { readonly name: string; readonly policy: Policy };
  readonly dimensions: readonly Dimension[];
  readonly search: SearchSpec;
  /** One run per configuration per seed. */
  readonly seeds: readonly number[];
  readonly slo: readonly Threshold[];
  /** What SLO-meeting configurations are ranked by. @default 'goodput' */
  readonly rankBy?: RankBy;
}

/** Progress of a sweep. */
export type SweepEvent =
  | { readonly type: 'start'; readonly configs: number; readonly runs: number; readonly resumed: number }
  | { readonly type: 'progress'; readonly key: string; readonly simulatedMs: number }
  | { readonly type: 'run-done'; readonly record: TaskRecord; readonly done: number; readonly total: number }
  /** Every seed of a configuration has finished (resumed runs included). */
  | { readonly type: 'config-done'; readonly config: TuneConfig; readonly records: readonly TaskRecord[]; readonly done: number; readonly total: number };

/** Options of {@link runSweep}. */
export interface SweepOptions extends SweepSpec {
  /** Worker threads; 0 runs in this thread. */
  readonly workers: number;
  /** Folder of the resume log; without it nothing is logged and nothing resumed. */
  readonly outDir?: string;
  /** Where relative trace paths resolve. @default process.cwd() */
  readonly baseDir?: string;
  readonly signal?: AbortSignal;
  readonly onEvent?: (e: SweepEvent) => void;
}

/** What a sweep produced. */
export interface SweepOutcome {
  readonly spec: SweepSpec;
  readonly configs: readonly TuneConfig[];
  readonly ranking: Ranking;
  /** Runs taken from the resume log. */
  readonly resumed: number;
  /** Runs executed now. */
  readonly ran: number;
  readonly wallMs: number;
}

/** The runs of a sweep, in configuration order then seed order. */
export function sweepTasks(spec: SweepSpec, configs: readonly TuneConfig[], baseDir?: string): RunTask[] {
  return configs.flatMap((c) =>
    spec.seeds.map((seed) => ({
      key: taskKey(spec.scenario, spec.durationMs, c.policy, seed),
      configId: c.id,
      seed,
      policy: c.policy,
      scenario: spec.scenario,
      durationMs: spec.durationMs,
      ...(baseDir !== undefined ? { baseDir } : {}),
    })),
  );
}

/** Runs the sweep (skipping runs already in the resume log) and ranks it. */
export async function runSweep(o: SweepOptions): Promise<SweepOutcome> {
  const clock = new RealClock();
  const configs = buildConfigs(o.base.policy, o.dimensions, o.search, o.seeds[0] ?? o.scenario.seed);
  const tasks = sweepTasks(o, configs, o.baseDir);
  const store = o.outDir === undefined ? undefined : await ResultStore.open(join(o.outDir, RESULTS_FILE));
  const records = new Map<string, TaskRecord>();
  for (const t of tasks) {
    const r = store?.get(t.key);
    if (r !== undefined) records.set(t.key, r);
  }
  const todo = tasks.filter((t) => !records.has(t.key));
  o.onEvent?.({ type: 'start', configs: configs.length, runs: tasks.length, resumed: tasks.length - todo.length });

  const keysOf = new Map(configs.map((c) => [c.id, tasks.filter((t) => t.configId === c.id).map((t) => t.key)]));
  const byId = new Map(configs.map((c) => [c.id, c]));
  let configsDone = 0;
  const maybeConfigDone = (configId: string): void => {
    const keys = keysOf.get(configId) ?? [];
    if (!keys.every((k) => records.has(k))) return;
    configsDone++;
    o.onEvent?.({ type: 'config-done', config: byId.get(configId) as TuneConfig, records: keys.map((k) => records.get(k) as TaskRecord), done: configsDone, total: configs.length });
  };
  for (const c of configs) maybeConfigDone(c.id);

  let runsDone = tasks.length - todo.length;
  await runTasks(todo, {
    workers: o.workers,
    ...(o.signal !== undefined ? { signal: o.signal } : {}),
    onProgress: (key, simulatedMs) => o.onEvent?.({ type: 'progress', key, simulatedMs }),
    onDone: async (r) => {
      await store?.append(r);
      records.set(r.key, r);
      runsDone++;
      o.onEvent?.({ type: 'run-done', record: r, done: runsDone, total: tasks.length });
      maybeConfigDone(r.configId);
    },
  });
  const ranking = rankSweep(configs, o.seeds, o.slo, (c, seed) => records.get(taskKey(o.scenario, o.durationMs, c.policy, seed)) as TaskRecord, o.rankBy ?? 'goodput');
  const spec: SweepSpec = { scenario: o.scenario, durationMs: o.durationMs, base: o.base, dimensions: o.dimensions, search: o.search, seeds: o.seeds, slo: o.slo, ...(o.rankBy !== undefined ? { rankBy: o.rankBy } : {}) };
  return { spec, configs, ranking, resumed: tasks.length - todo.length, ran: todo.length, wallMs: Math.round(clock.now()) };
}
