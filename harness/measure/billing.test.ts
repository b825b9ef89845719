/**
 * Billing arithmetic on hand-computed cases, through the real engine and the mock GPU (virtual time): every call
 * that ran bills its prompt (again on each retry and resume; a resume also bills the prefix it sends), and every
 * output token it computed; waste is what no client received or what a later attempt computed again.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import { resolvePolicy } from '../../src/policy.js';
import { Random } from '../../src/random.js';
import { VirtualClock } from '../../src/time/virtual-clock.js';
import { InProcessModelClient } from '../../sim/in-process.js';
import { MockModel } from '../../sim/mock-model.js';
import { BillingAcc, splitRequestBills, type AttemptBill, type Price } from './billing.js';

const PROMPT = 100;
// Round prices so the dollars are easy to check by hand: $1 per 1M input, $0.5 per 1M cached, $4 per 1M output.
const PRICE: Price = { kind: 'tokens', inputPer1M: 1, cachedInputPer1M: 0.5, outputPer1M: 4 };
const usd = (input: number, cached: number, output: number): number => (input * 1 + cached * 0.5 + output * 4) / 1e6;

async function run(policy: string, overrides: unknown, fault: string | undefined, outputTokens: number) {
  const clock = new VirtualClock();
  const model = new MockModel({ name: 'primary', profile: 'h100-llama3-8b', clock, random: new Random(3) });
  const bills: AttemptBill[] = [];
  model.onBill((b) => bills.push({ ...b, fallback: false }));
  const engine = new Engine({ clock, random: new Random(1), policy: resolvePolicy(policy, overrides), primary: new InProcessModelClient(model) });
  const request = { id: 'r1', model: 'primary', prompt: 'x', promptTokens: PROMPT, outputTokens, maxTokens: outputTokens, ...(fault !== undefined ? { fault } : {}) };
  const result = await clock.run(engine.submit({ id: 'r1', kind: 'chat', request }));
  await clock.runUntilIdle();
  model.close();
  return { result, bills };
}

function priced(bills: AttemptBill[], served: boolean, sloMet = 1) {
  const acc = new BillingAcc();
  acc.request(bills, served);
  return { tokens: acc.tokens(0), cost: acc.cost({ primary: PRICE }, sloMet, 1000, 1).cost };
}

describe('billing', () => {
  it('a request retried twice bills its prompt three times; the first two prompts and their output are wasted', async () => {
    // Every attempt breaks after 5 tokens; without resume each retry starts again from token 0.
    const { result, bills } = await run('bounded', { retry: { maxAttempts: 3, baseMs: 1, maxMs: 1 }, resume: { enabled: false } }, 'disconnect:after=5', 40);
    expect(result.attempts).toBe(3);
    expect(result.tokens).toBe(5);
    expect(bills.map((b) => [b.inputTokens, b.outputTokens, b.deliveredTokens, b.resumeFrom])).toEqual([
      [PROMPT, 5, 5, 0],
      [PROMPT, 5, 5, 0],
      [PROMPT, 5, 5, 0],
    ]);
    const split = splitRequestBills(bills, true);
    expect(split.map((s) => s.kind)).toEqual(['first', 'retry', 'retry']);
    const { tokens, cost } = priced(bills, result.outcome === 'degraded');
    expect(tokens).toMatchObject({ billedInput: 3 * PROMPT, billedCachedInput: 0, billedOutput: 15 });
    expect(cost.totalUsd).toBeCloseTo(usd(300, 0, 15), 12);
    // The client kept the first attempt's 5 tokens (a partial answer): its prompt bought them. The retries gave it
    // nothing new (their 5 + 5 tokens repeat the 5 it has): their prompts and output are wasted.
    expect(result.outcome).toBe('degraded');
    expect(cost.wastedUsd).toBeCloseTo(usd(200, 0, 10), 12);
    expect(cost.byKind.first).toBeCloseTo(usd(100, 0, 5), 12);
    expect(cost.byKind.retry).toBeCloseTo(usd(200, 0, 10), 12);
  });

  it('a resumed stream bills the prefix again as input, and only the new output', async () => {
    const clock = new VirtualClock();
    const model = new MockModel({ name: 'primary', profile: 'h100-llama3-8b', clock, random: new Random(3) });
    const bills: AttemptBill[] = [];
    model.onBill((b) => bills.push({ ...b, fallback: false }));
    const client = new InProcessModelClient(model);
    const req = { id: 'r2', model: 'primary', prompt: 'x', promptTokens: PROMPT, outputTokens: 30, maxTokens: 30 };
    const drain = async (it: AsyncIterable<unknown>): Promise<void> => {
      try {
        for await (const _ of it) void _;
      } catch {
        // the broken first attempt
      }
    };
    await clock.run(drain(client.stream({ ...req, fault: 'disconnect:after=12' })));
    await clock.run(drain(client.stream(req, { resumeFrom: 12 })));
    model.close();
    expect(bills.map((b) => [b.inputTokens, b.outputTokens, b.deliveredTokens, b.resumeFrom, b.completed])).toEqual([
      [PROMPT, 12, 12, 0, false],
      [PROMPT + 12, 18, 18, 12, true],
    ]);
    expect(model.billing()).toEqual({ billedCalls: 2, billedInputTokens: 2 * PROMPT + 12, billedCachedInputTokens: 0, billedOutputTokens: 30 });
    const split = splitRequestBills(bills, true);
    expect(split.map((s) => s.kind)).toEqual(['first', 'resume']);
    const { cost } = priced(bills, true);
    expect(cost.totalUsd).toBeCloseTo(usd(212, 0, 30), 12);
    // One clean attempt would have billed 100 input and 30 output. The resume computed the prompt again, and the
    // 12-token prefix it re-sends as input had been paid once already, as output: 112 input tokens are waste.
    expect(cost.wastedUsd).toBeCloseTo(usd(112, 0, 0), 12);
    expect(cost.byKind.resume).toBeCloseTo(usd(112, 0, 18), 12);
  });

  it('a cached prefix bills at the cached-input rate', () => {
    const bill: AttemptBill = { id: 'c', fallback: false, startMs: 0, endMs: 10, inputTokens: 1000, cachedInputTokens: 800, outputTokens: 50, deliveredTokens: 50, resumeFrom: 0, completed: true };
    const { tokens, cost } = priced([bill], true);
    expect(tokens).toMatchObject({ billedInput: 200, billedCachedInput: 800, billedOutput: 50 });
    expect(cost.totalUsd).toBeCloseTo(usd(200, 800, 50), 12);
    expect(cost.wastedUsd).toBe(0);
    expect(cost.per1kGoodUsd).toBeCloseTo(usd(200, 800, 50) * 1000, 9);
  });

  it("a crash's lost output is paid for and wasted", async () => {
    const clock = new VirtualClock();
    const model = new MockModel({ name: 'primary', profile: 'h100-llama3-8b', clock, random: new Random(3) });
    const bills: AttemptBill[] = [];
    model.onBill((b) => bills.push({ ...b, fallback: false }));
    const client = new InProcessModelClient(model);
    // A TTFT delay holds computed tokens back from the client: the crash comes while they are computed, unsent.
    const it = (async () => {
      let got = 0;
      try {
        for await (const ev of client.stream({ id: 'r3', model: 'primary', prompt: 'x', promptTokens: PROMPT, outputTokens: 200, maxTokens: 200, fault: 'ttft:ms=60000' })) {
          if (ev.type === 'tokens') got += ev.count;
        }
      } catch {
        // the crash
      }
      return got;
    })();
    clock.setTimer(2000, () => model.crash(1000, 0), 'test-crash');
    const got = await clock.run(it);
    model.close();
    expect(got).toBe(0);
    expect(bills).toHaveLength(1);
    const b = bills[0]!;
    expect(b.completed).toBe(false);
    expect(b.deliveredTokens).toBe(0);
    expect(b.outputTokens).toBeGreaterThan(0);
    const { cost } = priced(bills, false, 0);
    // Everything paid is wasted: the prompt and every computed token; nothing good, so no per-1k figure.
    expect(cost.totalUsd).toBeCloseTo(usd(PROMPT, 0, b.outputTokens), 12);
    expect(cost.wastedUsd).toBeCloseTo(usd(PROMPT, 0, b.outputTokens), 12);
    expect(cost.per1kGoodUsd).toBeNull();
  });

  const bill = (o: Partial<AttemptBill>): AttemptBill => ({
    id: 'h', fallback: false, startMs: 0, endMs: 10, inputTokens: PROMPT, cachedInputTokens: 0, outputTokens: 30, deliveredTokens: 30, resumeFrom: 0, completed: true, ...o,
  });

  it('a resume whose prompt and part of its prefix hit the cache wastes the re-sent prefix at the rates it was billed', () => {
    // First attempt: 100 prompt, breaks after 12 delivered. Resume: 100 + 12 input, of which 110 cached (the prompt
    // and 10 prefix tokens), 18 more output.
    const bills = [
      bill({ outputTokens: 12, deliveredTokens: 12, completed: false }),
      bill({ startMs: 20, endMs: 40, inputTokens: 112, cachedInputTokens: 110, outputTokens: 18, deliveredTokens: 18, resumeFrom: 12 }),
    ];
    const split = splitRequestBills(bills, true);
    expect(split.map((x) => [x.wastedInput, x.wastedCachedInput, x.wastedOutput])).toEqual([
      [100, 0, 0],
      [2, 10, 0],
    ]);
    const { cost } = priced(bills, true);
    expect(cost.totalUsd).toBeCloseTo(usd(100 + 2, 110, 30), 12);
    expect(cost.wastedUsd).toBeCloseTo(usd(102, 10, 0), 12);
  });

  it('a request not served (timed out at its deadline, failed) wastes every bill, the output it was sent included', () => {
    // 20 of 30 computed tokens reached the client before its deadline ended the request: it kept no answer.
    const bills = [bill({ outputTokens: 30, deliveredTokens: 20, completed: false })];
    expect(splitRequestBills(bills, false).map((x) => [x.wastedInput, x.wastedOutput])).toEqual([[100, 30]]);
    const { cost } = priced(bills, false, 0);
    expect(cost.wastedUsd).toBeCloseTo(usd(100, 0, 30), 12);
    expect(cost.wastedUsd).toBe(cost.totalUsd);
    // Served (a partial answer), the 20 delivered tokens and the prompt that bought them are not waste; 10 are.
    expect(priced(bills, true).cost.wastedUsd).toBeCloseTo(usd(0, 0, 10), 12);
  });

  it('the prompt that bought the answer is the last attempt that gave the client new tokens, not the last attempt', () => {
    // A partial answer of 5 tokens from the first attempt; a retry from scratch repeats 3 of them and breaks.
    const bills = [bill({ outputTokens: 5, deliveredTokens: 5, completed: false }), bill({ startMs: 20, endMs: 30, outputTokens: 3, deliveredTokens: 3, completed: false })];
    expect(splitRequestBills(bills, true).map((x) => [x.kind, x.wastedInput, x.wastedOutput])).toEqual([
      ['first', 0, 0],
      ['retry', 100, 3],
    ]);
  });

  it('a call that ends after its request did (abandoned) is all waste', () => {
    const acc = new BillingAcc();
    acc.request([bill({})], true);
    acc.lone([bill({ startMs: 5, endMs: 50, outputTokens: 7, deliveredTokens: 7, completed: false })], true);
    const { cost } = acc.cost({ primary: PRICE }, 1, 1000, 1);
    expect(cost.totalUsd).toBeCloseTo(usd(200, 0, 37), 12);
    expect(cost.wastedUsd).toBeCloseTo(usd(100, 0, 7), 12);
  });

  it('preemption recompute is not billed by a token price, and is wasted GPU time under a GPU-hour price', () => {
    const b = bill({ recomputedTokens: 70 }); // 100 input + 30 output billed; the GPU computed 70 more
    const tokens = priced([b], true);
    expect(tokens.cost.totalUsd).toBeCloseTo(usd(100, 0, 30), 12);
    expect(tokens.cost.wastedUsd).toBe(0);
    const acc = new BillingAcc();
    acc.request([b], true);
    const { cost } = acc.cost({ primary: { kind: 'gpu-hour', gpuHourUsd: 3.6 }, gpu: { primary: { busyMs: 1_000_000, elapsedMs: 1_000_000 }, fallback: null } }, 1, 1000, 1);
    // $1.00 of busy time over 200 computed tokens, 70 of them recompute.
    expect(cost.totalUsd).toBeCloseTo(1, 9);
    expect(cost.wastedUsd).toBeCloseTo(0.35, 9);
  });

  it('unknown usage stays unknown: null tokens and cost, never 0', () => {
    const acc = new BillingAcc();
    expect(acc.tokens(42)).toEqual({ billedInput: null, billedCachedInput: null, billedOutput: null, delivered: 42 });
    expect(acc.cost({ primary: PRICE }, 10, 1000, 1).cost.totalUsd).toBeNull();
    acc.request([], true);
    expect(acc.cost({}, 10, 1000, 1).cost.totalUsd).toBe(0);
  });

  it('a GPU-hour price charges busy time, attributed by tokens, and reports idle time apart', () => {
    const acc = new BillingAcc();
    const bill = (id: string, completed: boolean, out: number): AttemptBill => ({ id, fallback: false, startMs: 0, endMs: 500, inputTokens: 100, cachedInputTokens: 0, outputTokens: out, deliveredTokens: completed ? out : 0, resumeFrom: 0, completed });
    acc.request([bill('a', true, 100)], true);
    acc.request([bill('b', false, 100)], false);
    const { cost } = acc.cost({ primary: { kind: 'gpu-hour', gpuHourUsd: 3.6 }, gpu: { primary: { busyMs: 1_000_000, elapsedMs: 3_000_000 }, fallback: null } }, 1, 1000, 1);
    // 1,000 s busy at $3.60/h = $1.00; half the tokens were request b's, all wasted.
    expect(cost.totalUsd).toBeCloseTo(1, 9);
    expect(cost.wastedUsd).toBeCloseTo(0.5, 9);
    expect(cost.gpuHours).toBeCloseTo(1_000_000 / 3_600_000, 6);
    expect(cost.idleGpuHours).toBeCloseTo(2_000_000 / 3_600_000, 6);
    expect(cost.idleUsd).toBeCloseTo(2, 6);
  });
});
