import { bounded, defineScenario, type MixEntry } from '../harness/index.js';

const SHORT_ANSWER: MixEntry = {
  name: 'short',
  weight: 1,
  kind: 'single',
  promptTokens: bounded({ kind: 'lognormal', median: 300, sigma: 0.6 }, 16, 2000),
  outputTokens: bounded({ kind: 'lognormal', median: 40, sigma: 0.5 }, 4, 200),
};

/**
 * The model server crashes under steady load: short-answer requests (extraction, classification; prompts ~300
 * tokens, answers ~40) at 60 req/s, about 55% of what the H100 profile sustains for them. Everything in flight dies, connections are refused for 5 s, then the restarted server answers 503
 * during a 3 s cold start. The fault phase covers the 8 s until it is ready again; recovery counts from there, as
 * goodput back within 10% of its pre-crash level for 3 s in a row. (The rate is high on purpose: at a few dozen
 * requests a second, per-second goodput varies by more than that 10% from Poisson noise alone.)
 *
 * What it shows: `naive` spends its four immediate attempts within the same millisecond on a refused connection,
 * so every request arriving during the outage fails. `bounded` backs off (50 ms to 5 s, jittered), so some
 * requests outlast part of the outage and its queue refills the GPU at once when it is back. `resilient` and
 * `adaptive` resume cut streams; their breaker opens on the refusals within about a second and, with no fallback
 * model, makes requests wait for it (in the queue, holding no slot) instead of failing them; it probes every
 * second, and when the model is back the limit ramps up (slow start) while the queue serves the newest requests
 * first, so fresh arrivals meet the SLO while the backlog drains: almost nothing fails, and the requests that
 * waited out the outage are served late rather than not at all.
 */
export default defineScenario({
  name: 'crash-recovery',
  description: 'The model crashes under steady load (60 req/s of short answers) (5 s down, 3 s cold start answering 503): failures and recovery time per policy',
  seed: 1,
  durationMs: 45_000,
  workload: { arrivals: { kind: 'poisson', ratePerSec: 60 }, mix: [SHORT_ANSWER] },
  model: {
    // Priced as a small hosted model (a sheet of harness/cost/price-sheets.ts); cost columns read in its dollars.
    price: 'openai/gpt-4o-mini',
    profile: 'h100-llama3-8b',
    faults: {
      timeline: [{ name: 'crash + restart', atMs: 15_000, durationMs: 8_000, fault: { crash: { downtimeMs: 5_000, coldStartMs: 3_000 } } }],
    },
  },
  policies: ['naive', 'bounded', 'resilient', 'adaptive'],
  slo: { ttftMs: 1_000, e2eMs: 30_000 },
  regress: { tolerance: { p99TtftPct: 15, p99E2ePct: 15, goodputPct: 10 } },
});
