import { execFile, execFileSync } from 'node:child_process';
import { arch, cpus, platform, totalmem } from 'node:os';
import type { RunMeta } from '../report/schema.js';

/** The two questions asked of git: the commit, and whether tracked files are modified. */
const COMMIT_ARGS = ['rev-parse', 'HEAD'];
const STATUS_ARGS = ['status', '--porcelain', '--untracked-files=no'];

/** The commit as recorded: null outside a checkout, `-dirty` when `status` lists modified files. */
function commitLabel(commit: string | undefined, status: string | undefined): string | null {
  if (commit === undefined) return null;
  return (status ?? '') !== '' ? `${commit}-dirty` : commit;
}

/** The git commit of `cwd` (null outside a checkout), with `-dirty` when tracked files are modified. */
export function gitCommit(cwd = process.cwd()): string | null {
  const git = (args: string[]): string | undefined => {
    try {
      return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return undefined;
    }
  };
  const commit = git(COMMIT_ARGS);
  return commit === undefined ? null : commitLabel(commit, git(STATUS_ARGS));
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
  const [commit, status] = await Promise.all([git(COMMIT_ARGS), git(STATUS_ARGS)]);
  return commitLabel(commit, status);
}

/** This machine, as a RunResult records it. */
export function machineInfo(): RunMeta['machine'] {
  // One read of the CPU list (os.cpus() reads /proc each call).
  const list = cpus();
  return { platform: platform(), arch: arch(), cpus: list.length, cpuModel: list[0]?.model ?? null, memoryBytes: totalmem() };
}
