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
  return {
    update: (p) => {
      const share = p.done ? 1 : Math.min(0.99, p.simulatedMs / nominalMs);
      const value = Math.round(((p.index + share) / p.total) * 1000);
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
