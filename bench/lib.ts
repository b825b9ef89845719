/**
 * Tiny benchmark kit: run candidates side by side, interleaved, several times, and keep medians and ratios.
 * Absolute times on shared 2-core machines are noise; ratios measured in one run are the figures we quote.
 */
import { performance } from 'node:perf_hooks';

/** One measured thing: runs `ops` operations and resolves when they are done. */
export type Workload = (ops: number) => Promise<void> | void;

export interface Comparison {
  readonly name: string;
  readonly unit: 'ops/s';
  /** Median ops/s of each candidate over `runs` interleaved runs. */
  readonly medians: Record<string, number>;
  /** Every run's ops/s, per candidate, so the spread is visible. */
  readonly samples: Record<string, number[]>;
  /** Median of per-run ratios ours/peer (> 1 means ours is faster). Present when there are exactly two candidates. */
  readonly ratio?: number;
  readonly runs: number;
  readonly opsPerRun: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

async function timeOps(fn: Workload, ops: number): Promise<number> {
  const t0 = performance.now();
  await fn(ops);
  const ms = performance.now() - t0;
  return ops / (ms / 1000);
}

/**
 * Measures candidates in interleaved rounds (A, B, A, B, ...) after a warm-up, so machine noise hits all alike.
 * The first candidate is "ours"; with two candidates `ratio` = median over rounds of ours/peer.
 */
export async function compare(
  name: string,
  candidates: Record<string, Workload>,
  options: { runs?: number; opsPerRun?: number; warmupOps?: number } = {},
): Promise<Comparison> {
  const runs = options.runs ?? 7;
  const opsPerRun = options.opsPerRun ?? 100_000;
  const warmupOps = options.warmupOps ?? opsPerRun;
  const names = Object.keys(candidates);
  for (const n of names) await (candidates[n] as Workload)(warmupOps);
  const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  const ratios: number[] = [];
  for (let r = 0; r < runs; r++) {
    const round: number[] = [];
    for (const n of r % 2 === 0 ? names : [...names].reverse()) {
      const v = await timeOps(candidates[n] as Workload, opsPerRun);
      samples[n]?.push(v);
    }
    for (const n of names) round.push(samples[n]?.[r] as number);
    if (names.length === 2) ratios.push((round[0] as number) / (round[1] as number));
  }
  const medians = Object.fromEntries(names.map((n) => [n, Math.round(median(samples[n] ?? []))]));
  return {
    name,
    unit: 'ops/s',
    medians,
    samples,
    ...(names.length === 2 ? { ratio: Number(median(ratios).toFixed(3)) } : {}),
    runs,
    opsPerRun,
  };
}

/** A single figure with its samples and median (for things that have no peer). */
export interface Measurement {
  readonly name: string;
  readonly unit: string;
  readonly median: number;
  readonly samples: number[];
  readonly goal?: string;
}

/** A Measurement from samples taken elsewhere (e.g. one per round of a live bench), rounded for reading. */
export function measurementOf(name: string, unit: string, samples: readonly number[], goal: string): Measurement {
  const round = (x: number): number => Number(x.toFixed(x < 10 ? 3 : 1));
  return { name, unit, median: round(median(samples)), samples: samples.map(round), goal };
}

export async function measure(
  name: string,
  unit: string,
  sample: () => Promise<number> | number,
  { runs = 7, goal }: { runs?: number; goal?: string } = {},
): Promise<Measurement> {
  await sample();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) samples.push(await sample());
  return { name, unit, median: Number(median(samples).toFixed(3)), samples, ...(goal ? { goal } : {}) };
}
