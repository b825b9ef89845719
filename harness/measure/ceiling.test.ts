import { describe, expect, it } from 'vitest';
import { getProfile } from '../../sim/profiles.js';
import { computeCeiling, minMsPerToken, type CeilingModel, type CeilingRequest } from './ceiling.js';

const H100 = getProfile('h100-llama3-8b');
const model = (speed: CeilingModel['speed'] = []): CeilingModel => ({
  step: H100.step,
  maxBatchedTokens: H100.maxBatchedTokens,
  contextWindow: H100.contextWindow,
  embedding: H100.embedding,
  speed,
});
const chat = (i: number, atMs: number, o: Partial<CeilingRequest> = {}): CeilingRequest => ({
  id: `r${i}`,
  class: 'chat',
  kind: 'chat',
  earliestStartMs: atMs,
  fixedStart: true,
  promptTokens: 1000,
  uniquePromptTokens: 1000,
  outputTokens: 100,
  ...o,
});

describe('minMsPerToken', () => {
  it('is the least non-attention step time per batched token: at the full token budget for the H100 fit', () => {
    const s = H100.step;
    const atMax = (s.overheadMs + s.baseMs + s.perTokenMs * (8192 - s.flatTokens)) / 8192;
    expect(minMsPerToken(s, 8192)).toBeCloseTo(atMax, 12);
    // Never above the time per token of any batch size the GPU can run.
    for (const n of [1, 50, 88, 89, 256, 4096, 8192]) expect(minMsPerToken(s, 8192)).toBeLessThanOrEqual((s.overheadMs + s.baseMs + s.perTokenMs * Math.max(0, n - s.flatTokens)) / n + 1e-12);
  });
});

describe('computeCeiling', () => {
  const slo = { ttftMs: 2000, e2eMs: 30_000 };

  it('is the arrivals when the GPU has room: 10 requests over 10 s', () => {
    const reqs = Array.from({ length: 10 }, (_, i) => chat(i, i * 1000));
    const c = computeCeiling(reqs, model(), { slo, durationMs: 10_000, horizonMs: 610_000 });
    expect(c).toMatchObject({ requests: 10, planned: 10, feasible: 10, limit: 'arrivals', goodputPerSec: 1 });
  });

  it('is bounded by the GPU in a burst: 5,000 requests at once cannot all get a first token within 2 s', () => {
    const reqs = Array.from({ length: 5000 }, (_, i) => chat(i, 0));
    const c = computeCeiling(reqs, model(), { slo, durationMs: 10_000, horizonMs: 610_000 });
    expect(c.limit).toBe('capacity');
    // Prefill alone is about 18.3 µs a token: 2 s of GPU prefill 1,000-token prompts is ~100 of them, at most.
    expect(c.requests).toBeLessThan(150);
    expect(c.requests).toBeGreaterThan(50);
  });

  it('drops requests whose SLO window falls in an outage, and counts none of a brownout beyond its speed', () => {
    const reqs = Array.from({ length: 10 }, (_, i) => chat(i, 10_000 + i * 100));
    // Down from 9 s to 40 s: nobody arriving at 10–11 s gets a first token within 2 s or an answer within 30 s.
    const down = model([{ atMs: 9_000, speed: 0 }, { atMs: 40_000, speed: 1 }]);
    expect(computeCeiling(reqs, down, { slo, durationMs: 10_000, horizonMs: 610_000 }).feasible).toBe(0);
    // A 1000× brownout over the TTFT windows: the prefill (~20 ms each) cannot happen in 2 s of 2 ms of work.
    const slow = model([{ atMs: 9_000, speed: 0.001 }, { atMs: 40_000, speed: 1 }]);
    expect(computeCeiling(reqs, slow, { slo, durationMs: 10_000, horizonMs: 610_000 }).feasible).toBe(0);
  });

  it('drops prompts that do not fit the context window, and lets a duplicate ride on its original', () => {
    const reqs = [chat(0, 0, { promptTokens: 8192, uniquePromptTokens: 8192 }), chat(1, 0), chat(2, 0, { duplicate: true })];
    const c = computeCeiling(reqs, model(), { slo, durationMs: 1000, horizonMs: 610_000 });
    expect(c.feasible).toBe(2);
    expect(c.requests).toBe(2);
  });

  it("counts no more requests than a key's RPM bucket admits in each window", () => {
    // 600 requests over 60 s from one key limited to 120 requests a minute: at most 120 × (1 + window/1 min) a window.
    const reqs = Array.from({ length: 600 }, (_, i) => chat(i, i * 100, { apiKey: 'k', promptTokens: 100, uniquePromptTokens: 100, outputTokens: 10 }));
    const limited = { ...model(), rateLimits: { rpm: 120 } };
    const c = computeCeiling(reqs, limited, { slo, durationMs: 60_000, horizonMs: 660_000 });
    expect(c.requests).toBeLessThan(360);
    expect(c.requests).toBeGreaterThanOrEqual(120);
    // Another key's limit does not apply.
    const other = { ...model(), rateLimits: { keys: { other: { rpm: 1 } } } };
    expect(computeCeiling(reqs, other, { slo, durationMs: 60_000, horizonMs: 660_000 }).requests).toBe(600);
  });
});
