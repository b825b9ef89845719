/**
 * The goodput ceiling is a true upper bound: in every shipped virtual scenario, over seeds, no policy's goodput
 * exceeds it. Each scenario runs at its own seed and at two more that fast-check draws (fixed fast-check seed, so
 * the run is repeatable); arrival windows are cut to at most 30 s to keep it affordable (a shorter run is still a
 * run the bound must hold for: fault phases past the window simply never happen).
 */
import { resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runScenarioVirtual } from '../harness/run/run-scenario.js';
import { loadScenario, SCENARIOS_DIR } from '../harness/run/scenarios.js';

const REPO_ROOT = resolve(SCENARIOS_DIR, '..');
const SHIPPED = ['steady-poisson', 'retry-storm', 'rate-limit-429', 'mid-stream-disconnects', 'crash-recovery', 'brownout-fallback', 'batch-embeddings', 'burst-1000', 'trace-replay'];

async function check(name: string, seed: number): Promise<void> {
  const scenario = await loadScenario(name);
  const durationMs = Math.min(scenario.durationMs, 30_000);
  const r = await runScenarioVirtual({ scenario, seed, durationMs, baseDir: REPO_ROOT });
  const c = r.ceiling;
  expect(c, `${name} seed ${seed}: a ceiling`).toBeTruthy();
  for (const p of r.policies) {
    // The ceiling counts requests; goodput is requests over the same seconds.
    expect(p.summary.sloMet, `${name} seed ${seed} ${p.name}: ok within SLO vs the ceiling's requests`).toBeLessThanOrEqual(c!.requests);
    expect(p.summary.goodputPerSec, `${name} seed ${seed} ${p.name}: goodput/s vs the ceiling`).toBeLessThanOrEqual(c!.goodputPerSec);
  }
  expect(c!.requests).toBeLessThanOrEqual(c!.feasible);
  expect(c!.feasible).toBeLessThanOrEqual(c!.planned);
}

describe('goodput ceiling (property over seeds)', () => {
  it.each(SHIPPED)('%s: no policy exceeds it', async (name) => {
    const scenario = await loadScenario(name);
    await check(name, scenario.seed);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 1_000_000 }), async (seed) => {
        await check(name, seed);
      }),
      { numRuns: 2, seed: 1414, endOnFailure: true },
    );
  }, 900_000);
});
