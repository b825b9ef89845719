import { describe, expect, it } from 'vitest';
import { preset } from '../../src/policy.js';
import { findCapacity, scaleWorkload, type CapacityOptions } from './capacity.js';
import { capacityHeadline } from './capacity-report.js';
import { tinyScenario } from './fixture.js';
import { checkSlo, parseSlo } from './slo.js';
import { executeTask, taskKey } from './task.js';
import type { WorkloadSpec } from '../workload/index.js';

const scenario = tinyScenario();
const policy = { name: 'resilient', policy: preset('resilient') };
const mix = scenario.workload as Extract<WorkloadSpec, { mix: unknown }>;

function options(slo: string, over: Partial<CapacityOptions> = {}): CapacityOptions {
  return { scenario, durationMs: scenario.durationMs, policy, slo: parseSlo(slo), seeds: [7], workers: 0, ...over };
}

describe('scaling the workload', () => {
  it('scales a burst by its session count and open-loop arrivals by their rate', () => {
    expect(scaleWorkload(mix, 2.5).workload).toMatchObject({ arrivals: { kind: 'burst', sessions: 150, withinMs: 2000 } });
    expect(scaleWorkload(mix, 0.001).workload).toMatchObject({ arrivals: { sessions: 1 } }); // never zero sessions
    const at = (arrivals: unknown): WorkloadSpec => ({ ...mix, arrivals }) as WorkloadSpec;
    expect(scaleWorkload(at({ kind: 'poisson', ratePerSec: 4 }), 3).workload).toMatchObject({ arrivals: { ratePerSec: 12 } });
    expect(scaleWorkload(at({ kind: 'gamma', ratePerSec: 4, cv: 2 }), 0.5).workload).toMatchObject({ arrivals: { ratePerSec: 2, cv: 2 } });
    expect(scaleWorkload(at({ kind: 'ramp', fromPerSec: 1, toPerSec: 10, overMs: 5000 }), 2).workload).toMatchObject({ arrivals: { fromPerSec: 2, toPerSec: 20, overMs: 5000 } });
    expect(scaleWorkload(at({ kind: 'spike', baseRatePerSec: 1, spikeRatePerSec: 8, atMs: 0, durationMs: 1000 }), 2).workload).toMatchObject({
      arrivals: { baseRatePerSec: 2, spikeRatePerSec: 16 },
    });
    expect(scaleWorkload(at({ kind: 'users', users: 100, rampUpMs: 2000 }), 1.5)).toEqual({ workload: at({ kind: 'users', users: 150, rampUpMs: 2000 }), scaled: 'closed-loop user count' });
    expect(scaleWorkload({ trace: { path: 'x.csv', speedup: 2 } }, 3)).toEqual({ workload: { trace: { path: 'x.csv', speedup: 6 } }, scaled: 'trace replay speed' });
    expect(() => scaleWorkload(mix, 0)).toThrow('expected a multiplier > 0');
  });
});

describe('headroom search', () => {
  it('brackets the largest multiplier that meets the SLOs to the tolerance', async () => {
    const o = options('ttft.p99<=2000', { tolerance: 0.1 });
    const r = await findCapacity(o);
    expect(r.multiplier).not.toBeNull();
    expect(r.failedAt).not.toBeNull();
    const m = r.multiplier!;
    const probe = (x: number) => r.probes.find((p) => Math.abs(p.multiplier - x) < 1e-4 * x)!;
    expect(probe(m).pass).toBe(true);
    expect(probe(r.failedAt!).pass).toBe(false);
    // Narrowed to the tolerance, or to adjacent whole session counts.
    expect(r.failedAt! / m <= 1.1 || Math.round(60 * r.failedAt!) - Math.round(60 * m) <= 1).toBe(true);
    expect(r.sessions).toBe(Math.round(60 * m));
    expect(r.requestsPerSec).toBeGreaterThan(0);
    // Bracketing, not a grid: doubling/halving then narrowing keeps the probe count small.
    expect(r.probes.length).toBeLessThanOrEqual(8);
    expect(capacityHeadline(r)).toMatch(new RegExp(`^${r.sessions} sessions / [\\d.]+ req/s at SLO \\(`));
    // The verdict at the found load is that of running it alone.
    const scaled = { ...scenario, workload: scaleWorkload(scenario.workload, m).workload };
    const alone = await executeTask({ key: taskKey(scaled, scenario.durationMs, policy.policy, 7), configId: 'alone', seed: 7, policy: policy.policy, scenario: scaled, durationMs: scenario.durationMs });
    expect(checkSlo(alone.summary, o.slo).every((c) => c.pass)).toBe(true);
    expect(alone.sessions).toBe(r.sessions);
  });

  it('reports a bound it hit: passing at the largest multiplier, or failing at the smallest', async () => {
    const high = await findCapacity(options('e2e.p99<=100000000', { maxMultiplier: 2 }));
    expect(high).toMatchObject({ multiplier: 2, failedAt: null, limitedBy: 'max', sessions: 120 });
    expect(capacityHeadline(high)).toContain('still meets them at the largest multiplier tried');
    const low = await findCapacity(options('goodput>=1000000', { minMultiplier: 0.25 }));
    expect(low).toMatchObject({ multiplier: null, sessions: null, limitedBy: 'min' });
    expect(low.probes.map((p) => p.multiplier)).toEqual([0.25, 0.5, 1]);
    expect(capacityHeadline(low)).toMatch(/^no load meets the SLOs/);
  });
});

describe('headroom search with a runner of its own (a live target)', () => {
  it('runs each probe through runTask, one at a time, and finds what the worker pool finds', async () => {
    const pooled = await findCapacity(options('ttft.p99<=2000', { tolerance: 0.2, workers: 1 }));
    let calls = 0;
    let open = 0;
    let maxOpen = 0;
    const own = await findCapacity(
      options('ttft.p99<=2000', {
        tolerance: 0.2,
        workers: 1,
        runTask: async (t) => {
          calls++;
          maxOpen = Math.max(maxOpen, ++open);
          try {
            return await executeTask(t);
          } finally {
            open--;
          }
        },
      }),
    );
    expect(calls).toBe(own.probes.length);
    expect(maxOpen).toBe(1);
    expect(own.multiplier).toBe(pooled.multiplier);
    expect(own.failedAt).toBe(pooled.failedAt);
  });
});

describe('headroom cost', () => {
  it('reports what the found load costs per 1,000 good requests, when the scenario is priced', async () => {
    const priced = { ...scenario, model: { ...scenario.model, price: 'openai/gpt-4o-mini' } };
    const r = await findCapacity(options('ttft.p99<=2000', { scenario: priced, tolerance: 0.25 }));
    const at = r.probes.find((p) => p.multiplier === r.multiplier)!;
    const per1k = at.figures.per1kGoodUsd.median;
    expect(per1k).toBeGreaterThan(0);
    expect(capacityHeadline(r)).toContain(`per 1,000 good requests`);
    expect(capacityHeadline(r)).toContain(`$${per1k!.toFixed(4)}`);
    // Unpriced, the headline says nothing about cost rather than $0.
    const unpriced = await findCapacity(options('e2e.p99<=100000000', { maxMultiplier: 1 }));
    expect(capacityHeadline(unpriced)).not.toContain('$');
  });
});
