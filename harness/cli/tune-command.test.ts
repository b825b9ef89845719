import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/policy.js';
import type { SweepDocument } from '../tune/document.js';
import { UsageError } from './flags.js';
import { tuneCommand } from './tune-command.js';

const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');
const cli = (...args: string[]): { status: number | null; stdout: string; stderr: string } => {
  const r = spawnSync(tsx, ['harness/cli.ts', 'tune', ...args], { encoding: 'utf8', env: { ...process.env, DEBUG: '' }, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};
const out = mkdtempSync(join(tmpdir(), 'tune-cli-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('npm run tune', () => {
  it('--help documents the flags, the ranking and the exit codes', () => {
    const r = cli('--help');
    expect(r.status).toBe(0);
    for (const flag of ['--vary', '--base', '--slo', '--search', '--seeds', '--workers', '--out', '--resume', '--capacity', '--tolerance']) expect(r.stdout).toContain(flag);
    expect(r.stdout).toContain('Ranking: meets every SLO in every seed first, then higher median goodput, then lower median p99 E2E.');
    expect(r.stdout).toContain('Exit codes: 0 a configuration meets the SLOs; 1 none does');
  });

  it('a bad path or value is an error naming it, before anything runs or is written', async () => {
    const dir = join(out, 'never');
    const cases: Array<[string[], string]> = [
      [['--vary', 'concurrency.limt=1,2'], '--vary concurrency.limt=1,2: unknown Policy field "concurrency.limt"'],
      [['--vary', 'retryBudget.ratio=0.05..30:6'], '--vary retryBudget.ratio=0.05..30:6: retryBudget.ratio: expected a number <= 10, got 12.03'],
      [['--vary', 'concurrency.limit=64', '--slo', 'ttft.p99<=2000,e2e.p95<=3'], '--slo: "e2e.p95<=3": unknown stat "p95"'],
      [['--vary', 'concurrency.limit=64', '--base', 'fancy'], '--base: unknown policy "fancy"'],
      [['--vary', 'concurrency.limit=64', '--seeds', '0'], '--seeds: expected an integer >= 1, got 0'],
      [['--vary', 'concurrency.limit=64', '--search', 'sobol'], '--search: expected grid or random:N'],
      [['--capacity', '--vary', 'concurrency.limit=64'], '--capacity: finds the headroom of one policy'],
      [['--resume', join(out, 'x')], '--resume: takes its settings from DIR/tune-spec.json; give only --workers or --quiet with it'],
    ];
    for (const [args, message] of cases) {
      const run = tuneCommand().exitOverride().parseAsync(['burst-1000', '--out', dir, ...args], { from: 'user' });
      await expect(run, args.join(' ')).rejects.toThrow(UsageError);
      await expect(tuneCommand().exitOverride().parseAsync(['burst-1000', '--out', dir, ...args], { from: 'user' })).rejects.toThrow(message);
    }
    await expect(tuneCommand().exitOverride().parseAsync(['--vary', 'concurrency.limit=64'], { from: 'user' })).rejects.toThrow('expected a scenario name');
    await expect(tuneCommand().exitOverride().parseAsync(['--resume', join(out, 'nothing-here')], { from: 'user' })).rejects.toThrow(
      `--resume ${join(out, 'nothing-here')}: expected a sweep folder with tune-spec.json`,
    );
    expect(existsSync(dir)).toBe(false);
    // Through the real CLI: one line, exit 2, no stack trace.
    const r = cli('burst-1000', '--out', dir, '--vary', 'concurrency.limit=0,4');
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe('error: --vary concurrency.limit=0,4: concurrency.limit: expected a number >= 1, got 0');
    expect(existsSync(dir)).toBe(false);
  });

  it('--duration shorter than a burst cuts it at its rate, says so, and every run plays the cut burst', () => {
    const dir = join(out, 'cut');
    const r = cli('burst-1000', '--vary', 'concurrency.limit=128', '--slo', 'ttft.p99<=30s', '--duration', '1s', '--out', dir);
    expect(r.status, r.stderr).toBe(0);
    const note = 'run with its burst cut to the 1 s arrival window at the same rate (1,000 sessions in 2 s -> 500 in 1 s)';
    expect(r.stderr).toContain(`scaled: burst-1000 ${note}`);
    const doc = JSON.parse(readFileSync(join(dir, 'sweep.json'), 'utf8')) as SweepDocument;
    expect(doc.scenario.durationMs).toBe(1000);
    expect(doc.scenario.description).toContain(note);
    const runs = readFileSync(join(dir, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { sessions: number });
    expect(runs.map((x) => x.sessions)).toEqual([500]);
  });

  it('sweeps burst-1000 on 2 workers, writes the reports and best-policy.json, resumes, and exits 1 when nothing meets the SLOs', () => {
    const dir = join(out, 'sweep');
    // An SLO that one of the two limits meets and the other misses (on resilient: TTFT p99 about 27 s at 128, 58 s at 64).
    const r = cli('burst-1000', '--vary', 'concurrency.limit=64,128', '--slo', 'ttft.p99<=30s', '--workers', '2', '--out', dir);
    expect(r.stderr).toContain('tune: 2 configurations × 1 seed = 2 runs');
    expect(r.stderr).toMatch(/\[1\/2\] concurrency\.limit=\d+: (meets|misses) SLO · goodput/);
    expect(r.stderr).toMatch(/\[2\/2\] concurrency\.limit=\d+: .* ETA /);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^burst-1000: 1 of 2 configurations meet the SLOs; best: concurrency\.limit=128$/m);
    expect(r.stdout).toMatch(/^1 {2}concurrency\.limit=128 +yes /m);
    const doc = JSON.parse(readFileSync(join(dir, 'sweep.json'), 'utf8')) as SweepDocument;
    expect(doc.kind).toBe('tune-sweep');
    expect(doc.ranking.configs.map((c) => c.assignments['concurrency.limit'])).toEqual([128, 64]);
    const best = parsePolicy(JSON.parse(readFileSync(join(dir, 'best-policy.json'), 'utf8')));
    expect(best.concurrency.limit).toBe(128);
    expect(readFileSync(join(dir, 'report.md'), 'utf8')).toContain('## ✅ Tuning `burst-1000`');
    expect(readFileSync(join(dir, 'report.html'), 'utf8')).toContain('data-chart="pareto-e2e"');

    // Resume: everything is in the log, nothing runs again, the result is the same.
    const again = cli('--resume', dir, '--workers', '1');
    expect(again.status).toBe(0);
    expect(again.stderr).toContain('(2 resumed from the log)');
    expect(again.stdout).toContain('0 runs in');
    const doc2 = JSON.parse(readFileSync(join(dir, 'sweep.json'), 'utf8')) as SweepDocument;
    expect(doc2.ranking).toEqual(doc.ranking);

    // A stricter SLO on the same folder re-judges the logged runs: none meets, exit 1, said plainly.
    const strict = cli('burst-1000', '--vary', 'concurrency.limit=64,128', '--slo', 'e2e.p99<=1s', '--out', dir);
    expect(strict.status).toBe(1);
    expect(strict.stdout).toContain('burst-1000: no configuration meets the SLOs (0 of 2)');
    expect(strict.stdout).toContain('no configuration meets the SLOs (e2eMs.p99 <= 1000); exit 1');
    expect(strict.stderr).toContain('(2 resumed from the log)');
  });
});
