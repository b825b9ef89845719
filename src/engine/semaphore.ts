import { abortReason, ValidationError } from '../errors.js';
import { RingBuffer } from '../lib/ring-buffer.js';

/** A held concurrency slot. `release()` gives it back; calling it again does nothing. */
export interface Permit {
  release(): void;
}

/** Options for {@link Semaphore}. */
export interface SemaphoreOptions {
  /** Permits that may be held at once: an integer >= 1, or `Infinity` for unbounded (the `naive` preset). */
  limit: number;
}

interface Waiter {
  readonly resolve: (permit: Permit) => void;
  readonly reject: (error: Error) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** Granted or aborted: skipped when it reaches the front (lazy deletion keeps abort O(1)). */
  done: boolean;
}

class SemaphorePermit implements Permit {
  private held = true;

  constructor(private readonly owner: Semaphore) {}

  release(): void {
    if (!this.held) return;
    this.held = false;
    this.owner['releaseSlot']();
  }
}

function validateLimit(limit: number): number {
  if (limit === Number.POSITIVE_INFINITY || (Number.isInteger(limit) && limit >= 1)) return limit;
  throw new ValidationError('limit', 'an integer >= 1 or Infinity', limit);
}

/**
 * A counting semaphore with strict FIFO hand-off: a released slot goes straight to the oldest waiter, so a
 * newcomer can never barge ahead of someone already waiting. The limit can change at run time (the adaptive
 * limiter drives it): raising it wakes waiters at once; lowering it never revokes held permits, it only stops
 * granting new ones until enough are released.
 */
export class Semaphore {
  private max: number;
  private held = 0;
  private live = 0;
  private dead = 0;
  private readonly waiters = new RingBuffer<Waiter>();
  private idleResolvers: Array<() => void> = [];

  constructor(options: SemaphoreOptions) {
    this.max = validateLimit(options.limit);
  }

  /** The current limit. */
  get limit(): number {
    return this.max;
  }

  /** Changes the limit. Raising it wakes as many waiters as now fit; lowering it revokes nothing. */
  setLimit(limit: number): void {
    this.max = validateLimit(limit);
    this.drain();
  }

  /** Permits currently held (may exceed `limit` for a while after the limit was lowered). */
  get inFlight(): number {
    return this.held;
  }

  /** Callers waiting in `acquire`, not counting aborted ones. */
  get waiting(): number {
    return this.live;
  }

  /** A permit if one is free and nobody is waiting ahead, else `undefined`. Never waits. */
  tryAcquire(): Permit | undefined {
    if (this.held >= this.max || this.live > 0) return undefined;
    this.held++;
    return new SemaphorePermit(this);
  }

  /**
   * Waits for a permit, first come first served. When `signal` aborts first, the waiter is removed and the
   * promise rejects with the signal's reason; an already aborted signal rejects at once, even if a slot is free.
   */
  acquire(signal?: AbortSignal): Promise<Permit> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (this.held < this.max && this.live === 0) {
      this.held++;
      return Promise.resolve(new SemaphorePermit(this));
    }
    return new Promise<Permit>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, signal, onAbort: undefined, done: false };
      if (signal !== undefined) {
        waiter.onAbort = () => this.abandon(waiter);
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.waiters.push(waiter);
      this.live++;
    });
  }

  /**
   * Runs `fn` while holding a permit and releases it when `fn` settles, whatever the outcome. The guard shape
   * the engine composes (`execute(fn, { signal })`); the signal only covers the wait for a permit.
   */
  execute<T>(fn: () => T | PromiseLike<T>, options?: { signal?: AbortSignal }): Promise<T> {
    const signal = options?.signal;
    if (this.held < this.max && this.live === 0 && signal?.aborted !== true) {
      this.held++;
      return this.runHeld(fn);
    }
    return this.acquire(signal).then((permit) => this.runWith(permit, fn));
  }

  /** Resolves when no permit is held and nobody waits (at once if that is already so). */
  onIdle(): Promise<void> {
    if (this.held === 0 && this.live === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.idleResolvers.push(resolve));
  }

  /** A one-line state summary, e.g. for VirtualClock deadlock probes. */
  describe(): string {
    return `inFlight=${this.held}/${this.max} waiting=${this.live}`;
  }

  private async runHeld<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    try {
      return await fn();
    } finally {
      this.releaseSlot();
    }
  }

  private async runWith<T>(permit: Permit, fn: () => T | PromiseLike<T>): Promise<T> {
    try {
      return await fn();
    } finally {
      permit.release();
    }
  }

  private releaseSlot(): void {
    this.held--;
    if (this.live > 0) this.drain();
    else if (this.held === 0) this.notifyIdle();
  }

  /** Grants permits to live waiters, oldest first, while the limit allows. */
  private drain(): void {
    while (this.live > 0 && this.held < this.max) {
      const w = this.waiters.shift() as Waiter;
      if (w.done) {
        this.dead--;
        continue;
      }
      w.done = true;
      this.live--;
      if (w.onAbort !== undefined) w.signal?.removeEventListener('abort', w.onAbort);
      this.held++;
      w.resolve(new SemaphorePermit(this));
    }
  }

  private abandon(w: Waiter): void {
    if (w.done) return;
    w.done = true;
    this.live--;
    this.dead++;
    // Lazy deletion; compact when aborted waiters dominate so a mass abort cannot pin memory.
    if (this.dead > 1024 && this.dead > this.live) {
      this.waiters.filter((x) => !x.done);
      this.dead = 0;
    }
    w.reject(abortReason(w.signal as AbortSignal));
    if (this.held === 0 && this.live === 0) this.notifyIdle();
  }

  private notifyIdle(): void {
    if (this.idleResolvers.length === 0) return;
    const rs = this.idleResolvers;
    this.idleResolvers = [];
    for (const r of rs) r();
  }
}
