import { bounded, defineScenario, type MixEntry } from '../harness/index.js';

/**
 * A retry storm that outlives its trigger. RAG-style chat (prompts ~1,500 tokens; 85% short answers, 15% answers
 * of 350–450 tokens) arrives at 11.5 req/s, about 64% of what the H100 profile sustains for this mix. A gateway in
 * front of the model cuts any response stream that has been open for 12 s (a max-response-duration limit, as API
 * gateways have; scaled down with the answers so the run stays short). At this load nothing is ever cut: the
 * longest answers finish in about 8 s.
 *
 * Then the GPU browns out (step time ×4) for 10 s. What follows comes out of the models, nothing is scripted:
 * - `naive` has no queue of its own, so every request waits inside the model server, where the gateway's clock
 *   already runs. The batch grows towards max_num_seqs, every step gets slower, long answers can no longer finish
 *   within 12 s, and waiting ones are cut before they start. Each cut is retried at once and from scratch (no
 *   resume), so the GPU recomputes what it had already generated. That wasted work keeps the GPU saturated after
 *   the brownout ends: goodput stays near zero until the arrivals stop (metastable), with a large share of the
 *   computed tokens wasted and 2–3 upstream calls per request.
 * - `bounded` queues in the engine, but its limit (256) equals the GPU's slots, so the batch grows just the same;
 *   it backs off with jitter but restarts cut streams from scratch and has no retry budget, so the wasted work
 *   piles up as with naive and it does not recover before the arrivals stop either.
 * - `resilient` and `adaptive` resume a cut stream from its last token (nothing is recomputed) and their retry
 *   budget caps the extra load, so they drain the backlog and recover.
 */
const prompt = bounded({ kind: 'lognormal', median: 1500, sigma: 0.5 }, 16, 6000);

const CHAT: MixEntry = {
  name: 'chat',
  weight: 0.85,
  kind: 'single',
  promptTokens: prompt,
  outputTokens: bounded({ kind: 'lognormal', median: 100, sigma: 0.7 }, 8, 250),
};

const LONG_ANSWER: MixEntry = {
  name: 'long',
  weight: 0.15,
  kind: 'single',
  promptTokens: prompt,
  outputTokens: { kind: 'uniform', min: 350, max: 450 },
};

export default defineScenario({
  name: 'retry-storm',
  description:
    'A 10 s GPU brownout under RAG chat at ~64% load, behind a gateway that cuts streams after 12 s: naive and bounded restart cut streams from scratch and stay saturated after the brownout (metastable); resuming, budgeted policies recover',
  seed: 1,
  durationMs: 65_000,
  workload: { arrivals: { kind: 'poisson', ratePerSec: 11.5 }, mix: [CHAT, LONG_ANSWER] },
  model: {
    // Priced as a small hosted model (a sheet of harness/cost/price-sheets.ts); cost columns read in its dollars.
    price: 'openai/gpt-4o-mini',
    // No prefix caching: this scenario isolates the retry mechanism, as on a server run without it (vLLM
    // --no-enable-prefix-caching). With caching, a naive retry resends the same prompt and skips its prefill (its
    // blocks are still in the KV pool), and at this load naive then recovers: see the scenario test.
    profile: { base: 'h100-llama3-8b', prefixCaching: false },
    faults: {
      // The gateway: any response stream open for 12 s is reset, whatever the load. Harmless at normal load.
      disconnect: { probability: 1, afterMs: 12_000, forms: ['reset'] },
      timeline: [{ name: 'brownout', atMs: 15_000, durationMs: 10_000, fault: { brownoutMultiplier: 4 } }],
    },
  },
  policies: ['naive', 'bounded', 'resilient', 'adaptive'],
  slo: {
    ttftMs: 2_000,
    e2eMs: 15_000,
    classes: { chat: { ttftMs: 2_000, e2eMs: 10_000 }, long: { ttftMs: 2_000, e2eMs: 15_000 } },
  },
  // The claim of the scenario as a gate: the budgeted policies are back to their pre-fault goodput within 30 s.
  thresholds: [
    { metric: 'recoveryMs', op: '<=', value: 30_000, policy: 'resilient' },
    { metric: 'recoveryMs', op: '<=', value: 30_000, policy: 'adaptive' },
  ],
  regress: { tolerance: { p99TtftPct: 15, p99E2ePct: 15, goodputPct: 10 } },
});
