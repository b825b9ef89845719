import { describe, expect, it } from 'vitest';
import type { AttemptBill } from '../measure/billing.js';
import type { RequestObservation } from '../measure/types.js';
import { cacheCeiling } from './cache-ceiling.js';

const bill = (inputTokens: number, outputTokens: number): AttemptBill => ({
  id: 'x',
  startMs: 0,
  endMs: 1,
  inputTokens,
  cachedInputTokens: 0,
  outputTokens,
  deliveredTokens: outputTokens,
  resumeFrom: 0,
  completed: true,
  fallback: false,
});

const obs = (id: string, atMs: number, upstreamCalls: number, bills: AttemptBill[]): RequestObservation =>
  ({ id, class: 'q', intendedStartMs: atMs, endAtMs: atMs + 1, chunks: [], tokens: 0, outcome: 'ok', queuedMs: 0, backoffMs: 0, attempts: upstreamCalls, upstreamCalls, bills }) as unknown as RequestObservation;

describe('cacheCeiling', () => {
  it('the first occurrence of each identity must go upstream: the ceiling is what the later ones cost (hand-computed)', () => {
    // a, b, a (2 calls: a retry), a, c: distinct a, b, c; repeats: the 3rd and 4th requests.
    const ids = new Map([
      ['r1', { key: 'a', atMs: 0 }],
      ['r2', { key: 'b', atMs: 1 }],
      ['r3', { key: 'a', atMs: 2 }],
      ['r4', { key: 'a', atMs: 3 }],
      ['r5', { key: 'c', atMs: 4 }],
    ]);
    // Given out of order: arrival order decides which occurrence is first.
    const observed = [obs('r3', 2, 2, [bill(100, 10), bill(100, 10)]), obs('r1', 0, 1, [bill(100, 10)]), obs('r2', 1, 1, [bill(200, 0)]), obs('r4', 3, 1, [bill(100, 10)]), obs('r5', 4, 1, [bill(0, 20)])];
    const c = cacheCeiling(observed, ids, { kind: 'tokens', inputPer1M: 1, cachedInputPer1M: 0.5, outputPer1M: 10 });
    expect(c).toMatchObject({ requests: 5, distinct: 3, repeats: 2, calls: 6, repeatCalls: 3 });
    expect(c.maxCallCut).toBeCloseTo(3 / 6, 12);
    // $ per request: r1 200e-6, r2 200e-6, r3 400e-6, r4 200e-6, r5 200e-6; the repeats r3 and r4: 600e-6 of 1200e-6.
    expect(c.usd).toBeCloseTo(1200e-6, 12);
    expect(c.repeatUsd).toBeCloseTo(600e-6, 12);
    expect(c.maxCostCut).toBeCloseTo(0.5, 12);
  });

  it('without a token price the cost ceiling is unknown; an unknown identity counts as distinct', () => {
    const c = cacheCeiling([obs('r1', 0, 1, []), obs('r2', 1, 1, [])], new Map(), undefined);
    expect(c).toMatchObject({ requests: 2, distinct: 2, repeats: 0, maxCallCut: 0, usd: null, repeatUsd: null, maxCostCut: null });
  });
});
