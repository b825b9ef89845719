import { describe, expect, it } from 'vitest';
import { Random } from '../../src/random.js';
import { LatencyHistogram } from './histogram.js';
import { Recorder, RecorderFinishedError } from './recorder.js';
import type { FinishInput, RequestObservation } from './types.js';

const finishInput = (o: Partial<FinishInput> = {}): FinishInput => ({
  durationMs: 10_000,
  wastedTokens: 50,
  tokensComputed: 1000,
  gpuUtilization: 0.5,
  meanBatchSize: 12.5,
  faultPhases: [],
  ...o,
});

let seq = 0;
const req = (o: Partial<RequestObservation> = {}): RequestObservation => ({
  id: `r${seq++}`,
  class: 'interactive',
  intendedStartMs: 0,
  firstTokenAtMs: 100,
  endAtMs: 500,
  chunks: [
    { atMs: 100, count: 1 },
    { atMs: 300, count: 2 },
    { atMs: 500, count: 2 },
  ],
  tokens: 5,
  outcome: 'ok',
  queuedMs: 10,
  backoffMs: 0,
  attempts: 1,
  upstreamCalls: 1,
  ...o,
});

describe('Recorder', () => {
  it('goodput counts only ok requests that met every SLO', () => {
    const rec = new Recorder({ policy: 'p', slo: { ttftMs: 200, e2eMs: 1000 } });
    rec.complete(req()); // ok, meets
    rec.complete(req()); // ok, meets
    rec.complete(req({ firstTokenAtMs: 300, chunks: [{ atMs: 300, count: 5 }] })); // ok, TTFT 300 > 200
    rec.complete(req({ endAtMs: 1500, chunks: [{ atMs: 100, count: 5 }] })); // ok, E2E 1500 > 1000
    rec.complete(req({ outcome: 'degraded', degraded: 'fallback' })); // fast but degraded
    rec.complete(req({ outcome: 'shed', firstTokenAtMs: undefined, chunks: [], tokens: 0, endAtMs: 1, attempts: 0, upstreamCalls: 0 }));
    const r = rec.finish(finishInput({ durationMs: 4000 }));
    expect(r.summary.sloMet).toBe(2);
    expect(r.summary.goodputPerSec).toBe(0.5);
    expect(r.summary).toMatchObject({ requests: 6, ok: 4, degraded: 1, shed: 1, failed: 0, okFraction: 0.666667 });
    expect(r.counters.degradedReasons).toEqual({ fallback: 1 });
    expect(r.series.goodput[0]).toBe(2);
  });

  it('servedWithinSlo counts ok and degraded answers in time; summary.reasons counts every request not ok by reason', () => {
    const rec = new Recorder({ policy: 'p', slo: { ttftMs: 200 } });
    const none = { firstTokenAtMs: undefined, chunks: [], tokens: 0, attempts: 1, upstreamCalls: 1 };
    rec.complete(req()); // ok in time
    rec.complete(req({ outcome: 'degraded', degraded: 'fallback', reason: 'fallback' })); // degraded in time
    rec.complete(req({ outcome: 'degraded', degraded: 'fallback', firstTokenAtMs: 900, chunks: [{ atMs: 900, count: 5 }], endAtMs: 900 })); // late
    rec.complete(req({ outcome: 'failed', reason: 'breaker_open', ...none, endAtMs: 1500 }));
    rec.complete(req({ outcome: 'failed', reason: 'breaker_open', ...none }));
    rec.complete(req({ outcome: 'timeout', ...none })); // no reason given: the outcome stands in
    rec.complete(req({ outcome: 'ok', reason: 'ignored' })); // ok never counts a reason
    const r = rec.finish(finishInput({ durationMs: 2000 }));
    expect(r.summary.sloMet).toBe(2);
    expect(r.summary.servedWithinSlo).toBe(3);
    expect(r.summary.servedWithinSloPerSec).toBe(1.5);
    expect(r.summary.reasons).toEqual({ breaker_open: 2, fallback: 2, timeout: 1 });
    expect(Object.keys(r.summary.reasons ?? {})).toEqual(['breaker_open', 'fallback', 'timeout']);
    expect(r.series.reasons?.['breaker_open']).toEqual([1, 1]);
  });

  it('amplification = upstream calls / client requests, preferring the model-side count', () => {
    const rec = new Recorder({ policy: 'p', slo: {} });
    rec.complete(req({ attempts: 4, upstreamCalls: 4 }));
    rec.complete(req({ attempts: 1, upstreamCalls: 1 }));
    rec.complete(req({ outcome: 'shed', attempts: 0, upstreamCalls: 0, chunks: [], firstTokenAtMs: undefined, tokens: 0 }));
    expect(rec.finish(finishInput()).summary.amplification).toBe(1.666667);
    const rec2 = new Recorder({ policy: 'p', slo: {} });
    rec2.complete(req());
    rec2.complete(req());
    const r2 = rec2.finish(finishInput({ upstreamCalls: 7 }));
    expect(r2.summary.amplification).toBe(3.5);
    expect(r2.counters.upstreamCalls).toBe(7);
  });

  it('wasted fraction and GPU figures come from the model; unknown stays null, not 0', () => {
    const rec = new Recorder({ policy: 'p', slo: {} });
    rec.complete(req());
    const r = rec.finish(finishInput());
    expect(r.summary).toMatchObject({ wastedTokenFraction: 0.05, gpuUtilization: 0.5, meanBatchSize: 12.5 });
    const rec2 = new Recorder({ policy: 'p', slo: {} });
    const r2 = rec2.finish(finishInput({ wastedTokens: null, tokensComputed: null, gpuUtilization: null, meanBatchSize: null }));
    expect(r2.summary).toMatchObject({ wastedTokenFraction: null, gpuUtilization: null, meanBatchSize: null, amplification: null, okFraction: null, peakQueue: null });
    expect(r2.summary.ttftMs.p99).toBeNull();
  });

  it('latency percentiles match the exact percentiles of the recorded data within HDR precision', () => {
    const r = new Random(42).derive('recorder');
    const rec = new Recorder({ policy: 'p', slo: {} });
    const ttfts: number[] = [];
    for (let i = 0; i < 5000; i++) {
      const start = i * 2;
      const ttft = r.exponential(200) + 20;
      ttfts.push(Math.round(ttft * 1000) / 1000);
      rec.complete(req({ intendedStartMs: start, firstTokenAtMs: start + ttft, endAtMs: start + ttft + 400, chunks: [{ atMs: start + ttft, count: 1 }, { atMs: start + ttft + 400, count: 4 }] }));
    }
    const s = rec.finish(finishInput()).summary;
    const sorted = ttfts.sort((a, b) => a - b);
    for (const [p, got] of [[50, s.ttftMs.p50], [90, s.ttftMs.p90], [99, s.ttftMs.p99]] as const) {
      const exact = sorted[Math.max(1, Math.floor((p / 100) * sorted.length + 0.5)) - 1]!;
      expect(Math.abs(got! - exact)).toBeLessThanOrEqual(exact * 0.001 + 0.001);
    }
    expect(s.ttftMs.count).toBe(5000);
    expect(s.e2eMs.p50).toBeGreaterThan(s.ttftMs.p50! + 399);
  });

  it('ITL applies the chunk rule and TPOT is (E2E − TTFT)/(tokens − 1)', () => {
    const rec = new Recorder({ policy: 'p', slo: {} });
    rec.complete(req()); // chunks: 1 @100, 2 @300 (Δ200 → 2×100), 2 @500 (Δ200 → 2×100)
    rec.complete(req({ chunks: [{ atMs: 100, count: 1 }, { atMs: 900, count: 4 }], endAtMs: 900 })); // 4×200
    const r = rec.finish(finishInput());
    expect(r.summary.itlMs.count).toBe(8);
    expect(r.summary.itlMs.p50).toBeCloseTo(100, 1);
    expect(r.summary.itlMs.max).toBeCloseTo(200, 0);
    const tpot = LatencyHistogram.decode(r.histograms.tpotMs);
    expect(tpot.count).toBe(2);
    expect(tpot.percentile(0)).toBeCloseTo(100, 1); // (500 − 100) / 4
    expect(tpot.percentile(100)).toBeCloseTo(200, 0); // (900 − 100) / 4
  });

  it('records ITL runs with one call per run of equal units: the same histogram as one sample per token', () => {
    const r0 = new Random(5).derive('itl');
    const rec = new Recorder({ policy: 'p', slo: {} });
    const expected = LatencyHistogram.create();
    for (let n = 0; n < 50; n++) {
      let at = 100;
      const chunks = [{ atMs: at, count: 1 }];
      for (let i = 0; i < 200; i++) {
        // Steps of nearly equal length (runs of equal microseconds) and now and then a coalesced chunk.
        const count = r0.next() < 0.1 ? 1 + Math.floor(r0.next() * 4) : 1;
        at += count * (r0.next() < 0.7 ? 20 : 20 + r0.next() * 0.004);
        chunks.push({ atMs: at, count });
      }
      for (let i = 1; i < chunks.length; i++) {
        const c = chunks[i]!;
        for (let k = 0; k < c.count; k++) expected.record((c.atMs - chunks[i - 1]!.atMs) / c.count);
      }
      rec.complete(req({ chunks, tokens: chunks.reduce((s, c) => s + c.count, 0), endAtMs: at }));
    }
    const r = rec.finish(finishInput());
    expect(r.histograms.itlMs).toBe(expected.encode());
    expect(r.summary.itlMs).toEqual(expected.stats());
  });

  it('E2E percentiles cover served requests; e2eAll covers every request', () => {
    const rec = new Recorder({ policy: 'p', slo: {} });
    rec.complete(req({ endAtMs: 500 }));
    rec.complete(req({ outcome: 'timeout', endAtMs: 30_000 }));
    const s = rec.finish(finishInput({ durationMs: 30_000 })).summary;
    expect(s.e2eMs.count).toBe(1);
    expect(s.e2eAllMs.count).toBe(2);
    expect(s.e2eAllMs.max).toBeCloseTo(30_000, -2);
    expect(s.ttftMs.count).toBe(2); // the timed-out request saw its first token
  });

  it('builds per-second series: arrivals, outcomes, 429s and carried-forward gauges', () => {
    const rec = new Recorder({ policy: 'p', slo: {} });
    rec.arrival(100);
    rec.arrival(900);
    rec.arrival(2500);
    rec.rateLimited(1200, 3);
    rec.gauge(0, { queueDepth: 2, inFlight: 1, concurrencyLimit: 8, breakerState: 'closed', gpuUtilization: 0.2 });
    rec.gauge(500, { queueDepth: 7, inFlight: 3, concurrencyLimit: 8, breakerState: 'open', gpuUtilization: 0.4 });
    rec.gauge(2100, { queueDepth: 1, inFlight: 2, concurrencyLimit: null, breakerState: 'half-open', budgetLevel: 4.5 });
    rec.complete(req({ intendedStartMs: 100, endAtMs: 1500, chunks: [{ atMs: 200, count: 5 }], firstTokenAtMs: 200 }));
    rec.complete(req({ intendedStartMs: 900, outcome: 'failed', endAtMs: 1700 }));
    const r = rec.finish(finishInput({ durationMs: 4000 }));
    const s = r.series;
    expect(s.arrivals).toEqual([2, 0, 1, 0]);
    expect(s.completions).toEqual([0, 2, 0, 0]);
    expect(s.ok).toEqual([0, 1, 0, 0]);
    expect(s.failed).toEqual([0, 1, 0, 0]);
    expect(s.rateLimited).toEqual([0, 3, 0, 0]);
    // Carried forward between samples; unknown (null) after the last one.
    expect(s.queueDepth).toEqual([7, 7, 1, null]);
    expect(s.breakerState).toEqual(['open', 'open', 'half-open', null]);
    expect(s.concurrencyLimit).toEqual([8, 8, null, null]);
    expect(s.budgetLevel).toEqual([null, null, 4.5, null]);
    expect(s.gpuUtilization).toEqual([0.3, 0.3, 0.3, null]);
    expect(r.summary.peakQueue).toBe(7);
    expect(r.counters).toMatchObject({ arrivals: 3, requests: 2, unfinished: 1, rateLimited: 3 });
  });

  it('computes recovery for the fault phases given at finish', () => {
    const rec = new Recorder({ policy: 'p', slo: {}, recovery: { consecutiveBuckets: 2 } });
    for (let sec = 0; sec < 20; sec++) {
      const healthy = sec < 5 || sec >= 12;
      for (let k = 0; k < 4; k++) {
        const start = sec * 1000 + k * 10;
        rec.complete(req({ intendedStartMs: start, firstTokenAtMs: start + 10, chunks: [{ atMs: start + 10, count: 5 }], endAtMs: start + 100, outcome: healthy ? 'ok' : 'failed' }));
      }
    }
    const r = rec.finish(finishInput({ durationMs: 20_000, faultPhases: [{ name: 'outage', atMs: 5000, durationMs: 5000 }] }));
    expect(r.summary.recovery).toEqual([
      { phase: 'outage', phaseEndMs: 10_000, metric: 'goodput', tolerancePct: 10, consecutiveBuckets: 2, baseline: 4, target: 3.6, recoveryMs: 2000, metastable: false, status: 'recovered' },
    ]);
  });

  it('rejects bad observations naming the field, and use after finish', () => {
    const rec = new Recorder({ policy: 'p', slo: {} });
    expect(() => rec.complete(req({ id: 'x1', outcome: 'great' as never }))).toThrow(/observation\[x1\]\.outcome: expected ok \| degraded/);
    expect(() => rec.complete(req({ id: 'x2', chunks: [{ atMs: 5, count: 0 }] }))).toThrow(/observation\[x2\]\.chunks\[0\]\.count/);
    expect(() => rec.complete(req({ id: 'x3', endAtMs: -5 }))).toThrow(/observation\[x3\]\.endAtMs: expected >= intendedStartMs/);
    expect(() => new Recorder({ policy: 'p', slo: { ttftMs: -1 } })).toThrow(/slo\.ttftMs: expected a positive number, got -1/);
    rec.finish(finishInput());
    expect(() => rec.arrival(1)).toThrow(RecorderFinishedError);
  });

  it('is deterministic: the same observations give a deep-equal result', () => {
    const run = () => {
      const rng = new Random(3).derive('det');
      const rec = new Recorder({ policy: 'p', slo: { ttftMs: 300 } });
      for (let i = 0; i < 300; i++) {
        const s = i * 30;
        const t = rng.uniform(50, 500);
        rec.arrival(s);
        rec.complete(req({ intendedStartMs: s, firstTokenAtMs: s + t, chunks: [{ atMs: s + t, count: 1 }, { atMs: s + t + 50, count: 3 }], endAtMs: s + t + 50, tokens: 4 }));
      }
      return JSON.stringify(rec.finish(finishInput()));
    };
    expect(run()).toBe(run());
  });
});
