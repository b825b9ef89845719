import { bounded, defineScenario, type MixEntry } from '../harness/index.js';

/**
 * A provider API key with RPM and TPM limits (OpenAI/Azure style: per-minute buckets refilled continuously, 429
 * with an exact `retry-after-ms`) that the workload exceeds: 6 req/s against 120 RPM (2 req/s), and about 390k
 * tokens per minute (prompt + max_tokens, as providers count at admission) against 100k TPM, which binds first.
 * The buckets start full, a minute's worth, so the first ~20 s pass; after that most requests are refused at
 * first try, and the provider, not the policy, decides how many get served.
 *
 * What it shows, with the same provider and the same arrivals for every policy:
 * - `naive` ignores Retry-After and retries at once, four calls in the same instant, while the bucket cannot
 *   have refilled: each refused request costs four 429s and fails within milliseconds.
 * - `bounded` honours Retry-After: each retry waits until the bucket would hold that request's tokens. But in a
 *   sustained overload the bucket does not reserve them, so new arrivals and other waiters take them first and
 *   most retries are refused again: it serves a few percent more than naive, with as many 429s or more, and its
 *   refused requests fail seconds later instead of at once. Honouring Retry-After pays off when the overload is
 *   short, not when it lasts.
 * - `resilient` and `adaptive` honour it too, under a retry budget: fewer 429s than bounded.
 * - `resilient-paced` also rate-limits itself at the provider's published limits: excess requests are shed
 *   locally (429 with Retry-After to the caller), the provider refuses none, amplification falls below 1.
 * The printed table shows amplification (upstream calls per request); the 429 count is `counters.rateLimited`
 * in result.json and the per-second `rateLimited` series in the HTML report.
 */
const SUMMARIZE: MixEntry = {
  name: 'summarize',
  weight: 1,
  kind: 'single',
  promptTokens: bounded({ kind: 'lognormal', median: 800, sigma: 0.5 }, 50, 4000),
  outputTokens: bounded({ kind: 'lognormal', median: 150, sigma: 0.6 }, 10, 800),
};

export default defineScenario({
  name: 'rate-limit-429',
  description: 'A provider key limited to 120 RPM / 100k TPM under 6 req/s (~4x its TPM): Retry-After ignored (naive) vs honoured (bounded, resilient, adaptive) vs pacing at the limit; 429 counts in counters.rateLimited',
  seed: 1,
  durationMs: 90_000,
  workload: { arrivals: { kind: 'poisson', ratePerSec: 6 }, mix: [SUMMARIZE] },
  model: {
    // Priced as a small hosted model (a sheet of harness/cost/price-sheets.ts); cost columns read in its dollars.
    price: 'openai/gpt-4o-mini',
    profile: 'h100-llama3-8b', rateLimits: { rpm: 120, tpm: 100_000 },
  },
  policies: [
    'naive',
    'bounded',
    'resilient',
    'adaptive',
    {
      name: 'resilient-paced',
      preset: 'resilient',
      overrides: { rateLimit: { enabled: true, requestsPerMinute: 120, tokensPerMinute: 100_000 } },
      description: 'resilient plus a client-side limiter set to the provider\'s published RPM/TPM',
    },
  ],
  slo: { ttftMs: 5_000, e2eMs: 30_000 },
  regress: { tolerance: { p99TtftPct: 15, p99E2ePct: 15, goodputPct: 10 } },
});
