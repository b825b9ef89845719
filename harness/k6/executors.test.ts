import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Random } from '../../src/random.js';
import { arrivalTimes, expectedRatePerSec, type ArrivalSpec, type WorkloadSpec } from '../workload/index.js';
import { SHORT_CHAT } from '../workload/presets.js';
import { k6Executor, parseK6Duration, scheduledIterations, vuPool, type K6ExecutorConfig } from './executors.js';
import { integerRates, k6Duration } from './units.js';

const wl = (arrivals: ArrivalSpec): WorkloadSpec => ({ arrivals, mix: [SHORT_CHAT] });

/** The integral of the scenario's expected rate over [0, durationMs), in arrivals (1 ms trapezoids). */
function expectedArrivals(a: ArrivalSpec, durationMs: number): number {
  let sum = 0;
  for (let t = 0; t < durationMs; t++) sum += (expectedRatePerSec(a, t) + expectedRatePerSec(a, t + 1 - 1e-9)) / 2000;
  return sum;
}

function stagesOf(c: K6ExecutorConfig): Array<{ duration: string; target: number }> {
  if (c.executor !== 'ramping-arrival-rate') throw new Error(`expected ramping-arrival-rate, got ${c.executor}`);
  return [...c.stages];
}

describe('k6Executor', () => {
  it('sizes the VU pool from the sessions in flight: peak rate x expected session time, with headroom', () => {
    // 30/s of 8 s sessions: 240 in flight, 360 pre-allocated; maxVUs twice that (more than 60 s of arrivals would be).
    expect(vuPool(30, 8_000)).toEqual({ preAllocatedVUs: 360, maxVUs: 1_800 });
    expect(vuPool(30, 40_000)).toEqual({ preAllocatedVUs: 1_800, maxVUs: 3_600 });
    expect(vuPool(0.5, 1_000)).toEqual({ preAllocatedVUs: 1, maxVUs: 30 });
    const plan = k6Executor(wl({ kind: 'poisson', ratePerSec: 20 }), { durationMs: 60_000, sessionMs: 3_000 });
    expect(plan.config).toMatchObject({ preAllocatedVUs: 90, maxVUs: 1_200 });
    const ramp = k6Executor(wl({ kind: 'ramp', fromPerSec: 2, toPerSec: 40, overMs: 10_000 }), { durationMs: 20_000, sessionMs: 5_000 });
    expect(ramp.config).toMatchObject({ preAllocatedVUs: 300 });
  });

  it('maps constant arrivals to constant-arrival-rate, exactly', () => {
    const plan = k6Executor(wl({ kind: 'constant', ratePerSec: 5 }), { durationMs: 60_000 });
    expect(plan.config).toMatchObject({ executor: 'constant-arrival-rate', rate: 5, timeUnit: '1s', duration: '60s', gracefulStop: '120s' });
    expect(plan.sessionBy).toBe('iteration');
    expect(scheduledIterations(plan.config)).toBe(arrivalTimes({ kind: 'constant', ratePerSec: 5 }, new Random(1), 60_000).length);
  });

  it('maps poisson to constant-arrival-rate and says the gaps become even', () => {
    const plan = k6Executor(wl({ kind: 'poisson', ratePerSec: 2.5 }), { durationMs: 30_000 });
    expect(plan.config).toMatchObject({ executor: 'constant-arrival-rate', rate: 25, timeUnit: '10s', duration: '30s' });
    expect(scheduledIterations(plan.config)).toBe(75);
    expect(plan.notes.join(' ')).toMatch(/no Poisson executor.*evenly/);
  });

  it('maps a ramp to ramping-arrival-rate: hold, linear ramp, hold', () => {
    const a: ArrivalSpec = { kind: 'ramp', fromPerSec: 2, toPerSec: 20, overMs: 30_000, atMs: 10_000 };
    const plan = k6Executor(wl(a), { durationMs: 60_000 });
    expect(plan.config).toMatchObject({ executor: 'ramping-arrival-rate', startRate: 2, timeUnit: '1s' });
    expect(stagesOf(plan.config)).toEqual([
      { duration: '10s', target: 2 },
      { duration: '30s', target: 20 },
      { duration: '20s', target: 20 },
    ]);
    expect(scheduledIterations(plan.config)).toBeCloseTo(expectedArrivals(a, 60_000), 0);
  });

  it('maps a spike to zero-length steps up and down', () => {
    const a: ArrivalSpec = { kind: 'spike', baseRatePerSec: 2, spikeRatePerSec: 50, atMs: 10_000, durationMs: 5_000 };
    const plan = k6Executor(wl(a), { durationMs: 30_000 });
    expect(plan.config).toMatchObject({ startRate: 2, timeUnit: '1s' });
    expect(stagesOf(plan.config)).toEqual([
      { duration: '10s', target: 2 },
      { duration: '0s', target: 50 },
      { duration: '5s', target: 50 },
      { duration: '0s', target: 2 },
      { duration: '15s', target: 2 },
    ]);
    expect(scheduledIterations(plan.config)).toBe(2 * 25 + 50 * 5);
  });

  it('schedules as many arrivals as the ramp or spike expects (property)', () => {
    const rate = fc.integer({ min: 0, max: 40 });
    const spec = fc.oneof(
      fc.record({ kind: fc.constant('ramp' as const), fromPerSec: rate, toPerSec: rate, overMs: fc.integer({ min: 1, max: 20 }).map((s) => s * 1000), atMs: fc.integer({ min: 0, max: 20 }).map((s) => s * 1000) }),
      fc.record({ kind: fc.constant('spike' as const), baseRatePerSec: rate, spikeRatePerSec: rate, atMs: fc.integer({ min: 0, max: 20 }).map((s) => s * 1000), durationMs: fc.integer({ min: 1, max: 20 }).map((s) => s * 1000) }),
    );
    fc.assert(
      fc.property(spec, fc.integer({ min: 1, max: 30 }), (a, durationSec) => {
        const durationMs = durationSec * 1000;
        const plan = k6Executor(wl(a), { durationMs });
        const total = stagesOf(plan.config).reduce((s, st) => s + parseK6Duration(st.duration), 0);
        expect(total).toBe(durationMs);
        expect(scheduledIterations(plan.config)).toBeCloseTo(expectedArrivals(a, durationMs), 0);
      }),
      { numRuns: 200 },
    );
  });

  it('maps a burst to one VU per session, each sleeping to its seeded start', () => {
    const plan = k6Executor(wl({ kind: 'burst', sessions: 1000, withinMs: 2000 }), { durationMs: 60_000 });
    expect(plan.config).toEqual({ executor: 'per-vu-iterations', vus: 1000, iterations: 1, maxDuration: '60s', gracefulStop: '120s' });
    expect(plan.sessionBy).toBe('vu');
  });

  it('maps a burst above maxBurstVus to N iterations evenly spread over the window', () => {
    const plan = k6Executor(wl({ kind: 'burst', sessions: 5000, withinMs: 2000, atMs: 3000 }), { durationMs: 60_000, maxBurstVus: 2000 });
    expect(plan.config).toMatchObject({ executor: 'constant-arrival-rate', rate: 5000, timeUnit: '2s', duration: '2s', startTime: '3s' });
    expect(scheduledIterations(plan.config)).toBe(5000);
    expect(plan.sessionBy).toBe('iteration');
  });

  it('replays gamma arrivals as per-bin steps with exact counts per bin', () => {
    const a: ArrivalSpec = { kind: 'gamma', ratePerSec: 10, cv: 3 };
    const times = arrivalTimes(a, new Random(7), 20_000);
    const plan = k6Executor(wl(a), { durationMs: 20_000, arrivalTimesMs: times });
    expect(plan.config).toMatchObject({ executor: 'ramping-arrival-rate', timeUnit: '1s' });
    expect(scheduledIterations(plan.config)).toBe(times.length);
    // Each 1 s bin's rate is that bin's count: walk the stages and read the rate held in each second.
    const perBin = new Array<number>(20).fill(0);
    for (const t of times) perBin[Math.floor(t / 1000)]! += 1;
    const held: number[] = [];
    let rate = plan.config.executor === 'ramping-arrival-rate' ? plan.config.startRate : -1;
    for (const s of stagesOf(plan.config)) {
      if (s.duration === '0s') rate = s.target;
      else for (let i = 0; i < parseK6Duration(s.duration) / 1000; i++) held.push(rate);
    }
    expect(held).toEqual(perBin);
    expect(plan.notes.join(' ')).toMatch(/no renewal-process executor/);
  });

  it('needs the seeded times for gamma and trace replay', () => {
    expect(() => k6Executor(wl({ kind: 'gamma', ratePerSec: 1, cv: 2 }), { durationMs: 1000 })).toThrow(/gamma arrivals needs arrivalTimesMs/);
    expect(() => k6Executor({ trace: { path: 'x.csv' } }, { durationMs: 1000 })).toThrow(/trace replay needs arrivalTimesMs/);
  });

  it('bins a trace replay the same way', () => {
    const plan = k6Executor({ trace: { path: 'x.csv' } }, { durationMs: 3000, arrivalTimesMs: [0, 10, 20, 2500, 2999] });
    expect(plan.config).toMatchObject({ executor: 'ramping-arrival-rate', startRate: 3, timeUnit: '1s' });
    expect(stagesOf(plan.config)).toEqual([
      { duration: '1s', target: 3 },
      { duration: '0s', target: 0 },
      { duration: '1s', target: 0 },
      { duration: '0s', target: 2 },
      { duration: '1s', target: 2 },
    ]);
    expect(scheduledIterations(plan.config)).toBe(5);
  });
});

describe('integerRates and k6Duration', () => {
  it('picks the shortest unit that makes every rate whole', () => {
    expect(integerRates([5, 7])).toMatchObject({ timeUnit: '1s', rates: [5, 7], maxErrorPerSec: 0 });
    expect(integerRates([0.5, 2])).toMatchObject({ timeUnit: '10s', rates: [5, 20] });
    expect(integerRates([0.25])).toMatchObject({ timeUnit: '60s', rates: [15] });
  });

  it('rounds at 1h when nothing is exact, with a stated error', () => {
    const r = integerRates([Math.PI]);
    expect(r.timeUnit).toBe('3600s');
    expect(r.rates).toEqual([Math.round(Math.PI * 3600)]);
    expect(r.maxErrorPerSec).toBeGreaterThan(0);
    expect(r.maxErrorPerSec).toBeLessThan(1 / 3600);
  });

  it('writes whole seconds as s and the rest as ms, and parses them back', () => {
    expect(k6Duration(60_000)).toBe('60s');
    expect(k6Duration(1500)).toBe('1500ms');
    expect(parseK6Duration('1500ms')).toBe(1500);
    expect(() => parseK6Duration('1m')).toThrow(/expected a duration like 60s or 1500ms, got "1m"/);
  });
});
