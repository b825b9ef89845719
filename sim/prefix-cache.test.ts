import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { VirtualClock } from '../src/time/virtual-clock.js';
import type { PrefixSegment } from '../src/upstream/model-client.js';
import { Gpu, type SeqHandle, type SeqInput } from './gpu.js';
import { BlockHasher } from './prefix-cache.js';
import { formatPrefixHeader, parsePrefixHeader } from './prefix-segments.js';
import { getProfile, resolveProfile, stepMs } from './profiles.js';

const h100 = getProfile('h100-llama3-8b');

/** Runs one sequence to its end on `gpu`; returns its first-token time (from submit) and handle. */
async function run(clock: VirtualClock, gpu: Gpu, input: SeqInput): Promise<{ ttftMs: number; handle: SeqHandle }> {
  const start = clock.now();
  let first: number | undefined;
  const handle = gpu.submit(input, {
    onToken: () => {
      first ??= clock.now() - start;
    },
    onFinish: () => {},
    onDrop: () => {},
  });
  await clock.runUntilIdle();
  return { ttftMs: first ?? Number.NaN, handle };
}

const seg = (id: string, tokens: number): PrefixSegment => ({ id, tokens });

describe('BlockHasher', () => {
  it('chains: equal segments give equal hashes up to where they differ, and none after', () => {
    const a = new BlockHasher([seg('sys', 40), seg('u1', 40)], 80, undefined, 0, 16);
    const b = new BlockHasher([seg('sys', 40), seg('u2', 40)], 80, undefined, 0, 16);
    expect(a.hashableBlocks).toBe(5);
    expect(a.hash(0)).toBe(b.hash(0));
    expect(a.hash(1)).toBe(b.hash(1));
    // Block 2 holds tokens 32..47: 8 of `sys`, then 8 of the user message, which differ.
    expect(a.hash(2)).not.toBe(b.hash(2));
    expect(a.hash(3)).not.toBe(b.hash(3));
  });

  it('the same tokens cut into other segments are other content (ids name content)', () => {
    const a = new BlockHasher([seg('x', 32)], 32, undefined, 0, 16);
    const b = new BlockHasher([seg('x', 16), seg('y', 16)], 32, undefined, 0, 16);
    expect(a.hash(0)).toBe(b.hash(0));
    expect(a.hash(1)).not.toBe(b.hash(1));
  });

  it('covers the output only when the segments cover the whole prompt', () => {
    expect(new BlockHasher([seg('p', 50)], 50, 'out:r1', 30, 16).hashableTokens).toBe(80);
    expect(new BlockHasher([seg('p', 40)], 50, 'out:r1', 30, 16).hashableTokens).toBe(40);
    expect(new BlockHasher([seg('p', 70)], 50, 'out:r1', 30, 16).hashableTokens).toBe(80); // clipped to the prompt
  });
});

describe('x-mock-prefix', () => {
  it('round-trips, and a bad part is named, cut short', () => {
    const segs = [seg('sys/acme', 512), seg('out:s01/t0', 120)];
    expect(parsePrefixHeader(formatPrefixHeader(segs))).toEqual(segs);
    const bad = parsePrefixHeader(`sys=10,${'x'.repeat(300)}=abc`);
    expect(typeof bad).toBe('string');
    expect(String(bad)).toContain('ID=TOKENS');
    expect(String(bad).length).toBeLessThan(200);
  });
});

describe('Gpu prefix caching', () => {
  it('a repeated prefix is not prefilled again: hits counted in whole blocks, TTFT falls', async () => {
    const clock = new VirtualClock();
    const gpu = new Gpu(h100, clock);
    const prefix = [seg('sys', 1990)];
    const a = await run(clock, gpu, { promptTokens: 2100, startIndex: 0, endIndex: 5, prefix });
    const b = await run(clock, gpu, { promptTokens: 2100, startIndex: 0, endIndex: 5, prefix });
    expect(a.handle.cachedTokens).toBe(0);
    expect(b.handle.cachedTokens).toBe(1984); // whole blocks only: 124 × 16
    expect(a.ttftMs).toBeCloseTo(stepMs(h100.step, 2100, 2100), 9);
    // Only the 116 tokens past the cached blocks are computed; attention still reads the whole context.
    expect(b.ttftMs).toBeCloseTo(stepMs(h100.step, 116, 2100), 9);
    expect(b.ttftMs).toBeLessThan(a.ttftMs / 2);
    const s = gpu.stats();
    expect(s.prefixCacheQueries).toBe(4200);
    expect(s.prefixCacheHits).toBe(1984);
  });

  it('caching off in the profile: every prompt is prefilled in full, nothing counted', async () => {
    const clock = new VirtualClock();
    const gpu = new Gpu(resolveProfile({ prefixCaching: false }), clock);
    const prefix = [seg('sys', 2000)];
    const a = await run(clock, gpu, { promptTokens: 2100, startIndex: 0, endIndex: 5, prefix });
    const b = await run(clock, gpu, { promptTokens: 2100, startIndex: 0, endIndex: 5, prefix });
    expect(b.handle.cachedTokens).toBe(0);
    expect(b.ttftMs).toBeCloseTo(a.ttftMs, 9);
    expect(gpu.stats().prefixCacheQueries).toBe(0);
  });

  it('a fully cached prompt still computes its last token', async () => {
    const clock = new VirtualClock();
    const gpu = new Gpu(h100, clock);
    const prefix = [seg('doc', 64)];
    await run(clock, gpu, { promptTokens: 64, startIndex: 0, endIndex: 1, prefix });
    const b = await run(clock, gpu, { promptTokens: 64, startIndex: 0, endIndex: 1, prefix });
    expect(b.handle.cachedTokens).toBe(48); // blocks 0-2; block 3 holds the last token and is recomputed
  });

  it("the next turn hits the previous turn's prompt and output (output blocks are named by the request)", async () => {
    const clock = new VirtualClock();
    const gpu = new Gpu(h100, clock);
    const turn0 = [seg('sys', 300), seg('s1/u0', 100)];
    await run(clock, gpu, { promptTokens: 400, startIndex: 0, endIndex: 96, prefix: turn0, outputId: 'out:s1/t0' });
    const turn1 = [...turn0, seg('out:s1/t0', 96), seg('s1/u1', 50)];
    const t1 = await run(clock, gpu, { promptTokens: 546, startIndex: 0, endIndex: 10, prefix: turn1, outputId: 'out:s1/t1' });
    // Turn 0 computed KV for 400 + 95 tokens (the last output token is emitted, never fed back): 30 full blocks.
    expect(t1.handle.cachedTokens).toBe(480);
  });

  it('under memory pressure the least recently used cached blocks are evicted first', async () => {
    const clock = new VirtualClock();
    // 40 blocks of 16 tokens: room for about three 200-token prompts' blocks.
    const gpu = new Gpu(resolveProfile({ kvBlocks: 40, contextWindow: 512 }), clock);
    const p = (k: string): SeqInput => ({ promptTokens: 200, startIndex: 0, endIndex: 2, prefix: [seg(k, 200)] });
    await run(clock, gpu, p('a'));
    await run(clock, gpu, p('b'));
    await run(clock, gpu, p('c'));
    await run(clock, gpu, p('b')); // touches b: a is now the oldest
    await run(clock, gpu, p('d')); // needs room: evicts a's blocks, then c's as needed
    const b = await run(clock, gpu, p('b'));
    const a = await run(clock, gpu, p('a'));
    expect(b.handle.cachedTokens).toBe(192);
    expect(a.handle.cachedTokens).toBe(0);
    expect(gpu.stats().prefixCacheEvictions).toBeGreaterThan(0);
    expect(gpu.kvUsage).toBe(0); // every block free again (cached ones are free, evictable)
  });

  it('a crash forgets the cache', async () => {
    const clock = new VirtualClock();
    const gpu = new Gpu(h100, clock);
    const input: SeqInput = { promptTokens: 500, startIndex: 0, endIndex: 2, prefix: [seg('sys', 500)] };
    await run(clock, gpu, input);
    gpu.crash();
    expect((await run(clock, gpu, input)).handle.cachedTokens).toBe(0);
  });

  it('property: with shared prefixes, aborts and preemption, blocks are never over-committed and all come back', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            atMs: fc.integer({ min: 0, max: 300 }),
            prefix: fc.integer({ min: 0, max: 3 }),
            shared: fc.integer({ min: 0, max: 300 }),
            extra: fc.integer({ min: 1, max: 200 }),
            out: fc.integer({ min: 1, max: 60 }),
            abortAfterMs: fc.option(fc.integer({ min: 0, max: 200 }), { nil: undefined }),
          }),
          { minLength: 1, maxLength: 30 },
        ),
        async (reqs) => {
          const clock = new VirtualClock();
          const profile = resolveProfile({ kvBlocks: 64, contextWindow: 1024, maxNumSeqs: 8, maxBatchedTokens: 256 });
          const gpu = new Gpu(profile, clock);
          let ended = 0;
          for (const r of reqs) {
            clock.setTimer(r.atMs, () => {
              const h = gpu.submit(
                { promptTokens: r.shared + r.extra, startIndex: 0, endIndex: r.out, prefix: [seg(`p${r.prefix}`, r.shared + r.extra)], outputId: `o${r.atMs}` },
                { onToken: () => expect(gpu.kvUsage).toBeLessThanOrEqual(1), onFinish: () => ended++, onDrop: () => ended++ },
              );
              if (r.abortAfterMs !== undefined) clock.setTimer(r.abortAfterMs, () => h.abort());
            });
          }
          await clock.runUntilIdle();
          expect(gpu.kvUsage).toBe(0);
          const s = gpu.stats();
          expect(s.prefixCacheHits).toBeLessThanOrEqual(s.prefixCacheQueries);
          expect(ended).toBeLessThanOrEqual(reqs.length);
        },
      ),
      { numRuns: 60, seed: 17 },
    );
  });
});
