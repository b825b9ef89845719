import { MULTI_TURN_CHAT, SHORT_CHAT, BATCH_JOB, bounded, defineScenario, weighted } from '../harness/index.js';

/**
 * The engine's concurrency limit set to the fleet's capacity, as the policy's `concurrency.limit` asks: 12 replicas
 * × 256 sequences (vLLM's max_num_seqs). The preset's 256 is one GPU's worth; the same for every policy.
 */
const concurrency = { limit: 12 * 256 };

/**
 * A fleet at scale (issue #18): 10,000 sessions arrive over 60 s at three deployments behind the design's router.
 * Prompts of 8,000 tokens or more go to the 128k-window model (`long`, 2 × Llama-3.1-8B-128k); interactive traffic of
 * the `premium` tenant (priority traffic) to the fast model (`fast`, 2 × a 1B model); everything else to the default
 * (`default`, 8 × Llama-3-8B on H100). Each deployment is self-hosted, priced per GPU-hour.
 *
 * At 20 s one default replica browns out (4× step time) for the rest of the load; at 40 s another crashes and comes
 * back after 15 s down and 15 s of cold start. The policies are the `resilient` preset with four ways to spread a
 * deployment's calls over its replicas: round-robin and least-outstanding (no ejection), power of two choices with
 * outlier ejection, and prefix/session affinity with ejection and hedging. Round-robin keeps sending the slow
 * replica its eighth of the calls however long its queue is, while the others have room to spare.
 * Every policy's engine may keep as many calls in flight as the fleet has sequence slots (`concurrency` above).
 */
export default defineScenario({
  name: 'fleet-10k',
  description: '10,000 sessions in 60 s on 8 default replicas, a fast and a long-context deployment; a replica browns out at 20 s, another crashes at 40 s',
  seed: 18,
  durationMs: 60_000,
  workload: {
    arrivals: { kind: 'burst', sessions: 10_000, withinMs: 60_000 },
    mix: [
      weighted(SHORT_CHAT, 0.64),
      weighted(MULTI_TURN_CHAT, 0.2),
      weighted(BATCH_JOB, 0.05),
      weighted(
        {
          name: 'long-context',
          weight: 1,
          kind: 'single',
          // A pasted document or a long code base: 9k to 100k tokens of prompt.
          promptTokens: bounded({ kind: 'lognormal', median: 20_000, sigma: 0.6 }, 9_000, 100_000),
          outputTokens: bounded({ kind: 'lognormal', median: 300, sigma: 0.5 }, 32, 2_000),
        },
        0.01,
      ),
    ],
    tenants: [
      { name: 'default', weight: 0.85 },
      { name: 'premium', weight: 0.15 },
    ],
  },
  model: {
    deployments: {
      default: { profile: 'h100-llama3-8b', replicas: 8, price: 'gpu/h100-sxm' },
      fast: { profile: 'fallback', replicas: 2, price: 'gpu/h100-sxm', fallback: 'default' },
      long: { profile: 'h100-llama3.1-8b-128k', replicas: 2, price: 'gpu/h100-sxm' },
    },
    routes: [
      { name: 'long-context', deployment: 'long', when: { minPromptTokens: 8_000 } },
      { name: 'priority', deployment: 'fast', when: { priority: 'interactive', tenantId: 'premium' } },
    ],
    defaultDeployment: 'default',
    faults: {
      timeline: [
        { name: 'brownout default/2', replica: 'default/2', atMs: 20_000, durationMs: 40_000, fault: { brownoutMultiplier: 4 } },
        { name: 'crash default/5', replica: 'default/5', atMs: 40_000, durationMs: 30_000, fault: { crash: { downtimeMs: 15_000, coldStartMs: 15_000 } } },
      ],
    },
  },
  policies: [
    { name: 'round-robin', preset: 'resilient', overrides: { concurrency, fleet: { balancer: { kind: 'round-robin' }, ejection: { enabled: false }, hedging: { enabled: false } } } },
    { name: 'least-outstanding', preset: 'resilient', overrides: { concurrency, fleet: { balancer: { kind: 'least-outstanding' }, ejection: { enabled: false }, hedging: { enabled: false } } } },
    { name: 'p2c-ejection', preset: 'resilient', overrides: { concurrency, fleet: { balancer: { kind: 'power-of-two' }, ejection: { enabled: true }, hedging: { enabled: false } } } },
    { name: 'affinity-hedging', preset: 'resilient', overrides: { concurrency, fleet: { balancer: { kind: 'affinity' }, ejection: { enabled: true }, hedging: { enabled: true } } } },
  ],
  slo: {
    ttftMs: 2_000,
    e2eMs: 30_000,
    classes: { 'long-context': { ttftMs: 15_000, e2eMs: 60_000 }, batch: { ttftMs: 30_000, e2eMs: 120_000 } },
  },
});
