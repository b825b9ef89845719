/**
 * Latency histograms: HDR (hdr-histogram-js, pure-JS build, so it is deterministic and needs no WebAssembly
 * init) recording milliseconds at microsecond resolution with 3 significant digits. Merging is lossless:
 * merging two histograms equals recording every value into one.
 */
import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64, type Histogram } from 'hdr-histogram-js';
import { ValidationError } from '../../src/errors.js';

/** Histogram values are stored as integer microseconds; the API speaks milliseconds. */
export const HISTOGRAM_UNITS_PER_MS = 1000;

/** Significant decimal digits kept by every histogram: values are exact to within 0.1%. */
export const HISTOGRAM_SIGNIFICANT_DIGITS = 3;

/** Summary statistics of one latency histogram, in ms. Percentiles are `null` when nothing was recorded. */
export interface LatencyStats {
  readonly count: number;
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p99: number | null;
  readonly max: number | null;
  readonly mean: number | null;
}

/** A point of a latency distribution: `fraction` of the samples were `<= valueMs`. */
export interface DistributionPoint {
  readonly percentile: number;
  readonly valueMs: number;
}

/**
 * The parts of hdr-histogram-js's JsHistogram that {@link exactMean} reads (public methods of its JS classes that
 * its type declarations leave out).
 */
interface HistogramInternals {
  readonly totalCount: number;
  readonly countsArrayLength: number;
  getCountAtIndex(index: number): number;
  valueFromIndex(index: number): number;
  highestEquivalentValue(value: number): number;
  medianEquivalentValue(value: number): number;
}

/**
 * `Histogram.mean`, computed as the library computes it (the median equivalent value of each recorded bucket times
 * its count, summed in bucket order, over the total count: bit for bit the same number) but visiting only the
 * buckets that hold a count. The library's iterator does per-bucket arithmetic for every bucket up to the last
 * one recorded, which made `stats()` the slowest part of finishing a run.
 */
function exactMean(h: HistogramInternals): number {
  const n = h.totalCount;
  if (n === 0) return 0;
  let total = 0;
  let seen = 0;
  for (let i = 0; i < h.countsArrayLength && seen < n; i++) {
    const c = h.getCountAtIndex(i);
    if (c === 0) continue;
    seen += c;
    total += h.medianEquivalentValue(h.highestEquivalentValue(h.valueFromIndex(i))) * c;
  }
  return total / n;
}

/**
 * The parts of hdr-histogram-js's JsHistogram that {@link LatencyHistogram.recordUnits} writes through (public
 * methods of its JS classes that its type declarations leave out), and the layout they depend on.
 */
interface HistogramCounts {
  readonly unitMagnitude: number;
  readonly subBucketHalfCountMagnitude: number;
  readonly countsArrayLength: number;
  addToCountAtIndex(index: number, count: number): void;
  updateMinAndMax(value: number): void;
  addToTotalCount(count: number): void;
}

/** log2 of the sub-buckets in half a bucket at 3 significant digits (2,048 sub-buckets). */
const SUB_BUCKET_HALF_COUNT_MAGNITUDE = 10;

/** A mergeable latency histogram in milliseconds. */
export class LatencyHistogram {
  readonly #h: Histogram;
  /** The histogram's counts, when its layout is the one {@link recordUnits} computes indices for. */
  readonly #counts: HistogramCounts | undefined;

  private constructor(h: Histogram) {
    this.#h = h;
    const c = h as unknown as HistogramCounts;
    this.#counts =
      c.unitMagnitude === 0 && c.subBucketHalfCountMagnitude === SUB_BUCKET_HALF_COUNT_MAGNITUDE && typeof c.addToCountAtIndex === 'function' && typeof c.updateMinAndMax === 'function' && typeof c.addToTotalCount === 'function'
        ? c
        : undefined;
  }

  /** An empty histogram. */
  static create(): LatencyHistogram {
    return new LatencyHistogram(
      build({
        useWebAssembly: false,
        bitBucketSize: 32,
        autoResize: true,
        lowestDiscernibleValue: 1,
        numberOfSignificantValueDigits: HISTOGRAM_SIGNIFICANT_DIGITS,
      }),
    );
  }

  /** Decodes the output of `encode()`. Throws ValidationError on a string that is not an encoded histogram. */
  static decode(encoded: string, path = 'histogram'): LatencyHistogram {
    try {
      return new LatencyHistogram(decodeFromCompressedBase64(encoded, 32, false));
    } catch {
      throw new ValidationError(path, 'a compressed base64 HDR histogram', encoded);
    }
  }

  /** Records one value. Negative values are clamped to 0 (clock skew between a stamp and its reference). */
  record(valueMs: number, count = 1): void {
    if (count <= 0) return;
    this.recordUnits(LatencyHistogram.units(valueMs), count);
  }

  /**
   * The integer units a value is recorded as (what `record` stores): values with equal units are one bucket, so
   * a run of them can be recorded as one `recordUnits` call with their count, exactly as one call each.
   */
  static units(valueMs: number): number {
    if (!Number.isFinite(valueMs)) throw new ValidationError('valueMs', 'a finite number', valueMs);
    return Math.max(0, Math.round(valueMs * HISTOGRAM_UNITS_PER_MS));
  }

  /**
   * Records `count` values of `units` (from {@link LatencyHistogram.units}). An integer below 2^31 that falls in
   * the counts the histogram already has is counted directly, at the index the library computes (its bucket from
   * `Math.clz32` and a shift, where the library takes `Math.log2` and powers of two: the same index, and the same
   * count, total, minimum and maximum); anything else (a value past the range, which resizes it) goes through the
   * library. This is the recorder's most frequent call: one per run of equal inter-token gaps.
   */
  recordUnits(units: number, count = 1): void {
    if (count <= 0) return;
    const c = this.#counts;
    if (c !== undefined && (units & 0x7fffffff) === units) {
      const bucket = Math.max(31 - Math.clz32(units) - SUB_BUCKET_HALF_COUNT_MAGNITUDE, 0);
      const index = (bucket << SUB_BUCKET_HALF_COUNT_MAGNITUDE) + (units >>> bucket);
      if (index < c.countsArrayLength) {
        c.addToCountAtIndex(index, count);
        c.updateMinAndMax(units);
        c.addToTotalCount(count);
        return;
      }
    }
    if (count === 1) this.#h.recordValue(units);
    else this.#h.recordValueWithCount(units, count);
  }

  /** Adds every sample of `other` to this histogram, without loss. */
  merge(other: LatencyHistogram): void {
    this.#h.add(other.#h);
  }

  get count(): number {
    return this.#h.totalCount;
  }

  /** The value at a percentile 0..100, in ms; `null` when empty. */
  percentile(p: number): number | null {
    if (this.#h.totalCount === 0) return null;
    return this.#h.getValueAtPercentile(p) / HISTOGRAM_UNITS_PER_MS;
  }

  /** Summary statistics; values rounded to the microsecond so output is stable across platforms. */
  stats(): LatencyStats {
    const n = this.#h.totalCount;
    if (n === 0) return { count: 0, p50: null, p90: null, p99: null, max: null, mean: null };
    const ms = (units: number): number => Math.round(units) / HISTOGRAM_UNITS_PER_MS;
    return {
      count: n,
      p50: ms(this.#h.getValueAtPercentile(50)),
      p90: ms(this.#h.getValueAtPercentile(90)),
      p99: ms(this.#h.getValueAtPercentile(99)),
      // The bucket's highest equivalent value, like the percentiles: it survives encode/decode unchanged.
      max: ms(this.#h.getValueAtPercentile(100)),
      mean: ms(exactMean(this.#h as unknown as HistogramInternals)),
    };
  }

  /**
   * The distribution at the given percentiles (0..100), for CDF charts. Empty when nothing was recorded.
   * @default percentiles DISTRIBUTION_PERCENTILES
   */
  distribution(percentiles: readonly number[] = DISTRIBUTION_PERCENTILES): DistributionPoint[] {
    if (this.#h.totalCount === 0) return [];
    return percentiles.map((p) => ({ percentile: p, valueMs: this.#h.getValueAtPercentile(p) / HISTOGRAM_UNITS_PER_MS }));
  }

  /** Compressed base64 (HdrHistogram V2 encoding), the form stored in a RunResult. */
  encode(): string {
    return encodeIntoCompressedBase64(this.#h);
  }
}

/** Percentiles sampled for distribution charts: dense in the tail, where the interesting part is. */
export const DISTRIBUTION_PERCENTILES: readonly number[] = [
  0, 5, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 92.5, 95, 96, 97, 97.5, 98, 98.5, 99, 99.25, 99.5, 99.75, 99.9,
  99.95, 99.99, 100,
];
