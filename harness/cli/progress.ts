/** Progress while a scenario runs: a bar on an interactive terminal, one line per policy otherwise. */
import cliProgress from 'cli-progress';

export interface Progress {
  update(p: { policy: string; index: number; total: number; simulatedMs: number; done: boolean }): void;
  stop(): void;
}

/** A progress reporter on stderr. `nominalMs` is the arrival window: runs usually go a little past it. */
export function createProgress(nominalMs: number, quiet: boolean): Progress {
  if (quiet) return { update: () => undefined, stop: () => undefined };
  if (!process.stderr.isTTY) {
    return {
      update: (p) => {
        if (p.done) process.stderr.write(`  ${p.policy}: done (${(p.simulatedMs / 1000).toFixed(1)} s simulated) [${p.index + 1}/${p.total}]\n`);
      },
      stop: () => undefined,
    };
  }
  const bar = new cliProgress.SingleBar(
    { format: '  {bar} {percentage}% | policy {n}/{total} {policy} | {sim} s simulated', stream: process.stderr, hideCursor: true, clearOnComplete: true },
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
