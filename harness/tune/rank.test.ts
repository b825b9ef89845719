import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { syntheticSweep } from './fixture.js';
import { rankingOf } from './document.js';
import { preset } from '../../src/policy.js';
import type { PolicySummary } from '../measure/result.js';
import { syntheticRunResult } from '../report/synthetic-run.js';
import { median, rankSweep, spreadOf, type Ranking } from './rank.js';
import { parseSlo } from './slo.js';
import { buildConfigs, parseSpace, type TuneConfig } from './space.js';
import type { TaskRecord } from './task.js';
import { heatmaps, paretoPoints, sensitivities } from './views.js';

const doc = syntheticSweep([1, 2, 3]);
const ranking = rankingOf(doc);

describe('ranking', () => {
  it('puts every configuration that meets the SLOs first, then orders by median goodput, then p99 E2E', () => {
    const r = ranking.configs;
    expect(r).toHaveLength(24);
    const meets = r.map((c) => c.meetsAll);
    expect(meets.indexOf(false)).toBeGreaterThan(0);
    expect(meets.slice(meets.indexOf(false)).every((m) => !m)).toBe(true);
    for (const group of [r.filter((c) => c.meetsAll), r.filter((c) => !c.meetsAll)]) {
      for (let i = 1; i < group.length; i++) {
        const a = group[i - 1]!.figures;
        const b = group[i]!.figures;
        expect(a.goodputPerSec.median!).toBeGreaterThanOrEqual(b.goodputPerSec.median!);
        if (a.goodputPerSec.median === b.goodputPerSec.median) expect(a.e2eP99Ms.median!).toBeLessThanOrEqual(b.e2eP99Ms.median!);
      }
    }
    expect(ranking.best?.id).toBe(r[0]!.id);
    expect(r.map((c) => c.rank)).toEqual(r.map((_, i) => i + 1));
  });

  it('meets only when every seed meets, and keeps the spread of every figure', () => {
    for (const c of ranking.configs) {
      expect(c.meetsAll).toBe(c.runs.every((run) => run.meets));
      expect(c.meetsCount).toBe(c.runs.filter((run) => run.meets).length);
      const g = c.runs.map((run) => run.figures.goodputPerSec!);
      expect(c.figures.goodputPerSec).toEqual({ min: Math.min(...g), median: median(g), max: Math.max(...g), n: 3, of: 3 });
    }
  });

  it('lists as ties the SLO-meeting configurations whose goodput range overlaps the winner', () => {
    const best = ranking.best!;
    for (const c of ranking.configs.slice(1)) {
      const overlaps = c.meetsAll && c.figures.goodputPerSec.max! >= best.figures.goodputPerSec.min!;
      expect(ranking.ties.includes(c.id)).toBe(overlaps);
    }
    expect(rankingOf(syntheticSweep([1])).ties).toEqual([]); // one seed: no spread, no tie claims
  });

  it('spreads ignore unknown values but count them', () => {
    expect(spreadOf([3, null, 1])).toEqual({ min: 1, median: 2, max: 3, n: 2, of: 3 });
    expect(spreadOf([null])).toEqual({ min: null, median: null, max: null, n: 0, of: 1 });
  });
});

describe('views', () => {
  it('the Pareto front holds exactly the undominated points', () => {
    fc.assert(
      fc.property(fc.constantFrom<'e2eP99Ms' | 'ttftP99Ms'>('e2eP99Ms', 'ttftP99Ms'), (key) => {
        const pts = paretoPoints(ranking, key);
        expect(pts).toHaveLength(24);
        const dominated = (p: (typeof pts)[number]): boolean =>
          pts.some((o) => o !== p && o.latency.median! <= p.latency.median! && o.goodput.median! >= p.goodput.median! && (o.latency.median! < p.latency.median! || o.goodput.median! > p.goodput.median!));
        for (const p of pts) expect(p.onFront).toBe(!dominated(p));
        expect(pts.some((p) => p.onFront)).toBe(true);
      }),
    );
  });

  it('a heatmap per pair of parameters, each cell the best-ranked configuration with that pair', () => {
    const maps = heatmaps(ranking, doc.dimensions);
    expect(maps.map((h) => `${h.rowPath}×${h.colPath}`)).toEqual(['concurrency.limit×retryBudget.ratio', 'concurrency.limit×retry.maxAttempts', 'retryBudget.ratio×retry.maxAttempts']);
    const h = maps[0]!;
    expect(h.cells).toHaveLength(4);
    expect(h.cells[0]).toHaveLength(3);
    for (const row of h.cells) {
      for (const cell of row) {
        const candidates = ranking.configs.filter((c) => c.assignments[h.rowPath] === cell.row && c.assignments[h.colPath] === cell.col);
        expect(candidates).toHaveLength(2);
        expect(cell.config?.rank).toBe(Math.min(...candidates.map((c) => c.rank)));
      }
    }
  });

  it('a sensitivity slice per parameter through the top configuration', () => {
    const sens = sensitivities(ranking, doc.dimensions);
    const top = ranking.configs[0]!;
    expect(sens.map((s) => s.path)).toEqual(doc.dimensions.map((d) => d.path));
    for (const s of sens) {
      expect(s.points.map((p) => p.value)).toEqual(doc.dimensions.find((d) => d.path === s.path)!.values);
      for (const p of s.points) {
        expect(p.slice?.assignments[s.path]).toBe(p.value);
        for (const other of doc.dimensions.filter((d) => d.path !== s.path)) expect(p.slice?.assignments[other.path]).toBe(top.assignments[other.path]);
      }
      expect(s.points.some((p) => p.slice?.id === top.id)).toBe(true);
    }
  });
});

describe('ranking with a cost bound and by goodput per dollar', () => {
  // Four configurations with hand-set figures: p99 TTFT, $ per 1,000 good requests, goodput.
  const synthetic = syntheticRunResult(5, 60_000, 5).policies[0]!;
  const base = preset('resilient');
  const dims = parseSpace(['concurrency.limit=1,2,3,4'], base);
  const configs = buildConfigs(base, dims, { kind: 'grid' }, 1);
  const figures: Record<number, { ttft: number; per1k: number; goodput: number }> = {
    1: { ttft: 1500, per1k: 0.9, goodput: 10 }, // misses the cost bound
    2: { ttft: 1800, per1k: 0.7, goodput: 8 },
    3: { ttft: 2500, per1k: 0.5, goodput: 12 }, // misses the TTFT bound
    4: { ttft: 1000, per1k: 0.4, goodput: 6 },
  };
  const recordOf = (c: TuneConfig, seed: number): TaskRecord => {
    const f = figures[c.policy.concurrency.limit]!;
    const sloMet = f.goodput * 60;
    const totalUsd = (f.per1k * sloMet) / 1000;
    const summary: PolicySummary = {
      ...synthetic.summary,
      goodputPerSec: f.goodput,
      sloMet,
      ttftMs: { ...synthetic.summary.ttftMs, p99: f.ttft },
      cost: { ...synthetic.summary.cost, totalUsd, per1kGoodUsd: f.per1k, wastedUsd: 0 },
    };
    return { v: 1, key: `${c.id}:${seed}`, configId: c.id, seed, summary, counters: synthetic.counters, sessions: 100, simulatedMs: 60_000, wallMs: 1 };
  };
  const slo = parseSlo('ttft.p99<=2s,cost.per1kGood<=0.8');
  const limits = (r: Ranking): number[] => r.configs.map((c) => c.policy.concurrency.limit);

  it('parses cost bounds into the cost metrics', () => {
    expect(slo).toEqual([
      { metric: 'ttftMs', stat: 'p99', op: '<=', value: 2000 },
      { metric: 'cost.per1kGoodUsd', op: '<=', value: 0.8 },
    ]);
    expect(() => parseSlo('cost.perGood<=1')).toThrow(/unknown cost figure "perGood"/);
  });

  it('ranks the configurations that meet both the TTFT and the cost bound first, by goodput', () => {
    const r = rankSweep(configs, [1], slo, recordOf);
    expect(limits(r)).toEqual([2, 4, 3, 1]);
    expect(r.configs.map((c) => c.meetsAll)).toEqual([true, true, false, false]);
    expect(r.best?.policy.concurrency.limit).toBe(2);
    expect(r.configs[3]!.runs[0]!.slo.find((k) => k.label.startsWith('cost'))).toMatchObject({ actual: 0.9, pass: false });
  });

  it('by goodput per dollar, the cheaper SLO-meeting configuration wins', () => {
    const r = rankSweep(configs, [1], slo, recordOf, 'goodput-per-dollar');
    expect(limits(r)).toEqual([4, 2, 3, 1]);
    // 1,000 good requests per $0.40 = 2,500 per dollar.
    expect(r.best?.figures.goodPerDollar.median).toBeCloseTo(2500, 6);
  });

  it('an unpriced run has no cost, so a cost bound fails rather than passing on a zero', () => {
    const unpriced = (c: TuneConfig, seed: number): TaskRecord => {
      const rec = recordOf(c, seed);
      return { ...rec, summary: { ...rec.summary, cost: { ...rec.summary.cost, totalUsd: null, per1kGoodUsd: null } } };
    };
    expect(rankSweep(configs, [1], slo, unpriced).best).toBeNull();
  });
});
