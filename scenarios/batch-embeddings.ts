import { AGENT, defineScenario } from '../harness/index.js';

/**
 * Agent traffic: each session runs a planner call, then 2 to 6 retriever branches in parallel (batchable
 * embedding calls of 1 to 4 inputs each), then a summarizer over what was retrieved. 6 agent sessions start per
 * second on the H100 profile. An embeddings call costs the GPU a fixed ~8 ms forward pass (reading every weight
 * once) plus a little per input and per token, and it runs as a step of its own between generation steps.
 *
 * What it shows: `resilient` batches the retrievers' calls (hybrid: up to 32 requests or 10 ms), and since one
 * agent's retrievers are issued together they share one forward pass: fewer upstream calls (amplification below
 * 1), less GPU time on embeddings, and fewer embedding steps cutting into the planners' and summarizers' token
 * streams. `resilient-no-batch` is the same policy with batching off: one call, one fixed cost, per retriever.
 * `naive` and `bounded` do not batch either. The batcher sits behind the concurrency limit, so it merges only
 * requests that hold a slot at the same moment: when the slots fill, one agent's retrievers get their slots at
 * different times, and batching saves much less.
 */
export default defineScenario({
  name: 'batch-embeddings',
  description: 'Agent sessions with parallel retriever embeddings (6 sessions/s): batcher vs one call per retriever, in upstream calls, GPU time and latency',
  seed: 1,
  durationMs: 30_000,
  workload: { arrivals: { kind: 'poisson', ratePerSec: 6 }, mix: [AGENT] },
  model: {
    // Priced as a small hosted model (a sheet of harness/cost/price-sheets.ts); cost columns read in its dollars.
    price: 'openai/gpt-4o-mini',
    profile: 'h100-llama3-8b',
  },
  policies: [
    'naive',
    'bounded',
    'resilient',
    {
      name: 'resilient-no-batch',
      preset: 'resilient',
      overrides: { batching: { enabled: false } },
      description: 'resilient with the batcher off: every retriever is its own embeddings call',
    },
  ],
  slo: {
    ttftMs: 1_000,
    e2eMs: 30_000,
    classes: { agent: { ttftMs: 1_000, e2eMs: 30_000 } },
  },
  regress: { tolerance: { p99TtftPct: 15, p99E2ePct: 15, goodputPct: 10 } },
});
