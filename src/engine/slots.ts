import { abortReason, HarnessError } from '../errors.js';
import type { Policy } from '../policy.js';
import type { Clock, Timer } from '../time/clock.js';
import { AimdLimit, GradientLimit, type AdaptiveLimit, type LimitSample } from './adaptive-limit.js';
import { BoundedQueue, type Priority } from './queue.js';
import { Abortable } from './deadline.js';
import { Semaphore, type Permit } from './semaphore.js';

/** Slot holds observed before admission trusts its wait estimate. */
const MIN_HOLD_SAMPLES = 20;

/** A request was refused a slot: the queue was full, or it was dropped while waiting. */
export class ShedError extends HarnessError {
  constructor(readonly reason: 'queue-full' | 'expired' | 'codel' | 'slo', readonly retryAfterMs: number | undefined) {
    super(
      reason === 'queue-full' ? 'QUEUE_FULL' : reason === 'codel' ? 'SHED_CODEL' : reason === 'slo' ? 'SHED_SLO' : 'EXPIRED_IN_QUEUE',
      reason === 'queue-full'
        ? `queue full: expected room in the queue, got none; retry after ${retryAfterMs ?? '?'}ms`
        : reason === 'codel'
          ? 'shed: waited in a standing queue longer than the CoDel target'
          : reason === 'slo'
            ? `shed: expected to wait at least ${retryAfterMs ?? '?'}ms for a slot, longer than the time left before the deadline`
            : 'expired: the deadline passed while queued',
    );
  }
}

/** A slot: `release()` gives it back (once). `queuedMs` is the time it waited while eligible. */
export interface Slot extends Permit {
  readonly queuedMs: number;
}

// A class, not a closure per slot: this is on every request's path.
class HeldSlot implements Slot {
  private held = true;

  constructor(
    private readonly owner: Slots,
    private readonly permit: Permit,
    readonly queuedMs: number,
    private readonly grantedMs: number,
  ) {}

  release(): void {
    if (!this.held) return;
    this.held = false;
    this.owner.released(this.permit, this.owner.clock.now() - this.grantedMs);
  }
}

interface Waiter {
  resolve(slot: Slot): void;
  reject(error: Error): void;
}

/**
 * Admission to the upstream: the bounded priority queue in front of a semaphore (fixed or driven by an
 * adaptive limit). The queue is a passive structure; this pumps it whenever a slot frees, an item arrives or
 * a delayed retry becomes eligible. Without a queue, callers wait on the semaphore directly (unbounded).
 */
export class Slots {
  readonly semaphore: Semaphore;
  readonly queue: BoundedQueue<Waiter> | undefined;
  private readonly adaptive: AdaptiveLimit | undefined;
  private wake: Timer | undefined;
  private wakeAtMs = Number.POSITIVE_INFINITY;
  private pumping = false;
  /** EWMA of how long a slot is held, for an honest Retry-After when the queue is full. */
  private holdMsEwma = 0;
  private holdSamples = 0;
  private readonly fixedLimit: number;
  private holdMsMin = 0;
  private readonly deadlineShed: boolean;
  private ramp: { startMs: number; durationMs: number; fromRatio: number; timer: Timer | undefined } | undefined;

  constructor(
    readonly clock: Clock,
    policy: Policy,
    private readonly onLimit?: (limit: number) => void,
  ) {
    const c = policy.concurrency;
    this.adaptive =
      c.mode === 'aimd'
        ? new AimdLimit({ initial: c.limit, min: c.minLimit, max: c.maxLimit, backoffRatio: c.aimdBackoffRatio })
        : c.mode === 'gradient'
          ? new GradientLimit({ initial: c.limit, min: c.minLimit, max: c.maxLimit, tolerance: c.gradientTolerance })
          : undefined;
    this.fixedLimit = c.mode === 'unbounded' ? Number.POSITIVE_INFINITY : c.limit;
    this.semaphore = new Semaphore({ limit: this.adaptive?.limit ?? this.fixedLimit });
    const q = policy.queue;
    this.deadlineShed = q.deadlineShed;
    if (q.enabled && c.mode !== 'unbounded') {
      this.queue = new BoundedQueue<Waiter>(clock, {
        capacity: q.capacity,
        order: q.order,
        lifoThreshold: Math.floor(q.lifoThresholdRatio * q.capacity),
        lifoStandingMs: q.lifoStandingMs,
        ...(q.codelEnabled ? { codel: { targetMs: q.codelTargetMs, intervalMs: q.codelIntervalMs } } : {}),
      });
      this.queue.onEvent((e) => e.item.reject(new ShedError(e.type === 'expired' ? 'expired' : 'codel', undefined)));
    }
  }

  /** Requests waiting for a slot (queued, delayed retries included). */
  get waiting(): number {
    return this.queue?.size ?? this.semaphore.waiting;
  }

  /** A slot at once when one is free and nobody waits ahead (no allocation of a signal needed), else undefined. */
  tryAcquire(): Slot | undefined {
    if (this.queue !== undefined ? this.queue.size > 0 : this.semaphore.waiting > 0) return undefined;
    const p = this.semaphore.tryAcquire();
    return p === undefined ? undefined : this.wrap(p, 0);
  }

  /**
   * A slot for one attempt. Rejects with {@link ShedError} (queue full, expired, CoDel) or the signal's reason.
   * `notBeforeMs` (absolute) makes a retry wait out its backoff in the queue without holding a slot.
   * `signal` may be an {@link Abortable} (the engine's own waits): a queued wait then hears of its abort without an
   * AbortController or an EventTarget listener, with the same reason at the same moment.
   */
  acquire(meta: { priority: Priority; deadlineAtMs: number; notBeforeMs?: number }, signal: AbortSignal | Abortable): Promise<Slot> {
    const own = signal instanceof Abortable ? signal : undefined;
    if (own !== undefined ? own.isAborted : (signal as AbortSignal).aborted) return Promise.reject(own?.reason ?? abortReason(signal as AbortSignal));
    const queue = this.queue;
    if (queue === undefined) return this.acquireDirect(meta.notBeforeMs, signal);
    const startMs = this.clock.now();
    // Fast path: nothing waiting and a slot free.
    if (queue.size === 0 && (meta.notBeforeMs === undefined || meta.notBeforeMs <= startMs)) {
      const p = this.semaphore.tryAcquire();
      if (p !== undefined) return Promise.resolve(this.wrap(p, 0));
    }
    return new Promise<Slot>((resolve, reject) => {
      const onAbort = (): void => {
        if (queue.remove(waiter)) reject(abortReason(signal as AbortSignal));
      };
      const onOwnAbort = (reason: Error): void => {
        if (queue.remove(waiter)) reject(reason);
      };
      const stopListening = (): void => {
        if (own !== undefined) own.onAbort(undefined);
        else (signal as AbortSignal).removeEventListener('abort', onAbort);
      };
      const waiter: Waiter = {
        resolve: (slot) => {
          stopListening();
          resolve(slot);
        },
        reject: (error) => {
          stopListening();
          reject(error);
        },
      };
      const { notBeforeMs, deadlineAtMs, priority } = meta;
      // SLO-aware admission: a fresh request that cannot get a slot before its deadline is shed now, with the
      // wait as an honest Retry-After, instead of queueing until it fails.
      if (this.deadlineShed && notBeforeMs === undefined && Number.isFinite(deadlineAtMs)) {
        const waitMs = this.minWaitEstimateMs();
        if (waitMs !== undefined && startMs + waitMs > deadlineAtMs) {
          reject(new ShedError('slo', Math.ceil(waitMs)));
          return;
        }
      }
      const accepted = queue.offer(waiter, {
        priority,
        ...(Number.isFinite(deadlineAtMs) ? { deadlineAtMs } : {}),
        ...(notBeforeMs !== undefined ? { notBeforeMs } : {}),
      });
      if (!accepted) {
        reject(new ShedError('queue-full', this.retryAfterEstimateMs()));
        return;
      }
      if (own !== undefined) own.onAbort(onOwnAbort);
      else (signal as AbortSignal).addEventListener('abort', onAbort, { once: true });
      this.pump();
    });
  }

  /** Feeds an adaptive limit one sample (no-op for fixed limits) and applies the new limit. */
  sample(s: LimitSample): void {
    if (this.adaptive === undefined) return;
    this.adaptive.update(s);
    this.applyLimit();
  }

  /**
   * Slow start (Envoy's, for an upstream coming back): the limit ramps linearly from `fromRatio` of itself to
   * all of it over `durationMs`, so a backlog that waited out an outage does not stampede the upstream in one
   * instant (and, with LIFO under overload, fresh arrivals get the first slots). No-op when unbounded or 0 ms.
   */
  slowStart(durationMs: number, fromRatio = 0.1): void {
    if (!(durationMs > 0) || !Number.isFinite(this.baseLimit)) return;
    this.ramp?.timer?.cancel();
    this.ramp = { startMs: this.clock.now(), durationMs, fromRatio, timer: undefined };
    this.stepRamp();
  }

  private stepRamp(): void {
    const r = this.ramp;
    if (r === undefined) return;
    r.timer = undefined;
    if (this.clock.now() - r.startMs >= r.durationMs) this.ramp = undefined;
    else r.timer = this.clock.setTimer(r.durationMs / 10, () => this.stepRamp(), 'engine-slow-start');
    this.applyLimit();
  }

  /** The limit before slow start: the adaptive limit, or the fixed one. */
  private get baseLimit(): number {
    return this.adaptive?.limit ?? this.fixedLimit;
  }

  /** Sets the semaphore to the base limit, capped by a slow start in progress; pumps when it changed. */
  private applyLimit(): void {
    const base = this.baseLimit;
    const r = this.ramp;
    const frac = r === undefined ? 1 : Math.min(1, r.fromRatio + ((1 - r.fromRatio) * (this.clock.now() - r.startMs)) / r.durationMs);
    const limit = Number.isFinite(base) ? Math.max(1, Math.ceil(base * frac)) : base;
    if (limit === this.semaphore.limit) return;
    this.semaphore.setLimit(limit);
    this.onLimit?.(limit);
    this.pump();
  }

  private async acquireDirect(notBeforeMs: number | undefined, signal: AbortSignal | Abortable): Promise<Slot> {
    // An Abortable's signal is made only for a wait that needs it.
    if (notBeforeMs !== undefined && notBeforeMs > this.clock.now()) await this.clock.sleep(notBeforeMs - this.clock.now(), signal instanceof Abortable ? signal.signal : signal);
    const t0 = this.clock.now();
    const p = this.semaphore.tryAcquire() ?? (await this.semaphore.acquire(signal instanceof Abortable ? signal.signal : signal));
    return this.wrap(p, this.clock.now() - t0);
  }

  private wrap(permit: Permit, queuedMs: number): Slot {
    return new HeldSlot(this, permit, queuedMs, this.clock.now());
  }

  /** @internal called once by a HeldSlot on release. */
  released(permit: Permit, heldMs: number): void {
    this.holdMsEwma = this.holdSamples++ === 0 ? heldMs : this.holdMsEwma * 0.9 + heldMs * 0.1;
    // The shortest recent hold: a minimum that forgets (it creeps up 1% per sample toward what is seen now).
    this.holdMsMin = this.holdSamples === 1 ? heldMs : Math.min(heldMs, this.holdMsMin * 1.01);
    permit.release();
    if (this.queue !== undefined && this.queue.size > 0) this.pump();
  }

  /** Hands free slots to eligible waiters, then arms a timer for the next delayed one. */
  private pump(): void {
    const queue = this.queue;
    if (queue === undefined || this.pumping) return;
    this.pumping = true;
    // Out of slots: the next release pumps again, so no wake-up timer is needed for delayed items.
    let starved = false;
    try {
      while (queue.size > 0) {
        const permit = this.semaphore.tryAcquire();
        if (permit === undefined) {
          starved = true;
          break;
        }
        const next = queue.poll();
        if (next === undefined) {
          permit.release();
          break;
        }
        next.item.resolve(this.wrap(permit, next.waitedMs));
      }
    } finally {
      this.pumping = false;
    }
    const at = queue.nextEligibleAtMs();
    // Not `at > now`: in real time a delayed item can fall due between the poll and this check, and without a
    // timer it would wait for an unrelated event (in virtual time the poll promoted everything due, so at > now).
    if (!starved && at !== undefined && at < this.wakeAtMs) {
      this.wake?.cancel();
      this.wakeAtMs = at;
      // At least a microsecond: with fractional times `now + tiny` can round back to `now` and spin forever.
      this.wake = this.clock.setTimer(Math.max(at - this.clock.now(), 1e-3), () => {
        this.wake = undefined;
        this.wakeAtMs = Number.POSITIVE_INFINITY;
        this.pump();
      }, 'engine-queue-wake');
    }
  }

  /**
   * A lower bound of the wait for a slot for a request queued now, or undefined when there is no evidence yet:
   * the eligible requests ahead must each get a slot first, and slots free at most `limit` per shortest
   * observed hold. A lower bound on purpose, so admission never sheds a request that would have been served in
   * time: it takes the shortest hold time seen recently, not the average, and assumes FIFO (under LIFO a new
   * arrival may be served sooner, so no estimate is made there).
   */
  minWaitEstimateMs(): number | undefined {
    const queue = this.queue;
    if (queue === undefined || this.holdSamples < MIN_HOLD_SAMPLES || !Number.isFinite(this.semaphore.limit)) return undefined;
    if (queue.newestFirst) return undefined;
    const ahead = queue.readyCount + Math.max(0, this.semaphore.inFlight - this.semaphore.limit) + 1;
    const free = this.semaphore.limit - this.semaphore.inFlight;
    if (ahead <= free) return 0;
    // The p-th waiter past the free slots needs ceil(p / limit) releases in a row on one slot: the first may come
    // at once, each later one only after a whole hold.
    const p = ahead - Math.max(0, free);
    return Math.floor((p - 1) / this.semaphore.limit) * this.holdMsMin;
  }

  /** Time for the queue ahead to drain at the observed slot hold time: an honest Retry-After. */
  private retryAfterEstimateMs(): number {
    const perSlotMs = this.holdSamples === 0 ? 1000 : this.holdMsEwma;
    const limit = Number.isFinite(this.semaphore.limit) ? this.semaphore.limit : 1;
    const ms = Math.ceil(((this.queue?.size ?? 0) / limit) * perSlotMs);
    return Math.min(60_000, Math.max(100, ms));
  }
}
