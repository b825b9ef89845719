import { describe, expect, it } from 'vitest';
import { resolvePolicy } from '../policy.js';
import { Random } from '../random.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { dialectCapabilities, type UpstreamCapabilities } from '../upstream/model-client.js';
import { apportion, renderChatPrompt } from './chat-batch.js';
import { Engine, type EngineRequest, type TokenChunk } from './engine.js';
import { ScriptedBatchClient as ScriptedClient } from './testing/scripted-batch-client.js';

function setup(caps: UpstreamCapabilities, overrides: unknown = {}, usage?: { promptTokens: number; completionTokens: number }) {
  const clock = new VirtualClock();
  const primary = new ScriptedClient(clock, caps, usage);
  const policy = resolvePolicy('resilient', { batching: { mode: 'time', maxWaitMs: 10 }, ...(overrides as object) });
  const engine = new Engine({ clock, random: new Random(1), policy, primary });
  return { clock, primary, engine };
}

function chat(id: string, content: string, extra: Partial<EngineRequest> = {}, chunks?: TokenChunk[]): EngineRequest {
  return {
    id,
    kind: 'chat',
    batchable: true,
    request: { id, model: 'm', maxTokens: 16, messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content }] },
    ...(chunks ? { onTokens: (c) => chunks.push(c) } : {}),
    ...extra,
  };
}

describe('batchable chat jobs', () => {
  it('N batchable chat jobs make one multi-prompt completions call, and each gets its own answer and usage share', async () => {
    const { clock, primary, engine } = setup(dialectCapabilities('vllm'));
    const chunks: TokenChunk[] = [];
    const contents = ['one', 'two two', 'three three three', 'four'];
    const rs = await clock.run(Promise.all(contents.map((c, i) => engine.submit(chat(`j${i}`, c, {}, i === 1 ? chunks : undefined)))));
    expect(primary.batches).toHaveLength(1);
    expect(primary.streams).toHaveLength(0);
    expect(primary.batches[0]?.prompts).toEqual(contents.map((c) => `system: be brief\nuser: ${c}\nassistant:`));
    expect(primary.batches[0]?.maxTokens).toBe(16);
    rs.forEach((r, i) => {
      expect(r.outcome).toBe('ok');
      expect(r.text).toBe(`a:system: be brief\nuser: ${contents[i] ?? ''}\nassistant:`);
      expect(r.usage?.estimated).toBe(true);
      expect(r.upstreamCalls).toBe(1);
    });
    // The upstream's totals, split: nothing invented, nothing lost.
    expect(rs.reduce((a, r) => a + (r.usage?.promptTokens ?? 0), 0)).toBe(40);
    expect(rs.reduce((a, r) => a + (r.usage?.completionTokens ?? 0), 0)).toBe(12);
    // The longer prompt gets the larger prompt share.
    expect(rs[2]?.usage?.promptTokens).toBeGreaterThan(rs[0]?.usage?.promptTokens ?? 0);
    expect(chunks.map((c) => c.text).join('')).toBe(rs[1]?.text);
    expect(engine.snapshot().counters).toMatchObject({ upstreamCalls: 1, batches: 1, ok: 4 });
  });

  it('without usage from the upstream, shares are the engine\'s own estimates', async () => {
    const { clock, primary, engine } = setup(dialectCapabilities('mock'), {}, undefined);
    (primary as unknown as { usage: undefined }).usage = undefined;
    const rs = await clock.run(Promise.all([engine.submit(chat('a', 'x')), engine.submit(chat('b', 'y'))]));
    expect(primary.batches).toHaveLength(1);
    for (const r of rs) {
      expect(r.outcome).toBe('ok');
      expect(r.usage?.estimated).toBe(true);
      expect(r.usage?.completionTokens).toBe(Math.ceil(r.text.length / 4));
    }
  });

  it('a non-batchable chat job is not batched, nor one carrying a per-call mock hint', async () => {
    const { clock, primary, engine } = setup(dialectCapabilities('vllm'));
    const hinted: EngineRequest = { id: 'd', kind: 'chat', batchable: true, request: { id: 'd', model: 'm', maxTokens: 16, outputTokens: 4, messages: [{ role: 'user', content: 'w' }] } };
    const rs = await clock.run(Promise.all([engine.submit(chat('a', 'x')), engine.submit(chat('b', 'y', { batchable: false })), engine.submit(chat('c', 'z')), engine.submit(hinted)]));
    expect(primary.batches).toHaveLength(1);
    expect(primary.batches[0]?.prompts).toHaveLength(2);
    expect(primary.streams.map((r) => r.id)).toEqual(['b', 'd']);
    expect(rs.map((r) => r.outcome)).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(rs[1]?.text).toBe('s:b');
  });

  it('the openai dialect does not batch: batchable chat jobs run one by one', async () => {
    const { clock, primary, engine } = setup(dialectCapabilities('openai'));
    const rs = await clock.run(Promise.all([engine.submit(chat('a', 'x')), engine.submit(chat('b', 'y')), engine.submit(chat('c', 'z'))]));
    expect(primary.batches).toHaveLength(0);
    expect(primary.streams).toHaveLength(3);
    expect(rs.map((r) => r.text)).toEqual(['s:a', 's:b', 's:c']);
    expect(engine.snapshot().counters).toMatchObject({ upstreamCalls: 3, batches: 0 });
  });

  it('batching off in the policy: no batch', async () => {
    const { clock, primary, engine } = setup(dialectCapabilities('vllm'), { batching: { enabled: false } });
    await clock.run(Promise.all([engine.submit(chat('a', 'x')), engine.submit(chat('b', 'y'))]));
    expect(primary.batches).toHaveLength(0);
    expect(primary.streams).toHaveLength(2);
  });

  it('a failed batch call fails each job into the normal retry policy (retried here, then ok)', async () => {
    const { clock, primary, engine } = setup(dialectCapabilities('vllm'), { breaker: { enabled: false } });
    primary.failBatches = 1;
    const rs = await clock.run(Promise.all([engine.submit(chat('a', 'x')), engine.submit(chat('b', 'y'))]));
    expect(rs.map((r) => r.outcome)).toEqual(['ok', 'ok']);
    expect(rs.map((r) => r.attempts)).toEqual([2, 2]);
    expect(primary.batches.length).toBeGreaterThanOrEqual(2);
    expect(primary.batches.length).toBeLessThanOrEqual(3);
  });

  it('a failed batch call with no retries left fails each job with the upstream error', async () => {
    const { clock, primary, engine } = setup(dialectCapabilities('vllm'), { retry: { maxAttempts: 1 }, breaker: { enabled: false } });
    primary.failBatches = 1;
    const rs = await clock.run(Promise.all([engine.submit(chat('a', 'x')), engine.submit(chat('b', 'y'))]));
    expect(primary.batches).toHaveLength(1);
    expect(rs.map((r) => [r.outcome, r.error?.code])).toEqual([['failed', rs[0]?.error?.code], ['failed', rs[0]?.error?.code]]);
    expect(rs[0]?.error?.message).toContain('batch refused');
  });
});

describe('chat batch helpers', () => {
  it('apportion splits a total by weights with integer shares that add up', () => {
    expect(apportion(10, [1, 1, 2])).toEqual([3, 2, 5]);
    expect(apportion(7, [0, 0])).toEqual([4, 3]);
    expect(apportion(0, [5, 1])).toEqual([0, 0]);
  });

  it('renders chats with the documented template, and prompts as they are', () => {
    expect(renderChatPrompt({ id: 'x', model: 'm', messages: [{ role: 'user', content: 'hi' }] })).toBe('user: hi\nassistant:');
    expect(renderChatPrompt({ id: 'x', model: 'm', prompt: 'raw' })).toBe('raw');
  });
});
