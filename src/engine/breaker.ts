import { HarnessError, ValidationError } from '../errors.js';
import type { Clock } from '../time/clock.js';

export const BREAKER_STATES = ['closed', 'open', 'half-open'] as const;
export type BreakerState = (typeof BREAKER_STATES)[number];

/** When a closed breaker trips. */
export type BreakerRule =
  /** After `failures` failures in a row. */
  | { readonly kind: 'consecutive'; readonly failures: number }
  /** When, over the last `windowMs` (in `buckets` slices), calls >= `minThroughput` and failures/calls >= `failureRatio`. */
  | {
      readonly kind: 'ratio';
      readonly failureRatio: number;
      readonly minThroughput: number;
      readonly windowMs: number;
      readonly buckets: number;
    };

/** Options of {@link CircuitBreaker}. */
export interface BreakerOptions {
  readonly rule: BreakerRule;
  /** How long the breaker stays open before letting probes through. @default 5000 */
  readonly openMs?: number;
  /** Probes let through in half-open; all must succeed to close. @default 3 */
  readonly halfOpenProbes?: number;
}

/** A state change, in order, with why it happened. */
export interface BreakerStateChange {
  readonly from: BreakerState;
  readonly to: BreakerState;
  readonly atMs: number;
  readonly reason: 'tripped' | 'open-elapsed' | 'probes-succeeded' | 'probe-failed';
  /**
   * On a trip or a failed probe: what the breaker had counted, so that an opening can be explained. For the ratio
   * rule the window's calls and failures, for the consecutive rule the streak; `codes` counts those failures by the
   * code their reporter gave (`unknown` when it gave none).
   */
  readonly counted?: { readonly calls: number; readonly failures: number; readonly codes: Readonly<Record<string, number>> };
}

/**
 * Permission for one call. Report its outcome exactly once: `success`, `failure`, or `ignore` (the call ended
 * in a way that says nothing about the upstream's health, e.g. cancelled or a bad request). Later reports are
 * no-ops, and so are reports from a ticket issued before the last state change.
 */
export interface BreakerTicket {
  /** True when this call is a half-open probe. */
  readonly probe: boolean;
  success(): void;
  /** @param code the failure's stable code (e.g. `SERVER_ERROR`), kept to explain why the breaker opened. */
  failure(code?: string): void;
  ignore(): void;
}

/** The breaker refused a call. */
export class BreakerOpenError extends HarnessError {
  constructor(readonly retryAfterMs: number) {
    super('BREAKER_OPEN', `circuit breaker open: expected a closed breaker, got open for ${Math.ceil(retryAfterMs)}ms more`);
  }
}

type Report = 'success' | 'failure' | 'ignore';

/** The code a failure is tallied under when its reporter gave none. */
const UNKNOWN_CODE = 'unknown';

class Ticket implements BreakerTicket {
  private done = false;

  constructor(private readonly owner: CircuitBreaker, readonly generation: number, readonly probe: boolean) {}

  success(): void {
    this.report('success');
  }

  failure(code?: string): void {
    this.report('failure', code);
  }

  ignore(): void {
    this.report('ignore');
  }

  private report(r: Report, code?: string): void {
    if (this.done) return;
    this.done = true;
    this.owner['onReport'](this, r, code ?? UNKNOWN_CODE);
  }
}

function positiveInt(path: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new ValidationError(path, 'an integer >= 1', v);
  return v;
}

/**
 * A circuit breaker with two trip rules (consecutive failures, or failure ratio over a sliding time-bucketed
 * window with a minimum throughput). Open for `openMs`; then half-open lets `halfOpenProbes` probes through and
 * closes only when every one succeeds; any failed probe reopens it for another `openMs`. Transitions out of
 * open happen when someone asks (`state`, `tryAcquire`), so an idle breaker keeps no timer.
 */
export class CircuitBreaker {
  private current: BreakerState = 'closed';
  private generation = 0;
  private openedAtMs = 0;
  private consecutive = 0;
  private probesIssued = 0;
  private probesSucceeded = 0;
  private readonly openMs: number;
  private readonly probes: number;
  private readonly rule: BreakerRule;
  // Ratio window: one slot per bucket, tagged with its epoch (floor(now / bucketMs)).
  private readonly bucketMs: number;
  private readonly epochs: number[];
  private readonly calls: number[];
  private readonly failures: number[];
  /** Per bucket (ratio rule), or the current streak (consecutive rule, one slot): failures by code. */
  private readonly codes: Array<Map<string, number>>;
  private readonly listeners = new Set<(change: BreakerStateChange) => void>();
  private readonly stats = { allowed: 0, rejected: 0, successes: 0, failures: 0, opened: 0 };

  constructor(private readonly clock: Clock, options: BreakerOptions) {
    this.rule = options.rule;
    this.openMs = options.openMs ?? 5000;
    this.probes = positiveInt('halfOpenProbes', options.halfOpenProbes ?? 3);
    if (!(this.openMs >= 0 && Number.isFinite(this.openMs))) throw new ValidationError('openMs', 'a finite number >= 0', this.openMs);
    const rule = this.rule;
    if (rule.kind === 'consecutive') {
      positiveInt('rule.failures', rule.failures);
      this.bucketMs = 1;
      this.epochs = this.calls = this.failures = [];
      this.codes = [new Map()];
    } else {
      if (!(rule.failureRatio > 0 && rule.failureRatio <= 1)) throw new ValidationError('rule.failureRatio', 'a number in (0, 1]', rule.failureRatio);
      positiveInt('rule.minThroughput', rule.minThroughput);
      positiveInt('rule.buckets', rule.buckets);
      if (!(rule.windowMs > 0 && Number.isFinite(rule.windowMs))) throw new ValidationError('rule.windowMs', 'a finite number > 0', rule.windowMs);
      this.bucketMs = rule.windowMs / rule.buckets;
      this.epochs = new Array<number>(rule.buckets).fill(Number.NEGATIVE_INFINITY);
      this.calls = new Array<number>(rule.buckets).fill(0);
      this.failures = new Array<number>(rule.buckets).fill(0);
      this.codes = Array.from({ length: rule.buckets }, () => new Map<string, number>());
    }
  }

  /** The state now (an open breaker whose `openMs` has elapsed reports, and becomes, half-open). */
  get state(): BreakerState {
    this.maybeHalfOpen();
    return this.current;
  }

  /** While open: ms until probes are let through; otherwise 0. */
  get retryAfterMs(): number {
    return this.state === 'open' ? Math.max(0, this.openedAtMs + this.openMs - this.clock.now()) : 0;
  }

  /** Calls allowed and rejected, outcomes counted, and times opened. */
  get counters(): Readonly<{ allowed: number; rejected: number; successes: number; failures: number; opened: number }> {
    return { ...this.stats };
  }

  /** Permission for one call, or undefined when open (or half-open with every probe already out). */
  tryAcquire(): BreakerTicket | undefined {
    this.maybeHalfOpen();
    if (this.current === 'closed') {
      this.stats.allowed++;
      return new Ticket(this, this.generation, false);
    }
    if (this.current === 'half-open' && this.probesIssued < this.probes) {
      this.probesIssued++;
      this.stats.allowed++;
      return new Ticket(this, this.generation, true);
    }
    this.stats.rejected++;
    return undefined;
  }

  /**
   * Runs `fn` under the breaker: throws {@link BreakerOpenError} when refused; counts a rejection of `fn` as a
   * failure when `isFailure(error)` says so (every error by default) and otherwise ignores it.
   */
  async execute<T>(fn: () => Promise<T>, isFailure: (error: unknown) => boolean = () => true): Promise<T> {
    const ticket = this.tryAcquire();
    if (ticket === undefined) throw new BreakerOpenError(this.retryAfterMs);
    let value: T;
    try {
      value = await fn();
    } catch (error) {
      if (isFailure(error)) ticket.failure();
      else ticket.ignore();
      throw error;
    }
    ticket.success();
    return value;
  }

  /** Subscribes to state changes; returns the unsubscribe function. */
  onStateChange(listener: (change: BreakerStateChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private onReport(ticket: Ticket, report: Report, code: string): void {
    if (report === 'success') this.stats.successes++;
    else if (report === 'failure') this.stats.failures++;
    // A result from before the last transition says nothing about the current state (e.g. a slow call that
    // started while closed and fails after the breaker opened).
    if (ticket.generation !== this.generation) return;
    if (this.current === 'half-open') {
      if (report === 'failure') this.transition('open', 'probe-failed', { calls: 1, failures: 1, codes: { [code]: 1 } });
      else if (report === 'ignore') this.probesIssued--;
      else if (++this.probesSucceeded >= this.probes) this.transition('closed', 'probes-succeeded');
      return;
    }
    if (this.current !== 'closed' || report === 'ignore') return;
    if (this.rule.kind === 'consecutive') {
      const streak = this.codes[0] as Map<string, number>;
      if (report === 'failure') {
        this.consecutive++;
        streak.set(code, (streak.get(code) ?? 0) + 1);
      } else {
        this.consecutive = 0;
        streak.clear();
      }
      if (this.consecutive >= this.rule.failures) {
        const n = this.consecutive;
        this.transition('open', 'tripped', { calls: n, failures: n, codes: Object.fromEntries(streak) });
      }
      return;
    }
    this.record(report === 'failure', code);
    if (report === 'failure') {
      const w = this.windowCounts();
      if (w.calls >= this.rule.minThroughput && w.failures >= this.rule.failureRatio * w.calls) this.transition('open', 'tripped', w);
    }
  }

  private record(failed: boolean, code: string): void {
    const epoch = Math.floor(this.clock.now() / this.bucketMs);
    const i = epoch % this.epochs.length;
    if (this.epochs[i] !== epoch) {
      this.epochs[i] = epoch;
      this.calls[i] = 0;
      this.failures[i] = 0;
      this.codes[i]?.clear();
    }
    this.calls[i] = (this.calls[i] as number) + 1;
    if (!failed) return;
    this.failures[i] = (this.failures[i] as number) + 1;
    const codes = this.codes[i] as Map<string, number>;
    codes.set(code, (codes.get(code) ?? 0) + 1);
  }

  /** The ratio window's calls and failures (by code) now. */
  private windowCounts(): { calls: number; failures: number; codes: Record<string, number> } {
    const oldest = Math.floor(this.clock.now() / this.bucketMs) - this.epochs.length;
    let calls = 0;
    let failures = 0;
    const codes: Record<string, number> = {};
    for (let i = 0; i < this.epochs.length; i++) {
      if ((this.epochs[i] as number) <= oldest) continue;
      calls += this.calls[i] as number;
      failures += this.failures[i] as number;
      for (const [c, n] of this.codes[i] as Map<string, number>) codes[c] = (codes[c] ?? 0) + n;
    }
    return { calls, failures, codes };
  }

  private maybeHalfOpen(): void {
    if (this.current === 'open' && this.clock.now() >= this.openedAtMs + this.openMs) this.transition('half-open', 'open-elapsed');
  }

  private transition(to: BreakerState, reason: BreakerStateChange['reason'], counted?: BreakerStateChange['counted']): void {
    const from = this.current;
    this.current = to;
    this.generation++;
    this.probesIssued = 0;
    this.probesSucceeded = 0;
    this.consecutive = 0;
    if (to === 'open') {
      this.openedAtMs = this.clock.now();
      this.stats.opened++;
    }
    if (to === 'closed') this.epochs.fill(Number.NEGATIVE_INFINITY);
    if (this.rule.kind === 'consecutive') this.codes[0]?.clear();
    if (this.listeners.size === 0) return;
    const change: BreakerStateChange = { from, to, atMs: this.clock.now(), reason, ...(counted !== undefined ? { counted } : {}) };
    for (const l of [...this.listeners]) l(change);
  }
}

/** The breaker a policy's `breaker` group describes, or undefined when disabled. */
export function breakerFromPolicy(
  clock: Clock,
  b: {
    enabled: boolean;
    rule: 'consecutive' | 'ratio';
    consecutiveFailures: number;
    failureRatio: number;
    minThroughput: number;
    windowMs: number;
    windowBuckets: number;
    openMs: number;
    halfOpenProbes: number;
  },
): CircuitBreaker | undefined {
  if (!b.enabled) return undefined;
  const rule: BreakerRule =
    b.rule === 'consecutive'
      ? { kind: 'consecutive', failures: b.consecutiveFailures }
      : { kind: 'ratio', failureRatio: b.failureRatio, minThroughput: b.minThroughput, windowMs: b.windowMs, buckets: b.windowBuckets };
  return new CircuitBreaker(clock, { rule, openMs: b.openMs, halfOpenProbes: b.halfOpenProbes });
}
