import { execFile, execFileSync } from 'node:child_process';
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

/**
 * {@link gitCommit} without blocking: both git commands run at once, in child processes, while the caller goes on
 * (a scenario run starts them before its first policy and reads the answer at the end). Never rejects.
 */
export async function gitCommitAsync(cwd = process.cwd()): Promise<string | null> {
  const git = (args: string[]): Promise<string | undefined> =>
    new Promise((resolve) => {
      execFile('git', args, { cwd, encoding: 'utf8' }, (error, stdout) => resolve(error === null ? stdout.trim() : undefined));
    });
  const [commit, status] = await Promise.all([git(['rev-parse', 'HEAD']), git(['status', '--porcelain', '--untracked-files=no'])]);
  if (commit === undefined) return null;
  return (status ?? '') !== '' ? `${commit}-dirty` : commit;
}

/** This machine, as a RunResult records it. */
export function machineInfo(): RunMeta['machine'] {
  // One read of the CPU list (os.cpus() reads /proc each call).
  const list = cpus();
  return { platform: platform(), arch: arch(), cpus: list.length, cpuModel: list[0]?.model ?? null, memoryBytes: totalmem() };
}
