import { describe, expect, it } from 'vitest';
import { Random } from '../../src/random.js';
import { buildSessions } from './build.js';
import { ZipfPicker } from './prompt-pool.js';
import { SHORT_CHAT, weighted } from './presets.js';
import { parseWorkload, type SyntheticWorkload } from './spec.js';
import type { PlannedRequest, Session } from './types.js';

const workload = (extra: Partial<SyntheticWorkload> = {}): SyntheticWorkload => ({
  arrivals: { kind: 'poisson', ratePerSec: 100 },
  mix: [weighted(SHORT_CHAT, 1)],
  ...extra,
});

const single = (s: Session): { request: PlannedRequest; poolRank?: number } => {
  if (s.plan.kind !== 'single') throw new Error('expected single');
  return s.plan;
};

describe('ZipfPicker', () => {
  it('picks rank k with weight 1/k^s (s = 1: rank 0 twice as often as rank 1), uniform at s = 0', () => {
    const z = new ZipfPicker(10, 1);
    const r = new Random(3);
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) counts[z.pick(r.next())]! += 1;
    const h = [...Array(10).keys()].reduce((s, k) => s + 1 / (k + 1), 0);
    counts.forEach((n, k) => expect(n / 100_000).toBeCloseTo(1 / (k + 1) / h, 2));
    const u = new ZipfPicker(4, 0);
    expect([0.1, 0.3, 0.6, 0.99].map((x) => u.pick(x))).toEqual([0, 1, 2, 3]);
  });
});

describe('repeatedPrompts', () => {
  it('makes about `fraction` of single sessions ask a pool prompt, each ask identical but for the request id, at temperature 0', () => {
    const sessions = buildSessions(workload({ repeatedPrompts: { fraction: 0.5, poolSize: 20 } }), new Random(9), { durationMs: 40_000 });
    const pooled = sessions.filter((s) => single(s).poolRank !== undefined);
    expect(pooled.length / sessions.length).toBeGreaterThan(0.46);
    expect(pooled.length / sessions.length).toBeLessThan(0.54);
    const byRank = new Map<number, PlannedRequest[]>();
    for (const s of pooled) {
      const p = single(s);
      byRank.set(p.poolRank as number, [...(byRank.get(p.poolRank as number) ?? []), p.request]);
    }
    expect(byRank.size).toBe(20);
    for (const asks of byRank.values()) {
      const strip = ({ id: _id, ...rest }: PlannedRequest): unknown => rest;
      for (const a of asks) expect(strip(a)).toEqual(strip(asks[0] as PlannedRequest));
      expect(asks[0]?.temperature).toBe(0);
      expect(asks[0]?.idempotencyKey).toBeUndefined();
    }
    // The most popular prompt is asked about twice as often as the second.
    const n0 = byRank.get(0)?.length ?? 0;
    const n1 = byRank.get(1)?.length ?? 0;
    expect(n0 / n1).toBeGreaterThan(1.6);
    expect(n0 / n1).toBeLessThan(2.5);
  });

  it('is seeded, and shifts nothing else: the non-pooled sessions are those of the same workload without it', () => {
    const withPool = buildSessions(workload({ repeatedPrompts: { fraction: 0.3, poolSize: 5 } }), new Random(4), { durationMs: 5_000 });
    const again = buildSessions(workload({ repeatedPrompts: { fraction: 0.3, poolSize: 5 } }), new Random(4), { durationMs: 5_000 });
    const without = buildSessions(workload(), new Random(4), { durationMs: 5_000 });
    expect(JSON.stringify(withPool)).toBe(JSON.stringify(again));
    expect(withPool.map((s) => s.startAtMs)).toEqual(without.map((s) => s.startAtMs));
    withPool.forEach((s, i) => {
      if (single(s).poolRank === undefined) expect(JSON.stringify(s.plan)).toBe(JSON.stringify(without[i]?.plan));
    });
  });

  it('rejects a bad option naming the field', () => {
    expect(() => parseWorkload(workload({ repeatedPrompts: { fraction: 0.5, poolSize: 0 } }))).toThrow(/workload\.repeatedPrompts\.poolSize/);
    expect(() => parseWorkload(workload({ repeatedPrompts: { fraction: 1.5, poolSize: 3 } }))).toThrow(/workload\.repeatedPrompts\.fraction/);
  });
});
