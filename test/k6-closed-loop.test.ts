/**
 * Closed-loop users exported to k6: sustained-1000 becomes a `ramping-vus` scenario (0 to 1,000 VUs over its 2 s
 * ramp, then held), each VU playing sessions back to back with the seeded think time after each. With
 * ../shared/bin/k6 (K6_BIN overrides; skipped when absent), `k6 inspect` shows DURATION and SCALE reshaping it, and
 * a shortened copy (20 users, 6 s, no faults, without the 5,000-token generations) runs against the mock on
 * loopback: it exits 0 and its VUs played more sessions than there are users.
 *
 * Bounded: each k6 process has a generous limit and is killed by PID past it; the mock is stopped by PID.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RealClock } from '../src/time/real-clock.js';
import { generateK6Script } from '../harness/k6/index.js';
import { k6Executor } from '../harness/k6/executors.js';
import { parseK6Summary } from '../harness/report/k6-summary.js';
import { MOCK_ENTRY } from '../harness/run/live.js';
import { ProcessGroup, freePort } from '../harness/run/processes.js';
import { loadScenario } from '../harness/run/scenarios.js';
import type { Scenario } from '../harness/scenario.js';

const ROOT = resolve(import.meta.dirname, '..');
const K6 = process.env['K6_BIN'] ?? resolve(ROOT, '..', 'shared', 'bin', 'k6');
const HAVE_K6 = existsSync(K6);
const K6_LIMIT_MS = 240_000;
const clock = new RealClock();

describe('closed-loop users as a k6 executor', () => {
  it('no ramp: constant-vus; a ramp: ramping-vus up to the users, then held for the rest of the window', () => {
    const flat = k6Executor({ arrivals: { kind: 'users', users: 50 }, mix: [] }, { durationMs: 30_000, drainMs: 10_000 });
    expect(flat.sessionBy).toBe('user');
    expect(flat.config).toEqual({ executor: 'constant-vus', vus: 50, duration: '30s', gracefulStop: '10s' });
    const ramped = k6Executor({ arrivals: { kind: 'users', users: 1000, rampUpMs: 2_000 } , mix: [] }, { durationMs: 60_000, drainMs: 10_000 });
    expect(ramped.config).toEqual({
      executor: 'ramping-vus',
      startVUs: 0,
      stages: [
        { duration: '2s', target: 1000 },
        { duration: '58s', target: 1000 },
      ],
      gracefulRampDown: '10s',
      gracefulStop: '10s',
    });
    expect(ramped.notes.join(' ')).toMatch(/Closed loop: 1000 users/);
  });

  it('sustained-1000 exports ramping-vus with 1,000 sessions, each followed by its think time', async () => {
    const out = generateK6Script(await loadScenario('sustained-1000'), { baseDir: ROOT });
    expect(out.executor.config.executor).toBe('ramping-vus');
    expect(out.sessions).toBe(1000);
    expect(out.script).toContain("executor: 'ramping-vus'");
    expect(out.script).toContain('const USER_THINK_MS: readonly number[] = [');
    // No pause between a user's sessions in this scenario.
    const think = /const USER_THINK_MS: readonly number\[\] = \[([^\]]*)\]/.exec(out.script)?.[1]?.split(', ').map(Number) ?? [];
    expect(think).toHaveLength(1000);
    expect(new Set(think)).toEqual(new Set([0]));
    expect(out.script).toContain('Closed loop: each VU plays sessions back to back');
  });
});

/** sustained-1000, shortened: 20 users over 1 s, 6 s, no faults, no 5,000-token generations. */
async function shortened(): Promise<Scenario> {
  const s = await loadScenario('sustained-1000');
  const w = s.workload;
  if ('trace' in w || w.arrivals.kind !== 'users') throw new Error('sustained-1000: expected closed-loop users');
  const { faults: _dropped, ...model } = s.model;
  return { ...s, durationMs: 6_000, workload: { ...w, arrivals: { ...w.arrivals, users: 20, rampUpMs: 1_000 }, mix: w.mix.filter((e) => e.name !== 'long-gen') }, model };
}

async function runK6(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(K6, args, { cwd, env: { ...process.env, K6_NO_USAGE_REPORT: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const limit = clock.setTimer(K6_LIMIT_MS, () => {
    if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  });
  const code = await new Promise<number | null>((done) => child.once('exit', (c) => done(c)));
  limit.cancel();
  return { code, stdout, stderr: stderr.slice(-3000) };
}

(HAVE_K6 ? describe : describe.skip)('k6 runs the closed-loop export', () => {
  let dir: string;
  const group = new ProcessGroup(clock);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'k6-closed-loop-'));
  });
  afterAll(async () => {
    await group.stopAll();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('k6 inspect: SCALE multiplies the VUs and DURATION stretches the stages', async () => {
    const file = join(dir, 'sustained.ts');
    writeFileSync(file, generateK6Script(await loadScenario('sustained-1000'), { baseDir: ROOT }).script);
    const r = await runK6(['inspect', '-e', 'DURATION=6s', '-e', 'SCALE=0.02', file], dir);
    expect(r.code, r.stderr).toBe(0);
    const o = JSON.parse(r.stdout) as { scenarios: { sessions: Record<string, unknown> } };
    expect(o.scenarios.sessions).toMatchObject({
      executor: 'ramping-vus',
      startVUs: 0,
      stages: [
        { duration: '200ms', target: 20 },
        { duration: '5.8s', target: 20 },
      ],
    });
  }, 120_000);

  it('a shortened run against the mock exits 0, and its 20 VUs play sessions back to back', async () => {
    const port = await freePort();
    const model = `primary=${JSON.stringify({ base: 'h100-llama3-8b', prefixCaching: false })}`;
    const mock = await group.start(
      { name: 'mock', entry: MOCK_ENTRY, args: ['--port', String(port), '--model', model, '--seed', '1'], port, readyPath: '/health' },
      { readyTimeoutMs: 60_000 },
    );
    const out = generateK6Script(await shortened(), { baseDir: ROOT, targetUrl: mock.url });
    expect(out.executor.config).toMatchObject({ executor: 'ramping-vus', stages: [{ duration: '1s', target: 20 }, { duration: '5s', target: 20 }] });
    const file = join(dir, 'short.ts');
    writeFileSync(file, out.script);
    const summaryFile = join(dir, 'short.summary.json');
    const r = await runK6(['run', '--quiet', '--no-color', '-e', `SUMMARY_FILE=${summaryFile}`, '-e', 'GRACEFUL_STOP=60s', file], dir);
    expect(r.code, r.stderr).toBe(0);
    const summary = parseK6Summary(readFileSync(summaryFile, 'utf8'), summaryFile);
    // 20 users each playing one session would send at most ~20 first calls; back to back they send many more.
    expect(summary.summary.requests).toBeGreaterThan(40);
    expect(summary.summary.errors).toBe(0);
    expect(summary.thresholdsPassed).toBe(true);
  }, K6_LIMIT_MS + 60_000);
});
