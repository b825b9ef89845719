/** `npm run k6 NAME -- --duration D`: the window written into the script, a longer burst cut to it at its rate. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');
const cli = (...args: string[]): { status: number | null; stdout: string; stderr: string } => {
  const r = spawnSync(tsx, ['harness/cli.ts', 'k6', ...args], { encoding: 'utf8', env: { ...process.env, DEBUG: '' }, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};
const out = mkdtempSync(join(tmpdir(), 'k6-cli-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('npm run k6 --duration', () => {
  it('cuts burst-1000 to the window at its rate, says so, and writes the cut sessions', () => {
    const file = join(out, 'burst.ts');
    const r = cli('burst-1000', '--duration', '1s', '--out', file);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('scaled: burst-1000 run with its burst cut to the 1 s arrival window at the same rate (1,000 sessions in 2 s -> 500 in 1 s)');
    expect(r.stdout).toContain('executor: per-vu-iterations; 500 sessions in the script');
    expect(readFileSync(file, 'utf8')).toContain('const BASE_WINDOW_MS = 1000;');
  });

  it('a bad --duration is a one-line error naming the flag, exit 2', () => {
    const r = cli('burst-1000', '--duration', 'soon', '--out', join(out, 'never.ts'));
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toMatch(/^error: --duration: .*"soon"/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
