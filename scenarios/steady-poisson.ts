import { MULTI_TURN_CHAT, SHORT_CHAT, defineScenario, weighted } from '../harness/index.js';

/**
 * The steady baseline of the CI regression set: Poisson arrivals of short chat (and 10% multi-turn
 * conversations) at 30 sessions/s, no faults. The H100 profile saturates at about 46 req/s on this mix (measured
 * with `naive`, which lets the GPU batch up to its 256 slots), so this is about 65% of the GPU's capacity.
 *
 * What it shows: at that load the GPU is comfortable (TTFT p99 ~0.1 s) and every policy serves everything: the
 * engine's default limit (256, the GPU's slots) never binds, so all four rows agree. It is the baseline that CI
 * regression compares against: a change that adds latency or loses requests on any of the four paths (no limit,
 * fixed semaphore plus queue, adaptive limit) moves its row. (With a limit of 64 instead, the answers' long tail
 * keeps slots busy for seconds and `bounded`/`resilient` pass only ~23 req/s of this mix: size the limit to the
 * upstream.)
 */
export default defineScenario({
  name: 'steady-poisson',
  description: 'Poisson short chat (+10% multi-turn) at 30/s, ~65% of the H100 profile\'s capacity, no faults: the CI baseline',
  seed: 1,
  durationMs: 30_000,
  workload: {
    arrivals: { kind: 'poisson', ratePerSec: 30 },
    mix: [weighted(SHORT_CHAT, 0.9), weighted(MULTI_TURN_CHAT, 0.1)],
  },
  model: {
    // Priced as a small hosted model (a sheet of harness/cost/price-sheets.ts); cost columns read in its dollars.
    price: 'openai/gpt-4o-mini',
    profile: 'h100-llama3-8b',
  },
  policies: ['naive', 'bounded', 'resilient', 'adaptive'],
  slo: {
    ttftMs: 1_000,
    e2eMs: 30_000,
    classes: { chat: { ttftMs: 1_000, e2eMs: 30_000 }, 'multi-turn': { ttftMs: 1_000, e2eMs: 30_000 } },
  },
  // Without faults no request may fail, time out or be shed, whatever the policy.
  thresholds: [
    { metric: 'errorFraction', op: '<=', value: 0 },
    { metric: 'shedFraction', op: '<=', value: 0 },
  ],
  regress: { tolerance: { p99TtftPct: 10, p99E2ePct: 10, goodputPct: 5 } },
});
