import { bounded, defineScenario, type MixEntry } from '../harness/index.js';

/** Short answers at temperature 0: what a FAQ bot or a support assistant sends. */
const QUESTION: MixEntry = {
  name: 'question',
  weight: 1,
  kind: 'single',
  promptTokens: bounded({ kind: 'lognormal', median: 400, sigma: 0.5 }, 32, 2000),
  outputTokens: bounded({ kind: 'lognormal', median: 120, sigma: 0.5 }, 8, 400),
  temperature: 0,
};

/**
 * Half of the questions repeat one of 30 popular prompts (Zipf popularity, s = 1: the most popular is asked about a
 * quarter of the time, the 30th about once a minute), the other half are unique; all are `temperature: 0`, so they
 * are repeatable. 20 questions/s for 60 s on one H100, priced as a hosted small model. From 30 s to 40 s the primary
 * is out: every call answers 503 (Retry-After 1 s). There is no fallback model.
 *
 * What it shows: `resilient` sends every question upstream. `resilient-cache` is the same policy with the engine's
 * response cache on (TTL 10 s, stale answers served for up to 10 min when the upstream fails): a popular prompt asked
 * again within 10 s is a hit (no upstream call, nothing billed), so upstream calls and dollars fall by about the share
 * of repeats that find a fresh answer, a little under half. During the outage, a popular prompt whose answer is older
 * than the TTL gets that answer as an explicit `degraded: cached` (at once while the breaker is open) instead of
 * waiting out the outage; there is none before the outage starts, nor after the breaker has closed again (its open
 * window outlasts the outage by its probes; a stale answer is never served while the upstream answers). Unique
 * questions asked during the outage wait for the breaker either way. How close the cut comes to what any cache could
 * save here (the first occurrence of each prompt must go upstream): docs/engine.md, "What the cache saves".
 */
export default defineScenario({
  name: 'cache-repeats',
  description: '50% of temperature-0 questions repeat 30 popular prompts (Zipf); a 10 s outage: resilient with and without the response cache',
  seed: 1,
  durationMs: 60_000,
  workload: {
    arrivals: { kind: 'poisson', ratePerSec: 20 },
    mix: [QUESTION],
    repeatedPrompts: { fraction: 0.5, poolSize: 30, zipfExponent: 1 },
  },
  model: {
    price: 'openai/gpt-4o-mini',
    profile: 'h100-llama3-8b',
    faults: {
      timeline: [{ name: 'outage', atMs: 30_000, durationMs: 10_000, fault: { unavailable: { probability: 1, retryAfterMs: 1_000 } } }],
    },
  },
  policies: [
    'resilient',
    {
      name: 'resilient-cache',
      preset: 'resilient',
      overrides: { cache: { enabled: true, ttlMs: 10_000, staleIfErrorMs: 600_000 } },
      description: 'resilient with the response cache on: fresh hits for 10 s, stale answers as degraded: cached for 10 min when the upstream fails',
    },
  ],
  slo: { ttftMs: 1_000, e2eMs: 30_000 },
});
