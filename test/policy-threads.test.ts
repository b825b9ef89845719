import { describe, expect, it } from 'vitest';
import type { RunResult } from '../harness/report/schema.js';
import { crossesThreads } from '../harness/run/policy-threads.js';
import { runScenarioVirtual } from '../harness/run/run-scenario.js';
import { loadScenario } from '../harness/run/scenarios.js';
import type { Scenario } from '../harness/scenario.js';

const withoutMeta = (r: RunResult): string => JSON.stringify({ ...r, meta: undefined });

// Each thread boots tsx before it runs (seconds on a busy machine): a generous limit that only catches a hang.
describe('policies on worker threads', { timeout: 600_000 }, () => {
  it('give the RunResult of running them one after another, byte for byte', async () => {
    const scenario = await loadScenario('burst-1000');
    const o = { scenario, durationMs: 5_000, policies: ['naive', 'bounded', 'resilient'] } as const;
    const inThread = await runScenarioVirtual(o);
    const seen: number[] = [];
    const threaded = await runScenarioVirtual({ ...o, workers: 2, onProgress: (p) => { if (p.done) seen.push(p.index); } });
    expect(threaded.policies.map((p) => p.name)).toEqual(['naive', 'bounded', 'resilient']);
    expect(withoutMeta(threaded)).toBe(withoutMeta(inThread));
    expect(seen).toEqual([0, 1, 2]);
  });

  it('a fleet scenario too', async () => {
    const scenario = await loadScenario('fleet-10k');
    const o = { scenario, durationMs: 2_000, policies: ['round-robin', 'p2c-ejection'] } as const;
    expect(withoutMeta(await runScenarioVirtual({ ...o, workers: 2 }))).toBe(withoutMeta(await runScenarioVirtual(o)));
  });

  it('a scenario that cannot cross to a thread (a function in it) runs in this thread', async () => {
    const scenario = await loadScenario('steady-poisson');
    const odd = { ...scenario, hook: () => 1 } as unknown as Scenario;
    expect(crossesThreads(scenario)).toBe(true);
    expect(crossesThreads(odd)).toBe(false);
    const r = await runScenarioVirtual({ scenario: odd, durationMs: 2_000, policies: ['naive'], workers: 2 });
    expect(r.policies).toHaveLength(1);
    expect(r.policies[0]?.counters.requests).toBeGreaterThan(0);
  });
});
