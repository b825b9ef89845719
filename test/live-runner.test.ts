/**
 * A short live run end to end: the mock and the engine service start as real processes on loopback, a tiny
 * workload goes through the engine over HTTP/SSE, every request reaches one outcome, the RunResult validates, and
 * no process is left behind.
 */
import { describe, expect, it } from 'vitest';
import { Random } from '../src/random.js';
import { defineScenario } from '../harness/scenario.js';
import { parseRunResult } from '../harness/report/schema.js';
import { serializeRunResult } from '../harness/report/serialize.js';
import type { ManagedProcess } from '../harness/run/processes.js';
import { runScenarioLive } from '../harness/run/run-scenario.js';
import { buildSessions } from '../harness/workload/index.js';
import type { SessionPlan } from '../harness/workload/types.js';
import { alive } from './helpers/processes.js';

const scenario = defineScenario({
  name: 'live-tiny',
  description: 'a dozen short chats, no faults',
  seed: 11,
  durationMs: 1_500,
  workload: {
    arrivals: { kind: 'poisson', ratePerSec: 8 },
    mix: [{ name: 'chat', weight: 1, kind: 'single', promptTokens: { kind: 'uniform', min: 50, max: 300 }, outputTokens: { kind: 'uniform', min: 5, max: 40 } }],
  },
  // Round prices, to check the live bill by hand: $1 per 1M input tokens (cache hits too), $4 per 1M output.
  model: { profile: 'h100-llama3-8b', price: { inputPer1M: 1, outputPer1M: 4 } },
  policies: ['bounded'],
  slo: { ttftMs: 2_000, e2eMs: 10_000 },
});

describe('live runner', () => {
  it('runs a tiny scenario through real mock and engine processes and returns a valid, complete RunResult', async () => {
    const pids: number[] = [];
    const result = await runScenarioLive({ scenario, onProcess: (p) => pids.push(p.pid ?? -1) });

    // Every process it started is gone.
    expect(pids).toHaveLength(2);
    expect(pids.filter(alive)).toEqual([]);

    // The result has the schema of every mode, and says it was live.
    const parsed = parseRunResult(serializeRunResult(result));
    expect(parsed.scenario.mode).toBe('live');
    expect(parsed.meta.loadGenerator).not.toBeNull();
    expect(parsed.meta.loadGenerator?.cpuPct).toBeGreaterThan(0);

    // The same sessions as a virtual run would play, each request with exactly one outcome.
    const sessions = buildSessions(scenario.workload, new Random(scenario.seed).derive('workload'), { durationMs: scenario.durationMs });
    const planned = sessions.map((s) => (s.plan as Extract<SessionPlan, { kind: 'single' }>).request);
    const p = parsed.policies[0];
    if (p === undefined) throw new Error('no policy result');
    const c = p.counters;
    expect(c.arrivals).toBe(planned.length);
    expect(c.requests).toBe(planned.length);
    expect(c.unfinished).toBe(0);
    const s = p.summary;
    expect(s.ok + s.degraded + s.shed + s.failed + s.timeout + s.cancelled).toBe(planned.length);
    // No faults and a light load: every request is served in full, every token counted once.
    expect(s.ok).toBe(planned.length);
    expect(c.tokensDelivered).toBe(planned.reduce((n, r) => n + r.outputTokens, 0));
    expect(s.ttftMs.count).toBe(planned.length);
    expect(s.ttftMs.p50).toBeGreaterThan(0);
    // The mock's own counters were read (GPU work), and the engine's gauges were sampled at least once.
    expect(c.tokensComputed).toBe(c.tokensDelivered);
    expect(s.gpuUtilization).toBeGreaterThan(0);
    expect(p.series.queueDepth.some((v) => v !== null)).toBe(true);
    // The bill, from what the engine reported per call (x_engine.bills): each prompt once, each token once, nothing
    // wasted; dollars at the scenario's prices.
    const prompts = planned.reduce((n, r) => n + r.promptTokens, 0);
    const t = s.tokens;
    expect((t.billedInput ?? NaN) + (t.billedCachedInput ?? NaN)).toBe(prompts);
    expect(t.billedOutput).toBe(c.tokensDelivered);
    expect(s.cost.totalUsd).toBeCloseTo((prompts * 1 + c.tokensDelivered * 4) / 1e6, 6);
    expect(s.cost.wastedUsd).toBe(0);
  }, 30_000);

  it('fails the run with an error naming a process that dies during the load, and stops the others', async () => {
    const procs: ManagedProcess[] = [];
    const run = runScenarioLive({
      scenario: { ...scenario, durationMs: 4_000 },
      onProcess: (p) => {
        procs.push(p);
        if (p.name.startsWith('engine')) setTimeout(() => p.kill('SIGKILL'), 1_000);
      },
    });
    await expect(run).rejects.toThrow(/^engine\[bounded\]: exited during the run \(killed by SIGKILL\)/);
    expect(procs.map((p) => p.pid ?? -1).filter(alive)).toEqual([]);
  }, 30_000);
});
