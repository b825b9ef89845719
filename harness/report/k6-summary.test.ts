import { describe, expect, it } from 'vitest';
import { compareK6Summaries, failedK6Thresholds, K6_SUMMARY_FORMAT, parseK6Summary, type K6Summary } from './k6-summary.js';

const lat = (p99: number | null) => ({ count: p99 === null ? 0 : 10, p50: p99, p90: p99, p99, max: p99, mean: p99 });

function summary(o: { ttftP99?: number | null; e2eP99?: number; goodput?: number; stream?: boolean; failed?: boolean } = {}): K6Summary {
  return parseK6Summary(
    JSON.stringify({
      format: K6_SUMMARY_FORMAT,
      schemaVersion: 1,
      scenario: 'steady-poisson',
      seed: 1,
      policy: 'k6',
      target: 'http://127.0.0.1:8080',
      stream: o.stream ?? true,
      windowMs: 10_000,
      scale: 0.5,
      testRunDurationMs: 12_000,
      summary: {
        requests: 10, ok: 10, degraded: 0, shed: 0, errors: 0, unfinished: 0, okFraction: 1, sloMet: 10,
        goodputPerSec: o.goodput ?? 1,
        ttftMs: lat(o.ttftP99 === undefined ? 100 : o.ttftP99), e2eMs: lat(o.e2eP99 ?? 1000), e2eAllMs: lat(1000), itlMs: lat(10), tpotMs: lat(10),
        responseMs: lat(null), queueMs: lat(null), backoffMs: lat(null),
      },
      thresholds: [{ metric: 'errorFraction', expression: 'rate<=0', ok: o.failed !== true }],
      thresholdsPassed: o.failed !== true,
    }),
    'summary.json',
  );
}

describe('k6 summaries', () => {
  it('pass against themselves and regress when p99 TTFT, p99 E2E or goodput worsen beyond the tolerance', () => {
    const base = summary();
    expect(compareK6Summaries(base, base).regression).toBe(false);
    const tol = { p99TtftPct: 10, p99E2ePct: 10, goodputPct: 5 };
    expect(compareK6Summaries(summary({ ttftP99: 109 }), base, tol).regression).toBe(false);
    const worse = compareK6Summaries(summary({ ttftP99: 120, e2eP99: 1200, goodput: 0.9 }), base, tol);
    expect(worse.regression).toBe(true);
    expect(worse.policies[0]?.checks.map((c) => c.status)).toEqual(['regression', 'regression', 'regression']);
  });

  it('has no TTFT check without a stream, and warns when the runs are not alike', () => {
    const c = compareK6Summaries(summary({ stream: false }), summary());
    expect(c.policies[0]?.checks[0]).toMatchObject({ metric: 'ttftP99Ms', status: 'unknown' });
    expect(c.warnings).toEqual([expect.stringMatching(/streaming differs/)]);
  });

  it('lists the k6 thresholds that failed', () => {
    expect(failedK6Thresholds(summary({ failed: true }))).toEqual(['errorFraction rate<=0']);
    expect(failedK6Thresholds(summary())).toEqual([]);
  });

  it('refuses other JSON naming the file and the field', () => {
    expect(() => parseK6Summary('{"format":"x"}', 'a.json')).toThrow(/a\.json: format/);
    expect(() => parseK6Summary('nope', 'a.json')).toThrow(/a\.json.*unparseable/);
  });
});
