import { describe, expect, it } from 'vitest';
import type { RunResult } from '../report/schema.js';
import { syntheticRunResult } from '../report/synthetic-run.js';
import { compareModes, renderAgreementMarkdown } from './agreement.js';

/** `r` with every policy's TTFT and E2E percentiles and goodput scaled. */
function scaled(r: RunResult, f: { p50: number; p99: number; goodput: number }, mode: 'virtual' | 'live'): RunResult {
  return {
    ...r,
    scenario: { ...r.scenario, mode },
    meta: { ...r.meta, loadGenerator: mode === 'live' ? { valid: true, reasons: [], eventLoopLagP99Ms: 3, cpuPct: 20 } : null },
    policies: r.policies.map((p) => ({
      ...p,
      summary: {
        ...p.summary,
        goodputPerSec: p.summary.goodputPerSec * f.goodput,
        ttftMs: { ...p.summary.ttftMs, p50: (p.summary.ttftMs.p50 ?? 0) * f.p50, p99: (p.summary.ttftMs.p99 ?? 0) * f.p99 },
        e2eMs: { ...p.summary.e2eMs, p50: (p.summary.e2eMs.p50 ?? 0) * f.p50, p99: (p.summary.e2eMs.p99 ?? 0) * f.p99 },
      },
    })),
  };
}

describe('compareModes', () => {
  const base = syntheticRunResult(3, 20_000, 10);
  const virtual = scaled(base, { p50: 1, p99: 1, goodput: 1 }, 'virtual');

  it('agrees within the goals: p50 ±10%, p99 ±20%, goodput ±10%', () => {
    const r = compareModes(virtual, scaled(base, { p50: 1.09, p99: 0.82, goodput: 0.95 }, 'live'));
    expect(r.pass).toBe(true);
    expect(r.liveValid).toBe(true);
    const rows = r.policies[0]?.rows ?? [];
    expect(rows.map((x) => x.label)).toEqual(['ttftMs p50', 'ttftMs p99', 'e2eMs p50', 'e2eMs p99', 'goodputPerSec']);
    expect(rows.map((x) => x.diffPct)).toEqual([9, -18, 9, -18, -5]);
    expect(rows.map((x) => x.goalPct)).toEqual([10, 20, 10, 20, 10]);
  });

  it('misses a figure outside its goal, and says which', () => {
    const r = compareModes(virtual, scaled(base, { p50: 1.12, p99: 1.1, goodput: 1 }, 'live'));
    expect(r.pass).toBe(false);
    const misses = r.policies.flatMap((p) => p.rows.filter((x) => !x.pass).map((x) => `${p.policy} ${x.label}`));
    expect(misses).toEqual(r.policies.flatMap((p) => [`${p.policy} ttftMs p50`, `${p.policy} e2eMs p50`]));
    const md = renderAgreementMarkdown(r);
    expect(md).toContain('**disagree**');
    expect(md).toContain('| +12.0% | ±10% | MISS |');
  });

  it('reports an invalid live run and a missing figure as not agreeing', () => {
    const live = scaled(base, { p50: 1, p99: 1, goodput: 1 }, 'live');
    const invalid = { ...live, meta: { ...live.meta, loadGenerator: { valid: false, reasons: ['lag'], eventLoopLagP99Ms: 90, cpuPct: 50 } } };
    const r = compareModes(virtual, invalid);
    expect(r.liveValid).toBe(false);
    expect(renderAgreementMarkdown(r)).toContain('INVALID (lag)');
    const p = live.policies[0];
    if (p === undefined) throw new Error('synthetic run has no policy');
    const noTtft = { ...live, policies: [{ ...p, summary: { ...p.summary, ttftMs: { ...p.summary.ttftMs, p50: null } } }] };
    const r2 = compareModes(virtual, noTtft);
    expect(r2.policies).toHaveLength(1);
    expect(r2.policies[0]?.rows[0]).toMatchObject({ diffPct: null, pass: false });
    expect(r2.pass).toBe(false);
  });
});
