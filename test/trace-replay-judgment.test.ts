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
/**
 * Cases where `resilient` still falls short today, kept as expected failures so the check stays strict and says so:
 * when a change makes one pass, vitest fails it here and it moves back to the plain cases. Issue #14 stays open
 * while this list is not empty. Code trace at 2×: every request of both policies ends ok, with no retry; 5,933 of
 * resilient's meet the SLO against naive's 5,935. Explained (per-request diff of the two runs): in a burst at ~431 s
 * of trace time resilient's limit (256, the GPU's slots) queues 220 requests and adaptive LIFO serves the newest
 * first; every one of them misses the 1 s TTFT bound under either policy (the GPU's prefill alone takes 8–10 s
 * there, and both policies meet the SLO for the same number of requests in that window), but the changed order
 * leaves a different mix of sequences decoding 30 s later, and two requests at 463 s with nothing queued get their
 * first token at 1,000.3 and 1,001.0 ms instead of 997.0 and 997.8 ms. With `queue.order: 'fifo'` resilient meets
 * the SLO for exactly naive's 5,935. An ordering artifact at the bound, not a wrong decision; kept strict here.
 */
const KNOWN_SHORT = new Set(['../shared/data/traces/azure-2023-code.csv 2']);

describe('trace replays: resilient has at least naive goodput', () => {
  const cases = TRACES.flatMap((trace) => SPEEDS.map((speed) => [trace, speed] as const));
  const check = async (trace: string, speed: string): Promise<void> => {
    const base = await loadScenario('trace-replay');
    const scenario = withTraceFlags(base, { trace, traceSpeed: speed, traceWindow: '0..60m' }, REPO_ROOT);
    const goodput = async (name: 'naive' | 'resilient'): Promise<{ perSec: number; sloMet: number }> => {
      const { result } = await runPolicyVirtual({ scenario, policy: name, seed: scenario.seed, durationMs: scenario.durationMs, baseDir: REPO_ROOT });
      return { perSec: result.summary.goodputPerSec, sloMet: result.summary.sloMet };
    };
    const naive = await goodput('naive');
    const resilient = await goodput('resilient');
    expect(resilient.sloMet, `resilient ${resilient.perSec}/s vs naive ${naive.perSec}/s`).toBeGreaterThanOrEqual(naive.sloMet);
  };
  it.each(cases.filter(([t, s]) => !KNOWN_SHORT.has(`${t} ${s}`)))('%s at %s× speed', check, 1_800_000);
  it.fails.each(cases.filter(([t, s]) => KNOWN_SHORT.has(`${t} ${s}`)))('%s at %s× speed (known short, issue #14)', check, 1_800_000);
});
