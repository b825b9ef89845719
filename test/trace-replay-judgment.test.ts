/**
 * Issue #14's check on real traffic: replaying both shipped Azure traces whole (0..60m of trace time) at 1×, 2× and
 * 4× speed in virtual time, `resilient` has at least `naive`'s goodput. Heavy (about 28,000 requests a policy per
 * speed); the figures are in docs/engine.md.
 */
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withTraceFlags } from '../harness/cli/trace-flags.js';
import { runPolicyVirtual } from '../harness/run/virtual.js';
import { loadScenario, SCENARIOS_DIR } from '../harness/run/scenarios.js';

const REPO_ROOT = resolve(SCENARIOS_DIR, '..');
const TRACES = ['../shared/data/traces/azure-2023-conv.csv', '../shared/data/traces/azure-2023-code.csv'];
const SPEEDS = ['1', '2', '4'];

describe('trace replays: resilient has at least naive goodput', () => {
  const cases = TRACES.flatMap((trace) => SPEEDS.map((speed) => [trace, speed] as const));
  it.each(cases)('%s at %s× speed', async (trace, speed) => {
    const base = await loadScenario('trace-replay');
    const scenario = withTraceFlags(base, { trace, traceSpeed: speed, traceWindow: '0..60m' }, REPO_ROOT);
    const goodput = async (name: 'naive' | 'resilient'): Promise<{ perSec: number; sloMet: number }> => {
      const { result } = await runPolicyVirtual({ scenario, policy: name, seed: scenario.seed, durationMs: scenario.durationMs, baseDir: REPO_ROOT });
      return { perSec: result.summary.goodputPerSec, sloMet: result.summary.sloMet };
    };
    const naive = await goodput('naive');
    const resilient = await goodput('resilient');
    expect(resilient.sloMet, `resilient ${resilient.perSec}/s vs naive ${naive.perSec}/s`).toBeGreaterThanOrEqual(naive.sloMet);
  }, 1_800_000);
});
