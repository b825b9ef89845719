import { describe, expect, it } from 'vitest';
import { e2eMs, itlSamples, meetsSlo, sloBoundsFor, tpotMs, ttftMs } from './latency.js';
import type { RequestObservation } from './types.js';

const obs = (o: Partial<RequestObservation> = {}): RequestObservation => ({
  id: 'r1',
  class: 'interactive',
  intendedStartMs: 1000,
  firstTokenAtMs: 1300,
  endAtMs: 2300,
  chunks: [
    { atMs: 1300, count: 1 },
    { atMs: 1800, count: 5 },
    { atMs: 2300, count: 4 },
  ],
  tokens: 10,
  outcome: 'ok',
  queuedMs: 100,
  backoffMs: 0,
  attempts: 1,
  upstreamCalls: 1,
  ...o,
});

describe('per-request latencies from the intended start', () => {
  it('TTFT and E2E count from the intended start, not from the send', () => {
    expect(ttftMs(obs())).toBe(300);
    expect(e2eMs(obs())).toBe(1300);
    expect(ttftMs(obs({ firstTokenAtMs: undefined, chunks: [] }))).toBeNull();
    // Falls back to the first chunk when firstTokenAtMs is not given.
    expect(ttftMs(obs({ firstTokenAtMs: undefined }))).toBe(300);
  });

  it('TPOT = (E2E − TTFT) / (tokens − 1)', () => {
    expect(tpotMs(obs())).toBeCloseTo((1300 - 300) / 9, 10);
    expect(tpotMs(obs({ tokens: 1 }))).toBeNull();
  });

  it('ITL: a chunk of k tokens arriving Δ after the previous one is k samples of Δ/k', () => {
    expect(itlSamples(obs().chunks)).toEqual([
      { valueMs: 100, count: 5 },
      { valueMs: 125, count: 4 },
    ]);
    expect(itlSamples([{ atMs: 5, count: 3 }])).toEqual([]);
  });
});

describe('SLO checks', () => {
  const slo = { ttftMs: 500, e2eMs: 2000, classes: { batch: { ttftMs: 10_000, e2eMs: 60_000 } } };

  it('an ok request within every bound meets the SLO', () => {
    expect(meetsSlo(obs(), slo)).toBe(true);
  });

  it('any bound violated, no first token, or a non-ok outcome fails it', () => {
    expect(meetsSlo(obs({ firstTokenAtMs: 1600, chunks: [{ atMs: 1600, count: 10 }] }), slo)).toBe(false);
    expect(meetsSlo(obs({ endAtMs: 3001 }), slo)).toBe(false);
    expect(meetsSlo(obs({ firstTokenAtMs: undefined, chunks: [] }), slo)).toBe(false);
    expect(meetsSlo(obs({ outcome: 'degraded' }), slo)).toBe(false);
    expect(meetsSlo(obs({ outcome: 'shed' }), {})).toBe(false);
  });

  it('class bounds replace the defaults field by field; a bound exactly at the limit passes', () => {
    expect(sloBoundsFor(slo, 'batch')).toEqual({ ttftMs: 10_000, e2eMs: 60_000, tpotMs: undefined });
    expect(meetsSlo(obs({ class: 'batch', endAtMs: 20_000 }), slo)).toBe(true);
    expect(meetsSlo(obs({ endAtMs: 3000 }), slo)).toBe(true);
    expect(meetsSlo(obs(), { tpotMs: 100 })).toBe(false); // TPOT 111 ms
    expect(meetsSlo(obs(), { tpotMs: 112 })).toBe(true);
  });
});
