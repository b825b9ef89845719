/**
 * The virtual runner's speed (issue #18): every policy of `burst-1000` and `sustained-1000` (and `fleet-10k` once
 * scenarios/fleet-10k.ts exists), each round in a fresh process (bench/virtual-child.ts), rounds interleaved.
 * Reports per scenario the median simulated seconds per wall second and wall seconds (the RunResult's meta, as
 * `npm run scenario NAME` reports them), VirtualClock events fired, and the peak heap (sampled once per simulated
 * second) and peak RSS per simulated session.
 *
 * `BENCH_VIRTUAL_BEFORE=<git ref>` also measures that commit's code side by side (unpacked with `git archive` into
 * a temporary folder that borrows this node_modules), alternating which goes first, and adds the ratio
 * ours / before of simulated seconds per wall second, the one figure a shared machine's load does not swamp.
 * `BENCH_VIRTUAL_ROUNDS` (default 3) and `BENCH_VIRTUAL_SCENARIOS` (comma-separated) narrow a run.
 *
 * A third arm, "this tree, threads", runs the policies side by side on worker threads (one per core, at most one
 * per policy), as `npm run scenario NAME -- --workers N` does: what a user waits for with that flag;
 * the one-thread arm is the simulator's own speed.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { median, type Measurement } from './lib.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..');
const execFileAsync = promisify(execFile);

interface Round {
  readonly scenario: string;
  readonly policies: number;
  readonly wallMs: number;
  readonly cpuMs: number;
  /** The main thread's CPU alone (Linux), without the collector's helper threads. */
  readonly mainThreadCpuMs?: number;
  readonly simulatedMs: number;
  readonly events: number;
  readonly sessions: number;
  readonly baseHeapBytes: number;
  readonly peakHeapBytes: number;
  readonly peakRssBytes: number;
}

/** Goals from issue #18, by scenario. */
const GOALS: Record<string, { speed?: string; wall?: string }> = {
  'burst-1000': { speed: '>= 150 sim s per wall s' },
  'fleet-10k': { wall: '<= 60 s with every policy' },
};

async function once(root: string, scenario: string, workers = 0): Promise<Round> {
  const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', join(here, 'virtual-child.ts'), root, scenario, String(workers)], {
    cwd: repo,
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1) as string) as Round;
}

/** The tree of `ref`, unpacked into a temporary folder that borrows this repository's node_modules. */
function unpack(ref: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'virtual-bench-before-'));
  execFileSync('sh', ['-c', `git -C "${repo}" archive "${ref}" | tar -x -C "${dir}"`]);
  symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

const round3 = (x: number): number => Number(x.toFixed(x < 10 ? 3 : 1));

function figures(label: string, scenario: string, rounds: readonly Round[], threaded = false): Measurement[] {
  const speed = rounds.map((r) => r.simulatedMs / r.wallMs);
  const goal = GOALS[scenario] ?? {};
  const first = rounds[0] as Round;
  const perSession = (bytes: (r: Round) => number): number[] => rounds.map((r) => round3(bytes(r) / r.sessions / 1024));
  const all: Measurement[] = [
    { name: `${scenario} virtual (${label}): simulated seconds per wall second`, unit: 'sim s / wall s', median: round3(median(speed)), samples: speed.map(round3), ...(goal.speed !== undefined ? { goal: goal.speed } : {}) },
    // CPU time moves less than wall time when neighbours load the machine (it still moves: caches are shared).
    { name: `${scenario} virtual (${label}): simulated seconds per CPU second`, unit: 'sim s / CPU s', median: round3(median(rounds.map((r) => r.simulatedMs / r.cpuMs))), samples: rounds.map((r) => round3(r.simulatedMs / r.cpuMs)) },
    ...(rounds.every((r) => r.mainThreadCpuMs !== undefined && r.mainThreadCpuMs > 0)
      ? [{ name: `${scenario} virtual (${label}): simulated seconds per main-thread CPU second`, unit: 'sim s / CPU s', median: round3(median(rounds.map((r) => r.simulatedMs / (r.mainThreadCpuMs as number)))), samples: rounds.map((r) => round3(r.simulatedMs / (r.mainThreadCpuMs as number))) }]
      : []),
    { name: `${scenario} virtual (${label}): wall time, ${first.policies} policies`, unit: 's', median: round3(median(rounds.map((r) => r.wallMs / 1000))), samples: rounds.map((r) => round3(r.wallMs / 1000)), ...(goal.wall !== undefined ? { goal: goal.wall } : {}) },
    { name: `${scenario} virtual (${label}): VirtualClock events fired`, unit: 'events', median: median(rounds.map((r) => r.events)), samples: rounds.map((r) => r.events) },
    { name: `${scenario} virtual (${label}): peak heap above the process's start, per session (${first.sessions} sessions)`, unit: 'KiB / session', median: round3(median(perSession((r) => r.peakHeapBytes - r.baseHeapBytes))), samples: perSession((r) => r.peakHeapBytes - r.baseHeapBytes) },
    { name: `${scenario} virtual (${label}): peak RSS of the process, per session`, unit: 'KiB / session', median: round3(median(perSession((r) => r.peakRssBytes))), samples: perSession((r) => r.peakRssBytes) },
  ];
  // On threads the events and the heap of the worlds are the threads' own, not seen from here.
  return threaded ? all.filter((m) => !/events fired|peak heap/.test(m.name)) : all;
}

export async function run(): Promise<{ results: Measurement[]; load: { start: number[]; end: number[] }; before?: string }> {
  const rounds = Number(process.env['BENCH_VIRTUAL_ROUNDS'] ?? 3);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`BENCH_VIRTUAL_ROUNDS: expected an integer >= 1, got ${process.env['BENCH_VIRTUAL_ROUNDS']}`);
  const wanted = process.env['BENCH_VIRTUAL_SCENARIOS']?.split(',').filter((s) => s !== '');
  const scenarios = (wanted ?? ['burst-1000', 'sustained-1000', 'fleet-10k']).filter((s) => existsSync(join(repo, 'scenarios', `${s}.ts`)));
  const beforeRef = process.env['BENCH_VIRTUAL_BEFORE'];
  const beforeDir = beforeRef === undefined || beforeRef === '' ? undefined : unpack(beforeRef);
  const start = loadavg();
  try {
    const ours = new Map<string, Round[]>(scenarios.map((s) => [s, []]));
    const before = new Map<string, Round[]>(scenarios.map((s) => [s, []]));
    const threads = new Map<string, Round[]>(scenarios.map((s) => [s, []]));
    for (let r = 0; r < rounds; r++) {
      for (const s of scenarios) {
        // Alternate which goes first, so a neighbour's burst of load hits both alike.
        const order: Array<['ours' | 'before' | 'threads', string]> = [['ours', repo]];
        if (beforeDir !== undefined) order[r % 2 === 0 ? 'push' : 'unshift'](['before', beforeDir]);
        order.push(['threads', repo]);
        for (const [who, root] of order) {
          if (beforeDir !== undefined && s === 'fleet-10k' && who === 'before' && !existsSync(join(root, 'scenarios', 'fleet-10k.ts'))) continue;
          const x = await once(root, s, who === 'threads' ? availableParallelism() : 0);
          (who === 'ours' ? ours : who === 'threads' ? threads : before).get(s)?.push(x);
          process.stderr.write(`virtual bench: round ${r + 1}/${rounds} ${s} ${who}: ${(x.simulatedMs / x.wallMs).toFixed(1)} sim s / wall s, ${(x.wallMs / 1000).toFixed(1)} s wall, ${(x.cpuMs / 1000).toFixed(1)} s CPU${x.mainThreadCpuMs !== undefined ? ` (main thread ${(x.mainThreadCpuMs / 1000).toFixed(1)} s)` : ''}, ${x.events} events (load ${loadavg()[0]?.toFixed(1)})\n`);
        }
      }
    }
    const results: Measurement[] = [];
    for (const s of scenarios) {
      results.push(...figures('this tree, one thread', s, ours.get(s) ?? []));
      results.push(...figures(`this tree, threads (${availableParallelism()})`, s, threads.get(s) ?? [], true));
      const b = before.get(s) ?? [];
      if (b.length === 0) continue;
      results.push(...figures(`before: ${beforeRef}`, s, b));
      // Ratio of each round's pair (run back to back), then the median.
      const o = ours.get(s) ?? [];
      const ratios = b.map((x, i) => (o[i] as Round).simulatedMs / (o[i] as Round).wallMs / (x.simulatedMs / x.wallMs));
      results.push({ name: `${s} virtual: speed of this tree / ${beforeRef} (sim s per wall s), same rounds`, unit: '×', median: round3(median(ratios)), samples: ratios.map(round3) });
      const cpuRatios = b.map((x, i) => (o[i] as Round).simulatedMs / (o[i] as Round).cpuMs / (x.simulatedMs / x.cpuMs));
      results.push({ name: `${s} virtual: speed of this tree / ${beforeRef} (sim s per CPU s), same rounds`, unit: '×', median: round3(median(cpuRatios)), samples: cpuRatios.map(round3) });
      if (b.every((x, i) => x.mainThreadCpuMs !== undefined && o[i]?.mainThreadCpuMs !== undefined)) {
        const mainRatios = b.map((x, i) => (x.mainThreadCpuMs as number) / ((o[i] as Round).mainThreadCpuMs as number));
        results.push({ name: `${s} virtual: speed of this tree / ${beforeRef} (sim s per main-thread CPU s), same rounds`, unit: '×', median: round3(median(mainRatios)), samples: mainRatios.map(round3) });
      }
    }
    return { results, load: { start, end: loadavg() }, ...(beforeRef !== undefined ? { before: beforeRef } : {}) };
  } finally {
    if (beforeDir !== undefined) rmSync(beforeDir, { recursive: true, force: true });
  }
}

