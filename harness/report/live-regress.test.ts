import { describe, expect, it } from 'vitest';
import { runLiveRegress, parseToleranceFlag } from '../cli/regress-live.js';
import { defineScenario } from '../scenario.js';
import { urlTarget } from '../targets/url-target.js';
import { compareLive, makeLiveBaseline, summarizeRuns, type LiveFigures, type LiveRun } from './live-regress.js';
import type { LiveScenarioRunOptions } from '../run/run-scenario.js';
import type { RunResult } from './schema.js';
import { syntheticRunResult } from './synthetic-run.js';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const run = (f: Partial<LiveFigures>): LiveRun => ({ figures: { ttftP99Ms: 100, e2eP99Ms: 1000, goodputPerSec: 10, errorShare: 0.01, ...f }, requests: 100, wallMs: 1 });
const ctx = { scenario: 's', target: 't', seed: 1, durationMs: 1000 };
const baselineOf = (runs: LiveRun[]): ReturnType<typeof makeLiveBaseline> =>
  makeLiveBaseline({ ...ctx, series: summarizeRuns(runs), gitCommit: 'abc', createdAt: '2026-01-01T00:00:00.000Z' });

describe('live regression: medians and spread', () => {
  it('takes the median of the runs metric by metric and the spread as max − min', () => {
    const s = summarizeRuns([run({ e2eP99Ms: 900 }), run({ e2eP99Ms: 1000 }), run({ e2eP99Ms: 1300 })]);
    expect(s.median.e2eP99Ms).toBe(1000);
    expect(s.spread.e2eP99Ms).toBe(40);
    expect(s.range.e2eP99Ms).toBe(400);
    expect(summarizeRuns([run({ errorShare: 0.01 }), run({ errorShare: 0.04 })]).spread.errorShare).toBe(3); // points
    expect(summarizeRuns([run({})]).spread.e2eP99Ms).toBeNull();
  });

  it('passes within tolerance, fails beyond it, and refuses a tolerance tighter than the spread', () => {
    const base = baselineOf([run({}), run({}), run({})]);
    const same = compareLive(summarizeRuns([run({}), run({ e2eP99Ms: 1050 }), run({})]), base, ctx);
    expect(same.regression).toBe(false);
    expect(same.tooNoisy).toBe(false);

    const worse = compareLive(summarizeRuns([run({ e2eP99Ms: 3000 }), run({ e2eP99Ms: 3100 }), run({ e2eP99Ms: 2900 })]), base, ctx);
    expect(worse.checks.find((c) => c.metric === 'e2eP99Ms')?.status).toBe('regression');
    expect(worse.regression).toBe(true);

    // E2E p99 varies by 60% between runs; a 25% tolerance cannot tell a change from noise.
    const noisy = compareLive(summarizeRuns([run({ e2eP99Ms: 800 }), run({ e2eP99Ms: 1000 }), run({ e2eP99Ms: 1400 })]), base, ctx);
    expect(noisy.checks.find((c) => c.metric === 'e2eP99Ms')).toMatchObject({ status: 'too-noisy', spread: 60 });
    expect(noisy.tooNoisy).toBe(true);
    // ... unless the runs differ by no more than minDeltaMs.
    expect(compareLive(summarizeRuns([run({ e2eP99Ms: 800 }), run({ e2eP99Ms: 1000 }), run({ e2eP99Ms: 1400 })]), base, { ...ctx, tolerance: { minDeltaMs: 1000 } }).tooNoisy).toBe(false);

    const errors = compareLive(summarizeRuns([run({ errorShare: 0.2 }), run({ errorShare: 0.2 })]), base, ctx);
    expect(errors.checks.find((c) => c.metric === 'errorShare')).toMatchObject({ status: 'regression', change: 19 });
    const goodput = compareLive(summarizeRuns([run({ goodputPerSec: 5 }), run({ goodputPerSec: 5 })]), base, ctx);
    expect(goodput.checks.find((c) => c.metric === 'goodputPerSec')?.status).toBe('regression');
  });

  it('parses --tolerance and names a bad pair', () => {
    expect(parseToleranceFlag('ttft=30,errors=2.5')).toEqual({ p99TtftPct: 30, errorSharePts: 2.5 });
    expect(() => parseToleranceFlag('latency=3')).toThrow(/--tolerance: expected KEY=NUMBER pairs .* got "latency=3"/);
  });
});

describe('live regression: invalid runs', () => {
  it('reruns a run whose load generator fell behind and never compares it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'live-regress-'));
    try {
      const scenario = defineScenario({
        name: 'fake',
        description: 'stand-in runs',
        seed: 1,
        durationMs: 1000,
        workload: { arrivals: { kind: 'poisson', ratePerSec: 1 }, mix: [{ name: 'chat', weight: 1, kind: 'single', promptTokens: 10, outputTokens: 10 }] },
        model: { profile: 'h100-llama3-8b' },
        policies: ['bounded'],
        slo: { ttftMs: 1000 },
      });
      const base = syntheticRunResult(1, 10_000, 5);
      const fake = (valid: boolean): RunResult => ({
        ...base,
        policies: [{ ...(base.policies[0] as RunResult['policies'][number]), name: 't' }],
        meta: { ...base.meta, loadGenerator: { valid, reasons: valid ? [] : ['event-loop lag p99 120 ms > 50 ms'], eventLoopLagP99Ms: valid ? 3 : 120, cpuPct: 10 } as NonNullable<RunResult['meta']['loadGenerator']> },
      });
      const plan = [false, true, false, true];
      let calls = 0;
      const lines: string[] = [];
      const out = await runLiveRegress({
        targets: [urlTarget('t', 'http://127.0.0.1:1')],
        scenarios: [scenario],
        runs: 2,
        baselinesDir: dir,
        update: true,
        log: (l) => lines.push(l),
        runOnce: async () => fake(plan[calls++] as boolean),
      });
      expect(out.exitCode).toBe(0);
      expect(calls).toBe(4);
      expect(lines.filter((l) => l.includes('is invalid'))).toHaveLength(2);
      const b = JSON.parse(await readFile(join(dir, 'live', 'fake--t.json'), 'utf8')) as { runs: unknown[] };
      expect(b.runs).toHaveLength(2);

      // Only invalid runs: nothing is compared, and the check fails.
      const none = await runLiveRegress({ targets: [urlTarget('t', 'http://127.0.0.1:1')], scenarios: [scenario], runs: 2, baselinesDir: dir, update: false, log: () => undefined, runOnce: async () => fake(false) });
      expect(none.exitCode).toBe(1);
      expect(none.markdown).toContain('not judged');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('live regression: --duration', () => {
  it('cuts a burst longer than the window at its rate, as `scenario --duration` does, and says so', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'live-regress-cut-'));
    try {
      const scenario = defineScenario({
        name: 'bursty',
        description: 'a burst of 1,000 sessions in 10 s',
        seed: 1,
        durationMs: 10_000,
        workload: { arrivals: { kind: 'burst', sessions: 1000, withinMs: 10_000 }, mix: [{ name: 'chat', weight: 1, kind: 'single', promptTokens: 10, outputTokens: 10 }] },
        model: { profile: 'h100-llama3-8b' },
        policies: ['bounded'],
        slo: { ttftMs: 1000 },
      });
      const base = syntheticRunResult(1, 10_000, 5);
      const seen: LiveScenarioRunOptions[] = [];
      const lines: string[] = [];
      const out = await runLiveRegress({
        targets: [urlTarget('t', 'http://127.0.0.1:1')],
        scenarios: [scenario],
        runs: 1,
        durationMs: 2_000,
        baselinesDir: dir,
        update: true,
        log: (l) => lines.push(l),
        runOnce: async (o) => {
          seen.push(o);
          return { ...base, policies: [{ ...(base.policies[0] as RunResult['policies'][number]), name: 't' }] };
        },
      });
      expect(out.exitCode).toBe(0);
      expect(seen).toHaveLength(1);
      const played = seen[0] as LiveScenarioRunOptions;
      expect(played.durationMs).toBe(2_000);
      expect('arrivals' in played.scenario.workload ? played.scenario.workload.arrivals : undefined).toEqual({ kind: 'burst', sessions: 200, withinMs: 2_000 });
      expect(played.scaling?.burstCut).toEqual({ scenarioMs: 10_000, runMs: 2_000 });
      expect(lines).toContain('regress: scaled: bursty run with its burst cut to the 2 s arrival window at the same rate (1,000 sessions in 10 s -> 200 in 2 s); deployments, routes, policies, faults and SLOs as the scenario\'s');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
