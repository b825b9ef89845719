/**
 * Headroom: the largest load multiplier at which a policy still meets its SLOs. The workload is scaled (a burst's
 * session count, an open-loop arrival rate, or the closed-loop user count), and the multiplier is bracketed: doubled (or halved) until the
 * verdict flips, then narrowed geometrically to a relative tolerance. Each round probes as many multipliers in
 * parallel as the workers allow. It assumes the verdict is monotone in load; the probes are all reported, so a
 * non-monotone curve shows.
 */
import type { Policy } from '../../src/policy.js';
import { RealClock } from '../../src/time/real-clock.js';
import type { Threshold } from '../measure/types.js';
import type { Scenario } from '../scenario.js';
import type { WorkloadSpec } from '../workload/index.js';
import { runTasks } from './pool.js';
import { FIGURE_KEYS, median, seedRun, spreadOf, type FigureKey, type SeedRun, type Spread } from './rank.js';
import { ResultStore, RESULTS_FILE } from './store.js';
import { taskKey, type RunTask, type TaskRecord } from './task.js';
import { join } from 'node:path';

/** The workload scaled by `m`, and what was scaled, in words. */
export function scaleWorkload(w: WorkloadSpec, m: number): { workload: WorkloadSpec; scaled: string } {
  if (!(m > 0)) throw new RangeError(`scaleWorkload: expected a multiplier > 0, got ${m}`);
  if ('trace' in w) return { workload: { trace: { ...w.trace, speedup: (w.trace.speedup ?? 1) * m } }, scaled: 'trace replay speed' };
  const a = w.arrivals;
  switch (a.kind) {
    case 'burst':
      return { workload: { ...w, arrivals: { ...a, sessions: Math.max(1, Math.round(a.sessions * m)) } }, scaled: 'burst session count' };
    case 'constant':
    case 'poisson':
    case 'gamma':
      return { workload: { ...w, arrivals: { ...a, ratePerSec: a.ratePerSec * m } }, scaled: 'session arrival rate' };
    case 'ramp':
      return { workload: { ...w, arrivals: { ...a, fromPerSec: a.fromPerSec * m, toPerSec: a.toPerSec * m } }, scaled: 'session arrival rate' };
    case 'spike':
      return { workload: { ...w, arrivals: { ...a, baseRatePerSec: a.baseRatePerSec * m, spikeRatePerSec: a.spikeRatePerSec * m } }, scaled: 'session arrival rate' };
    case 'users':
      return { workload: { ...w, arrivals: { ...a, users: Math.max(1, Math.round(a.users * m)) } }, scaled: 'closed-loop user count' };
  }
}

/** One probed multiplier. */
export interface CapacityProbe {
  readonly multiplier: number;
  /** Met every SLO in every seed. */
  readonly pass: boolean;
  readonly meetsCount: number;
  /** Median sessions started over seeds. */
  readonly sessions: number;
  /** Median client requests per second of the arrival window. */
  readonly requestsPerSec: number;
  readonly figures: Readonly<Record<FigureKey, Spread>>;
  readonly runs: readonly SeedRun[];
}

/** What the search found. */
export interface CapacityResult {
  readonly policyName: string;
  readonly scaled: string;
  /** The largest multiplier that passed; null when even the smallest failed. */
  readonly multiplier: number | null;
  readonly sessions: number | null;
  readonly requestsPerSec: number | null;
  /** The smallest multiplier that failed above it; null when the largest allowed passed. */
  readonly failedAt: number | null;
  /** The search hit a bound: `max` (passes at the largest allowed) or `min` (fails at the smallest). */
  readonly limitedBy: 'max' | 'min' | null;
  readonly tolerance: number;
  /** Every probe, by multiplier. */
  readonly probes: readonly CapacityProbe[];
  readonly ran: number;
  readonly resumed: number;
  readonly wallMs: number;
}

/** Options of {@link findCapacity}. */
export interface CapacityOptions {
  readonly scenario: Scenario;
  readonly durationMs: number;
  readonly policy: { readonly name: string; readonly policy: Policy };
  readonly slo: readonly Threshold[];
  readonly seeds: readonly number[];
  /** Worker threads; 0 runs in this thread. */
  readonly workers: number;
  /** Stop narrowing when failedAt / multiplier <= 1 + tolerance. @default 0.05 */
  readonly tolerance?: number;
  /** @default 64 */
  readonly maxMultiplier?: number;
  /** @default 1 / 64 */
  readonly minMultiplier?: number;
  /** Folder of the resume log. */
  readonly outDir?: string;
  readonly baseDir?: string;
  readonly signal?: AbortSignal;
  /** Called before each round with the multipliers about to run, and after each run. */
  readonly onRound?: (multipliers: readonly number[]) => void;
  readonly onRun?: (record: TaskRecord, multiplier: number) => void;
  readonly onProgress?: (key: string, simulatedMs: number) => void;
  /**
   * Runs one probe instead of the virtual worker pool, one at a time: a live run against an external target
   * (`tune --capacity --target`, harness/cli/tune-target.ts). @default virtual runs in worker threads
   */
  readonly runTask?: (task: RunTask) => Promise<TaskRecord>;
}

const round6 = (x: number): number => Number(x.toPrecision(6));

/** Finds the largest multiplier that meets the SLOs. */
export async function findCapacity(o: CapacityOptions): Promise<CapacityResult> {
  const clock = new RealClock();
  const tol = o.tolerance ?? 0.05;
  const maxM = o.maxMultiplier ?? 64;
  const minM = o.minMultiplier ?? 1 / 64;
  const width = Math.max(1, Math.floor(Math.max(1, o.workers) / o.seeds.length));
  const store = o.outDir === undefined ? undefined : await ResultStore.open(join(o.outDir, RESULTS_FILE));
  const probes = new Map<string, CapacityProbe>();
  const scaledOf = new Map<number, Scenario>();
  const { scaled } = scaleWorkload(o.scenario.workload, 1);
  let ran = 0;
  let resumed = 0;

  // The scenario at multiplier m; identical scaled workloads (rounded session counts) share one probe.
  const scenarioAt = (m: number): Scenario => {
    let s = scaledOf.get(m);
    if (s === undefined) {
      s = { ...o.scenario, workload: scaleWorkload(o.scenario.workload, m).workload };
      scaledOf.set(m, s);
    }
    return s;
  };
  const identity = (m: number): string => JSON.stringify(scenarioAt(m).workload);

  const probe = async (ms: readonly number[]): Promise<CapacityProbe[]> => {
    const fresh = [...new Map(ms.map((m) => [identity(m), m])).values()].filter((m) => !probes.has(identity(m)));
    if (fresh.length > 0) {
      o.onRound?.(fresh);
      const tasks: Array<RunTask & { multiplier: number }> = fresh.flatMap((m) =>
        o.seeds.map((seed) => ({
          key: taskKey(scenarioAt(m), o.durationMs, o.policy.policy, seed),
          configId: `x${round6(m)}`,
          seed,
          policy: o.policy.policy,
          scenario: scenarioAt(m),
          durationMs: o.durationMs,
          multiplier: m,
          ...(o.baseDir !== undefined ? { baseDir: o.baseDir } : {}),
        })),
      );
      const byKey = new Map<string, TaskRecord>();
      for (const t of tasks) {
        const r = store?.get(t.key);
        if (r !== undefined) byKey.set(t.key, r);
      }
      const todo = tasks.filter((t) => !byKey.has(t.key));
      resumed += tasks.length - todo.length;
      const multOf = new Map(tasks.map((t) => [t.key, t.multiplier]));
      const onDone = async (r: TaskRecord): Promise<void> => {
        await store?.append(r);
        byKey.set(r.key, r);
        ran++;
        o.onRun?.(r, multOf.get(r.key) ?? NaN);
      };
      if (o.runTask !== undefined) {
        for (const { multiplier: _m, ...t } of todo) await onDone(await o.runTask(t));
      } else {
        await runTasks(
          todo.map(({ multiplier: _m, ...t }) => t),
          {
            workers: o.workers,
            ...(o.signal !== undefined ? { signal: o.signal } : {}),
            ...(o.onProgress !== undefined ? { onProgress: o.onProgress } : {}),
            onDone,
          },
        );
      }
      for (const m of fresh) {
        const runs = tasks.filter((t) => t.multiplier === m).map((t) => seedRun(byKey.get(t.key) as TaskRecord, o.slo));
        const meetsCount = runs.filter((r) => r.meets).length;
        probes.set(identity(m), {
          multiplier: m,
          pass: meetsCount === runs.length,
          meetsCount,
          sessions: median(runs.map((r) => r.sessions)),
          requestsPerSec: median(runs.map((r) => r.requests / (o.durationMs / 1000))),
          figures: Object.fromEntries(FIGURE_KEYS.map((k) => [k, spreadOf(runs.map((r) => r.figures[k]))])) as Record<FigureKey, Spread>,
          runs,
        });
      }
    }
    return ms.map((m) => probes.get(identity(m)) as CapacityProbe);
  };

  let lo: number | null = null; // largest passing
  let hi: number | null = null; // smallest failing above lo
  let limitedBy: CapacityResult['limitedBy'] = null;
  const [first] = await probe([1]);
  if (first!.pass) {
    lo = 1;
    while (hi === null) {
      const cands: number[] = [];
      for (let m = lo * 2; cands.length < width && m <= maxM * (1 + 1e-9); m *= 2) cands.push(m);
      if (cands.length === 0) {
        limitedBy = 'max';
        break;
      }
      const res = await probe(cands);
      const firstFail = res.findIndex((p) => !p.pass);
      if (firstFail === -1) lo = cands[cands.length - 1]!;
      else {
        hi = cands[firstFail]!;
        if (firstFail > 0) lo = cands[firstFail - 1]!;
      }
    }
  } else {
    hi = 1;
    while (lo === null) {
      const cands: number[] = [];
      for (let m = hi / 2; cands.length < width && m >= minM * (1 - 1e-9); m /= 2) cands.push(m);
      if (cands.length === 0) {
        limitedBy = 'min';
        break;
      }
      const res = await probe(cands);
      const firstPass = res.findIndex((p) => p.pass);
      if (firstPass === -1) hi = cands[cands.length - 1]!;
      else {
        lo = cands[firstPass]!;
        if (firstPass > 0) hi = cands[firstPass - 1]!;
      }
    }
  }
  // Geometric narrowing: `width` points evenly spaced (in log) strictly inside (lo, hi).
  while (lo !== null && hi !== null && hi / lo > 1 + tol) {
    const l = lo;
    const h = hi;
    const cands = Array.from({ length: width }, (_, i) => l * (h / l) ** ((i + 1) / (width + 1)));
    const known = cands.every((m) => probes.has(identity(m)) || identity(m) === identity(l) || identity(m) === identity(h));
    if (known) break; // rounding (whole sessions) cannot split the bracket further
    const res = await probe(cands);
    const firstFail = res.findIndex((p) => !p.pass);
    if (firstFail === -1) lo = cands[cands.length - 1]!;
    else {
      hi = cands[firstFail]!;
      if (firstFail > 0) lo = cands[firstFail - 1]!;
    }
  }
  const best = lo === null ? null : (probes.get(identity(lo)) as CapacityProbe);
  return {
    policyName: o.policy.name,
    scaled,
    multiplier: lo === null ? null : round6(lo),
    sessions: best?.sessions ?? null,
    requestsPerSec: best === null ? null : round6(best.requestsPerSec),
    failedAt: hi === null ? null : round6(hi),
    limitedBy,
    tolerance: tol,
    probes: [...probes.values()].sort((a, b) => a.multiplier - b.multiplier),
    ran,
    resumed,
    wallMs: Math.round(clock.now()),
  };
}
