import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
    for (const flag of ['--mode', '--policies', '--seed', '--duration', '--scale', '--out', '--json', '--quiet', '--list', '--trace']) expect(r.stdout).toContain(flag);
    expect(r.stdout).toContain('99 a threshold was broken');
  });

  it('bad input gets one clear line and exit code 2, never a stack trace', () => {
    const cases: Array<[string[], string]> = [
      [['scenario', 'no-such'], 'error: unknown scenario "no-such"; expected one of'],
      [['scenario', 'burst-1000', '--seed', 'x'], 'error: --seed: expected an integer, got "x"'],
      [['scenario', 'burst-1000', '--policies', 'naive,fancy'], 'error: --policies: unknown "fancy"'],
      [['scenario', 'burst-1000', '--workers', '0'], 'error: --workers: expected an integer >= 1, got 0'],
      [['scenario', 'burst-1000', '--workers', '2', '--mode', 'live'], 'error: --workers: expected --mode virtual or both'],
      [['scenario', 'burst-1000', '--duration', 'soon'], 'error: --duration: expected a duration like 60s'],
      [['scenario', 'fleet-10k', '--scale', '0'], "error: --scale: expected a share of the scenario's load, a number in (0, 1] like 0.1, got \"0\""],
      [['scenario', 'fleet-10k', '--scale', '10%'], "error: --scale: expected a share of the scenario's load, a number in (0, 1] like 0.1, got \"10%\""],
      [['scenario', 'burst-1000', '--bogus'], "error: unknown option '--bogus'"],
      // Refused before a run that would ignore it, not after a minute of virtual time.
      [['scenario', 'burst-1000', '--mock-port', '18000'], 'error: --mock-port: expected --mode live or both (a virtual run opens no ports), got --mode virtual\n'],
      [['scenario', 'burst-1000', '--out', '/dev/null/run'], 'error: --out: expected a folder that can be written, got "/dev/null/run" (ENOTDIR)\n'],
      [['scenario', 'burst-1000', '--mode', 'live', '--mock-port', '99999'], 'error: --mock-port: expected a port from 1 to 65534 (the fallback takes the next one), got 99999\n'],
      [['regress', '--scenarios', 'nope'], 'error: --scenarios: unknown "nope"'],
      // Before running any scenario, not after a minute of them.
      [['regress', '--baselines', '/nonexistent'], 'error: --baselines: expected a folder of baselines, got "/nonexistent" (ENOENT); write them once with --update and commit them\n'],
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

describe('per-scenario help and a closed stdout', () => {
  it('scenario NAME --help describes that scenario instead of the flags', () => {
    const r = cli('scenario', 'burst-1000', '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^burst-1000: 1,000 sessions/);
    for (const part of ['Workload', 'arrivals: burst(sessions 1000, withinMs 2000)', '429 storm', 'crash + restart', 'Policies compared', 'resilient (preset)', 'SLO: TTFT <= 2000 ms']) {
      expect(r.stdout).toContain(part);
    }
    expect(r.stdout).not.toContain('--transport-ms');
  });

  it('a reader that stops early (`--help | head`) ends the command quietly with 0, no EPIPE trace', async () => {
    const child = spawn(tsx, ['harness/cli.ts', 'scenario', '--list'], { env: { ...process.env, DEBUG: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // closed before the command writes anything
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const status = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    expect(stderr).not.toMatch(/EPIPE|\n\s+at /);
    expect(status).toBe(0);
  });
});

describe('regress with scenario files', () => {
  const scenario = (name: string): string =>
    JSON.stringify({
      name,
      description: `${name}: two seconds of short chat`,
      seed: 1,
      durationMs: 2_000,
      workload: { arrivals: { kind: 'poisson', ratePerSec: 4 }, mix: [{ name: 'chat', weight: 1, kind: 'single', promptTokens: 100, outputTokens: 20 }] },
      model: {},
      policies: ['bounded'],
      slo: { ttftMs: 1_000 },
    });

  it('runs a folder of files against baselines kept in --baselines DIR; a missing baseline fails', () => {
    const perf = join(out, 'perf');
    mkdirSync(perf, { recursive: true });
    writeFileSync(join(perf, 'one.json'), scenario('one'));
    writeFileSync(join(perf, 'two.json'), scenario('two'));
    const baselines = join(out, 'perf-baselines');
    const junit = join(out, 'perf-junit.xml');
    const update = cli('regress', perf, '--baselines', baselines, '--update');
    expect(update.status, update.stderr).toBe(0);
    expect(existsSync(join(baselines, 'one.json')) && existsSync(join(baselines, 'two.json'))).toBe(true);
    const check = cli('regress', join(perf, '*.json'), '--baselines', baselines, '--junit', junit);
    expect(check.status, check.stderr).toBe(0);
    expect(check.stdout).toContain('**Result: no regression**');
    writeFileSync(join(perf, 'three.json'), scenario('three'));
    const missing = cli('regress', perf, '--baselines', baselines, '--junit', junit, '--scenarios', 'three');
    expect(missing.status).toBe(1);
    expect(missing.stdout).toContain(`**No baseline** at \`${join(baselines, 'three.json')}\``);
  });
});
