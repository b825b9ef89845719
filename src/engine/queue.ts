import { HarnessError, ValidationError } from '../errors.js';
import { BinaryHeap } from '../lib/heap.js';
import { RingBuffer } from '../lib/ring-buffer.js';
import type { Clock } from '../time/clock.js';

/** Priority classes, served strictly in this order: all eligible interactive work before any batch work. */
export const PRIORITIES = ['interactive', 'batch'] as const;
export type Priority = (typeof PRIORITIES)[number];

/** How an item is queued. Times are absolute clock times in ms. */
export interface EnqueueMeta {
  priority: Priority;
  /** At or after this time the item is expired: dropped (reported) and never dispatched. */
  deadlineAtMs?: number;
  /** Not eligible before this time (a retry waiting out its backoff). It still counts against the bound. */
  notBeforeMs?: number;
}

/** What the queue dropped on its own. `waitedMs` is time spent eligible in the queue (backoff excluded). */
export type QueueEvent<T> =
  | { type: 'expired'; item: T; waitedMs: number }
  | { type: 'shed'; item: T; waitedMs: number; reason: 'codel' };

/** Options for {@link BoundedQueue}. */
export interface BoundedQueueOptions {
  /** Items held at most, delayed ones included: an integer >= 1, or Infinity. */
  capacity: number;
  /** `fifo`, or LIFO within a class while more than `lifoThreshold` items are eligible. @default 'fifo' */
  order?: 'fifo' | 'lifo-under-overload';
  /** Eligible items above which `lifo-under-overload` serves newest first. @default half the capacity (1000 if unbounded) */
  lifoThreshold?: number;
  /**
   * `lifo-under-overload` also serves newest first once the queue is standing: it has not been empty for this long
   * (CoDel's standing-queue test, the trigger Facebook's "Fail at Scale" uses for adaptive LIFO), however few wait.
   * A queue that drains now and then stays FIFO. @default Infinity (count threshold only)
   */
  lifoStandingMs?: number;
  /**
   * Queue-wait shedding in the style of CoDel for request queues (as in Facebook's "Fail at Scale"): once the
   * queue has not been empty for `intervalMs`, an item that has waited more than `targetMs` is shed rather than
   * served. A queue that drains now and then never sheds. @default off
   */
  codel?: { targetMs: number; intervalMs: number };
}

/** The same item object was offered while it is still queued. */
export class DuplicateQueueItemError extends HarnessError {
  constructor() {
    super('QUEUE_DUPLICATE_ITEM', 'expected an item not already in the queue, got one that is still queued');
  }
}

export interface QueueCounters {
  /** Calls to `offer`. */
  offered: number;
  /** Offers refused because the queue was full. */
  rejected: number;
  dispatched: number;
  expired: number;
  shed: number;
  /** Items taken out by `remove`. */
  removed: number;
  peakSize: number;
}

const DELAYED = 0;
const READY = 1;
const GONE = 2;

interface Entry<T> {
  readonly item: T;
  readonly cls: number;
  readonly deadlineAtMs: number;
  readonly notBeforeMs: number;
  readonly seq: number;
  /** When it became eligible; for a delayed entry, its notBeforeMs. */
  eligibleAtMs: number;
  state: number;
}

/**
 * The engine's bounded admission queue: a synchronous data structure the engine drives (offer, poll, remove).
 * Ready items sit in one deque per priority class; delayed items in a heap by not-before time, moved to their
 * class when due (so FIFO order is by eligibility time, exactly); deadlines in a heap so expired items free their
 * room before an offer is refused. Removal is lazy (marked, skipped, compacted), so every operation is O(1) or
 * O(log n).
 */
export class BoundedQueue<T> {
  readonly #clock: Clock;
  readonly #capacity: number;
  readonly #lifo: boolean;
  readonly #lifoThreshold: number;
  readonly #lifoStandingMs: number;
  readonly #codel: { targetMs: number; intervalMs: number } | undefined;
  readonly #ready: Array<RingBuffer<Entry<T>>> = PRIORITIES.map(() => new RingBuffer<Entry<T>>());
  readonly #readyLive: number[] = PRIORITIES.map(() => 0);
  readonly #readyDead: number[] = PRIORITIES.map(() => 0);
  readonly #delayed = new BinaryHeap<Entry<T>>((a, b) => a.notBeforeMs < b.notBeforeMs || (a.notBeforeMs === b.notBeforeMs && a.seq < b.seq));
  readonly #deadlines = new BinaryHeap<Entry<T>>((a, b) => a.deadlineAtMs < b.deadlineAtMs || (a.deadlineAtMs === b.deadlineAtMs && a.seq < b.seq));
  readonly #index = new Map<T, Entry<T>>();
  readonly #listeners = new Set<(e: QueueEvent<T>) => void>();
  readonly #c: QueueCounters = { offered: 0, rejected: 0, dispatched: 0, expired: 0, shed: 0, removed: 0, peakSize: 0 };
  #readyCount = 0;
  #delayedLive = 0;
  #delayedDead = 0;
  #deadlineDead = 0;
  #seq = 0;
  /** Since when the ready part has been non-empty without a break (CoDel's "standing queue" test). */
  #nonEmptySinceMs = 0;

  constructor(clock: Clock, options: BoundedQueueOptions) {
    const { capacity, order = 'fifo', codel } = options;
    if (!(capacity === Number.POSITIVE_INFINITY || (Number.isInteger(capacity) && capacity >= 1))) {
      throw new ValidationError('capacity', 'an integer >= 1 or Infinity', capacity);
    }
    if (order !== 'fifo' && order !== 'lifo-under-overload') {
      throw new ValidationError('order', "'fifo' or 'lifo-under-overload'", order);
    }
    const lifoThreshold = options.lifoThreshold ?? (Number.isFinite(capacity) ? Math.floor(capacity / 2) : 1000);
    if (!(lifoThreshold >= 0)) throw new ValidationError('lifoThreshold', 'a number >= 0', options.lifoThreshold);
    const lifoStandingMs = options.lifoStandingMs ?? Number.POSITIVE_INFINITY;
    if (!(lifoStandingMs >= 0)) throw new ValidationError('lifoStandingMs', 'a number >= 0', options.lifoStandingMs);
    if (codel !== undefined) {
      if (!(Number.isFinite(codel.targetMs) && codel.targetMs > 0)) throw new ValidationError('codel.targetMs', 'a number > 0', codel.targetMs);
      if (!(Number.isFinite(codel.intervalMs) && codel.intervalMs > 0)) {
        throw new ValidationError('codel.intervalMs', 'a number > 0', codel.intervalMs);
      }
    }
    this.#clock = clock;
    this.#capacity = capacity;
    this.#lifo = order === 'lifo-under-overload';
    this.#lifoThreshold = lifoThreshold;
    this.#lifoStandingMs = lifoStandingMs;
    this.#codel = codel === undefined ? undefined : { ...codel };
  }

  /** Items held, delayed ones included. */
  /** Items eligible now (waiting for a slot), delayed ones not counted. */
  get readyCount(): number {
    return this.#readyCount;
  }

  get size(): number {
    return this.#readyCount + this.#delayedLive;
  }

  /**
   * Whether the next poll serves newest first (`lifo-under-overload` with more than `lifoThreshold` eligible, or a
   * queue standing for `lifoStandingMs`).
   */
  get newestFirst(): boolean {
    return this.#lifo && this.#readyCount > 0 && (this.#readyCount > this.#lifoThreshold || this.#clock.now() - this.#nonEmptySinceMs >= this.#lifoStandingMs);
  }

  get capacity(): number {
    return this.#capacity;
  }

  /** A snapshot of the counters. */
  get counters(): QueueCounters {
    return { ...this.#c };
  }

  /** Subscribes to drops; returns the unsubscribe function. Listeners run synchronously inside `poll`/`offer`. */
  onEvent(listener: (e: QueueEvent<T>) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Queues `item`. False when the queue is full even after dropping expired items (the caller sheds it, 429).
   * An item whose deadline has already passed is accepted and reported expired at once.
   */
  offer(item: T, meta: EnqueueMeta): boolean {
    this.#c.offered++;
    const cls = PRIORITIES.indexOf(meta.priority);
    if (cls < 0) throw new ValidationError('priority', PRIORITIES.map((p) => `'${p}'`).join(' or '), meta.priority);
    if (this.#index.has(item)) throw new DuplicateQueueItemError();
    const now = this.#clock.now();
    if (this.size >= this.#capacity && (this.purgeExpired() === 0 || this.size >= this.#capacity)) {
      this.#c.rejected++;
      return false;
    }
    const deadlineAtMs = meta.deadlineAtMs ?? Number.POSITIVE_INFINITY;
    const notBeforeMs = meta.notBeforeMs ?? Number.NEGATIVE_INFINITY;
    const e: Entry<T> = { item, cls, deadlineAtMs, notBeforeMs, seq: this.#seq++, eligibleAtMs: now, state: READY };
    if (deadlineAtMs <= now) {
      this.#c.expired++;
      this.#emit({ type: 'expired', item, waitedMs: 0 });
      return true;
    }
    this.#promote(now); // keeps ready order = eligibility order (delayed items first under LIFO)
    this.#index.set(item, e);
    if (deadlineAtMs !== Number.POSITIVE_INFINITY) this.#deadlines.push(e);
    if (notBeforeMs > now) {
      e.state = DELAYED;
      e.eligibleAtMs = notBeforeMs;
      this.#delayed.push(e);
      this.#delayedLive++;
    } else {
      this.#pushReady(e);
    }
    if (this.size > this.#c.peakSize) this.#c.peakSize = this.size;
    return true;
  }

  /**
   * Takes the next eligible item: interactive before batch, FIFO (or LIFO under overload) within a class.
   * Expired and CoDel-shed items met on the way are dropped and reported. Undefined when nothing is eligible.
   */
  poll(): { item: T; waitedMs: number } | undefined {
    const now = this.#clock.now();
    this.#promote(now);
    const codel = this.#codel;
    const standing = codel !== undefined && this.#readyCount > 0 && now - this.#nonEmptySinceMs > codel.intervalMs;
    // Decided once per poll: the queue standing (not empty for lifoStandingMs) does not change within it.
    const standingLifo = this.#lifo && this.#readyCount > 0 && now - this.#nonEmptySinceMs >= this.#lifoStandingMs;
    for (let cls = 0; cls < PRIORITIES.length; cls++) {
      const ring = this.#ready[cls] as RingBuffer<Entry<T>>;
      while ((this.#readyLive[cls] as number) > 0) {
        const fromBack = standingLifo || (this.#lifo && this.#readyCount > this.#lifoThreshold);
        const e = (fromBack ? ring.pop() : ring.shift()) as Entry<T>;
        if (e.state === GONE) {
          this.#readyDead[cls] = (this.#readyDead[cls] as number) - 1;
          continue;
        }
        this.#take(e, true);
        const waitedMs = now - e.eligibleAtMs;
        if (e.deadlineAtMs <= now) {
          this.#c.expired++;
          this.#emit({ type: 'expired', item: e.item, waitedMs });
        } else if (standing && waitedMs > (codel as { targetMs: number }).targetMs) {
          this.#c.shed++;
          this.#emit({ type: 'shed', item: e.item, waitedMs, reason: 'codel' });
        } else {
          this.#c.dispatched++;
          return { item: e.item, waitedMs };
        }
      }
    }
    return undefined;
  }

  /** Takes `item` out (the caller cancelled). False when it is not queued. */
  remove(item: T): boolean {
    const e = this.#index.get(item);
    if (e === undefined) return false;
    this.#take(e);
    this.#c.removed++;
    return true;
  }

  /** The earliest not-before time among delayed items, for the engine's wake-up timer. */
  nextEligibleAtMs(): number | undefined {
    return this.#liveTop(this.#delayed)?.notBeforeMs;
  }

  /** The earliest deadline among queued items, for an expiry timer that answers timed-out callers promptly. */
  nextDeadlineAtMs(): number | undefined {
    return this.#liveTop(this.#deadlines)?.deadlineAtMs;
  }

  /** Drops every item whose deadline has passed, reporting each; returns how many. */
  purgeExpired(): number {
    const now = this.#clock.now();
    let n = 0;
    for (let e = this.#liveTop(this.#deadlines); e !== undefined && e.deadlineAtMs <= now; e = this.#liveTop(this.#deadlines)) {
      const waitedMs = Math.max(0, now - e.eligibleAtMs);
      this.#take(e);
      n++;
      this.#c.expired++;
      this.#emit({ type: 'expired', item: e.item, waitedMs });
    }
    return n;
  }

  /** A one-line state summary, e.g. for VirtualClock deadlock probes. */
  describe(): string {
    return `size=${this.size}/${this.#capacity} ready=${this.#readyLive.join('/')} delayed=${this.#delayedLive}`;
  }

  /** Moves delayed items that are due into their class, in not-before order. */
  #promote(now: number): void {
    if (this.#delayedLive === 0) return;
    for (let e = this.#liveTop(this.#delayed); e !== undefined && e.notBeforeMs <= now; e = this.#liveTop(this.#delayed)) {
      this.#delayed.pop();
      this.#delayedLive--;
      // A delayed item is an old request coming back (a retry, a wait for the breaker): under LIFO it goes to the
      // oldest end, so that a standing queue serves fresh arrivals first instead of treating it as the newest.
      this.#pushReady(e, this.#lifo);
    }
  }

  #pushReady(e: Entry<T>, atFront = false): void {
    e.state = READY;
    if (this.#readyCount === 0) this.#nonEmptySinceMs = e.eligibleAtMs;
    const ring = this.#ready[e.cls] as RingBuffer<Entry<T>>;
    if (atFront) ring.unshift(e);
    else ring.push(e);
    this.#readyLive[e.cls] = (this.#readyLive[e.cls] as number) + 1;
    this.#readyCount++;
  }

  /** Marks `e` gone wherever it sits; `popped` when it has just come off its ring (so leaves nothing behind). */
  #take(e: Entry<T>, popped = false): void {
    this.#index.delete(e.item);
    if (e.deadlineAtMs !== Number.POSITIVE_INFINITY) this.#deadlineDead++;
    const was = e.state;
    e.state = GONE;
    if (was === READY) {
      this.#readyLive[e.cls] = (this.#readyLive[e.cls] as number) - 1;
      this.#readyCount--;
      if (!popped) this.#readyDead[e.cls] = (this.#readyDead[e.cls] as number) + 1;
    } else if (was === DELAYED) {
      this.#delayedLive--;
      this.#delayedDead++;
    }
    this.#compact();
  }

  /** Top of a heap after discarding gone entries. */
  #liveTop(heap: BinaryHeap<Entry<T>>): Entry<T> | undefined {
    let top = heap.peek();
    while (top !== undefined && top.state === GONE) {
      heap.pop();
      if (heap === this.#delayed) this.#delayedDead--;
      else this.#deadlineDead--;
      top = heap.peek();
    }
    return top;
  }

  /** Lazy deletion leaves gone entries behind; sweep a structure once they dominate it, so memory stays bounded. */
  #compact(): void {
    for (let cls = 0; cls < PRIORITIES.length; cls++) {
      const dead = this.#readyDead[cls] as number;
      if (dead > 1024 && dead > (this.#readyLive[cls] as number)) {
        (this.#ready[cls] as RingBuffer<Entry<T>>).filter((x) => x.state !== GONE);
        this.#readyDead[cls] = 0;
      }
    }
    if (this.#delayedDead > 1024 && this.#delayedDead > this.#delayedLive) {
      this.#delayed.filter((x) => x.state === DELAYED);
      this.#delayedDead = 0;
    }
    if (this.#deadlineDead > 1024 && this.#deadlineDead * 2 > this.#deadlines.size) {
      this.#deadlines.filter((x) => x.state !== GONE);
      this.#deadlineDead = 0;
    }
  }

  #emit(e: QueueEvent<T>): void {
    for (const l of this.#listeners) l(e);
  }
}
