/**
 * `npm run tune SCENARIO -- --capacity --target NAME=URL` end to end (issue #16), as a user runs it: the engine
 * service started as the system under test, its upstream pointed at the mock port the harness then starts; the
 * CLI probes a few load multipliers live, one run at a time, writes capacity.json and exits 0 with a headroom.
 * Bad flags exit 2 with a one-line message naming the flag. Short runs (3 s, at most 2×), 127.0.0.1 only.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ENGINE_ENTRY } from '../harness/run/live.js';
import { freePort, ProcessGroup } from '../harness/run/processes.js';
import { RealClock } from '../src/time/real-clock.js';

const ROOT = new URL('..', import.meta.url).pathname;
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const SCENARIO = join(ROOT, 'test', 'fixtures', 'tune-target-scenario.ts');

const group = new ProcessGroup(new RealClock());
let dir = '';

afterAll(async () => {
  await group.stopAll();
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

function tune(args: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(TSX, ['harness/cli.ts', 'tune', ...args], { cwd: ROOT, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, DEBUG: '' } }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('tune --capacity --target (live)', () => {
  it('finds the headroom of a running engine service and exits 0', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tune-target-'));
    const mockPort = await freePort();
    const port = await freePort();
    await group.start(
      { name: 'sut', entry: ENGINE_ENTRY, args: ['--port', String(port), '--upstream', `http://127.0.0.1:${mockPort}`, '--open', '--policy', 'bounded'], port, readyPath: '/healthz' },
      { readyTimeoutMs: 60_000 },
    );
    const out = join(dir, 'out');
    const r = await tune([SCENARIO, '--capacity', '--target', `sut=http://127.0.0.1:${port}`, '--mock-port', String(mockPort), '--duration', '3s', '--max-multiplier', '2', '--tolerance', '60', '--out', out], 400_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('tune: headroom of sut on tune-target-test');
    expect(r.stdout).toMatch(/sut on tune-target-test: .*at SLO/);
    const doc = JSON.parse(await readFile(join(out, 'capacity.json'), 'utf8')) as { kind: string; result: { multiplier: number | null; probes: { multiplier: number; pass: boolean }[] }; meta: { workers: number } };
    expect(doc.kind).toBe('tune-capacity');
    expect(doc.meta.workers).toBe(1);
    // A headroom was found: the largest multiplier probed that met the SLOs.
    expect(doc.result.multiplier).not.toBeNull();
    const passed = doc.result.probes.filter((p) => p.pass).map((p) => p.multiplier);
    expect(passed.length).toBeGreaterThan(0);
    expect(doc.result.multiplier).toBe(Math.max(...passed));
    expect(doc.result.probes.length).toBeLessThanOrEqual(4);
  }, 600_000);

  it('exits 2 with a one-line message naming the flag on bad input', async () => {
    const cases: [string[], RegExp][] = [
      [[SCENARIO, '--capacity', '--target', 'sut=not-a-url'], /--target/],
      [[SCENARIO, '--target', 'sut=http://127.0.0.1:9'], /--target: a live target is tuned for headroom only; add --capacity/],
      [[SCENARIO, '--capacity', '--target', 'sut=http://127.0.0.1:9', '--mock-port', 'abc'], /--mock-port/],
    ];
    for (const [args, message] of cases) {
      const r = await tune(args, 120_000);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
  }, 400_000);
});
