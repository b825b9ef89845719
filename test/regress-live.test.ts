/**
 * Live regression of a target end to end: the project's own engine service stands in for a user's gateway. A
 * baseline is written with `--update`, the same system passes against it, and once it is restarted with a
 * concurrency limit of 2 the check fails (exit 1). Short runs on loopback; the load generator's self-check is
 * loosened, because this test measures the gate, not the machine.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RealClock } from '../src/time/real-clock.js';
import { liveBaselineFile, runLiveRegress } from '../harness/cli/regress-live.js';
import { ENGINE_ENTRY } from '../harness/run/live.js';
import { freePort, ProcessGroup, type ManagedProcess } from '../harness/run/processes.js';
import { defineScenario } from '../harness/scenario.js';
import { urlTarget } from '../harness/targets/url-target.js';
import { alive } from './helpers/processes.js';

const scenario = defineScenario({
  name: 'regress-live-test',
  description: 'Poisson short chat at 12/s: a limit of 2 cannot keep up',
  seed: 5,
  durationMs: 4_000,
  workload: {
    arrivals: { kind: 'poisson', ratePerSec: 12 },
    mix: [{ name: 'chat', weight: 1, kind: 'single', promptTokens: 200, outputTokens: 60 }],
  },
  model: { profile: 'h100-llama3-8b' },
  policies: ['bounded'],
  slo: { ttftMs: 2_000, e2eMs: 5_000 },
});

const clock = new RealClock();
const group = new ProcessGroup(clock);
let dir = '';
const pids: number[] = [];

afterAll(async () => {
  await group.stopAll();
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

async function startSut(mockPort: number, overrides?: object): Promise<ManagedProcess> {
  const port = await freePort();
  const args = ['--port', String(port), '--upstream', `http://127.0.0.1:${mockPort}`, '--open', '--policy', 'bounded'];
  if (overrides !== undefined) args.push('--policy-overrides', JSON.stringify(overrides));
  const p = await group.start({ name: 'sut', entry: ENGINE_ENTRY, args, port, readyPath: '/healthz' }, { readyTimeoutMs: 60_000 });
  if (p.pid !== undefined) pids.push(p.pid);
  return p;
}

describe('regress --target (live)', () => {
  it('writes a baseline, passes against it, and fails (exit 1) when the system is restarted with a concurrency limit of 2', async () => {
    dir = await mkdtemp(join(tmpdir(), 'regress-live-'));
    const mockPort = await freePort();
    const common = {
      scenarios: [scenario],
      runs: 2,
      mockPort,
      baselinesDir: dir,
      junitFile: join(dir, 'junit.xml'),
      // Wide tolerances: this checks the gate, and the machine running the test is shared and slow.
      tolerance: { p99TtftPct: 200, p99E2ePct: 100, goodputPct: 40, errorSharePts: 20, minDeltaMs: 1_500 },
      limits: { maxLagP99Ms: 2_000, maxCpuPct: 400 },
      log: () => undefined,
    };
    let sut = await startSut(mockPort);
    const target = (): ReturnType<typeof urlTarget> => urlTarget('sut', sut.url);

    const update = await runLiveRegress({ ...common, targets: [target()], update: true });
    expect(update.exitCode).toBe(0);
    const baseline = JSON.parse(await readFile(liveBaselineFile(dir, scenario.name, 'sut'), 'utf8')) as { runs: unknown[]; median: { e2eP99Ms: number } };
    expect(baseline.runs).toHaveLength(2);
    expect(baseline.median.e2eP99Ms).toBeGreaterThan(0);

    const pass = await runLiveRegress({ ...common, targets: [target()], update: false });
    expect(pass.markdown).toContain('No regression');
    expect(pass.exitCode).toBe(0);

    await sut.stop(clock);
    sut = await startSut(mockPort, { concurrency: { mode: 'fixed', limit: 2 } });
    const fail = await runLiveRegress({ ...common, targets: [target()], update: false });
    expect(fail.markdown).toContain('❌ regression');
    expect(fail.exitCode).toBe(1);
    const junit = await readFile(join(dir, 'junit.xml'), 'utf8');
    expect(junit).toMatch(/<failure message="regression: p99 E2E/);

    await group.stopAll();
    expect(pids.filter(alive)).toEqual([]);
  }, 900_000);
});
