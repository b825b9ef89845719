/**
 * The engine's account of what it was billed, call by call, checked against what the mock GPU billed for the same
 * calls (virtual time): retries bill the prompt again, a resume bills the prefix again, a refused call bills
 * nothing, and completed calls carry the upstream's own usage.
 */
import { describe, expect, it } from 'vitest';
import { resolvePolicy } from '../policy.js';
import { Random } from '../random.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { InProcessModelClient } from '../../sim/in-process.js';
import { MockModel, type BilledAttempt } from '../../sim/mock-model.js';
import { billedTotals } from './billed-usage.js';
import { Engine } from './engine.js';
import { FakeModel } from './testing/fake-model.js';

const PROMPT = 100;

async function run(policy: string, overrides: unknown, fault: string | undefined, outputTokens: number) {
  const clock = new VirtualClock();
  const model = new MockModel({ name: 'primary', profile: 'h100-llama3-8b', clock, random: new Random(3) });
  const bills: BilledAttempt[] = [];
  model.onBill((b) => bills.push(b));
  const engine = new Engine({ clock, random: new Random(1), policy: resolvePolicy(policy, overrides), primary: new InProcessModelClient(model) });
  const request = { id: 'r1', model: 'primary', prompt: 'x', promptTokens: PROMPT, outputTokens, maxTokens: outputTokens, ...(fault !== undefined ? { fault } : {}) };
  const result = await clock.run(engine.submit({ id: 'r1', kind: 'chat', request }));
  await clock.runUntilIdle();
  model.close();
  return { result, bills };
}

describe('billed usage', () => {
  it('a clean request carries the upstream usage of its one call', async () => {
    const { result, bills } = await run('resilient', {}, undefined, 40);
    expect(result.billed?.calls).toEqual([
      { model: 'primary', inputTokens: PROMPT, cachedInputTokens: 0, outputTokens: 40, deliveredTokens: 40, resumeFrom: 0, completed: true, estimated: false },
    ]);
    expect(bills.map((b) => [b.inputTokens, b.outputTokens])).toEqual([[PROMPT, 40]]);
  });

  it('a request retried twice is billed its prompt three times, broken calls counted by the engine', async () => {
    const { result, bills } = await run('bounded', { retry: { maxAttempts: 3, baseMs: 1, maxMs: 1 }, resume: { enabled: false } }, 'disconnect:after=5', 40);
    expect(result.billed?.calls.map((c) => [c.inputTokens, c.outputTokens, c.deliveredTokens, c.completed, c.estimated])).toEqual([
      [PROMPT, 5, 5, false, true],
      [PROMPT, 5, 0, false, true],
      [PROMPT, 5, 0, false, true],
    ]);
    const t = billedTotals(result.billed!.calls);
    // The same totals the mock billed.
    expect([t.inputTokens, t.outputTokens]).toEqual([bills.reduce((s, b) => s + b.inputTokens, 0), bills.reduce((s, b) => s + b.outputTokens, 0)]);
    expect(t.estimated).toBe(true);
  });

  it('a resumed call is billed the prefix again, and its usage says so', async () => {
    const clock = new VirtualClock();
    const model = new MockModel({ name: 'primary', profile: 'h100-llama3-8b', clock, random: new Random(3) });
    const bills: BilledAttempt[] = [];
    model.onBill((b) => bills.push(b));
    // The first call breaks after 12 tokens (the fault only on the first call: a header on the request would repeat).
    let calls = 0;
    const inner = new InProcessModelClient(model);
    const client = Object.assign(Object.create(inner) as InProcessModelClient, {
      stream: (req: Parameters<InProcessModelClient['stream']>[0], o: Parameters<InProcessModelClient['stream']>[1]) =>
        inner.stream(calls++ === 0 ? { ...req, fault: 'disconnect:after=12' } : req, o),
    });
    const engine = new Engine({ clock, random: new Random(1), policy: resolvePolicy('resilient', { retry: { baseMs: 1, maxMs: 1 } }), primary: client });
    const request = { id: 'r2', model: 'primary', prompt: 'x', promptTokens: PROMPT, outputTokens: 30, maxTokens: 30 };
    const result = await clock.run(engine.submit({ id: 'r2', kind: 'chat', request }));
    await clock.runUntilIdle();
    model.close();
    expect(result.outcome).toBe('ok');
    expect(result.billed?.calls.map((c) => [c.inputTokens, c.outputTokens, c.resumeFrom, c.completed, c.estimated])).toEqual([
      [PROMPT, 12, 0, false, true],
      [PROMPT + 12, 18, 12, true, false],
    ]);
    expect(bills.map((b) => [b.inputTokens, b.outputTokens, b.resumeFrom])).toEqual([
      [PROMPT, 12, 0],
      [PROMPT + 12, 18, 12],
    ]);
  });

  it('a call that timed out before any event may have been billed: nothing counted, and flagged unknown', async () => {
    const clock = new VirtualClock();
    const model = new FakeModel(clock, () => ({ hang: true }));
    const engine = new Engine({ clock, random: new Random(1), policy: resolvePolicy('resilient', { retry: { maxAttempts: 1 }, idleTimeout: { idleMs: 100 } }), primary: model });
    const result = await clock.run(engine.submit({ id: 'h', kind: 'chat', request: { id: 'h', model: 'm', prompt: 'x' } }));
    expect(result.outcome).not.toBe('ok');
    expect(result.billed).toEqual({ calls: [], unknown: true });
    expect(billedTotals(result.billed!.calls, result.billed!.unknown)).toEqual({ inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, estimated: true });
  });

  it('a call refused with 429 bills nothing', async () => {
    const { result, bills } = await run('bounded', { retry: { maxAttempts: 1 } }, '429', 10);
    expect(result.outcome).not.toBe('ok');
    expect(result.billed).toBeUndefined();
    expect(bills).toEqual([]);
  });
});
