/**
 * One measured round of `bench/virtual.bench.ts`, in a process of its own: runs a scenario in virtual mode (every
 * policy, as `npm run scenario NAME` does) with the code of the tree at argv[2] (this repository, or an older
 * commit unpacked for a side-by-side "before"), and prints one JSON line: wall and simulated ms (the RunResult's
 * meta), the CPU ms the process spent meanwhile, VirtualClock events fired, sessions, and the peak heap and RSS seen during the run.
 *
 * With WORKERS (> 1), the policies run side by side on that many worker threads, as `npm run scenario -- --workers N` runs them
 * (a tree older than that option runs them one after another); events are then not counted (each
 * thread has its own VirtualClock module) and the heap is the main thread's only.
 *
 * Usage: tsx bench/virtual-child.ts ROOT SCENARIO [WORKERS]
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { pathToFileURL } from 'node:url';

const [rootArg, scenarioName, workersArg] = process.argv.slice(2);
const workers = Number(workersArg ?? 0);
if (rootArg === undefined || scenarioName === undefined) {
  console.error('usage: tsx bench/virtual-child.ts ROOT SCENARIO [WORKERS]');
  process.exit(2);
}
const root = resolve(rootArg);
const load = async <T>(path: string): Promise<T> => (await import(pathToFileURL(`${root}/${path}`).href)) as T;

type Clock = { eventsFired: number; runUntilIdle(): Promise<number> };
const { VirtualClock } = await load<{ VirtualClock: { prototype: Clock } }>('src/time/virtual-clock.ts');
const { loadScenario } = await load<{ loadScenario(name: string, dir?: string): Promise<{ seed: number; durationMs: number; workload: unknown }> }>(
  'harness/run/scenarios.ts',
);
const { runScenarioVirtual } = await load<{
  runScenarioVirtual(o: { scenario: unknown; workers?: number; onProgress?: () => void }): Promise<{ meta: { wallMs: number; simulatedMs: number }; policies: unknown[] }>;
}>('harness/run/run-scenario.ts');
const { buildWorkload } = await load<{ buildWorkload(w: unknown, r: unknown, o: { durationMs: number; baseDir: string }): { sessions: unknown[] } }>(
  'harness/workload/index.ts',
);
const { Random } = await load<{ Random: new (seed: number) => { derive(name: string): unknown } }>('src/random.ts');

// Every world's clock ends its run with runUntilIdle: count the events each one fired.
let events = 0;
const runUntilIdle = VirtualClock.prototype.runUntilIdle;
VirtualClock.prototype.runUntilIdle = async function (this: Clock): Promise<number> {
  const n = await runUntilIdle.call(this);
  events += this.eventsFired;
  return n;
};

const scenario = await loadScenario(scenarioName, `${root}/scenarios`);
const sessions = buildWorkload(scenario.workload, new Random(scenario.seed).derive('workload'), { durationMs: scenario.durationMs, baseDir: root }).sessions.length;
let peakHeap = 0;
// The heap from V8's own counters: process.memoryUsage() also reads the RSS from /proc, a file read per sample that
// the run's wall time would pay. The peak RSS is the kernel's (resourceUsage().maxRSS) at the end.
const sample = (): void => {
  const used = getHeapStatistics().used_heap_size;
  if (used > peakHeap) peakHeap = used;
};
sample();
const baseHeap = peakHeap;
/**
 * CPU ms of the main thread alone (Linux: /proc's per-thread counters, 10 ms ticks), or undefined elsewhere. The
 * process's CPU also counts the garbage collector's helper threads, which a loaded machine schedules late or not.
 */
const mainThreadCpuMs = (): number | undefined => {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return undefined;
  }
};
// Progress comes about once per simulated second of each policy's run.
const main0 = mainThreadCpuMs();
const cpu0 = process.cpuUsage();
const result = await runScenarioVirtual({ scenario, workers, onProgress: sample });
const cpu = process.cpuUsage(cpu0);
const main1 = mainThreadCpuMs();
sample();
process.stdout.write(
  `${JSON.stringify({
    scenario: scenarioName,
    policies: result.policies.length,
    workers,
    wallMs: result.meta.wallMs,
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    ...(main0 !== undefined && main1 !== undefined ? { mainThreadCpuMs: main1 - main0 } : {}),
    simulatedMs: result.meta.simulatedMs,
    events,
    sessions,
    baseHeapBytes: baseHeap,
    peakHeapBytes: peakHeap,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  })}\n`,
);
