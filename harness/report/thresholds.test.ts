import { describe, expect, it } from 'vitest';
import { evaluateThresholds, metricValue, thresholdLabel } from './thresholds.js';
import { syntheticRunResult } from './synthetic-run.js';

const result = syntheticRunResult(42, 40_000, 10);
const [naive, bounded] = result.policies;

describe('evaluateThresholds', () => {
  it('judges each threshold per policy with the actual value', () => {
    const p99 = bounded!.summary.ttftMs.p99!;
    const res = evaluateThresholds(result, [
      { metric: 'ttftMs', op: '<=', value: p99 }, // stat defaults to p99; exactly at the bound passes
      { metric: 'ttftMs', stat: 'p50', op: '<', value: 1, policy: 'bounded' },
    ]);
    expect(res).toHaveLength(4);
    const b = res.find((r) => r.policy === 'bounded' && r.stat === 'p99')!;
    expect(b).toMatchObject({ label: `ttftMs.p99 <= ${p99}`, actual: p99, pass: true });
    const n = res.find((r) => r.policy === 'naive')!;
    expect(n.actual).toBe(naive!.summary.ttftMs.p99);
    expect(n.pass).toBe(naive!.summary.ttftMs.p99! <= p99);
    expect(res[3]).toMatchObject({ policy: 'bounded', stat: 'p50', actual: bounded!.summary.ttftMs.p50, pass: false });
  });

  it('derives fractions, and treats unknown values (metastable recovery) as failing', () => {
    const s = naive!.summary;
    expect(metricValue(s, 'errorFraction')).toBeCloseTo((s.failed + s.timeout) / s.requests, 12);
    expect(metricValue(s, 'shedFraction')).toBe(s.shed / s.requests);
    expect(s.recovery[0]!.metastable).toBe(true);
    const [r] = evaluateThresholds(result, [{ metric: 'recoveryMs', op: '<=', value: 1e9, policy: 'naive' }]);
    expect(r).toMatchObject({ actual: null, pass: false });
    const [g] = evaluateThresholds(result, [{ metric: 'goodputPerSec', op: '>', value: 0, policy: 'bounded' }]);
    expect(g).toMatchObject({ actual: bounded!.summary.goodputPerSec, pass: true });
  });

  it('a threshold naming a policy the run lacks fails with an unknown actual', () => {
    expect(evaluateThresholds(result, [{ metric: 'okFraction', op: '>=', value: 0.5, policy: 'ghost' }])).toEqual([
      { policy: 'ghost', label: 'okFraction >= 0.5', metric: 'okFraction', stat: null, op: '>=', value: 0.5, actual: null, pass: false },
    ]);
    expect(thresholdLabel({ metric: 'e2eMs', stat: 'max', op: '<', value: 10 })).toBe('e2eMs.max < 10');
  });
});
