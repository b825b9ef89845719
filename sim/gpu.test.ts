import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Clock } from '../src/time/clock.js';
import { VirtualClock } from '../src/time/virtual-clock.js';
import { Gpu, type SeqSink } from './gpu.js';
import { getProfile, resolveProfile, stepMs, type GpuProfile } from './profiles.js';

interface Trace {
  tokens: Array<{ index: number; atMs: number }>;
  finishedMs?: number;
  dropped: boolean;
}

function sink(clock: VirtualClock, trace: Trace): SeqSink {
  return {
    onToken: (index) => trace.tokens.push({ index, atMs: clock.now() }),
    onFinish: () => {
      trace.finishedMs = clock.now();
    },
    onDrop: () => {
      trace.dropped = true;
    },
  };
}

const newTrace = (): Trace => ({ tokens: [], dropped: false });
const h100 = getProfile('h100-llama3-8b');

describe('Gpu', () => {
  it('one sequence: a prefill step then one decode step per token, timed by stepMs', async () => {
    const clock = new VirtualClock();
    const gpu = new Gpu(h100, clock);
    const t = newTrace();
    gpu.submit({ promptTokens: 128, startIndex: 0, endIndex: 20 }, sink(clock, t));
    await clock.runUntilIdle();
    let expected = stepMs(h100.step, 128, 128);
    expect(t.tokens[0]?.atMs).toBeCloseTo(expected, 9);
    for (let k = 1; k < 20; k++) expected += stepMs(h100.step, 1, 128 + k);
    expect(t.finishedMs).toBeCloseTo(expected, 9);
    expect(t.tokens.map((x) => x.index)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(gpu.stats().steps).toBe(20);
    expect(gpu.stats().tokensComputed).toBe(128 + 19);
    expect(gpu.kvUsage).toBe(0);
    expect(clock.pendingTimers).toBe(0); // idle: no timer left behind
    expect(gpu.idle).toBe(true);
  });

  it('sequences submitted together share steps (continuous batching)', async () => {
    const clock = new VirtualClock();
    const gpu = new Gpu(h100, clock);
    const traces = Array.from({ length: 8 }, newTrace);
    for (const t of traces) gpu.submit({ promptTokens: 128, startIndex: 0, endIndex: 20 }, sink(clock, t));
    await clock.runUntilIdle();
    const ends = new Set(traces.map((t) => t.finishedMs));
    expect(ends.size).toBe(1);
    expect(gpu.stats().steps).toBe(20);
    expect(gpu.stats().batchedSeqs / gpu.stats().steps).toBe(8);
    expect(gpu.stats().busyMs).toBeCloseTo(gpu.stats().elapsedMs, 9);
  });

  it('queueing beyond maxNumSeqs delays the first token of later sequences', async () => {
    const clock = new VirtualClock();
    const p = resolveProfile({ base: 'h100-llama3-8b', maxNumSeqs: 2 });
    const gpu = new Gpu(p, clock);
    const traces = Array.from({ length: 5 }, newTrace);
    const handles = traces.map((t) => gpu.submit({ promptTokens: 100, startIndex: 0, endIndex: 10 }, sink(clock, t)));
    let maxRunning = 0;
    while (!gpu.idle) {
      maxRunning = Math.max(maxRunning, gpu.runningCount);
      await clock.advanceBy(1);
    }
    expect(maxRunning).toBe(2);
    const ttft = traces.map((t) => t.tokens[0]?.atMs ?? NaN);
    expect(ttft[0]).toBe(ttft[1]);
    expect(ttft[2]).toBeGreaterThan((traces[0]?.finishedMs ?? 0) - 1e-9);
    expect(handles[4]?.queueMs).toBeGreaterThan(handles[2]?.queueMs ?? Infinity);
  });

  it('chunks a long prefill under maxBatchedTokens', async () => {
    const clock = new VirtualClock();
    const p = resolveProfile({ base: 'h100-llama3-8b', maxBatchedTokens: 1024 });
    const gpu = new Gpu(p, clock);
    const t = newTrace();
    gpu.submit({ promptTokens: 3000, startIndex: 0, endIndex: 2 }, sink(clock, t));
    await clock.runUntilIdle();
    const expected = stepMs(p.step, 1024, 1024) + stepMs(p.step, 1024, 2048) + stepMs(p.step, 952, 3000);
    expect(t.tokens[0]?.atMs).toBeCloseTo(expected, 9);
    expect(gpu.stats().steps).toBe(4);
  });

  it('preempts the newest sequence when KV blocks run out, and every token still arrives once, in order', async () => {
    const clock = new VirtualClock();
    const p: GpuProfile = { ...h100, kvBlocks: 12, contextWindow: 192 };
    const gpu = new Gpu(p, clock);
    const traces = Array.from({ length: 4 }, newTrace);
    for (const t of traces) gpu.submit({ promptTokens: 30, startIndex: 0, endIndex: 60 }, sink(clock, t));
    let maxKv = 0;
    while (!gpu.idle) {
      maxKv = Math.max(maxKv, gpu.kvUsage);
      await clock.advanceBy(5);
    }
    expect(gpu.stats().preemptions).toBeGreaterThan(0);
    expect(gpu.stats().wastedTokens).toBeGreaterThan(0);
    expect(maxKv).toBeLessThanOrEqual(1);
    for (const t of traces) expect(t.tokens.map((x) => x.index)).toEqual(Array.from({ length: 60 }, (_, i) => i));
    expect(gpu.kvUsage).toBe(0);
  });

  it('counts the context a preemption makes it compute again, per sequence (recompute)', async () => {
    const clock = new VirtualClock();
    const p: GpuProfile = { ...h100, kvBlocks: 12, contextWindow: 192 };
    const gpu = new Gpu(p, clock);
    const handles = Array.from({ length: 4 }, () => gpu.submit({ promptTokens: 30, startIndex: 0, endIndex: 60 }, sink(clock, newTrace())));
    await clock.runUntilIdle();
    expect(gpu.stats().preemptions).toBeGreaterThan(0);
    const recomputed = handles.map((h) => h.recomputedTokens);
    expect(recomputed.some((r) => r > 0)).toBe(true);
    // Without preemption a sequence computes its 30 prompt tokens, then one token per output but the last: 30 + 59.
    // Everything the GPU computed beyond that is recompute, and each sequence's count adds up to it.
    expect(gpu.stats().tokensComputed).toBe(4 * (30 + 59) + recomputed.reduce((a, b) => a + b, 0));
  });

  it('counts no recompute without preemption', async () => {
    const clock = new VirtualClock();
    const gpu = new Gpu(h100, clock);
    const h = gpu.submit({ promptTokens: 128, startIndex: 0, endIndex: 20 }, sink(clock, newTrace()));
    await clock.runUntilIdle();
    expect(h.recomputedTokens).toBe(0);
    expect(gpu.stats().tokensComputed).toBe(128 + 19);
  });

  it('an abort frees the slot and blocks at the next step', async () => {
    const clock = new VirtualClock();
    const p = resolveProfile({ base: 'h100-llama3-8b', maxNumSeqs: 1 });
    const gpu = new Gpu(p, clock);
    const a = newTrace();
    const b = newTrace();
    const ha = gpu.submit({ promptTokens: 100, startIndex: 0, endIndex: 1000 }, sink(clock, a));
    gpu.submit({ promptTokens: 100, startIndex: 0, endIndex: 5 }, sink(clock, b));
    await clock.advanceBy(100);
    expect(gpu.runningCount).toBe(1);
    expect(gpu.waiting).toBe(1);
    const kvBefore = gpu.kvUsage;
    expect(kvBefore).toBeGreaterThan(0);
    ha.abort();
    const abortedAt = clock.now();
    await clock.runUntilIdle();
    expect(a.finishedMs).toBeUndefined();
    expect(a.tokens.every((x) => x.atMs <= abortedAt + stepMs(p.step, 1, 1200))).toBe(true);
    expect(b.tokens.length).toBe(5);
    expect(b.tokens[0]?.atMs).toBeLessThan(abortedAt + 2 * stepMs(p.step, 100, 1200));
    expect(gpu.stats().wastedTokens).toBe(1); // the token computed in the step the abort landed in
    expect(gpu.kvUsage).toBe(0);
  });

  it('a resumed sequence prefills the earlier output and continues from startIndex', async () => {
    const clock = new VirtualClock();
    const gpu = new Gpu(h100, clock);
    const t = newTrace();
    gpu.submit({ promptTokens: 50, startIndex: 30, endIndex: 40 }, sink(clock, t));
    await clock.runUntilIdle();
    expect(t.tokens.map((x) => x.index)).toEqual(Array.from({ length: 10 }, (_, i) => 30 + i));
    expect(t.tokens[0]?.atMs).toBeCloseTo(stepMs(h100.step, 80, 80), 9);
  });

  it('a crash drops everything, in flight and queued, and leaves no timer', async () => {
    const clock = new VirtualClock();
    const gpu = new Gpu(resolveProfile({ base: 'h100-llama3-8b', maxNumSeqs: 2 }), clock);
    const traces = Array.from({ length: 4 }, newTrace);
    for (const t of traces) gpu.submit({ promptTokens: 10, startIndex: 0, endIndex: 100 }, sink(clock, t));
    let embedDropped = false;
    await clock.advanceBy(50);
    gpu.submitEmbedding(5, () => undefined, () => (embedDropped = true));
    gpu.crash();
    expect(traces.every((t) => t.dropped)).toBe(true);
    expect(embedDropped).toBe(true);
    expect(gpu.runningCount + gpu.waiting).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('embedding calls take their cost on the GPU and alternate with generation steps', async () => {
    const clock = new VirtualClock();
    const gpu = new Gpu(h100, clock);
    const t = newTrace();
    gpu.submit({ promptTokens: 10, startIndex: 0, endIndex: 3 }, sink(clock, t));
    let doneAt = -1;
    gpu.submitEmbedding(40, () => (doneAt = clock.now()), () => undefined);
    await clock.runUntilIdle();
    // Both arrived in the same instant: the embedding call runs first, then generation resumes.
    expect(doneAt).toBe(40);
    expect(t.tokens[0]?.atMs).toBeCloseTo(40 + stepMs(h100.step, 10, 10), 9);
    expect(gpu.stats().embeddingCalls).toBe(1);
    expect(gpu.stats().busyMs).toBeCloseTo(t.finishedMs ?? 0, 9);
  });

  it('a brownout multiplies step time', async () => {
    const clock = new VirtualClock();
    const gpu = new Gpu(h100, clock, { stepMultiplier: () => 3 });
    const t = newTrace();
    gpu.submit({ promptTokens: 128, startIndex: 0, endIndex: 1 }, sink(clock, t));
    await clock.runUntilIdle();
    expect(t.finishedMs).toBeCloseTo(3 * stepMs(h100.step, 128, 128), 9);
  });

  it('a step straddling a brownout edge runs at each rate for its share', async () => {
    // A 10 ms step (at rate 1) starting at 0, with the rate 3 from 0 to 6 ms: 2 ms of work done by 6 ms, 8 left at 1.
    const clock = new VirtualClock();
    const base = stepMs(h100.step, 128, 128);
    const edge = 6;
    const gpu = new Gpu(h100, clock, { stepMultiplier: (t) => (t < edge ? 3 : 1), nextRateChange: (t) => (t < edge ? edge : undefined) });
    const t = newTrace();
    gpu.submit({ promptTokens: 128, startIndex: 0, endIndex: 1 }, sink(clock, t));
    await clock.runUntilIdle();
    expect(t.finishedMs).toBeCloseTo(edge + (base - edge / 3), 9);
  });

  it('invariants under random load and aborts (property): slots and blocks never exceeded, every sequence ends once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            atMs: fc.integer({ min: 0, max: 200 }),
            prompt: fc.integer({ min: 1, max: 120 }),
            out: fc.integer({ min: 1, max: 60 }),
            abortAfterMs: fc.option(fc.integer({ min: 0, max: 300 })),
          }),
          { minLength: 1, maxLength: 25 },
        ),
        async (specs) => {
          const clock = new VirtualClock();
          const p: GpuProfile = { ...h100, maxNumSeqs: 4, kvBlocks: 16, maxBatchedTokens: 64, contextWindow: 256 };
          const gpu = new Gpu(p, clock);
          const traces = specs.map(newTrace);
          specs.forEach((s, i) => {
            clock.setTimer(s.atMs, () => {
              const h = gpu.submit({ promptTokens: s.prompt, startIndex: 0, endIndex: s.out }, sink(clock, traces[i] as Trace));
              if (s.abortAfterMs !== null) clock.setTimer(s.abortAfterMs, () => h.abort());
            });
          });
          let ok = true;
          while (clock.pendingTimers > 0) {
            await clock.advanceBy(3);
            if (gpu.runningCount > 4 || gpu.kvUsage > 1 || gpu.kvUsage < 0) ok = false;
          }
          expect(ok).toBe(true);
          specs.forEach((s, i) => {
            const t = traces[i] as Trace;
            const idx = t.tokens.map((x) => x.index);
            expect(idx).toEqual(Array.from({ length: idx.length }, (_, k) => k));
            if (s.abortAfterMs === null) expect(t.finishedMs).toBeDefined();
            if (t.finishedMs !== undefined) expect(idx.length).toBe(s.out);
          });
          expect(gpu.kvUsage).toBe(0);
          expect(gpu.runningCount + gpu.waiting).toBe(0);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('late timers do not push every later step back: steps chain from when the previous one was due', async () => {
    // A clock whose timers all fire 3 ms late, as a busy event loop's would.
    const inner = new VirtualClock();
    const lateMs = 3;
    const late: Clock = { now: () => inner.now(), sleep: (ms, signal) => inner.sleep(ms, signal), setTimer: (ms, fn, label) => inner.setTimer(ms + lateMs, fn, label) };
    const gpu = new Gpu(h100, late);
    const t: Trace = newTrace();
    gpu.submit({ promptTokens: 128, startIndex: 0, endIndex: 50 }, { onToken: (index) => t.tokens.push({ index, atMs: inner.now() }), onFinish: () => (t.finishedMs = inner.now()), onDrop: () => undefined });
    await inner.runUntilIdle();
    let ideal = stepMs(h100.step, 128, 128);
    for (let k = 1; k < 50; k++) ideal += stepMs(h100.step, 1, 128 + k);
    // Without chaining, 50 steps (and the kick) would each add 3 ms: 150+ ms late. With it, the lateness is that of
    // the last timers only, since each step is scheduled from when the previous one was due.
    expect(t.finishedMs).toBeGreaterThanOrEqual(ideal);
    expect((t.finishedMs as number) - ideal).toBeLessThan(lateMs * 2 + 1e-9);
    // The GPU was busy for the steps' own durations, not for the lateness.
    expect(gpu.stats().busyMs).toBeCloseTo(ideal, 6);
  });
});
