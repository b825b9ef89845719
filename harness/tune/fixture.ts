/**
 * Test fixtures of the tuner. A small, fast scenario for the tuner's tests and examples: 60 chat sessions in 2 s on one GPU, with a short
 * 429 storm, so retry and concurrency knobs matter while a run takes well under a second.
 */
import { preset } from '../../src/policy.js';
import { Random } from '../../src/random.js';
import type { PolicySummary } from '../measure/result.js';
import { syntheticRunResult } from '../report/synthetic-run.js';
import { SHORT_CHAT, weighted } from '../workload/index.js';
import { validateScenario, type Scenario } from '../scenario.js';
import { sweepDocument, type SweepDocument } from './document.js';
import { rankSweep } from './rank.js';
import { parseSlo } from './slo.js';
import { buildConfigs, parseSpace } from './space.js';
import type { SweepSpec } from './sweep.js';
import type { TaskRecord } from './task.js';

/** The tiny scenario, validated. `sessions` scales the burst. */
export function tinyScenario(sessions = 60): Scenario {
  return validateScenario({
    name: 'tiny-burst',
    description: 'A small burst through a short 429 storm (tuner tests)',
    seed: 7,
    durationMs: 10_000,
    workload: { arrivals: { kind: 'burst', sessions, withinMs: 2000 }, mix: [weighted(SHORT_CHAT, 1)] },
    model: {
      profile: 'h100-llama3-8b',
      faults: { timeline: [{ name: '429 storm', atMs: 1_000, durationMs: 2_000, fault: { rateLimited: { probability: 0.5, retryAfterMs: 500 } } }] },
    },
    policies: ['resilient'],
    slo: { ttftMs: 2_000, e2eMs: 10_000 },
  });
}

/**
 * A synthetic sweep document (no runs): 24 configurations over three knobs, figures from a smooth made-up
 * response surface plus seeded per-seed noise, judged against `ttft.p99<=2000,e2e.p99<=30000`. For report tests.
 */
export function syntheticSweep(seeds: readonly number[] = [1, 2, 3]): SweepDocument {
  const synthetic = syntheticRunResult(5, 60_000, 5).policies[0]!;
  const template = synthetic.summary;
  const base = preset('resilient');
  const dims = parseSpace(['concurrency.limit=16,32,64,128', 'retryBudget.ratio=0.05,0.1,0.2', 'retry.maxAttempts=2,4'], base);
  const configs = buildConfigs(base, dims, { kind: 'grid' }, 1);
  const slo = parseSlo('ttft.p99<=2000,e2e.p99<=30000');
  const ranking = rankSweep(configs, seeds, slo, (c, seed) => {
    const limit = c.policy.concurrency.limit;
    const ratio = c.policy.retryBudget.ratio;
    const attempts = c.policy.retry.maxAttempts;
    const noise = new Random(seed).derive(c.id);
    const goodput = 2 + Math.log2(limit) * 0.6 - Math.abs(ratio - 0.1) * 6 + attempts * 0.1 + noise.uniform(-0.25, 0.25);
    const ttft = 400 + 60_000 / limit + (attempts - 2) * 150 + noise.uniform(-100, 100);
    const e2e = 12_000 + 600_000 / limit + ratio * 20_000 + noise.uniform(-800, 800);
    const summary: PolicySummary = {
      ...template,
      goodputPerSec: goodput,
      amplification: 1 + ratio * attempts * 0.5,
      ttftMs: { ...template.ttftMs, p99: ttft },
      e2eMs: { ...template.e2eMs, p99: e2e },
    };
    const record: TaskRecord = { v: 1, key: `${c.id}:${seed}`, configId: c.id, seed, summary, counters: synthetic.counters, sessions: 1000, simulatedMs: 70_000, wallMs: 1000 };
    return record;
  });
  const spec: SweepSpec = { scenario: tinyScenario(), durationMs: 60_000, base: { name: 'resilient', policy: base }, dimensions: dims, search: { kind: 'grid' }, seeds, slo };
  return sweepDocument(
    { spec, configs, ranking, ran: configs.length * seeds.length, resumed: 0, wallMs: 42_000 },
    { startedAt: '2026-01-01T00:00:00.000Z', workers: 2, gitCommit: null, nodeVersion: 'v20', machine: { platform: 'linux', arch: 'x64', cpus: 2, cpuModel: null, memoryBytes: 1 } },
  );
}
