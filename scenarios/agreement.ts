import { defineScenario, SHORT_CHAT } from '../harness/index.js';

/**
 * The agreement check: a small, fault-free scenario that `npm run scenario agreement` runs in both modes (virtual
 * and live) to report how far p50 and p99 TTFT and E2E, and goodput, differ between the simulator and real
 * processes on loopback. Poisson arrivals of short chat at a moderate load (the GPU busy but not saturated), so
 * the figures come from real queueing in the step loop rather than from an overload that amplifies small
 * differences. The live run also measures the HTTP hops at zero load, and the virtual side runs a second time with
 * that measured transport; the goals are judged on that run (harness/run/agreement.ts).
 */
export default defineScenario({
  name: 'agreement',
  description: 'Poisson short chat at moderate load, no faults: run in virtual and live mode and compare',
  seed: 7,
  durationMs: 30_000,
  workload: {
    arrivals: { kind: 'poisson', ratePerSec: 6 },
    mix: [SHORT_CHAT],
  },
  model: {
    // Priced as a small hosted model (a sheet of harness/cost/price-sheets.ts); cost columns read in its dollars.
    price: 'openai/gpt-4o-mini',
    profile: 'h100-llama3-8b',
  },
  policies: ['bounded', 'resilient'],
  slo: { ttftMs: 1_000, e2eMs: 15_000 },
});
