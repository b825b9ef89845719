import { describe, expect, it } from 'vitest';
import { syntheticRunResult } from '../report/synthetic-run.js';
import { checkSlo, defaultSlo, parseSlo, sloLabel } from './slo.js';
import { tinyScenario } from './fixture.js';

describe('--slo parsing', () => {
  it('parses latency bounds (default stat p99, ms or s), scalars and percentages', () => {
    expect(parseSlo('ttft.p99<=2000,e2e.p99<=30s,goodput>=5,errors<1%,itl.p50<40ms')).toEqual([
      { metric: 'ttftMs', stat: 'p99', op: '<=', value: 2000 },
      { metric: 'e2eMs', stat: 'p99', op: '<=', value: 30_000 },
      { metric: 'goodputPerSec', op: '>=', value: 5 },
      { metric: 'errorFraction', op: '<', value: 0.01 },
      { metric: 'itlMs', stat: 'p50', op: '<', value: 40 },
    ]);
    expect(parseSlo('ttftMs<=1500,amplification<=1.5')).toEqual([
      { metric: 'ttftMs', stat: 'p99', op: '<=', value: 1500 },
      { metric: 'amplification', op: '<=', value: 1.5 },
    ]);
  });

  it('names the bad part', () => {
    expect(() => parseSlo('ttft.p99<=2000,latency<=3')).toThrow('--slo: "latency<=3": unknown metric "latency"; expected one of ttft, e2e');
    expect(() => parseSlo('ttft.p98<=2000')).toThrow('--slo: "ttft.p98<=2000": unknown stat "p98"; expected one of p50, p90, p99, max, mean');
    expect(() => parseSlo('ttft.p99=2000')).toThrow('--slo: "ttft.p99=2000": expected metric[.stat]<op>value');
    expect(() => parseSlo('goodput.p99>=2')).toThrow('--slo: "goodput.p99>=2": goodput has no stats');
    expect(() => parseSlo('ttft<=5%')).toThrow('ttft is a latency; expected a value in ms or s, got a percentage');
    expect(() => parseSlo('goodput>=5%')).toThrow('goodput is not a fraction');
    expect(() => parseSlo('goodput>=5s')).toThrow('goodput is not a latency');
    expect(() => parseSlo('ttft<=1,,e2e<=2')).toThrow('--slo: expected a comma-separated list');
  });

  it('defaults to p99 TTFT and E2E within the scenario SLO', () => {
    const slo = defaultSlo(tinyScenario());
    expect(sloLabel(slo)).toBe('ttftMs.p99 <= 2000, e2eMs.p99 <= 10000');
  });

  it('judges a summary the way the scenario report does; unknown fails', () => {
    const s = syntheticRunResult(1, 60_000, 5).policies[0]!.summary;
    const p99 = s.ttftMs.p99!;
    const checks = checkSlo(s, [
      { metric: 'ttftMs', stat: 'p99', op: '<=', value: p99 },
      { metric: 'ttftMs', stat: 'p99', op: '<', value: p99 },
      { metric: 'goodputPerSec', op: '>=', value: s.goodputPerSec + 1 },
    ]);
    expect(checks.map((c) => c.pass)).toEqual([true, false, false]);
    expect(checks[0]!.actual).toBe(p99);
    expect(checkSlo({ ...s, recovery: [] }, [{ metric: 'recoveryMs', op: '<=', value: 1e9 }])[0]).toEqual({ label: 'recoveryMs <= 1000000000', actual: null, pass: false });
  });
});
