import type { Clock } from '../time/clock.js';
import {
  ConnectionRefusedError,
  IdleTimeoutError,
  ModelError,
  OverloadedError,
  ServerError,
  StreamInterruptedError,
} from '../upstream/errors.js';
import type { FleetPolicy } from './policy-schema.js';
import type { FleetEvent } from './types.js';

/**
 * What one call says about its replica. `gateway`: connection refused, 502/503/504, a broken stream, no token
 * within the idle timeout. `server-error`: any other 5xx. `answered`: the replica answered sanely (a success, a
 * 4xx or a 429: it is up). `neutral`: says nothing (cancelled by the caller, the request's deadline, a hedge lost).
 */
export type CallOutcome = 'answered' | 'gateway' | 'server-error' | 'neutral';

/** The outcome of a call that threw `error`; `signal` is the call's (an idle timeout aborts it with its reason). */
export function outcomeOf(error: unknown, signal: AbortSignal | undefined): CallOutcome {
  const e: unknown = signal?.aborted === true ? (signal.reason as unknown) : error;
  if (e instanceof ConnectionRefusedError || e instanceof StreamInterruptedError || e instanceof IdleTimeoutError || e instanceof OverloadedError) return 'gateway';
  if (e instanceof ServerError) return e.status === 502 || e.status === 503 || e.status === 504 ? 'gateway' : 'server-error';
  if (e instanceof ModelError && e.status !== undefined && e.status >= 500) return 'server-error';
  if (e instanceof ModelError && e.status !== undefined) return 'answered';
  return 'neutral';
}

/** The outlier detector's view of one replica. */
export interface OutlierRecord {
  readonly id: string;
  consecutive5xx: number;
  consecutiveGateway: number;
  ejections: number;
  /** Ejected until then; undefined when in service. */
  ejectedUntilMs: number | undefined;
  intervalCalls: number;
  intervalSuccesses: number;
}

export function newOutlierRecord(id: string): OutlierRecord {
  return { id, consecutive5xx: 0, consecutiveGateway: 0, ejections: 0, ejectedUntilMs: undefined, intervalCalls: 0, intervalSuccesses: 0 };
}

type Reason = Extract<FleetEvent, { type: 'ejected' }>['reason'];

/**
 * Envoy-style outlier detection for one deployment: a replica is ejected after `consecutive5xx` server errors or
 * `consecutiveGatewayFailures` gateway failures in a row, or when its success rate over an interval falls below
 * mean − stdevFactor × stdev of the replicas with enough calls. The n-th ejection lasts n × `baseEjectionMs`
 * (at most `maxEjectionMs`); the replica returns to service when it ends. At most `maxEjectedPercent` of the
 * replicas (rounded down) are ejected at once, so the only replica of a deployment is never ejected. No timers:
 * returns and the success-rate interval are checked when calls are made, against the clock.
 */
export class OutlierDetector {
  private ejectedCount = 0;
  private intervalStartMs: number;

  constructor(
    private readonly clock: Clock,
    private readonly o: FleetPolicy['ejection'],
    private readonly deployment: string,
    private readonly emit: (e: FleetEvent) => void,
  ) {
    this.intervalStartMs = clock.now();
  }

  get enabled(): boolean {
    return this.o.enabled;
  }

  /** Replicas currently ejected (after {@link refresh}). */
  get ejected(): number {
    return this.ejectedCount;
  }

  /** Returns to service every replica whose ejection has ended. */
  refresh(records: readonly OutlierRecord[]): void {
    if (this.ejectedCount === 0) return;
    const now = this.clock.now();
    for (const r of records) {
      if (r.ejectedUntilMs !== undefined && r.ejectedUntilMs <= now) {
        const atMs = r.ejectedUntilMs;
        r.ejectedUntilMs = undefined;
        this.ejectedCount--;
        this.emit({ type: 'returned', deployment: this.deployment, replica: r.id, atMs });
      }
    }
  }

  /** A replica left the deployment: it no longer counts as ejected. */
  forget(r: OutlierRecord): void {
    if (r.ejectedUntilMs !== undefined) {
      r.ejectedUntilMs = undefined;
      this.ejectedCount--;
    }
  }

  /** Records one call's outcome on `r`; `records` are all the deployment's replicas (for the cap and success rate). */
  record(r: OutlierRecord, outcome: CallOutcome, records: readonly OutlierRecord[]): void {
    if (!this.o.enabled || outcome === 'neutral') return;
    if (outcome === 'answered') {
      r.consecutive5xx = 0;
      r.consecutiveGateway = 0;
      r.intervalSuccesses++;
    } else {
      r.consecutive5xx++;
      if (outcome === 'gateway') r.consecutiveGateway++;
      else r.consecutiveGateway = 0;
    }
    r.intervalCalls++;
    if (r.ejectedUntilMs === undefined) {
      if (r.consecutiveGateway >= this.o.consecutiveGatewayFailures) this.eject(r, 'consecutive-gateway', records.length);
      else if (r.consecutive5xx >= this.o.consecutive5xx) this.eject(r, 'consecutive-5xx', records.length);
    }
    if (this.o.successRate.enabled && this.clock.now() - this.intervalStartMs >= this.o.successRate.intervalMs) this.successRate(records);
  }

  /** How many replicas of `total` may be ejected at once. */
  maxEjected(total: number): number {
    return Math.floor((total * this.o.maxEjectedPercent) / 100 + 1e-9);
  }

  private eject(r: OutlierRecord, reason: Reason, total: number): boolean {
    if (this.ejectedCount + 1 > this.maxEjected(total)) return false;
    r.ejections++;
    const now = this.clock.now();
    const untilMs = now + Math.min(this.o.baseEjectionMs * r.ejections, this.o.maxEjectionMs);
    r.ejectedUntilMs = untilMs;
    r.consecutive5xx = 0;
    r.consecutiveGateway = 0;
    this.ejectedCount++;
    this.emit({ type: 'ejected', deployment: this.deployment, replica: r.id, untilMs, reason, atMs: now });
    return true;
  }

  /** Envoy's success-rate check over the interval that just ended, then a new interval. */
  private successRate(records: readonly OutlierRecord[]): void {
    const sr = this.o.successRate;
    const judged = records.filter((r) => r.intervalCalls >= sr.minRequests);
    if (judged.length >= sr.minReplicas) {
      const rates = judged.map((r) => r.intervalSuccesses / r.intervalCalls);
      const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
      const variance = rates.reduce((a, b) => a + (b - mean) ** 2, 0) / rates.length;
      const threshold = mean - sr.stdevFactor * Math.sqrt(variance);
      const outliers = judged
        .map((r, i) => ({ r, rate: rates[i] as number }))
        .filter((x) => x.rate < threshold && x.r.ejectedUntilMs === undefined)
        .sort((a, b) => a.rate - b.rate);
      for (const x of outliers) if (!this.eject(x.r, 'success-rate', records.length)) break;
    }
    for (const r of records) {
      r.intervalCalls = 0;
      r.intervalSuccesses = 0;
    }
    this.intervalStartMs = this.clock.now();
  }
}
