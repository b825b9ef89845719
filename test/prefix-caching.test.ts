/**
 * Prefix caching end to end: multi-turn sessions built by the workload carry their prefix identity to the mock GPU,
 * later turns skip the prefill of the conversation so far, and the counters agree from the GPU to /metrics to the
 * policy summary. Virtual time, fixed seeds.
 */
import { describe, expect, it } from 'vitest';
import { Random } from '../src/random.js';
import { VirtualClock } from '../src/time/virtual-clock.js';
import { InProcessModelClient } from '../sim/in-process.js';
import { ServerMetrics } from '../sim/metrics.js';
import { MockModel } from '../sim/mock-model.js';
import { runPolicyVirtual } from '../harness/run/virtual.js';
import { defineScenario, type Scenario } from '../harness/scenario.js';
import { buildSessions, type RequestReply, type SessionContext, type SyntheticWorkload } from '../harness/workload/index.js';

/** Conversations that open with a long message (a pasted document) and go on with short follow-ups. */
const WORKLOAD: SyntheticWorkload = {
  arrivals: { kind: 'poisson', ratePerSec: 4 },
  mix: [
    {
      name: 'multi-turn',
      kind: 'multi-turn',
      weight: 1,
      turns: { kind: 'constant', value: 4 },
      thinkTimeMs: { kind: 'constant', value: 3_000 },
      firstTurnUserTokens: { kind: 'constant', value: 3_000 },
      userTokens: { kind: 'constant', value: 60 },
      outputTokens: { kind: 'constant', value: 120 },
    },
  ],
};

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] as number;
};

/** Runs the sessions straight against one in-process model; TTFT per turn, and the hit rate from usage. */
async function runTurns(prefixCaching: boolean) {
  const clock = new VirtualClock();
  const model = new MockModel({ name: 'primary', profile: { base: 'h100-llama3-8b', prefixCaching }, clock, random: new Random(5) });
  const metrics = new ServerMetrics([model]);
  const client = new InProcessModelClient(model);
  const sessions = buildSessions(WORKLOAD, new Random(7).derive('workload'), { durationMs: 20_000 });
  const ttft: Record<'first' | 'later', number[]> = { first: [], later: [] };
  let prompt = 0;
  let cached = 0;
  const ctx: SessionContext = {
    now: () => clock.now(),
    sleep: (ms) => clock.sleep(ms),
    async send(req, intendedStartMs): Promise<RequestReply> {
      let first: number | undefined;
      let tokens = 0;
      let text = '';
      for await (const ev of client.stream({
        id: req.id,
        model: 'primary',
        messages: req.messages,
        promptTokens: req.promptTokens,
        outputTokens: req.outputTokens,
        ...(req.prefix !== undefined ? { prefix: req.prefix } : {}),
      })) {
        if (ev.type === 'tokens') {
          first ??= clock.now() - intendedStartMs;
          tokens += ev.count;
          text += ev.text;
        } else if (ev.type === 'done') {
          prompt += ev.usage.promptTokens;
          cached += ev.usage.cachedPromptTokens ?? 0;
        }
      }
      (req.id.endsWith('/t0') ? ttft.first : ttft.later).push(first ?? Number.NaN);
      return { ok: true, outcome: 'ok', tokens, text };
    },
  };
  await clock.run(Promise.all(sessions.map((s) => s.run(ctx))));
  const m = model.metrics();
  const text = (await metrics.text()).body;
  metrics.close();
  return { ttft, prompt, cached, m, text };
}

const counter = (text: string, name: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`));
  return Number(line?.split(' ').at(-1));
};

describe('prefix caching in a multi-turn scenario', () => {
  it('later turns reuse the conversation: their TTFT p50 is well below the first turn’s; caching off removes it', async () => {
    const on = await runTurns(true);
    const off = await runTurns(false);
    expect(on.ttft.first.length).toBeGreaterThan(40);
    expect(on.ttft.later.length).toBe(3 * on.ttft.first.length);
    const onFirst = median(on.ttft.first);
    const onLater = median(on.ttft.later);
    const offFirst = median(off.ttft.first);
    const offLater = median(off.ttft.later);
    // On: a later turn prefills ~180 new tokens instead of its whole 3,000+ token history.
    expect(onLater).toBeLessThan(onFirst / 2);
    // Off: every turn prefills the whole conversation, so later turns are no faster than the first.
    expect(offLater).toBeGreaterThanOrEqual(offFirst);
    expect(onLater).toBeLessThan(offLater / 2);
    // The first turns are new documents: they gain only from a less loaded GPU.
    expect(onFirst).toBeLessThanOrEqual(offFirst);
    console.log(`TTFT p50 first/later turns: caching on ${onFirst.toFixed(1)}/${onLater.toFixed(1)} ms, off ${offFirst.toFixed(1)}/${offLater.toFixed(1)} ms`);
  });

  it("usage's cached tokens, the model's counters and /metrics agree; with caching off nothing is counted", async () => {
    const on = await runTurns(true);
    expect(on.cached).toBe(on.m.prefixCacheHits);
    expect(on.prompt).toBe(on.m.prefixCacheQueries);
    expect(on.m.prefixCacheHits / on.m.prefixCacheQueries).toBeGreaterThan(0.6);
    expect(counter(on.text, 'vllm:prefix_cache_queries_total')).toBe(on.m.prefixCacheQueries);
    expect(counter(on.text, 'vllm:prefix_cache_hits_total')).toBe(on.m.prefixCacheHits);
    const off = await runTurns(false);
    expect(off.cached).toBe(0);
    expect(counter(off.text, 'vllm:prefix_cache_hits_total')).toBe(0);
  });

  it("the policy summary's prefixCacheHitRate is the models' hits over queries", async () => {
    const scenario = (prefixCaching: boolean): Scenario =>
      defineScenario({
        name: 'multi-turn-cache',
        description: 'multi-turn conversations with prefix caching',
        seed: 3,
        durationMs: 10_000,
        workload: WORKLOAD,
        model: { profile: { base: 'h100-llama3-8b', prefixCaching } },
        policies: ['bounded'],
        slo: { ttftMs: 1_000, e2eMs: 30_000 },
      });
    const on = await runPolicyVirtual({ scenario: scenario(true), policy: 'bounded', seed: 3, durationMs: 10_000 });
    const models = on.models ?? [];
    const hits = models.reduce((s, m) => s + m.prefixCacheHits, 0);
    const queries = models.reduce((s, m) => s + m.prefixCacheQueries, 0);
    expect(hits).toBeGreaterThan(0);
    expect(on.result.summary.prefixCacheHitRate ?? Number.NaN).toBeCloseTo(hits / queries, 6);
    const off = await runPolicyVirtual({ scenario: scenario(false), policy: 'bounded', seed: 3, durationMs: 10_000 });
    expect(off.result.summary.prefixCacheHitRate).toBeNull();
    expect(off.result.summary.ttftMs.p50 ?? 0).toBeGreaterThan(on.result.summary.ttftMs.p50 ?? Number.POSITIVE_INFINITY);
  });
});
