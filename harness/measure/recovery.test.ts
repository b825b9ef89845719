import { describe, expect, it } from 'vitest';
import { computeRecovery, recoveryOptions } from './recovery.js';

/** A series of goodput per 1 s bucket; ok and completions follow goodput. */
const series = (goodput: number[]) => ({ bucketMs: 1000, goodput, ok: goodput, completions: goodput.map(() => 10) });
const phase = { name: 'outage', atMs: 10_000, durationMs: 5000 };

describe('computeRecovery', () => {
  it('measures from the phase end to the first of N consecutive healthy buckets', () => {
    //            0..9 baseline 10/s | 10..14 fault | 15,16 low | 17 ok, 18 dip | 19.. ok
    const g = [...Array(10).fill(10), ...Array(5).fill(0), 2, 5, 9.5, 3, ...Array(11).fill(10)];
    const [r] = computeRecovery(series(g), 30_000, [phase], { tolerancePct: 10, consecutiveBuckets: 3 });
    expect(r).toMatchObject({ phase: 'outage', baseline: 10, target: 9, status: 'recovered', metastable: false });
    expect(r!.recoveryMs).toBe(19_000 - 15_000);
  });

  it('is immediate (0 ms) when the system is healthy right after the phase', () => {
    const g = [...Array(10).fill(10), ...Array(5).fill(0), ...Array(10).fill(10)];
    expect(computeRecovery(series(g), 25_000, [phase])[0]!.recoveryMs).toBe(0);
  });

  it('flags metastable when goodput stays low after the fault until the run ends', () => {
    const g = [...Array(10).fill(10), ...Array(5).fill(0), ...Array(15).fill(4)];
    const [r] = computeRecovery(series(g), 30_000, [phase]);
    expect(r).toMatchObject({ recoveryMs: null, metastable: true, status: 'metastable' });
  });

  it('does not call a run metastable when too little time is left after the phase to tell', () => {
    const g = [...Array(10).fill(10), ...Array(5).fill(0), 3, 3];
    const [r] = computeRecovery(series(g), 17_000, [phase], { consecutiveBuckets: 3 });
    expect(r).toMatchObject({ recoveryMs: null, metastable: false, status: 'insufficient-data' });
  });

  it('ignores drain buckets after durationMs: a trailing healthy window there does not count', () => {
    const g = [...Array(10).fill(10), ...Array(5).fill(0), 1, 1, 1, 10, 10, 10];
    const [r] = computeRecovery(series(g), 18_000, [phase]);
    expect(r!.status).toBe('metastable');
  });

  it('reports no-baseline for a fault at t=0 or a zero baseline', () => {
    const g = Array(20).fill(10);
    expect(computeRecovery(series(g), 20_000, [{ name: 'early', atMs: 0, durationMs: 5000 }])[0]!.status).toBe('no-baseline');
    expect(computeRecovery(series(Array(20).fill(0)), 20_000, [phase])[0]).toMatchObject({ status: 'no-baseline', baseline: null });
  });

  it('excludes earlier fault phases from the baseline', () => {
    const g = [10, 10, 10, 10, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 10, 10, 10];
    const phases = [
      { name: 'first', atMs: 5000, durationMs: 3000 },
      { name: 'second', atMs: 10_000, durationMs: 5000 },
    ];
    const [, second] = computeRecovery(series(g), 19_000, phases, { baselineWindowMs: 10_000 });
    // Buckets 0..4 are healthy, 5..7 are in the first phase (excluded), 8..9 are zero after it.
    expect(second!.baseline).toBeCloseTo((10 * 5 + 0 + 0) / 7, 6);
    expect(second!.status).toBe('recovered');
  });

  it('okRate metric: buckets with no completions are never healthy', () => {
    const s = {
      bucketMs: 1000,
      goodput: Array(25).fill(0),
      ok: [...Array(10).fill(9), ...Array(5).fill(0), 0, 0, 0, ...Array(7).fill(9)],
      completions: [...Array(10).fill(10), ...Array(5).fill(10), 0, 0, 0, ...Array(7).fill(10)],
    };
    const [r] = computeRecovery(s, 25_000, [phase], { metric: 'okRate' });
    expect(r).toMatchObject({ baseline: 0.9, status: 'recovered', recoveryMs: 3000 });
  });

  it('a recovery followed by a collapse before the end, with no fault to blame, is a relapse: metastable', () => {
    // Recovered 0.75 s... then sits at 0 for the rest of the run (the "recovered, then 40 s at 0").
    const g = [...Array(10).fill(10), ...Array(5).fill(0), 10, 10, 10, 10, ...Array(12).fill(0)];
    const [r] = computeRecovery(series(g), 31_000, [phase]);
    expect(r).toMatchObject({ status: 'metastable', metastable: true, recoveryMs: 0, relapsedAtMs: 19_000 });
    // A dip shorter than relapseBuckets is noise, not a relapse.
    const dip = [...Array(10).fill(10), ...Array(5).fill(0), 10, 10, 10, 0, 0, 0, 0, ...Array(8).fill(10)];
    expect(computeRecovery(series(dip), 30_000, [phase])[0]).toMatchObject({ status: 'recovered', metastable: false });
    expect(computeRecovery(series(dip), 30_000, [phase])[0]!.relapsedAtMs).toBeUndefined();
    // A collapse that the next fault phase explains is that phase's, not a relapse of this one.
    const next = { name: 'second', atMs: 19_000, durationMs: 10_000 };
    expect(computeRecovery(series(g), 31_000, [phase, next])[0]).toMatchObject({ status: 'recovered', metastable: false });
  });

  it('a relapse is a collapse, not arrival noise: 5 s just under the recovery target is not one, 5 s under half the baseline is', () => {
    // Baseline 10/s; recovered; then 5 s at 7-8/s (below the 9/s target, as Poisson noise near saturation does).
    const noise = [...Array(10).fill(10), ...Array(5).fill(0), 10, 10, 10, 8, 7, 8, 7, 8, ...Array(8).fill(10)];
    expect(computeRecovery(series(noise), 31_000, [phase])[0]).toMatchObject({ status: 'recovered', metastable: false });
    const collapse = [...Array(10).fill(10), ...Array(5).fill(0), 10, 10, 10, 4, 3, 4, 2, 4, ...Array(8).fill(10)];
    expect(computeRecovery(series(collapse), 31_000, [phase])[0]).toMatchObject({ status: 'metastable', relapsedAtMs: 18_000 });
    // The bar is an option: at 10% (the recovery tolerance) the noise above counts.
    expect(computeRecovery(series(noise), 31_000, [phase], { relapseTolerancePct: 10 })[0]).toMatchObject({ status: 'metastable', relapsedAtMs: 18_000 });
    expect(() => recoveryOptions({ relapseTolerancePct: 100 })).toThrow(/recovery\.relapseTolerancePct/);
  });

  it('validates its options with the field named', () => {
    expect(() => recoveryOptions({ tolerancePct: 120 })).toThrow(/recovery\.tolerancePct: expected a number in \[0, 100\), got 120/);
    expect(() => recoveryOptions({ consecutiveBuckets: 0 })).toThrow(/recovery\.consecutiveBuckets/);
  });
});
