import { BURST_1000_WORKLOAD, defineScenario } from '../harness/index.js';

/**
 * The headline scenario: 1,000 sessions arrive within 2 s (mostly chat, ~10% agents, some 5,000-token
 * generations) while the primary model goes through a 429 storm, a phase of mid-stream disconnects, and a crash
 * with a restart and cold start. Compares the four presets side by side.
 */
export default defineScenario({
  name: 'burst-1000',
  description: '1,000 sessions in 2 s through a 429 storm, mid-stream disconnects and a crash with restart',
  seed: 1,
  durationMs: 60_000,
  workload: BURST_1000_WORKLOAD,
  model: {
    // Priced as a small hosted model (a sheet of harness/cost/price-sheets.ts); cost columns read in its dollars.
    price: 'openai/gpt-4o-mini',
    profile: 'h100-llama3-8b',
    fallbackProfile: 'fallback',
    faults: {
      timeline: [
        { name: '429 storm', atMs: 3_000, durationMs: 5_000, fault: { rateLimited: { probability: 0.6, retryAfterMs: 1_000 } } },
        {
          name: 'mid-stream disconnects',
          atMs: 12_000,
          durationMs: 6_000,
          fault: { disconnect: { probability: 0.3, afterTokens: { kind: 'uniform', min: 5, max: 200 } } },
        },
        { name: 'crash + restart', atMs: 25_000, durationMs: 5_000, fault: { crash: { downtimeMs: 3_000, coldStartMs: 2_000 } } },
      ],
    },
  },
  policies: ['naive', 'bounded', 'resilient', 'adaptive'],
  slo: {
    ttftMs: 2_000,
    e2eMs: 30_000,
    classes: { 'long-gen': { ttftMs: 2_000, e2eMs: 180_000 }, batch: { ttftMs: 30_000, e2eMs: 120_000 } },
  },
  // A burst has no steady state: goodput falls as the backlog drains, fault or not. Judge recovery by the share of
  // completions that are ok instead, which a draining backlog does not move.
  recovery: { metric: 'okRate' },
  regress: { tolerance: { p99TtftPct: 10, p99E2ePct: 10, goodputPct: 10 } },
});
