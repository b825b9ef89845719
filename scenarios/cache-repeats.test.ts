import { describe, expect, it } from 'vitest';
import type { PolicyResult } from '../harness/measure/result.js';
import { runPolicyVirtual } from '../harness/run/virtual.js';
import { policyName } from '../harness/scenario.js';
import scenario from './cache-repeats.js';

async function run(name: string): Promise<PolicyResult> {
  const policy = scenario.policies.find((p) => policyName(p) === name);
  if (policy === undefined) throw new Error(`no policy ${name}`);
  return (await runPolicyVirtual({ scenario, policy, seed: scenario.seed, durationMs: scenario.durationMs })).result;
}

/** Seconds (bucket starts) in which some request ended `degraded: cached`. */
function cachedSeconds(r: PolicyResult): number[] {
  const per = r.series.reasons?.['cached'] ?? [];
  return per.flatMap((n, i) => (n > 0 ? [i] : []));
}

describe('scenario cache-repeats (virtual)', () => {
  it('the response cache cuts upstream calls and cost by about half, and serves degraded: cached only in the outage', async () => {
    const plain = await run('resilient');
    const cached = await run('resilient-cache');
    expect(plain.summary.requests).toBe(cached.summary.requests);

    // Half the questions repeat a popular prompt: the cache answers most repeats with no upstream call.
    const calls = cached.counters.upstreamCalls / plain.counters.upstreamCalls;
    expect(calls).toBeGreaterThan(0.5);
    expect(calls).toBeLessThan(0.62);
    const cost = (cached.summary.cost.totalUsd ?? NaN) / (plain.summary.cost.totalUsd ?? NaN);
    expect(cost).toBeGreaterThan(0.5);
    expect(cost).toBeLessThan(0.65);
    expect(plain.summary.responseCache).toBeUndefined();
    const c = cached.summary.responseCache;
    expect(c).toBeDefined();
    expect((c?.hits ?? 0) + (c?.misses ?? 0)).toBe(cached.summary.requests);
    expect(c?.hitRate).toBeGreaterThan(0.35);

    // Stale answers only while the upstream is out (30 s to 40 s) or its breaker is still open right after (openMs 1 s).
    const seconds = cachedSeconds(cached);
    expect(cached.summary.reasons?.['cached']).toBe(c?.stale);
    expect(c?.stale).toBeGreaterThan(20);
    expect(Math.min(...seconds)).toBeGreaterThanOrEqual(30);
    expect(Math.max(...seconds)).toBeLessThanOrEqual(41);
    expect(cached.counters.degradedReasons['cached']).toBe(c?.stale);
    expect(cachedSeconds(plain)).toEqual([]);
    // Serving those answers beats waiting out the outage.
    expect(cached.summary.servedWithinSloPerSec ?? 0).toBeGreaterThan(plain.summary.servedWithinSloPerSec ?? 0);
  }, 600_000);
});
