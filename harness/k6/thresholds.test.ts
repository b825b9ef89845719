import { describe, expect, it } from 'vitest';
import { LATENCY_METRICS, SCALAR_METRICS, type Threshold } from '../measure/types.js';
import { K6_METRICS, mapThreshold, mapThresholds, scriptThresholds, thresholdLabel } from './thresholds.js';

const pairs = (m: ReturnType<typeof mapThresholds>): Array<[string, string]> => m.mapped.map((x) => [x.metric, x.expression]);

describe('mapThresholds', () => {
  it('maps latency thresholds to the trends named as in the RunResult, with the stat in k6 syntax', () => {
    const m = mapThresholds([
      { metric: 'e2eMs', op: '<=', value: 30_000 },
      { metric: 'e2eAllMs', stat: 'mean', op: '<', value: 100 },
      { metric: 'ttftMs', stat: 'p50', op: '>=', value: 1 },
      { metric: 'itlMs', stat: 'max', op: '>', value: 0 },
      { metric: 'tpotMs', stat: 'p90', op: '<=', value: 50 },
    ]);
    expect(pairs(m)).toEqual([
      ['e2eMs', 'p(99)<=30000'],
      ['e2eAllMs', 'avg<100'],
      ['ttftMs', 'med>=1'],
      ['itlMs', 'max>0'],
      ['tpotMs', 'p(90)<=50'],
    ]);
    expect(m.unmapped).toEqual([]);
  });

  it('leaves TTFT, ITL and TPOT unmapped without a stream, saying the script records response time instead', () => {
    const m = mapThresholds([{ metric: 'ttftMs', op: '<=', value: 2000 }, { metric: 'e2eMs', op: '<=', value: 10 }], false);
    expect(pairs(m)).toEqual([['e2eMs', 'p(99)<=10']]);
    expect(m.unmapped[0]?.reason).toMatch(/--no-stream.*responseMs.*not TTFT/);
  });

  it('maps the fractions to the script\'s rates and goodput to its counter rate', () => {
    const m = mapThresholds([
      { metric: 'okFraction', op: '>=', value: 0.99 },
      { metric: 'shedFraction', op: '<=', value: 0 },
      { metric: 'errorFraction', op: '<', value: 0.01 },
      { metric: 'degradedFraction', op: '<=', value: 0.1 },
      { metric: 'goodputPerSec', op: '>=', value: 20 },
    ]);
    expect(pairs(m)).toEqual([
      ['okFraction', 'rate>=0.99'],
      ['shedFraction', 'rate<=0'],
      ['errorFraction', 'rate<0.01'],
      ['degradedFraction', 'rate<=0.1'],
      ['goodput', 'rate>=20'],
    ]);
  });

  it('maps the engine\'s own figures (queue, backoff, attempts) and says they need x_engine', () => {
    const r = mapThreshold({ metric: 'amplification', op: '<=', value: 1.5 });
    expect(r).toMatchObject({ metric: K6_METRICS.attempts, expression: 'avg<=1.5' });
    expect('caveat' in r ? r.caveat : '').toMatch(/x_engine/);
    expect(mapThreshold({ metric: 'queueMs', op: '<=', value: 5 })).toMatchObject({ metric: 'queueMs', expression: 'p(99)<=5' });
  });

  it('lists server-side metrics as unmapped, with the reason', () => {
    const m = mapThresholds([
      { metric: 'gpuUtilization', op: '<=', value: 1 },
      { metric: 'recoveryMs', op: '<=', value: 30_000 },
    ]);
    expect(m.mapped).toEqual([]);
    expect(m.unmapped.map((u) => u.reason)).toEqual([expect.stringMatching(/inside the engine or the model/), expect.stringMatching(/fault timeline/)]);
  });

  it('leaves policy-scoped thresholds out, naming the policy', () => {
    const m = mapThresholds([{ metric: 'e2eMs', op: '<=', value: 10, policy: 'naive' }]);
    expect(m.mapped).toEqual([]);
    expect(m.unmapped[0]?.reason).toMatch(/scoped to policy naive/);
  });

  it('carries abortOnFail from the scenario', () => {
    expect(mapThreshold({ metric: 'errorFraction', op: '<=', value: 0, abortOnFail: true })).toMatchObject({ abortOnFail: true });
    expect(mapThreshold({ metric: 'errorFraction', op: '<=', value: 0 })).toMatchObject({ abortOnFail: false });
  });

  it('has a specific answer for every threshold metric', () => {
    for (const metric of [...LATENCY_METRICS, ...SCALAR_METRICS]) {
      const r = mapThreshold({ metric, op: '<=', value: 1 } as Threshold);
      if ('reason' in r) expect(r.reason, metric).not.toBe('no k6 equivalent');
      else expect(r.expression, metric).toMatch(/^(p\(\d+\)|avg|max|med|rate)<=1$/);
    }
  });

  it('labels thresholds as the harness does', () => {
    expect(thresholdLabel({ metric: 'ttftMs', op: '<=', value: 2000 })).toBe('ttftMs.p99 <= 2000');
    expect(thresholdLabel({ metric: 'okFraction', op: '>', value: 0.9, policy: 'naive' })).toBe('okFraction > 0.9 (policy naive)');
  });
});

describe('scriptThresholds', () => {
  const slo = { ttftMs: 1000, e2eMs: 30_000, tpotMs: 50, classes: { 'long-gen': { e2eMs: 180_000 } } };

  it('turns the SLO into per-class bounds via the class tag: TTFT and TPOT for streamed chat, E2E for every class', () => {
    const m = scriptThresholds(slo, [], { stream: true, classes: ['agent-retriever', 'chat', 'long-gen'], chatClasses: ['chat', 'long-gen'] });
    expect(pairs(m)).toEqual([
      ['e2eMs{class:agent-retriever}', 'p(99)<=30000'],
      ['ttftMs{class:chat}', 'p(99)<=1000'],
      ['e2eMs{class:chat}', 'p(99)<=30000'],
      ['tpotMs{class:chat}', 'p(99)<=50'],
      ['ttftMs{class:long-gen}', 'p(99)<=1000'],
      ['e2eMs{class:long-gen}', 'p(99)<=180000'],
      ['tpotMs{class:long-gen}', 'p(99)<=50'],
      ['errorFraction', 'rate<=0.05'],
      ['requestsUnfinished', 'count<=0'],
    ]);
  });

  it('keeps only E2E bounds without a stream, and the scenario\'s own error bound replaces the default', () => {
    const m = scriptThresholds(slo, [{ metric: 'errorFraction', op: '<=', value: 0 }], { stream: false, classes: ['chat'], chatClasses: ['chat'] });
    expect(pairs(m)).toEqual([
      ['e2eMs{class:chat}', 'p(99)<=30000'],
      ['errorFraction', 'rate<=0'],
      ['requestsUnfinished', 'count<=0'],
    ]);
  });
});
