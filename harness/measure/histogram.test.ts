import fc from 'fast-check';
import { build, encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import { describe, expect, it } from 'vitest';
import { Random } from '../../src/random.js';
import { LatencyHistogram } from './histogram.js';

/** Exact percentile with HDR's rank rule: the value of rank max(1, round(p% of n)). */
function exactPercentile(sorted: number[], p: number): number {
  const rank = Math.max(1, Math.floor((p / 100) * sorted.length + 0.5));
  return sorted[rank - 1]!;
}

describe('LatencyHistogram', () => {
  it('percentiles match the exact percentiles of the data within HDR precision (0.1%, 1 µs)', () => {
    const r = new Random(7).derive('lat');
    const values = Array.from({ length: 20_000 }, () => Math.exp(r.normal(5, 1.2))); // lognormal ms, ~150 ms median
    const h = LatencyHistogram.create();
    for (const v of values) h.record(v);
    const sorted = [...values].map((v) => Math.round(v * 1000) / 1000).sort((a, b) => a - b);
    for (const p of [50, 90, 99, 99.9]) {
      const exact = exactPercentile(sorted, p);
      const got = h.percentile(p)!;
      expect(Math.abs(got - exact)).toBeLessThanOrEqual(exact * 0.001 + 0.001);
    }
    const s = h.stats();
    expect(s.count).toBe(values.length);
    expect(Math.abs(s.max! - sorted.at(-1)!)).toBeLessThanOrEqual(sorted.at(-1)! * 0.001 + 0.001);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    expect(Math.abs(s.mean! - mean) / mean).toBeLessThan(0.001);
  });

  it('merging two histograms equals recording all values in one (lossless), property-tested', () => {
    const ms = fc.double({ min: 0, max: 600_000, noNaN: true });
    fc.assert(
      fc.property(fc.array(ms, { maxLength: 200 }), fc.array(ms, { maxLength: 200 }), (a, b) => {
        const ha = LatencyHistogram.create();
        const hb = LatencyHistogram.create();
        const all = LatencyHistogram.create();
        for (const v of a) {
          ha.record(v);
          all.record(v);
        }
        for (const v of b) {
          hb.record(v);
          all.record(v);
        }
        ha.merge(hb);
        expect(ha.count).toBe(all.count);
        expect(ha.stats()).toEqual(all.stats());
        expect(ha.distribution()).toEqual(all.distribution());
        expect(LatencyHistogram.decode(ha.encode()).distribution()).toEqual(all.distribution());
      }),
      { numRuns: 60, seed: 11 },
    );
  });

  it("stats().mean is bit for bit the library's own mean (computed over recorded buckets only)", () => {
    const r = new Random(3).derive('mean');
    for (const spread of [0.5, 2, 4]) {
      const h = LatencyHistogram.create();
      const lib = build({ useWebAssembly: false, bitBucketSize: 32, autoResize: true, lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3 });
      for (let i = 0; i < 5000; i++) {
        const v = Math.exp(r.normal(4, spread));
        h.record(v);
        lib.recordValue(Math.round(v * 1000));
      }
      expect(h.stats().mean).toBe(Math.round(lib.mean) / 1000);
    }
  });

  it("recordUnits leaves exactly the library's state: the same encoding, statistics and merge, resizing included", () => {
    const lib = (): ReturnType<typeof build> => build({ useWebAssembly: false, bitBucketSize: 32, autoResize: true, lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3 });
    // Every bucket edge (2^k - 1, 2^k, 2^k + 1 up to 2^31 and past it), small values, and random values with counts.
    const edges: number[] = [0, 1, 2, 1023, 1024, 1025, 2047, 2048, 2049];
    for (let k = 11; k <= 33; k++) edges.push(2 ** k - 1, 2 ** k, 2 ** k + 1);
    const r = new Random(5).derive('units');
    const runs: Array<[number, number]> = edges.map((v) => [v, 1]);
    for (let i = 0; i < 20_000; i++) runs.push([Math.round(Math.exp(r.uniform(0, 21))), r.int(1, 3)]);
    // In order, reversed (the range grows at once, then never), and small values only.
    for (const order of [runs, [...runs].reverse(), runs.filter(([v]) => v < 5000)]) {
      const ours = LatencyHistogram.create();
      const theirs = lib();
      for (const [v, n] of order) {
        ours.recordUnits(v, n);
        if (n === 1) theirs.recordValue(v);
        else theirs.recordValueWithCount(v, n);
      }
      const back = LatencyHistogram.decode(ours.encode());
      expect(ours.encode()).toBe(encodeIntoCompressedBase64(theirs));
      expect(back.stats()).toEqual(LatencyHistogram.decode(encodeIntoCompressedBase64(theirs)).stats());
      expect(ours.distribution()).toEqual(LatencyHistogram.decode(encodeIntoCompressedBase64(theirs)).distribution());
      // Merged into another (which reads the maximum and the counts).
      const merged = lib();
      const mergedOurs = LatencyHistogram.create();
      mergedOurs.merge(ours);
      merged.add(theirs);
      expect(mergedOurs.encode()).toBe(encodeIntoCompressedBase64(merged));
    }
  });

  it('survives an encode/decode round trip exactly', () => {
    const h = LatencyHistogram.create();
    for (let i = 1; i <= 1000; i++) h.record(i * 1.5);
    const back = LatencyHistogram.decode(h.encode());
    expect(back.stats()).toEqual(h.stats());
    expect(back.encode()).toBe(h.encode());
  });

  it('reports nulls when empty and rejects a bad encoding with a ValidationError naming the path', () => {
    expect(LatencyHistogram.create().stats()).toEqual({ count: 0, p50: null, p90: null, p99: null, max: null, mean: null });
    expect(() => LatencyHistogram.decode('not-a-histogram', 'policies[0].histograms.ttftMs')).toThrow(/policies\[0\]\.histograms\.ttftMs: expected a compressed base64 HDR histogram/);
  });

  it('records counts and clamps negative values to 0', () => {
    const h = LatencyHistogram.create();
    h.record(2.5, 4);
    h.record(-3);
    expect(h.count).toBe(5);
    expect(h.percentile(10)).toBe(0);
    expect(h.percentile(100)).toBeCloseTo(2.5, 2);
  });
});
