import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ValidationError } from '../errors.js';
import { Random } from '../random.js';
import { type AdaptiveLimit, AimdLimit, GradientLimit } from './adaptive-limit.js';

const ok = (rttMs: number, inFlight: number) => ({ rttMs, inFlight, dropped: false });

describe('AimdLimit', () => {
  it('adds one per good sample while the limit is in use, up to max', () => {
    const l = new AimdLimit({ initial: 10, min: 1, max: 12 });
    expect(l.update(ok(100, 10))).toBe(11);
    expect(l.update(ok(100, 11))).toBe(12);
    expect(l.update(ok(100, 12))).toBe(12);
  });

  it('does not grow unless the limit is in use (90% of it in flight): an unused limit proves nothing', () => {
    const l = new AimdLimit({ initial: 10, min: 1, max: 100 });
    expect(l.update(ok(100, 5))).toBe(10);
    expect(l.update(ok(100, 8))).toBe(10);
    expect(l.update(ok(100, 9))).toBe(11);
  });

  it('multiplies by backoffRatio on a drop or a call slower than timeoutMs, never below min', () => {
    const l = new AimdLimit({ initial: 20, min: 3, max: 100, backoffRatio: 0.5, timeoutMs: 1000 });
    expect(l.update({ rttMs: 10, inFlight: 20, dropped: true })).toBe(10);
    // The calls in flight at that cut report the same congestion event: no second cut for half a limit of samples.
    for (let i = 0; i < 4; i++) expect(l.update(ok(1001, 10))).toBe(10);
    expect(l.update(ok(1001, 10))).toBe(5);
    for (let i = 0; i < 2; i++) l.update(ok(1001, 5));
    expect(l.update(ok(1001, 5))).toBe(3);
    for (let i = 0; i < 5; i++) expect(l.update(ok(1001, 3))).toBe(3);
  });

  it('cannot run away: past the limit where it last choked it creeps (one per limit of good calls), not runs', () => {
    const l = new AimdLimit({ initial: 100, min: 4, max: 512, backoffRatio: 0.9 });
    for (let i = 0; i < 30; i++) l.update(ok(20, l.limit)); // warm the RTT averages up: 100 -> 130
    expect(l.limit).toBe(130);
    l.update({ rttMs: 20, inFlight: 130, dropped: true }); // choked at 130
    expect(l.limit).toBe(117);
    for (let i = 0; i < 13; i++) l.update(ok(20, 130)); // back up to the ceiling at one per call
    expect(l.limit).toBe(130);
    for (let i = 0; i < 135; i++) l.update(ok(20, 130)); // past it: about one per 130 calls
    expect(l.limit).toBe(131);
  });

  it('treats rising latency as congestion: a short-term RTT over twice the long-term one cuts the limit', () => {
    const l = new AimdLimit({ initial: 100, min: 4, max: 512, backoffRatio: 0.9 });
    for (let i = 0; i < 30; i++) l.update(ok(20, 100));
    const before = l.limit;
    // One slow call among fast ones is not congestion...
    l.update(ok(60, before));
    expect(l.limit).toBe(before + 1);
    // ...a run of them (upstream queueing) is.
    for (let i = 0; i < 10; i++) l.update(ok(80, before));
    expect(l.limit).toBeLessThan(before);
  });

  it('does not climb past the slots of an upstream it is not filling (steady load under capacity)', () => {
    // A GPU with 256 sequences at 85% load: ~218 calls in flight, every first token fast. The limit starts at the
    // slots; nothing here says the upstream sustains more, so it must not grow (growing while half was in use let
    // it climb to ~290 before a brownout, and the surge then queued past the slots).
    const l = new AimdLimit({ initial: 256, min: 4, max: 512 });
    const random = new Random(7);
    for (let i = 0; i < 5_000; i++) l.update(ok(50 + random.next() * 100, 200 + Math.floor(random.next() * 30)));
    expect(l.limit).toBe(256);
  });

  it('validates its options and samples', () => {
    expect(() => new AimdLimit({ initial: 5, min: 10, max: 20 })).toThrow('initial: expected a number within [10, 20], got 5');
    expect(() => new AimdLimit({ initial: 5, min: 1, max: 20, backoffRatio: 1 })).toThrow(ValidationError);
    expect(() => new AimdLimit({ initial: 5, min: 0, max: 20 })).toThrow(ValidationError);
    expect(() => new AimdLimit({ initial: 5, min: 1, max: 20 }).update(ok(Number.NaN, 1))).toThrow('sample.rttMs');
  });
});

describe('GradientLimit', () => {
  it('grows towards max while RTT stays at its long-term level and the limit is used', () => {
    const l = new GradientLimit({ initial: 10, min: 1, max: 50 });
    let prev = l.limit;
    for (let i = 0; i < 20; i++) {
      const next = l.update(ok(100, l.limit));
      expect(next).toBeGreaterThanOrEqual(prev);
      prev = next;
    }
    // Each step adds smoothing * queueSize = 0.8 when gradient is 1: 10 + 20 * 0.8 = 26.
    expect(l.limit).toBe(26);
    for (let i = 0; i < 200; i++) l.update(ok(100, l.limit));
    expect(l.limit).toBe(50);
  });

  it('shrinks when the short RTT rises well above the long-term RTT (queueing upstream)', () => {
    const l = new GradientLimit({ initial: 40, min: 2, max: 100 });
    for (let i = 0; i < 50; i++) l.update(ok(100, l.limit));
    const before = l.limit;
    for (let i = 0; i < 10; i++) l.update(ok(400, l.limit));
    expect(l.limit).toBeLessThan(before * 0.6);
    expect(l.limit).toBeGreaterThanOrEqual(2);
  });

  it('tolerates RTT inflation within `tolerance` without shrinking', () => {
    const l = new GradientLimit({ initial: 20, min: 1, max: 1000, tolerance: 2 });
    for (let i = 0; i < 20; i++) l.update(ok(100, l.limit));
    const before = l.limit;
    l.update(ok(190, l.limit));
    expect(l.limit).toBeGreaterThanOrEqual(before);
  });

  it('a drop counts as the steepest gradient even with a fast RTT', () => {
    const l = new GradientLimit({ initial: 40, min: 1, max: 100, smoothing: 1, queueSize: 0 });
    l.update(ok(100, 40));
    expect(l.update({ rttMs: 1, inFlight: 40, dropped: true })).toBe(20);
  });

  it('does not move while app-limited', () => {
    const l = new GradientLimit({ initial: 40, min: 1, max: 100 });
    expect(l.update(ok(1000, 5))).toBe(40);
    expect(l.update(ok(1, 19))).toBe(40);
  });

  it('recovers after a long overload: the inflated long RTT decays once latency returns to normal', () => {
    const l = new GradientLimit({ initial: 20, min: 1, max: 200, longWindow: 100 });
    for (let i = 0; i < 500; i++) l.update(ok(1000, l.limit));
    const inflated = l.longRttMs;
    for (let i = 0; i < 100; i++) l.update(ok(100, l.limit));
    expect(l.longRttMs).toBeLessThan(inflated / 2);
    expect(l.limit).toBeGreaterThan(60);
  });

  it('validates options', () => {
    expect(() => new GradientLimit({ initial: 5, min: 1, max: 10, smoothing: 0 })).toThrow('smoothing: expected a number in (0, 1], got 0');
    expect(() => new GradientLimit({ initial: 5, min: 1, max: 10, tolerance: 0.5 })).toThrow(ValidationError);
    expect(() => new GradientLimit({ initial: 5, min: 6, max: 4 })).toThrow('max');
  });
});

describe('adaptive limits (property)', () => {
  const sample = fc.record({
    rttMs: fc.double({ min: 0, max: 10_000, noNaN: true }),
    inFlight: fc.integer({ min: 0, max: 500 }),
    dropped: fc.boolean(),
  });
  const bounds = fc
    .tuple(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 0, max: 200 }), fc.double({ min: 0, max: 1, noNaN: true }))
    .map(([min, span, f]) => ({ min, max: min + span, initial: min + Math.floor(span * f) }));

  it('the limit is always an integer within [min, max]', () => {
    fc.assert(
      fc.property(bounds, fc.boolean(), fc.array(sample, { maxLength: 200 }), (b, aimd, samples) => {
        const l: AdaptiveLimit = aimd ? new AimdLimit(b) : new GradientLimit(b);
        for (const s of samples) {
          const v = l.update(s);
          expect(v).toBe(l.limit);
          expect(Number.isInteger(v)).toBe(true);
          expect(v).toBeGreaterThanOrEqual(b.min);
          expect(v).toBeLessThanOrEqual(b.max);
        }
      }),
      { seed: 7, numRuns: 300 },
    );
  });

  it('under a seeded upstream model, gradient tracks a sudden capacity drop', () => {
    // Upstream: RTT grows with the excess in flight over capacity; past twice capacity its queue is full and it
    // rejects a share of calls (429). Capacity falls from 200 to 20 at sample 1500.
    const rnd = new Random(99).derive('rtt');
    const l = new GradientLimit({ initial: 10, min: 1, max: 500 });
    const at: Record<number, number> = {};
    for (let i = 0; i < 3000; i++) {
      const capacity = i < 1500 ? 200 : 20;
      const inFlight = l.limit;
      const dropped = inFlight > 2 * capacity && rnd.next() < (inFlight - 2 * capacity) / inFlight;
      const rttMs = 100 * Math.max(1, inFlight / capacity) * (0.9 + 0.2 * rnd.next());
      l.update({ rttMs, inFlight, dropped });
      at[i] = l.limit;
    }
    expect(at[1499]).toBeGreaterThan(200); // used the large upstream
    expect(at[1499]).toBeLessThan(500); // but never ran away to max
    expect(at[1540]).toBeLessThan(80); // cut within 40 samples of the drop
    expect(at[2999]).toBeGreaterThanOrEqual(20);
    expect(at[2999]).toBeLessThan(80);
  });
});
