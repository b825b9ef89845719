/** Progress while a scenario runs: a bar on an interactive terminal, a few lines per policy otherwise. */
import cliProgress from 'cli-progress';

export interface Progress {
  update(p: { policy: string; index: number; total: number; simulatedMs: number; done: boolean }): void;
  stop(): void;
}

/** Where progress goes: stderr by default; a test passes its own. */
export interface ProgressStream {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

/** Shares of the arrival window at which a log (not a terminal) gets a line per policy before it is done. */
const LOG_MARKS = [0.25, 0.5, 0.75] as const;

/**
 * A progress reporter on stderr. `nominalMs` is the arrival window: runs usually go a little past it. `clock` says
 * what the times are: `simulated` (virtual mode) or `elapsed` (live mode: wall time since the policy's run began).
 * On a terminal, a bar; in a log (CI), a line per policy at 25%, 50% and 75% of the window and when it is done, so a
 * policy that takes minutes is not silent for minutes.
 */
export function createProgress(nominalMs: number, quiet: boolean, clock: 'simulated' | 'elapsed' = 'simulated', stream: ProgressStream = process.stderr): Progress {
  if (quiet) return { update: () => undefined, stop: () => undefined };
  const seconds = (ms: number, digits: number): string => `${(ms / 1000).toFixed(digits)} s ${clock}`;
  if (stream.isTTY !== true) {
    const marked = new Map<number, number>();
    return {
      update: (p) => {
        if (p.done) {
          stream.write(`  ${p.policy}: done (${seconds(p.simulatedMs, 1)}) [${p.index + 1}/${p.total}]\n`);
          return;
        }
        const reached = LOG_MARKS.filter((m) => p.simulatedMs >= m * nominalMs).length;
        if (reached > (marked.get(p.index) ?? 0)) {
          marked.set(p.index, reached);
          const pct = Math.round((LOG_MARKS[reached - 1] as number) * 100);
          stream.write(`  ${p.policy}: ${pct}% of the ${(nominalMs / 1000).toFixed(0)} s arrival window (${seconds(p.simulatedMs, 1)}) [${p.index + 1}/${p.total}]\n`);
        }
      },
      stop: () => undefined,
    };
  }
  const bar = new cliProgress.SingleBar(
    { format: `  {bar} {percentage}% | policy {n}/{total} {policy} | {sim} s ${clock}`, stream: stream as NodeJS.WritableStream, hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  // Each policy's share done: policies run one after another, or side by side on worker threads.
  const shares: number[] = [];
  return {
    update: (p) => {
      for (let i = shares.length; i < p.index; i++) shares[i] = 1; // one after another: the earlier ones are done
      shares[p.index] = p.done ? 1 : Math.min(0.99, p.simulatedMs / nominalMs);
      const value = Math.round((shares.reduce((a, b) => a + b, 0) / p.total) * 1000);
      const payload = { n: p.index + 1, total: p.total, policy: p.policy, sim: (p.simulatedMs / 1000).toFixed(0) };
      if (!started) {
        bar.start(1000, value, payload);
        started = true;
      } else bar.update(value, payload);
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}
