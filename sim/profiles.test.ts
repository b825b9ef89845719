import { describe, expect, it } from 'vitest';
import { ValidationError } from '../src/errors.js';
import { DEFAULT_PROFILE, embeddingMs, getProfile, kvBlocksFor, PROFILE_NAMES, resolveProfile, stepMs } from './profiles.js';
import { Random } from '../src/random.js';
import { VirtualClock } from '../src/time/virtual-clock.js';
import { ContextLengthExceededError } from '../src/upstream/errors.js';
import { Gpu } from './gpu.js';
import { MockModel } from './mock-model.js';

describe('profiles', () => {
  it('has the built-in profiles with vLLM defaults', () => {
    expect(PROFILE_NAMES).toEqual(expect.arrayContaining(['h100-llama3-8b', 'a100-llama3-8b', 'fallback']));
    expect(DEFAULT_PROFILE).toBe('h100-llama3-8b');
    const p = getProfile('h100-llama3-8b');
    expect(p.maxNumSeqs).toBe(256);
    expect(p.maxBatchedTokens).toBe(8192);
    expect(p.kvBlockTokens).toBe(16);
    expect(p.contextWindow).toBe(8192);
    // About 430k tokens of KV on an 80 GB card at 128 KiB/token, as vLLM reports for Llama-3-8B.
    expect(p.kvBlocks * p.kvBlockTokens).toBeGreaterThan(380_000);
    expect(p.kvBlocks * p.kvBlockTokens).toBeLessThan(480_000);
  });

  it('step time is flat, then linear in batched tokens, plus attention on context', () => {
    const s = getProfile('h100-llama3-8b').step;
    expect(stepMs(s, 1, 0)).toBe(stepMs(s, s.flatTokens, 0));
    expect(stepMs(s, s.flatTokens + 100, 0) - stepMs(s, s.flatTokens, 0)).toBeCloseTo(100 * s.perTokenMs, 9);
    expect(stepMs(s, 1, 10_000) - stepMs(s, 1, 0)).toBeCloseTo(10_000 * s.attentionMsPerContextToken, 9);
    // The memory-bandwidth floor of a decode step: 16 GB over 3.35 TB/s ≈ 4.8 ms; ours must not be below it.
    expect(stepMs(s, 1, 0)).toBeGreaterThan(4.8);
    expect(stepMs(getProfile('a100-llama3-8b').step, 1, 0)).toBeGreaterThan(7.8);
    expect(stepMs(getProfile('fallback').step, 1, 0)).toBeLessThan(stepMs(s, 1, 0) / 2);
  });

  it('an embeddings call amortises its per-call cost over the batch', () => {
    const e = getProfile('h100-llama3-8b').embedding;
    const oneByOne = 16 * embeddingMs(e, 1, 20);
    const batched = embeddingMs(e, 16, 320);
    expect(batched).toBeLessThan(oneByOne / 5);
  });

  it('kvBlocksFor sizes the cache like vLLM', () => {
    expect(kvBlocksFor({ hbmGiB: 10, utilization: 1, weightsGiB: 2, activationGiB: 0, kvBytesPerToken: 1024, blockTokens: 16 })).toBe(
      (8 * 2 ** 30) / (1024 * 16),
    );
  });

  it('resolves names, full profiles and validated overrides', () => {
    expect(resolveProfile('fallback').name).toBe('fallback');
    const full = getProfile('a100-llama3-8b');
    expect(resolveProfile(full)).toBe(full);
    const o = resolveProfile({ base: 'a100-llama3-8b', maxNumSeqs: 4, step: { overheadMs: 1 } });
    expect(o.maxNumSeqs).toBe(4);
    expect(o.step.overheadMs).toBe(1);
    expect(o.step.baseMs).toBe(full.step.baseMs);
    expect(o.contextWindow).toBe(8192);
    expect(resolveProfile({ kvBlocks: 1000 }).maxNumSeqs).toBe(256);
    expect(() => resolveProfile('h200')).toThrow('profile: expected one of h100-llama3-8b, a100-llama3-8b, h100-llama3.1-8b-128k, a100-llama3.1-8b-128k, fallback, got "h200"');
    expect(() => resolveProfile({ step: { baseMs: -1 } })).toThrow(/^profile\.step\.baseMs: expected/);
    expect(() => resolveProfile({ maxNumSeqs: 2.5 })).toThrow(ValidationError);
    expect(() => resolveProfile({ kvBlocks: 10 })).toThrow(/^profile\.kvBlocks: expected at least 512 blocks/);
  });
});

describe('128k long-context profiles', () => {
  it('Llama-3.1-8B on H100 and A100: a 131,072-token window, the 8B step fit, KV for three windows', () => {
    for (const [name, base] of [['h100-llama3.1-8b-128k', 'h100-llama3-8b'], ['a100-llama3.1-8b-128k', 'a100-llama3-8b']] as const) {
      const p = getProfile(name);
      const b = getProfile(base);
      expect(p.contextWindow).toBe(131_072);
      expect(p.kvBlocks * p.kvBlockTokens).toBeGreaterThan(3 * p.contextWindow);
      expect({ ...p.step, prefillAttentionMsPerTokenPair: undefined }).toEqual({ ...b.step, prefillAttentionMsPerTokenPair: undefined });
      expect(b.step.prefillAttentionMsPerTokenPair).toBeUndefined(); // the 8k profiles keep their calibrated timing
    }
  });

  it('a 128k prompt prefills in seconds (the quadratic attention term), not milliseconds; an over-long one is refused', async () => {
    const ttft = async (name: string, prompt: number): Promise<number> => {
      const clock = new VirtualClock();
      const gpu = new Gpu(getProfile(name), clock);
      let first = Number.NaN;
      gpu.submit({ promptTokens: prompt, startIndex: 0, endIndex: 1 }, { onToken: () => (first = clock.now()), onFinish: () => {}, onDrop: () => {} });
      await clock.runUntilIdle();
      return first;
    };
    const h100 = await ttft('h100-llama3.1-8b-128k', 128_000);
    const a100 = await ttft('a100-llama3.1-8b-128k', 128_000);
    console.log(`128k prefill: H100 ${(h100 / 1000).toFixed(1)} s, A100 ${(a100 / 1000).toFixed(1)} s`);
    expect(h100).toBeGreaterThan(6_000);
    expect(h100).toBeLessThan(20_000);
    expect(a100 / h100).toBeGreaterThan(2.5);
    // Short prompts: the extra term is small (a 1k prompt's TTFT within 5% of the 8k profile's).
    expect(await ttft('h100-llama3.1-8b-128k', 1_000)).toBeLessThan((await ttft('h100-llama3-8b', 1_000)) * 1.05);
    const model = new MockModel({ name: 'm', profile: 'h100-llama3.1-8b-128k', clock: new VirtualClock(), random: new Random(1) });
    await expect(model.generate({ id: 'x', model: 'm', kind: 'chat', messages: [], promptTokens: 131_000, maxTokens: 500 }, new AbortController().signal)).rejects.toBeInstanceOf(
      ContextLengthExceededError,
    );
  });
});
