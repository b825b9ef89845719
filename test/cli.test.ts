import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseRunResult } from '../harness/report/schema.js';

const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');
const cli = (...args: string[]): { status: number | null; stdout: string; stderr: string } => {
  const r = spawnSync(tsx, ['harness/cli.ts', ...args], { encoding: 'utf8', env: { ...process.env, DEBUG: '' }, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};
const out = mkdtempSync(join(tmpdir(), 'cli-test-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

// Each case boots the CLI under tsx (tens of seconds each on a busy machine), several per test: a generous limit
// that only catches a hang.
describe('npm run scenario', { timeout: 900_000 }, () => {
  it('--help documents the flags and exit codes', () => {
    const r = cli('scenario', '--help');
    expect(r.status).toBe(0);
    for (const flag of ['--mode', '--policies', '--seed', '--duration', '--out', '--json', '--quiet', '--list', '--trace']) expect(r.stdout).toContain(flag);
    expect(r.stdout).toContain('99 a threshold was broken');
  });

  it('bad input gets one clear line and exit code 2, never a stack trace', () => {
    const cases: Array<[string[], string]> = [
      [['scenario', 'no-such'], 'error: unknown scenario "no-such"; expected one of'],
      [['scenario', 'burst-1000', '--seed', 'x'], 'error: --seed: expected an integer, got "x"'],
      [['scenario', 'burst-1000', '--policies', 'naive,fancy'], 'error: --policies: unknown "fancy"'],
      [['scenario', 'burst-1000', '--duration', 'soon'], 'error: --duration: expected a duration like 60s'],
      [['scenario', 'burst-1000', '--bogus'], "error: unknown option '--bogus'"],
      [['regress', '--scenarios', 'nope'], 'error: --scenarios: unknown "nope"'],
      // Before running any scenario, not after a minute of them.
      [['regress', '--baselines', '/nonexistent'], 'error: --baselines: expected a folder of baselines, got "/nonexistent" (ENOENT)'],
    ];
    for (const [args, message] of cases) {
      const r = cli(...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toContain(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('--list names every scenario with its description', () => {
    const r = cli('scenario', '--list');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^burst-1000\s+1,000 sessions/m);
  });

  it('a run writes result.json, report.md and report.html and prints the comparison table', () => {
    const dir = join(out, 'burst');
    const r = cli('scenario', 'burst-1000', '--policies', 'naive', '--out', dir);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Policy\s+Requests\s+OK/);
    expect(r.stdout).toMatch(/^naive\s+\d+/m);
    const result = parseRunResult(readFileSync(join(dir, 'result.json'), 'utf8'));
    expect(result.policies.map((p) => p.name)).toEqual(['naive']);
    expect(result.meta.simulatedMs).toBeGreaterThan(0);
    expect(readFileSync(join(dir, 'report.md'), 'utf8')).toContain('| naive |');
    expect(existsSync(join(dir, 'report.html'))).toBe(true);
  });
});
