import { bounded, defineScenario, type MixEntry } from '../harness/index.js';

/**
 * Streams that break halfway. Chat with answers of a few hundred tokens arrives at 8 req/s (a light load for the
 * H100 profile); for 20 s, 30% of streams break after 20–400 tokens, in the four forms a client meets (socket
 * reset, clean close without `[DONE]`, an in-stream error event, a truncated chunk).
 *
 * What it shows: `resilient` resumes from the last token it received, so the GPU computes each token about once;
 * `resilient-restart` (the same policy with resume off) asks for the whole answer again and throws away the prefix
 * it already has, so wasted tokens and end-to-end latency grow with how late the stream broke. `naive` and
 * `bounded` restart too (neither resumes): naive at once, bounded after a backoff.
 */
const ANSWER: MixEntry = {
  name: 'chat',
  weight: 1,
  kind: 'single',
  promptTokens: bounded({ kind: 'lognormal', median: 400, sigma: 0.8 }, 16, 4000),
  outputTokens: bounded({ kind: 'lognormal', median: 300, sigma: 0.5 }, 40, 1200),
};

export default defineScenario({
  name: 'mid-stream-disconnects',
  description: 'For 20 s, 30% of streams break after 20-400 tokens (reset, clean close, error event, truncated chunk): resume vs restart in wasted tokens and latency',
  seed: 1,
  durationMs: 40_000,
  workload: { arrivals: { kind: 'poisson', ratePerSec: 8 }, mix: [ANSWER] },
  model: {
    // Priced as a small hosted model (a sheet of harness/cost/price-sheets.ts); cost columns read in its dollars.
    price: 'openai/gpt-4o-mini',
    profile: 'h100-llama3-8b',
    faults: {
      timeline: [
        {
          name: 'disconnects',
          atMs: 10_000,
          durationMs: 20_000,
          fault: {
            disconnect: {
              probability: 0.3,
              afterTokens: { kind: 'uniform', min: 20, max: 400 },
              forms: ['reset', 'clean-close', 'error-event', 'truncated-chunk'],
            },
          },
        },
      ],
    },
  },
  policies: [
    'naive',
    'bounded',
    'resilient',
    {
      name: 'resilient-restart',
      preset: 'resilient',
      overrides: { resume: { enabled: false } },
      description: 'resilient without resume: an interrupted stream is requested again from the first token',
    },
  ],
  slo: { ttftMs: 1_000, e2eMs: 20_000 },
  regress: { tolerance: { p99TtftPct: 15, p99E2ePct: 15, goodputPct: 10 } },
});
