import { ValidationError } from '../errors.js';

/** One completed (or dropped) call, fed to an adaptive limit. */
export interface LimitSample {
  /** Round-trip time of the call in ms (from dispatch to completion). */
  readonly rttMs: number;
  /** Calls in flight when this one was dispatched, itself included. */
  readonly inFlight: number;
  /** The upstream refused or timed out (429, 503, timeout): an explicit overload signal. */
  readonly dropped: boolean;
}

/** A concurrency limit that learns from samples. `limit` is always an integer within [min, max]. */
export interface AdaptiveLimit {
  readonly limit: number;
  /** Feeds one sample and returns the new limit. */
  update(sample: LimitSample): number;
}

interface Bounds {
  initial: number;
  min: number;
  max: number;
}

function checkBounds(o: Bounds): void {
  if (!(Number.isInteger(o.min) && o.min >= 1)) throw new ValidationError('min', 'an integer >= 1', o.min);
  if (!(o.max === Number.POSITIVE_INFINITY || (Number.isInteger(o.max) && o.max >= o.min))) {
    throw new ValidationError('max', `an integer >= min (${o.min})`, o.max);
  }
  if (!(Number.isFinite(o.initial) && o.initial >= o.min && o.initial <= o.max)) {
    throw new ValidationError('initial', `a number within [${o.min}, ${o.max}]`, o.initial);
  }
}

function checkSample(s: LimitSample): void {
  if (!(Number.isFinite(s.rttMs) && s.rttMs >= 0)) throw new ValidationError('sample.rttMs', 'a finite number >= 0', s.rttMs);
  if (!(Number.isFinite(s.inFlight) && s.inFlight >= 0)) {
    throw new ValidationError('sample.inFlight', 'a finite number >= 0', s.inFlight);
  }
}

/** Samples averaged plainly before the long-term RTT becomes an exponential average (and inflation counts). */
const WARMUP_SAMPLES = 20;
/** Weight of one sample in the long-term RTT: about a 200-sample window. */
const LONG_RTT_FACTOR = 2 / 201;
/** Weight of one sample in the short-term RTT: about a 10-sample window, so one long prompt is not congestion. */
const SHORT_RTT_FACTOR = 2 / 11;

/**
 * The limit grows only on calls dispatched while at least this share of it was in use: a limit that is not the
 * bottleneck proves nothing about the upstream (TCP's congestion window validation, RFC 7661, for an
 * application-limited sender), and growing it anyway lets it run past what the upstream sustains before the first
 * surge reaches it (at 85% load it climbed past the GPU's 256 slots while ~220 calls were in flight).
 */
const USED_RATIO = 0.9;

const clamp = (x: number, lo: number, hi: number): number => (x < lo ? lo : x > hi ? hi : x);

/** Options for {@link AimdLimit}. */
export interface AimdLimitOptions {
  initial: number;
  min: number;
  max: number;
  /** Added to the limit after a good sample while the limit is in use. @default 1 */
  increase?: number;
  /** The limit is multiplied by this after a drop or a slow call, in (0, 1). @default 0.9 */
  backoffRatio?: number;
  /** A call slower than this counts as a drop. @default 5000 */
  timeoutMs?: number;
  /**
   * Rising latency is congestion: when the short-term average RTT (about 10 calls) exceeds this multiple of the
   * long-term one (about 200), a call counts as a drop, and the limit grows only while it stays within it. This is what keeps the limit from running away
   * above what the upstream sustains (past its batch slots, extra calls only queue there and RTT rises).
   * Infinity turns it off. @default 2
   */
  latencyTolerance?: number;
}

/**
 * Additive increase, multiplicative decrease (Netflix concurrency-limits `AIMDLimit`): grow by `increase` after a
 * good call, but only when the limit is in use (90% of it in flight: an unused limit proves nothing); shrink by
 * `backoffRatio` after a drop, a call slower than `timeoutMs`, or while the short-term RTT is more than
 * `latencyTolerance` times the long-term one (queueing upstream: the limit is past what the upstream sustains);
 * at most once per half a limit's worth of samples (one congestion event, one decrease). The limit at the last
 * decrease is a ceiling: past it the limit grows by `increase` per limit's worth of good calls, not per call.
 */
export class AimdLimit implements AdaptiveLimit {
  private estimate: number;
  private readonly min: number;
  private readonly max: number;
  private readonly increase: number;
  private readonly backoffRatio: number;
  private readonly timeoutMs: number;
  private readonly latencyTolerance: number;
  private longRtt = 0;
  private shortRtt = 0;
  private samples = 0;
  private sinceDecrease = Number.POSITIVE_INFINITY;
  /** The limit at the last decrease: growth slows past it. */
  private ceiling = Number.POSITIVE_INFINITY;

  constructor(o: AimdLimitOptions) {
    checkBounds(o);
    this.latencyTolerance = o.latencyTolerance ?? 2;
    if (!(this.latencyTolerance > 1)) throw new ValidationError('latencyTolerance', 'a number > 1', o.latencyTolerance);
    this.increase = o.increase ?? 1;
    this.backoffRatio = o.backoffRatio ?? 0.9;
    this.timeoutMs = o.timeoutMs ?? 5000;
    if (!(Number.isFinite(this.increase) && this.increase > 0)) throw new ValidationError('increase', 'a number > 0', o.increase);
    if (!(this.backoffRatio > 0 && this.backoffRatio < 1)) {
      throw new ValidationError('backoffRatio', 'a number in (0, 1)', o.backoffRatio);
    }
    if (!(this.timeoutMs > 0)) throw new ValidationError('timeoutMs', 'a number > 0', o.timeoutMs);
    this.min = o.min;
    this.max = o.max;
    this.estimate = o.initial;
  }

  get limit(): number {
    return clamp(Math.floor(this.estimate), this.min, this.max);
  }

  update(s: LimitSample): number {
    checkSample(s);
    if (!s.dropped) {
      this.shortRtt = this.samples === 0 ? s.rttMs : this.shortRtt + (s.rttMs - this.shortRtt) * SHORT_RTT_FACTOR;
      this.addLongRtt(s.rttMs);
    }
    const inflated = this.samples >= WARMUP_SAMPLES && this.shortRtt > this.latencyTolerance * this.longRtt;
    this.sinceDecrease++;
    if (s.dropped || s.rttMs > this.timeoutMs || inflated) {
      // One decrease per congestion event, as TCP does per round trip: the calls already in flight when the
      // limit was cut report the same event (a crash cuts every stream at once) and must not cut it again.
      if (this.sinceDecrease >= this.estimate / 2) {
        // Where it choked is the ceiling, until it proves it sustains more.
        this.ceiling = this.estimate;
        this.estimate = clamp(this.estimate * this.backoffRatio, this.min, this.max);
        this.sinceDecrease = 0;
      }
    } else if (s.inFlight >= this.limit * USED_RATIO) {
      // Below the last ceiling grow by `increase` per good call; above it, by `increase` per limit's worth of good
      // calls (TCP's congestion avoidance past ssthresh), so the limit creeps, not runs, past what choked it.
      const step = this.estimate < this.ceiling ? this.increase : this.increase / Math.max(1, this.estimate);
      this.estimate = clamp(this.estimate + step, this.min, this.max);
    }
    return this.limit;
  }

  /** The long-term average RTT of calls that were not dropped, ms (0 before the first). */
  get longRttMs(): number {
    return this.longRtt;
  }

  private addLongRtt(rtt: number): void {
    if (this.samples < WARMUP_SAMPLES) {
      this.samples++;
      this.longRtt += (rtt - this.longRtt) / this.samples;
    } else {
      this.longRtt += (rtt - this.longRtt) * LONG_RTT_FACTOR;
    }
  }
}

/** Options for {@link GradientLimit}. */
export interface GradientLimitOptions {
  initial: number;
  min: number;
  max: number;
  /** Weight of the new estimate against the old one, in (0, 1]. @default 0.2 */
  smoothing?: number;
  /** How much the short RTT may exceed the long one before the limit shrinks (>= 1). @default 1.5 */
  tolerance?: number;
  /** Headroom added to the limit each update so it keeps probing upward (Gradient2's queue allowance). @default 4 */
  queueSize?: number;
  /** Samples the long-term RTT average spans (an exponential average; simple mean during the first 10). @default 600 */
  longWindow?: number;
}

/**
 * A gradient limiter after Netflix concurrency-limits `Gradient2Limit`. It compares the latest RTT ("short")
 * with an exponentially smoothed long-term RTT: gradient = clamp(tolerance * long / short, 0.5, 1). The limit
 * becomes `limit * gradient + queueSize`, smoothed. Queueing upstream shows up as a rising short RTT, so the limit
 * shrinks before errors start. The long RTT decays quickly when it exceeds twice the short one, so the limiter
 * recovers after a long overload. The limit does not grow while under half of it is in use.
 *
 * One deliberate difference: Gradient2 ignores drops. Here a drop (429/503/timeout) counts as the steepest
 * gradient, 0.5, because upstream overload often shows up as fast rejections rather than slow answers.
 * Like Gradient2, a slow and steady RTT rise is absorbed into the long average (the limit may drift up until drops
 * stop it); it reacts to changes faster than `longWindow`, not to a standing level.
 */
export class GradientLimit implements AdaptiveLimit {
  private estimate: number;
  private longRtt = 0;
  private samples = 0;
  private readonly min: number;
  private readonly max: number;
  private readonly smoothing: number;
  private readonly tolerance: number;
  private readonly queueSize: number;
  private readonly longWindow: number;

  constructor(o: GradientLimitOptions) {
    checkBounds(o);
    this.smoothing = o.smoothing ?? 0.2;
    this.tolerance = o.tolerance ?? 1.5;
    this.queueSize = o.queueSize ?? 4;
    this.longWindow = o.longWindow ?? 600;
    if (!(this.smoothing > 0 && this.smoothing <= 1)) throw new ValidationError('smoothing', 'a number in (0, 1]', o.smoothing);
    if (!(Number.isFinite(this.tolerance) && this.tolerance >= 1)) {
      throw new ValidationError('tolerance', 'a number >= 1', o.tolerance);
    }
    if (!(Number.isFinite(this.queueSize) && this.queueSize >= 0)) {
      throw new ValidationError('queueSize', 'a number >= 0', o.queueSize);
    }
    if (!(Number.isInteger(this.longWindow) && this.longWindow >= 1)) {
      throw new ValidationError('longWindow', 'an integer >= 1', o.longWindow);
    }
    this.min = o.min;
    this.max = o.max;
    this.estimate = o.initial;
  }

  get limit(): number {
    return clamp(Math.floor(this.estimate), this.min, this.max);
  }

  /** The long-term RTT average in ms (0 before the first sample). */
  get longRttMs(): number {
    return this.longRtt;
  }

  update(s: LimitSample): number {
    checkSample(s);
    const shortRtt = s.rttMs;
    this.addLongRtt(shortRtt);
    // After a long overload the long RTT is inflated; pull it down fast instead of waiting for the average.
    if (shortRtt > 0 && this.longRtt / shortRtt > 2) this.longRtt *= 0.95;
    if (!s.dropped && s.inFlight < this.estimate / 2) return this.limit; // app-limited: no evidence
    const gradient = s.dropped
      ? 0.5
      : shortRtt === 0
        ? 1
        : clamp((this.tolerance * this.longRtt) / shortRtt, 0.5, 1);
    const target = this.estimate * gradient + this.queueSize;
    this.estimate = clamp(this.estimate * (1 - this.smoothing) + target * this.smoothing, this.min, this.max);
    return this.limit;
  }

  private addLongRtt(rtt: number): void {
    if (this.samples < 10) {
      // Warm-up: a simple mean, so the first samples are not dominated by the zero start.
      this.samples++;
      this.longRtt += (rtt - this.longRtt) / this.samples;
    } else {
      const factor = 2 / (this.longWindow + 1);
      this.longRtt = this.longRtt * (1 - factor) + rtt * factor;
    }
  }
}
