import { describe, expect, it } from 'vitest';
import { parsePolicy, resolvePolicy } from '../policy.js';
import { Random } from '../random.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { ServerError } from '../upstream/errors.js';
import { Engine, type EngineEvent } from './engine.js';
import { retryBudgetFromPolicy } from './retry-budget.js';
import { TokenRateRetryBudget } from './retry-token-budget.js';
import { FakeModel } from './testing/fake-model.js';

describe('TokenRateRetryBudget', () => {
  it('spends the input tokens a retry re-sends, refilled at tokensPerSec up to burstSec of them', async () => {
    const clock = new VirtualClock();
    const b = new TokenRateRetryBudget(clock, { tokensPerSec: 1000, burstSec: 1 });
    expect(b.level).toBe(1000);
    expect(b.tryWithdraw(100_000)).toBe(false); // a 100k-token prompt does not fit
    for (let i = 0; i < 10; i++) expect(b.tryWithdraw(100)).toBe(true); // ten 100-token prompts do
    expect(b.tryWithdraw(100)).toBe(false);
    await clock.advanceTo(500);
    expect(b.level).toBe(500);
    await clock.advanceTo(60_000);
    expect(b.level).toBe(1000); // never above the burst
  });

  it('a dollar budget is a token budget at the input price; missing fields are named', () => {
    const clock = new VirtualClock();
    const base = parsePolicy({ name: 'x' }).retryBudget;
    const usd = retryBudgetFromPolicy(clock, { ...base, mode: 'usd', usdPerSec: 0.015, inputPer1MUsd: 0.15, burstSec: 1 });
    expect(usd?.level).toBe(100_000); // $0.015/s at $0.15 per 1M = 100k tokens/s
    expect(() => retryBudgetFromPolicy(clock, { ...base, mode: 'usd', usdPerSec: 1 })).toThrow('retryBudget.inputPer1MUsd: expected the input price (USD per 1M tokens)');
    expect(() => retryBudgetFromPolicy(clock, { ...base, mode: 'tokens' })).toThrow("retryBudget.tokensPerSec: expected a number > 0 with mode 'tokens'");
  });

  it('in the engine, a retry of a long prompt is refused where one of a short prompt goes ahead', async () => {
    const clock = new VirtualClock();
    const primary = new FakeModel(clock, () => ({ error: new ServerError(500) }));
    const policy = resolvePolicy('resilient', {
      retryBudget: { mode: 'tokens', tokensPerSec: 100, burstSec: 10 },
      retry: { maxAttempts: 3 },
      breaker: { enabled: false },
    });
    const engine = new Engine({ clock, random: new Random(1), policy, primary });
    const events: EngineEvent[] = [];
    engine.onEvent((e) => events.push(e));
    const chat = (id: string, promptTokens: number) => ({ id, kind: 'chat' as const, request: { id, model: 'm', prompt: 'x', promptTokens } });
    const [short, long] = await clock.run(Promise.all([engine.submit(chat('short', 100)), engine.submit(chat('long', 100_000))]));
    // Bucket of 1,000 tokens: the 100-token prompt retries twice (200 spent); the 100k one cannot retry at all.
    expect(short).toMatchObject({ outcome: 'failed', attempts: 3 });
    expect(long).toMatchObject({ outcome: 'failed', attempts: 1 });
    expect(events.filter((e) => e.type === 'give-up').map((e) => [(e as { id: string }).id, (e as { reason: string }).reason])).toEqual(
      expect.arrayContaining([['long', 'budget'], ['short', 'max-attempts']]),
    );
  });
});
