import { bounded, defineScenario, type MixEntry } from '../harness/index.js';

const SHORT_ANSWER: MixEntry = {
  name: 'short',
  weight: 1,
  kind: 'single',
  promptTokens: bounded({ kind: 'lognormal', median: 300, sigma: 0.6 }, 16, 2000),
  outputTokens: bounded({ kind: 'lognormal', median: 40, sigma: 0.5 }, 4, 200),
};

/**
 * The primary model browns out for 15 s: its GPU steps take 3× as long and 80% of its requests get a 503, as an
 * overloaded or degraded replica behind a load balancer would answer. A small fast fallback model (Llama-3.2-1B
 * class on its own H100) is healthy throughout. Short interactive answers arrive at 60 req/s, about 55% of the
 * primary's capacity for them (a high rate also keeps per-second goodput steady enough
 * for the recovery verdict).
 *
 * What it shows: `resilient` and `adaptive` count the 503s in their breaker (failure ratio over a 3 s window),
 * open it and send traffic to the fallback while it is open, probing the primary every second; those answers are
 * explicit `degraded: fallback`, never a silent 200, and almost nothing fails (In SLO/s counts them as served).
 * `resilient-no-fallback` is the same policy with the fallback route off: its open breaker makes requests wait for
 * it, so they are served late by the primary instead of failing.
 * `naive` and `bounded` have no breaker and no fallback: naive retries the 503s at once (four tries at 80% each
 * leave ~40% of requests failed while the phase lasts) but its unbounded concurrency keeps the slow GPU's batch
 * full, so it recovers at once; bounded honours the 1 s Retry-After and backs off, which fills its queue, and it
 * needs many seconds after the phase to drain it. Goodput counts only `ok` answers: fallback answers show under
 * Degraded, not Goodput.
 */
export default defineScenario({
  name: 'brownout-fallback',
  description: 'The primary browns out for 15 s (steps x3, 80% 503s): breaker + fallback (degraded: fallback) vs no fallback',
  seed: 1,
  durationMs: 55_000,
  workload: { arrivals: { kind: 'poisson', ratePerSec: 60 }, mix: [SHORT_ANSWER] },
  model: {
    // Priced as a small hosted model (a sheet of harness/cost/price-sheets.ts); cost columns read in its dollars.
    price: 'openai/gpt-4o-mini',
    profile: 'h100-llama3-8b',
    fallbackProfile: 'fallback',
    faults: {
      timeline: [
        {
          name: 'brownout + 503s',
          atMs: 15_000,
          durationMs: 15_000,
          fault: { brownoutMultiplier: 3, unavailable: { probability: 0.8, retryAfterMs: 1_000 } },
        },
      ],
    },
  },
  policies: [
    'naive',
    'bounded',
    'resilient',
    'adaptive',
    {
      name: 'resilient-no-fallback',
      preset: 'resilient',
      overrides: { fallback: { enabled: false } },
      description: 'resilient with the fallback route off: an open breaker rejects instead of degrading',
    },
  ],
  slo: { ttftMs: 1_000, e2eMs: 30_000 },
  regress: { tolerance: { p99TtftPct: 15, p99E2ePct: 15, goodputPct: 10 } },
});
