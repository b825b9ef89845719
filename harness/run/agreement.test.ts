import { describe, expect, it } from 'vitest';
import type { RunResult } from '../report/schema.js';
import { syntheticRunResult } from '../report/synthetic-run.js';
import { loadScenario } from './scenarios.js';
import { agreementContext, calibrateTransport, compareModes, virtualProbeTtftMs, type AgreementContext } from './agreement.js';
import { renderAgreementMarkdown } from './agreement-markdown.js';

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

/** A context as the live run's probes give it. */
const ctx = (virtual: number | null, directToMock: number | null, throughEngine: number | null): AgreementContext =>
  agreementContext({ probes: { requests: 20, directToMockMs: directToMock, throughEngineMs: throughEngine }, mockLagP99Ms: 4.25 }, virtual);

describe('calibrateTransport', () => {
  it('takes each hop from the probes, averages the policies, and splits each hop evenly both ways', () => {
    const c = calibrateTransport(
      new Map([
        ['bounded', ctx(11.1, 12.5, 13.8)],
        ['resilient', ctx(11.1, 12.9, 13.9)],
      ]),
    );
    expect(c?.measured).toEqual([
      { policy: 'bounded', engineToModelMs: 1.4, clientToEngineMs: 1.3 },
      { policy: 'resilient', engineToModelMs: 1.8, clientToEngineMs: 1 },
    ]);
    expect(c?.engineToModelMs).toBe(1.6);
    expect(c?.clientToEngineMs).toBe(1.15);
    expect(c?.transport).toEqual({ engineToModel: { requestMs: 0.8, responseMs: 0.8 }, clientToEngine: { requestMs: 0.575, responseMs: 0.575 } });
  });

  it('clamps a negative mean (noise) at 0, keeps the raw figures, and has nothing to calibrate without probes', () => {
    const c = calibrateTransport(new Map([['bounded', ctx(11.1, 13, 12.6)]]));
    expect(c?.measured[0]?.clientToEngineMs).toBe(-0.4);
    expect(c?.clientToEngineMs).toBe(0);
    expect(c?.transport).toEqual({ engineToModel: { requestMs: 0.95, responseMs: 0.95 } });
    expect(calibrateTransport(new Map([['bounded', ctx(11.1, null, null)]]))).toBeNull();
    expect(calibrateTransport(new Map())).toBeNull();
  });
});

describe('compareModes with the measured transport', () => {
  const base = syntheticRunResult(3, 20_000, 10);
  const virtual = scaled(base, { p50: 1, p99: 1, goodput: 1 }, 'virtual');
  const live = scaled(base, { p50: 1.16, p99: 1.14, goodput: 1 }, 'live');
  const calibration = calibrateTransport(new Map(base.policies.map((p) => [p.name, ctx(11.1, 12.5, 13.8)])));
  if (calibration === null) throw new Error('no calibration');

  it('judges the goals on the calibrated run and still reports the plain differences', () => {
    const r = compareModes(virtual, live, undefined, { result: scaled(base, { p50: 1.12, p99: 1.1, goodput: 1 }, 'virtual'), calibration });
    expect(r.judgedOn).toBe('calibrated');
    expect(r.plainPass).toBe(false);
    expect(r.pass).toBe(true);
    const row = r.policies[0]?.rows[0];
    expect(row).toMatchObject({ label: 'ttftMs p50', diffPct: 16, plainPass: false, pass: true });
    expect(row?.calibrated?.diffPct).toBe(3.6);
    expect(r.calibration?.engineToModelMs).toBe(1.4);
  });

  it('a calibrated run that misses fails, and a policy missing from it fails', () => {
    const far = compareModes(virtual, live, undefined, { result: virtual, calibration });
    expect(far.pass).toBe(false);
    const good = scaled(base, { p50: 1.12, p99: 1.1, goodput: 1 }, 'virtual');
    const p0 = good.policies[0];
    if (p0 === undefined) throw new Error('synthetic run has no policy');
    const one = { ...good, policies: [p0] };
    const r = compareModes(virtual, live, undefined, { result: one, calibration });
    expect(r.policies[0]?.rows.every((x) => x.pass)).toBe(true);
    expect(r.policies[1]?.rows.every((x) => !x.pass && x.calibrated?.virtual === null)).toBe(true);
    expect(r.pass).toBe(false);
  });

  it('renders both differences, the measured hops, what was used, and how to reproduce it', () => {
    const contexts = new Map(base.policies.map((p) => [p.name, ctx(11.1, 12.5, 13.8)]));
    const r = compareModes(virtual, live, contexts, { result: scaled(base, { p50: 1.12, p99: 1.1, goodput: 1 }, 'virtual'), calibration });
    const md = renderAgreementMarkdown(r);
    expect(md).toContain('judged on the virtual run with the transport measured on loopback. Result: **agree**');
    expect(md).toContain(`Plain virtual time (no transport model): disagree (${2 * base.policies.length} of ${5 * base.policies.length} figures miss)`);
    expect(md).toContain('| policy | figure | live | virtual | difference | virtual + transport | difference | goal | |');
    expect(md).toMatch(/\| ttftMs p50 \| [\d.]+ \| [\d.]+ \| \+16\.0% \| [\d.]+ \| \+3\.6% \| ±10% \| ok \|/);
    expect(md).toContain('| 11.1 ms | 12.5 ms | 13.8 ms | 1.40 ms | 1.30 ms | 4.3 ms |');
    expect(md).toContain('| **used** (mean) | | | | 1.40 ms | 1.30 ms | |');
    expect(md).toContain('--mode virtual --transport-ms 1.4,1.3');
    expect(md).not.toContain('ran late');
  });

  it('says so when the mock ran late under load (a busy machine)', () => {
    const late = new Map(base.policies.map((p, i) => [p.name, agreementContext({ probes: { requests: 20, directToMockMs: 12.5, throughEngineMs: 13.8 }, mockLagP99Ms: i === 0 ? 87.7 : 4 }, 11.1)]));
    const md = renderAgreementMarkdown(compareModes(virtual, live, late, { result: virtual, calibration }));
    expect(md).toContain(`Note: the mock process ran late during the load (event-loop delay p99 over 20 ms: ${base.policies[0]?.name} 87.7 ms).`);
  });

  it('without a calibration renders the plain table and the measured hops alone', () => {
    const contexts = new Map(base.policies.map((p) => [p.name, ctx(11.1, 12.5, null)]));
    const md = renderAgreementMarkdown(compareModes(virtual, live, contexts));
    expect(md).toContain('| policy | figure | virtual | live | difference | goal | |');
    expect(md).toContain('| 11.1 ms | 12.5 ms | – | 1.40 ms | – | 4.3 ms |');
    expect(md).not.toContain('**used**');
  });
});

describe('virtualProbeTtftMs', () => {
  it('crosses both hops of the transport: at zero load the probe moves by exactly their costs', async () => {
    const scenario = await loadScenario('agreement');
    const plain = await virtualProbeTtftMs(scenario, 'bounded', 7, 5);
    const hops = await virtualProbeTtftMs(scenario, 'bounded', 7, 5, { engineToModel: { requestMs: 0.75, responseMs: 0.5 }, clientToEngine: { requestMs: 0.25, responseMs: 0.125 } });
    expect(plain).toBeGreaterThan(5);
    expect((hops ?? 0) - (plain ?? 0)).toBeCloseTo(1.625, 6);
  });
});
