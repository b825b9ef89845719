/**
 * `npm run tune SCENARIO -- --capacity --target NAME=URL`: the headroom of a system the user runs, found live. Each
 * probe of the capacity search (harness/tune/capacity.ts) is one live run of the scaled scenario against the target,
 * with the mock GPU started on `--mock-port` (or a chaos proxy with `--proxy`), as `--target` does for a scenario. A
 * run whose load generator fell behind is invalid: it runs again, and after two invalid runs the search stops with
 * an error rather than judge the target by the harness's own lag.
 */
import { HarnessError } from '../../src/errors.js';
import { RealClock } from '../../src/time/real-clock.js';
import type { LoadLimits } from '../run/live-monitor.js';
import { runPolicyLive } from '../run/live.js';
import type { TargetAdapter } from '../targets/target.js';
import { taskRecord, type RunTask, type TaskRecord } from '../tune/task.js';

/** Options of {@link liveTargetTask}. */
export interface LiveTargetTaskOptions {
  readonly target: TargetAdapter;
  /** @default 18000 */
  readonly mockPort?: number;
  readonly proxyUrl?: string;
  readonly limits?: LoadLimits;
  readonly signal?: AbortSignal;
  /** Tries per probe when the load generator fell behind. @default 2 */
  readonly attempts?: number;
  readonly log?: (line: string) => void;
}

/** A capacity probe runner that runs each task live against the target. */
export function liveTargetTask(o: LiveTargetTaskOptions): (t: RunTask) => Promise<TaskRecord> {
  return async (t) => {
    const clock = new RealClock();
    const attempts = o.attempts ?? 2;
    for (let i = 1; i <= attempts; i++) {
      const t0 = clock.now();
      const run = await runPolicyLive({
        scenario: { ...t.scenario, targets: [] },
        policy: o.target,
        seed: t.seed,
        durationMs: t.durationMs,
        mockPort: o.mockPort ?? 18_000,
        ...(o.proxyUrl !== undefined ? { proxyUrl: o.proxyUrl } : {}),
        ...(o.limits !== undefined ? { limits: o.limits } : {}),
        ...(o.signal !== undefined ? { signal: o.signal } : {}),
        ...(t.baseDir !== undefined ? { baseDir: t.baseDir } : {}),
      });
      if (!run.loadGenerator.valid) {
        o.log?.(`  ${t.configId}: the load generator fell behind (${run.loadGenerator.reasons.join('; ')}); ${i < attempts ? 'running it again' : 'giving up'}`);
        continue;
      }
      return taskRecord(t, run, Math.round(clock.now() - t0));
    }
    throw new HarnessError('RUN_FAILED', `tune --target ${o.target.name}: the load generator fell behind in ${attempts} runs at ${t.configId}; the headroom cannot be judged on this machine now (free it, or shorten --duration)`);
  };
}
