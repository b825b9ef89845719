import { describe, expect, it } from 'vitest';
import { LATENCY_METRICS, SCALAR_METRICS, type Threshold } from '../measure/types.js';
import { K6_METRICS, mapThreshold, mapThresholds, thresholdLabel } from './thresholds.js';

describe('mapThresholds', () => {
  it('maps E2E of served requests to http_req_duration of expected responses', () => {
    const m = mapThresholds([{ metric: 'e2eMs', op: '<=', value: 30_000 }]);
    expect(m.k6).toEqual({ 'http_req_duration{expected_response:true}': ['p(99)<=30000'] });
    expect(m.unmapped).toEqual([]);
  });

  it('maps every stat and op to k6 syntax, and E2E of all requests to plain http_req_duration', () => {
    const m = mapThresholds([
      { metric: 'e2eAllMs', stat: 'mean', op: '<', value: 100 },
      { metric: 'e2eAllMs', stat: 'p50', op: '>=', value: 1 },
      { metric: 'e2eAllMs', stat: 'max', op: '>', value: 0 },
      { metric: 'e2eAllMs', stat: 'p90', op: '<=', value: 50 },
    ]);
    expect(m.k6).toEqual({ http_req_duration: ['avg<100', 'p(50)>=1', 'max>0', 'p(90)<=50'] });
  });

  it('maps TTFT to the TTFB trend and says it is an upper bound', () => {
    const r = mapThreshold({ metric: 'ttftMs', stat: 'p90', op: '<=', value: 2000 });
    expect(r).toMatchObject({ metric: K6_METRICS.ttfb, expression: 'p(90)<=2000' });
    expect('caveat' in r ? r.caveat : '').toMatch(/upper bound of TTFT/);
  });

  it('maps the fractions to the script\'s rates and goodput to its counter rate', () => {
    const m = mapThresholds([
      { metric: 'okFraction', op: '>=', value: 0.99 },
      { metric: 'shedFraction', op: '<=', value: 0 },
      { metric: 'errorFraction', op: '<', value: 0.01 },
      { metric: 'goodputPerSec', op: '>=', value: 20 },
    ]);
    expect(m.k6).toEqual({
      request_ok: ['rate>=0.99'],
      request_shed: ['rate<=0'],
      request_error: ['rate<0.01'],
      goodput: ['rate>=20'],
    });
  });

  it('lists server-side and streaming metrics as unmapped, with the reason', () => {
    const m = mapThresholds([
      { metric: 'itlMs', op: '<=', value: 50 },
      { metric: 'amplification', op: '<=', value: 1.5 },
      { metric: 'recoveryMs', op: '<=', value: 30_000, policy: 'resilient' },
    ]);
    expect(m.k6).toEqual({});
    expect(m.unmapped.map((u) => u.reason)).toEqual([
      expect.stringMatching(/token stream/),
      expect.stringMatching(/inside the engine or the model/),
      expect.stringMatching(/fault timeline/),
    ]);
  });

  it('leaves policy-scoped thresholds out, naming the policy', () => {
    const m = mapThresholds([{ metric: 'e2eMs', op: '<=', value: 10, policy: 'naive' }]);
    expect(m.k6).toEqual({});
    expect(m.unmapped[0]?.reason).toMatch(/scoped to policy naive/);
  });

  it('has a specific answer for every threshold metric', () => {
    for (const metric of [...LATENCY_METRICS, ...SCALAR_METRICS]) {
      const r = mapThreshold({ metric, op: '<=', value: 1 } as Threshold);
      if ('reason' in r) expect(r.reason, metric).not.toBe('no k6 equivalent');
      else expect(r.expression, metric).toMatch(/^(p\(\d+\)|avg|max|rate)<=1$/);
    }
  });

  it('labels thresholds as the harness does', () => {
    expect(thresholdLabel({ metric: 'ttftMs', op: '<=', value: 2000 })).toBe('ttftMs.p99 <= 2000');
    expect(thresholdLabel({ metric: 'okFraction', op: '>', value: 0.9, policy: 'naive' })).toBe('okFraction > 0.9 (policy naive)');
  });
});
