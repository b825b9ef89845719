/**
 * Multi-prompt completions in-process (`InProcessModelClient.completeBatch`), with the semantics and billing of the
 * mock server's `POST /v1/completions` with `prompt: [...]` (sim/generate-route.ts). The engine batching chat through
 * it in a virtual world: harness/run/world-chat-batch.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { Random } from '../src/random.js';
import { VirtualClock } from '../src/time/virtual-clock.js';
import { OverloadedError, StreamInterruptedError } from '../src/upstream/errors.js';
import type { FaultPlanInput } from './faults.js';
import { InProcessModelClient } from './in-process.js';
import { MockModel, type BilledAttempt } from './mock-model.js';

function setup(faults?: FaultPlanInput, seed = 7) {
  const clock = new VirtualClock();
  const model = new MockModel({ name: 'primary', profile: 'h100-llama3-8b', clock, random: new Random(seed), ...(faults !== undefined ? { faults } : {}) });
  const bills: BilledAttempt[] = [];
  model.onBill((b) => bills.push(b));
  return { clock, model, bills, client: new InProcessModelClient(model) };
}

const PROMPTS = ['user: what is a KV cache?\nassistant:', 'user: hi\nassistant:', 'user: explain continuous batching in one line\nassistant:'];

describe('InProcessModelClient.completeBatch', () => {
  it('each prompt is a completion of its own on the GPU: one choice per prompt by index, usage summed, each billed', async () => {
    const { clock, model, bills, client } = setup();
    const r = await clock.run(client.completeBatch({ id: 'b1', model: 'primary', prompts: PROMPTS, maxTokens: 12 }));
    expect(r.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    // The same text a lone completion with the per-prompt id gets (the mock's text is a function of seed and id).
    const alone = setup();
    for (const [i, c] of r.choices.entries()) {
      const lone = await alone.clock.run(collect(alone.client, `b1-${i}`, PROMPTS[i] ?? '', 12));
      expect(c.text.length).toBeGreaterThan(0);
      expect(c).toEqual({ index: i, text: lone.text, finishReason: lone.finishReason });
    }
    expect(bills.map((b) => b.id).sort()).toEqual(['b1-0', 'b1-1', 'b1-2']);
    expect(r.usage).toEqual({
      promptTokens: bills.reduce((a, b) => a + b.inputTokens, 0),
      completionTokens: bills.reduce((a, b) => a + b.outputTokens, 0),
    });
    expect(bills.every((b) => b.completed && b.deliveredTokens === b.outputTokens)).toBe(true);
    // Run side by side on the GPU, not one after another.
    expect(model.metrics().meanBatchSize).toBeGreaterThan(1);
    expect(clock.pendingTimers).toBe(0);
  });

  it('a single prompt keeps the call id', async () => {
    const { clock, bills, client } = setup();
    const r = await clock.run(client.completeBatch({ id: 'solo', model: 'primary', prompts: ['x'], maxTokens: 3 }));
    expect(r.choices).toHaveLength(1);
    expect(bills.map((b) => b.id)).toEqual(['solo']);
  });

  it('a refusal at admission fails the whole call with its typed error and bills nothing', async () => {
    const { clock, model, bills, client } = setup({ unavailable: { probability: 1, retryAfterMs: 1000 } });
    const err = await clock.run(client.completeBatch({ id: 'b2', model: 'primary', prompts: PROMPTS, maxTokens: 8 }).catch((e: unknown) => e));
    expect(err).toBeInstanceOf(OverloadedError);
    expect(bills).toEqual([]);
    expect(model.metrics().running).toBe(0);
  });

  it('a disconnect in a choice breaks the whole answer (nothing received); every sequence that ran is billed', async () => {
    const { clock, bills, client } = setup({ disconnect: { probability: 1, afterTokens: { kind: 'constant', value: 3 } } });
    const err = await clock.run(client.completeBatch({ id: 'b3', model: 'primary', prompts: PROMPTS, maxTokens: 10 }).catch((e: unknown) => e));
    expect(err).toBeInstanceOf(StreamInterruptedError);
    expect((err as StreamInterruptedError).tokensReceived).toBe(0);
    expect(bills).toHaveLength(3);
    expect(bills.every((b) => !b.completed)).toBe(true);
  });

  it('aborting the call frees every sequence', async () => {
    const { clock, model, client } = setup();
    const ctl = new AbortController();
    clock.setTimer(5, () => ctl.abort(new Error('caller gave up')), 'abort');
    const err = await clock.run(client.completeBatch({ id: 'b4', model: 'primary', prompts: PROMPTS, maxTokens: 2000 }, { signal: ctl.signal }).catch((e: unknown) => e));
    expect((err as Error).message).toBe('caller gave up');
    await clock.runUntilIdle();
    expect(model.metrics().running).toBe(0);
  });
});

/** The text and finish reason of a lone streamed completion. */
async function collect(client: InProcessModelClient, id: string, prompt: string, maxTokens: number): Promise<{ text: string; finishReason: string }> {
  let text = '';
  let finishReason = '';
  for await (const ev of client.stream({ id, model: 'primary', prompt, maxTokens })) {
    if (ev.type === 'tokens') text += ev.text;
    else if (ev.type === 'done') finishReason = ev.finishReason;
  }
  return { text, finishReason };
}
