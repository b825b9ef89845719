/**
 * The repository's helper scripts outside `npm run scenario|regress|tune|k6` (the metastability grid, the cost
 * breakdown the README points at): --help lists the flags, and a bad flag or argument is one line naming it, exit
 * 2, never a stack trace or an empty result.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');
const run = (script: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } => {
  const r = spawnSync(tsx, [script, ...args], { encoding: 'utf8', env: { ...process.env, DEBUG: '' }, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};

// Each case boots a script under tsx (seconds each on a busy machine): a generous limit that only catches a hang.
describe('helper scripts', { timeout: 600_000 }, () => {
  it('npm run metastability-grid: --help lists the flags; bad flags exit 2 with one line naming them', () => {
    const help = run('scripts/metastability-grid.ts', '--help');
    expect(help.status).toBe(0);
    for (const flag of ['--brownouts', '--seeds', '--policies', '--json', '--help']) expect(help.stdout).toContain(flag);
    const cases: Array<[string[], string]> = [
      [['--bogus'], "error: Unknown option '--bogus'"],
      [['--policies', 'naive,nope'], 'error: --policies: unknown "nope"; expected some of naive, bounded, resilient, adaptive'],
      [['--brownouts', 'soon'], 'error: --brownouts: expected a duration like 60s, 1500ms or 2m, got "soon"'],
      [['--seeds', '1,x'], 'error: --seeds: expected non-negative integers like 1,2,3, got "x"'],
    ];
    for (const [args, message] of cases) {
      const r = run('scripts/metastability-grid.ts', ...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stdout, args.join(' ')).toBe('');
      expect(r.stderr, args.join(' ')).toBe(`${message}\nRun "npm run metastability-grid -- --help" for usage.\n`);
    }
  });

  it('harness/cost/waste-breakdown.ts: --help says what it takes; a missing or unknown scenario exits 2', () => {
    const help = run('harness/cost/waste-breakdown.ts', '--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: npx tsx harness\/cost\/waste-breakdown\.ts SCENARIO \[POLICY,POLICY\.\.\.\]/);
    const none = run('harness/cost/waste-breakdown.ts');
    expect(none.status).toBe(2);
    expect(none.stderr).toBe('error: expected a scenario name or file, got none; see --help\n');
    const unknown = run('harness/cost/waste-breakdown.ts', 'no-such');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/^error: unknown scenario "no-such"; expected one of .*\n$/);
  });

  it('harness/cost/per-day.ts: --help; a missing or malformed result file is one line naming it, exit 2', () => {
    const help = run('harness/cost/per-day.ts', '--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: npx tsx harness\/cost\/per-day\.ts \[RESULT\.json \.\.\.\]/);
    const missing = run('harness/cost/per-day.ts', '/nonexistent/result.json');
    expect(missing.status).toBe(2);
    expect(missing.stderr).toBe('error: /nonexistent/result.json: expected a readable RunResult file (result.json), got ENOENT\n');
    const dir = mkdtempSync(join(tmpdir(), 'per-day-'));
    try {
      writeFileSync(join(dir, 'result.json'), '{"seed": 1}');
      const bad = run('harness/cost/per-day.ts', join(dir, 'result.json'));
      expect(bad.status).toBe(2);
      expect(bad.stderr).toMatch(/^error: .*result\.json: not a valid RunResult \(schemaVersion 1\): .*\n$/);
      expect(bad.stderr).not.toMatch(/\n\s+at /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
