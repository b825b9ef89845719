import { describe, expect, it } from 'vitest';
import { compareToBaseline, renderRegressMarkdown } from './regress.js';
import type { RunResult } from './schema.js';
import { syntheticRunResult } from './synthetic-run.js';

const baseline = syntheticRunResult(42, 30_000, 10);

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
function withP99(r: RunResult, policy: string, f: { ttft?: number; e2e?: number; goodput?: number }): RunResult {
  const copy = structuredClone(r);
  const s = copy.policies.find((p) => p.name === policy)!.summary as Mutable<RunResult['policies'][number]['summary']>;
  if (f.ttft !== undefined) s.ttftMs = { ...s.ttftMs, p99: s.ttftMs.p99! * f.ttft };
  if (f.e2e !== undefined) s.e2eMs = { ...s.e2eMs, p99: s.e2eMs.p99! * f.e2e };
  if (f.goodput !== undefined) s.goodputPerSec = s.goodputPerSec * f.goodput;
  return copy;
}
const tol = { p99TtftPct: 10, p99E2ePct: 10, goodputPct: 5 };

describe('compareToBaseline', () => {
  it('identical runs: no regression', () => {
    const c = compareToBaseline(baseline, baseline, tol);
    expect(c.regression).toBe(false);
    expect(c.policies.flatMap((p) => p.checks.map((k) => k.status))).toEqual(Array(9).fill('ok'));
    expect(c.warnings).toEqual([]);
  });

  it('flags a p99 TTFT worse beyond tolerance, not one within it', () => {
    const cur = withP99(withP99(baseline, 'bounded', { ttft: 1.15 }), 'resilient', { ttft: 1.05 });
    const c = compareToBaseline(cur, baseline, tol);
    expect(c.regression).toBe(true);
    const bounded = c.policies.find((p) => p.policy === 'bounded')!;
    expect(bounded.regression).toBe(true);
    expect(bounded.checks[0]).toMatchObject({ metric: 'ttftP99Ms', status: 'regression', changePct: 15 });
    const resilient = c.policies.find((p) => p.policy === 'resilient')!;
    expect(resilient.regression).toBe(false);
    expect(resilient.checks[0]).toMatchObject({ status: 'ok', changePct: 5 });
  });

  it('flags p99 E2E worse and goodput drops beyond tolerance; improvements are not regressions', () => {
    expect(compareToBaseline(withP99(baseline, 'naive', { e2e: 1.2 }), baseline, tol).policies[0]!.checks[1]!.status).toBe('regression');
    expect(compareToBaseline(withP99(baseline, 'naive', { goodput: 0.9 }), baseline, tol).policies[0]!.checks[2]!.status).toBe('regression');
    expect(compareToBaseline(withP99(baseline, 'naive', { goodput: 0.97 }), baseline, tol).regression).toBe(false);
    const better = compareToBaseline(withP99(baseline, 'naive', { ttft: 0.5, goodput: 1.5 }), baseline, tol);
    expect(better.regression).toBe(false);
    expect(better.policies[0]!.checks.map((k) => k.status)).toEqual(['improved', 'ok', 'improved']);
  });

  it('minDeltaMs absorbs tiny absolute changes', () => {
    const cur = withP99(baseline, 'bounded', { ttft: 1.15 });
    const delta = cur.policies[1]!.summary.ttftMs.p99! - baseline.policies[1]!.summary.ttftMs.p99!;
    expect(compareToBaseline(cur, baseline, { ...tol, minDeltaMs: delta + 1 }).regression).toBe(false);
  });

  it('a policy missing from the current run is a regression; a new one is not; mismatches warn', () => {
    const cur = structuredClone(baseline) as { -readonly [K in keyof RunResult]: RunResult[K] };
    cur.policies = [cur.policies[0]!, { ...cur.policies[1]!, name: 'adaptive' }, cur.policies[2]!];
    cur.seed = 7;
    const c = compareToBaseline(cur as RunResult, baseline, tol);
    expect(c.policies.find((p) => p.policy === 'bounded')).toMatchObject({ status: 'missing', regression: true });
    expect(c.policies.find((p) => p.policy === 'adaptive')).toMatchObject({ status: 'new', regression: false });
    expect(c.warnings).toEqual(['seed differs: baseline 42, current 7']);
  });

  it('validates the tolerance', () => {
    expect(() => compareToBaseline(baseline, baseline, { ...tol, goodputPct: -1 })).toThrow(/tolerance\.goodputPct: expected a number >= 0, got -1/);
  });

  it('renders Markdown with the numbers and verdicts', () => {
    const cur = withP99(baseline, 'bounded', { ttft: 1.15 });
    const md = renderRegressMarkdown(compareToBaseline(cur, baseline, tol));
    expect(md.startsWith('## ❌ Regression against the baseline')).toBe(true);
    expect(md).toMatch(/\| bounded \| p99 TTFT \| [\d.]+ (ms|s) \| [\d.]+ (ms|s) \| \+15\.0% \| 10% \| ❌ regression \|/);
    expect(md).toMatch(/\| naive \| goodput\/s \| [\d.]+ \| [\d.]+ \| 0\.0% \| 5% \| ✅ ok \|/);
    expect(renderRegressMarkdown(compareToBaseline(baseline, baseline, tol))).toContain('✅ No regression');
  });
});

describe('compareToBaseline on cost', () => {
  const withCost = (r: RunResult, policy: string, per1kGoodUsd: number | null): RunResult => {
    const copy = structuredClone(r);
    const s = copy.policies.find((p) => p.name === policy)!.summary as Mutable<RunResult['policies'][number]['summary']>;
    s.cost = { ...s.cost, per1kGoodUsd };
    return copy;
  };
  const priced = ['naive', 'bounded', 'resilient'].reduce((r, p) => withCost(r, p, 0.5), baseline);

  it('judges $/1k good only when the tolerance has costPct, and flags a rise beyond it', () => {
    const cur = withCost(withCost(priced, 'naive', 0.6), 'bounded', 0.52);
    expect(compareToBaseline(cur, priced, tol).regression).toBe(false);
    const c = compareToBaseline(cur, priced, { ...tol, costPct: 10 });
    expect(c.policies[0]!.checks[3]).toMatchObject({ metric: 'per1kGoodUsd', status: 'regression', changePct: 20 });
    expect(c.policies[1]!.checks[3]).toMatchObject({ status: 'ok', changePct: 4 });
    expect(c.regression).toBe(true);
    expect(renderRegressMarkdown(c)).toContain('dollars per 1,000 good requests rise by more than 10%');
    expect(renderRegressMarkdown(c)).toContain('$0.6000');
  });

  it('an unknown cost is unknown, not a pass or a zero', () => {
    const c = compareToBaseline(withCost(priced, 'naive', null), priced, { ...tol, costPct: 10 });
    expect(c.policies[0]!.checks[3]).toMatchObject({ status: 'unknown', current: null });
  });

  it('rejects a negative cost tolerance, naming the field', () => {
    expect(() => compareToBaseline(priced, priced, { ...tol, costPct: -1 })).toThrow(/tolerance\.costPct: expected a number >= 0, got -1/);
  });
});
