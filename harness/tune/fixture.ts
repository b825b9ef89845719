/**
 * A small, fast scenario for the tuner's tests and examples: 60 chat sessions in 2 s on one GPU, with a short
 * 429 storm, so retry and concurrency knobs matter while a run takes well under a second.
 */
import { SHORT_CHAT, weighted } from '../workload/index.js';
import { validateScenario, type Scenario } from '../scenario.js';

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
