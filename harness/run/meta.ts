import { execFileSync } from 'node:child_process';
import { arch, cpus, platform, totalmem } from 'node:os';
import type { RunMeta } from '../report/schema.js';

/** The git commit of `cwd` (null outside a checkout), with `-dirty` when tracked files are modified. */
export function gitCommit(cwd = process.cwd()): string | null {
  const git = (args: string[]): string | undefined => {
    try {
      return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return undefined;
    }
  };
  const commit = git(['rev-parse', 'HEAD']);
  if (commit === undefined) return null;
  const dirty = (git(['status', '--porcelain', '--untracked-files=no']) ?? '') !== '';
  return dirty ? `${commit}-dirty` : commit;
}

/** This machine, as a RunResult records it. */
export function machineInfo(): RunMeta['machine'] {
  return { platform: platform(), arch: arch(), cpus: cpus().length, cpuModel: cpus()[0]?.model ?? null, memoryBytes: totalmem() };
}
