import { describe, expect, it } from 'vitest';
import type { BreakerStateChange } from '../src/engine/breaker.js';
import { cacheCeiling, plannedIdentities } from '../harness/cost/cache-ceiling.js';
import { scenarioPrices } from '../harness/cost/price.js';
import type { PolicyResult } from '../harness/measure/result.js';
import type { RequestObservation } from '../harness/measure/types.js';
import { runPolicyVirtual } from '../harness/run/virtual.js';
import { policyName, resolveScenarioPolicy } from '../harness/scenario.js';
import scenario from './cache-repeats.js';

interface Run {
  readonly result: PolicyResult;
  readonly requests: RequestObservation[];
  /** The primary breaker's transitions, in order. */
  readonly breaker: BreakerStateChange[];
  /** When each request's upstream attempts failed, by request id. */
  readonly failures: Map<string, number[]>;
}

async function run(name: string): Promise<Run> {
  const policy = scenario.policies.find((p) => policyName(p) === name);
  if (policy === undefined) throw new Error(`no policy ${name}`);
  const requests: RequestObservation[] = [];
  const breaker: BreakerStateChange[] = [];
  const failures = new Map<string, number[]>();
  const { result } = await runPolicyVirtual({
    scenario,
    policy,
    seed: scenario.seed,
    durationMs: scenario.durationMs,
    onRequest: (obs) => requests.push(obs),
    onEngineEvent: (e) => {
      if (e.type === 'breaker-state') breaker.push({ from: e.from, to: e.to, atMs: e.atMs, reason: e.reason });
      else if (e.type === 'attempt-failed') failures.set(e.id, [...(failures.get(e.id) ?? []), e.atMs]);
    },
  });
  return { result, requests, breaker, failures };
}

/** The breaker's state at `atMs` (the last transition at or before it; closed before any). */
function breakerAt(changes: readonly BreakerStateChange[], atMs: number): BreakerStateChange['to'] {
  let state: BreakerStateChange['to'] = 'closed';
  for (const c of changes) if (c.atMs <= atMs) state = c.to;
  return state;
}

describe('scenario cache-repeats (virtual)', () => {
  it('the response cache cuts upstream calls and cost close to the ceiling any cache could reach in this run', async () => {
    const plain = await run('resilient');
    const cached = await run('resilient-cache');
    expect(plain.result.summary.requests).toBe(cached.result.summary.requests);

    // The ceiling, from the run without the cache: the first occurrence of each distinct prompt must go upstream, so
    // at best the cache saves the calls and dollars of the repeats.
    const identities = plannedIdentities(scenario, scenario.seed, scenario.durationMs);
    expect(identities.size).toBe(plain.result.summary.requests);
    const ceiling = cacheCeiling(plain.requests, identities, scenarioPrices(scenario.model).primary);
    expect(ceiling.calls).toBe(plain.result.counters.upstreamCalls);
    expect(ceiling.usd).toBeCloseTo(plain.result.summary.cost.totalUsd ?? NaN, 5);

    const callCut = 1 - cached.result.counters.upstreamCalls / plain.result.counters.upstreamCalls;
    const costCut = 1 - (cached.result.summary.cost.totalUsd ?? NaN) / (plain.result.summary.cost.totalUsd ?? NaN);
    const maxCostCut = ceiling.maxCostCut ?? NaN;
    console.log(
      `cache-repeats: ${ceiling.requests} requests, ${ceiling.distinct} distinct prompts, ${ceiling.repeats} repeats; ` +
        `calls cut ${(callCut * 100).toFixed(1)}% of a ${(ceiling.maxCallCut * 100).toFixed(1)}% ceiling, ` +
        `cost cut ${(costCut * 100).toFixed(1)}% of a ${(maxCostCut * 100).toFixed(1)}% ceiling`,
    );
    expect(callCut).toBeLessThanOrEqual(ceiling.maxCallCut);
    expect(costCut).toBeLessThanOrEqual(maxCostCut);
    // "About half": within a fifth of the best any cache could do here.
    expect(callCut).toBeGreaterThanOrEqual(0.8 * ceiling.maxCallCut);
    expect(costCut).toBeGreaterThanOrEqual(0.8 * maxCostCut);

    // Every repeat that did not hit is explained: served stale in the outage, or its prompt's stored answer was past
    // the TTL (a hit does not renew an entry; the next miss does).
    const ttlMs = resolveScenarioPolicy(scenario.policies[1] ?? 'resilient').cache.ttlMs;
    const ordered = [...cached.requests].sort((a, b) => a.intendedStartMs - b.intendedStartMs);
    const seen = new Set<string>();
    const stored = new Map<string, number[]>();
    for (const o of cached.requests) {
      if (o.cache === 'miss' && o.outcome === 'ok') stored.set(identities.get(o.id)?.key ?? '', [...(stored.get(identities.get(o.id)?.key ?? '') ?? []), o.endAtMs]);
    }
    const why = { hit: 0, stale: 0, expired: 0, unexplained: 0 };
    for (const o of ordered) {
      const key = identities.get(o.id)?.key ?? o.id;
      const repeat = seen.has(key);
      seen.add(key);
      if (!repeat) continue;
      if (o.cache === 'hit') why.hit++;
      else if (o.degraded === 'cached') why.stale++;
      else {
        const last = Math.max(...(stored.get(key) ?? []).filter((t) => t <= o.intendedStartMs));
        if (o.intendedStartMs - last > ttlMs) why.expired++;
        else why.unexplained++;
      }
    }
    console.log(`cache-repeats: of ${ceiling.repeats} repeats: ${why.hit} fresh hits, ${why.stale} stale in the outage, ${why.expired} past the ${ttlMs} ms TTL`);
    expect(why).toMatchObject({ unexplained: 0 });
    expect(why.hit + why.stale + why.expired).toBe(ceiling.repeats);

    expect(plain.result.summary.responseCache).toBeUndefined();
    const c = cached.result.summary.responseCache;
    expect(c).toBeDefined();
    expect((c?.hits ?? 0) + (c?.misses ?? 0)).toBe(cached.result.summary.requests);
    expect(c?.hits).toBe(why.hit);
  }, 600_000);

  it('serves degraded: cached only while the upstream fails or the breaker is open: from the outage start until the breaker closes after it', async () => {
    const plain = await run('resilient');
    const cached = await run('resilient-cache');
    const outage = scenario.model.faults?.timeline?.find((p) => p.name === 'outage');
    if (outage === undefined) throw new Error('the scenario has no outage phase');
    const outageEndMs = outage.atMs + outage.durationMs;
    // The breaker opens in the outage, and closes again (probes succeed) after it.
    expect(cached.breaker.some((b) => b.to === 'open' && b.atMs >= outage.atMs && b.atMs < outageEndMs)).toBe(true);
    const closedMs = cached.breaker.find((b) => b.to === 'closed' && b.atMs >= outageEndMs)?.atMs;
    if (closedMs === undefined) throw new Error('the breaker never closed after the outage');

    const stale = cached.requests.filter((o) => o.degraded === 'cached');
    const ends = stale.map((o) => o.endAtMs);
    console.log(
      `cache-repeats: outage ${outage.atMs}–${outageEndMs} ms; breaker closed again at ${closedMs.toFixed(1)} ms; ` +
        `${stale.length} degraded: cached answers, from ${Math.min(...ends).toFixed(1)} to ${Math.max(...ends).toFixed(1)} ms`,
    );
    expect(stale.length).toBeGreaterThan(20);
    expect(cached.result.summary.reasons?.['cached']).toBe(stale.length);
    expect(cached.result.summary.responseCache?.stale).toBe(stale.length);
    expect(cached.result.counters.degradedReasons['cached']).toBe(stale.length);
    // None before the outage starts, none after the breaker has closed again.
    expect(Math.min(...ends)).toBeGreaterThanOrEqual(outage.atMs);
    expect(Math.max(...ends)).toBeLessThanOrEqual(closedMs);
    // Each one precisely: served at arrival because the breaker refused calls (no upstream call of its own), or
    // after its own calls failed against the out upstream.
    for (const o of stale) {
      if (o.upstreamCalls === 0) expect(breakerAt(cached.breaker, o.endAtMs), o.id).not.toBe('closed');
      else expect(cached.failures.get(o.id)?.some((t) => t >= outage.atMs && t <= outageEndMs), o.id).toBe(true);
    }
    expect(plain.requests.filter((o) => o.degraded === 'cached')).toEqual([]);
    // Serving those answers beats waiting out the outage.
    expect(cached.result.summary.servedWithinSloPerSec ?? 0).toBeGreaterThan(plain.result.summary.servedWithinSloPerSec ?? 0);
  }, 600_000);
});
