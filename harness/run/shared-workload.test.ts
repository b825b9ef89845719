/**
 * One built workload serves every policy of a scenario run and its ceiling (harness/run/run-scenario.ts): that is
 * only sound while a run never writes to it. Deep-frozen (so any write throws: modules are strict), it must give
 * exactly the results of runs that each build their own.
 */
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Random } from '../../src/random.js';
import { metastabilityCell } from '../../scenarios/metastability-grid.js';
import { policyName, type Scenario } from '../scenario.js';
import { buildWorkload, type BuiltWorkload } from '../workload/index.js';
import { scenarioCeiling } from './ceiling.js';
import { loadScenario, SCENARIOS_DIR } from './scenarios.js';
import { runPolicyVirtual } from './virtual.js';

const REPO_ROOT = resolve(SCENARIOS_DIR, '..');

function deepFreeze<T>(value: T, seen = new Set<unknown>()): T {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function') || seen.has(value)) return value;
  seen.add(value);
  for (const key of Reflect.ownKeys(value as object)) {
    const d = Object.getOwnPropertyDescriptor(value, key);
    if (d !== undefined && 'value' in d) deepFreeze(d.value, seen);
  }
  return Object.freeze(value);
}

async function check(scenario: Scenario, durationMs: number): Promise<void> {
  const seed = scenario.seed;
  const built: BuiltWorkload = deepFreeze(buildWorkload(scenario.workload, new Random(seed).derive('workload'), { durationMs, baseDir: REPO_ROOT }));
  for (const policy of scenario.policies) {
    const own = await runPolicyVirtual({ scenario, policy, seed, durationMs, baseDir: REPO_ROOT });
    const shared = await runPolicyVirtual({ scenario, policy, seed, durationMs, baseDir: REPO_ROOT, workload: built });
    expect(JSON.stringify(shared.result), `${scenario.name}/${policyName(policy)}`).toBe(JSON.stringify(own.result));
    expect(shared.simulatedMs).toBe(own.simulatedMs);
  }
  const ceiling = await scenarioCeiling(scenario, { seed, durationMs, baseDir: REPO_ROOT, workload: built });
  expect(ceiling).toEqual(await scenarioCeiling(scenario, { seed, durationMs, baseDir: REPO_ROOT }));
}

describe('a built workload shared by runs', () => {
  // Chat and conversations; agents and long answers with faults; repeats and a prompt pool; closed-loop users;
  // clients that time out and resend. Arrival windows shortened to keep this quick.
  it.each([
    ['steady-poisson', 4_000],
    ['burst-1000', 1_000],
    ['cache-repeats', 6_000],
    ['sustained-1000', 500],
  ] as const)('%s: is never written and gives the same results', async (name, durationMs) => {
    await check(await loadScenario(name), durationMs);
  }, 120_000);

  it('metastability cell (client timeouts and resends): is never written and gives the same results', async () => {
    await check(metastabilityCell(2_000), 32_000);
  }, 120_000);
});
