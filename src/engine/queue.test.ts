import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ValidationError } from '../errors.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { BoundedQueue, DuplicateQueueItemError, type Priority, type QueueEvent } from './queue.js';

const drain = <T>(q: BoundedQueue<T>): T[] => {
  const out: T[] = [];
  for (let r = q.poll(); r !== undefined; r = q.poll()) out.push(r.item);
  return out;
};

describe('BoundedQueue', () => {
  it('serves interactive before batch, FIFO within a class, and reports time waited', async () => {
    const clock = new VirtualClock();
    const q = new BoundedQueue<string>(clock, { capacity: 10 });
    q.offer('b1', { priority: 'batch' });
    q.offer('i1', { priority: 'interactive' });
    await clock.advanceBy(5);
    q.offer('b2', { priority: 'batch' });
    q.offer('i2', { priority: 'interactive' });
    await clock.advanceBy(10);
    expect(q.poll()).toEqual({ item: 'i1', waitedMs: 15 });
    expect(q.poll()).toEqual({ item: 'i2', waitedMs: 10 });
    expect(drain(q)).toEqual(['b1', 'b2']);
    expect(q.poll()).toBeUndefined();
    expect(q.counters).toMatchObject({ offered: 4, dispatched: 4, rejected: 0, peakSize: 4 });
  });

  it('refuses offers when full and counts them', () => {
    const q = new BoundedQueue<number>(new VirtualClock(), { capacity: 2 });
    expect(q.offer(1, { priority: 'batch' })).toBe(true);
    expect(q.offer(2, { priority: 'interactive' })).toBe(true);
    expect(q.offer(3, { priority: 'interactive' })).toBe(false);
    expect(q.size).toBe(2);
    expect(q.counters.rejected).toBe(1);
    q.poll();
    expect(q.offer(3, { priority: 'interactive' })).toBe(true);
  });

  it('never dispatches an expired item; reports it with the time it waited', async () => {
    const clock = new VirtualClock();
    const q = new BoundedQueue<string>(clock, { capacity: 10 });
    const events: Array<QueueEvent<string>> = [];
    q.onEvent((e) => events.push(e));
    q.offer('late', { priority: 'interactive', deadlineAtMs: 50 });
    q.offer('ok', { priority: 'interactive', deadlineAtMs: 500 });
    q.offer('past', { priority: 'batch', deadlineAtMs: 0 }); // already due at offer: expired at once
    expect(events).toEqual([{ type: 'expired', item: 'past', waitedMs: 0 }]);
    await clock.advanceBy(50); // deadline reached exactly: no time left, so expired
    expect(q.poll()).toEqual({ item: 'ok', waitedMs: 50 });
    expect(events[1]).toEqual({ type: 'expired', item: 'late', waitedMs: 50 });
    expect(q.counters.expired).toBe(2);
    expect(q.size).toBe(0);
  });

  it('a full queue frees room held by expired items before refusing an offer', async () => {
    const clock = new VirtualClock();
    const q = new BoundedQueue<string>(clock, { capacity: 2 });
    const expired: string[] = [];
    q.onEvent((e) => e.type === 'expired' && expired.push(e.item));
    q.offer('a', { priority: 'batch', deadlineAtMs: 10 });
    q.offer('b', { priority: 'batch' });
    expect(q.nextDeadlineAtMs()).toBe(10);
    await clock.advanceBy(10);
    expect(q.offer('c', { priority: 'batch' })).toBe(true);
    expect(expired).toEqual(['a']);
    expect(q.nextDeadlineAtMs()).toBeUndefined();
    expect(drain(q)).toEqual(['b', 'c']);
  });

  it('delayed items wait for notBeforeMs, count against the bound, and join in eligibility order', async () => {
    const clock = new VirtualClock();
    const q = new BoundedQueue<string>(clock, { capacity: 3 });
    q.offer('retry', { priority: 'interactive', notBeforeMs: 100 });
    q.offer('x', { priority: 'batch', notBeforeMs: 40 });
    q.offer('fresh', { priority: 'interactive' });
    expect(q.offer('over', { priority: 'interactive' })).toBe(false); // delayed ones hold room
    expect(q.nextEligibleAtMs()).toBe(40);
    expect(q.poll()?.item).toBe('fresh');
    expect(q.poll()).toBeUndefined();
    await clock.advanceBy(100);
    q.offer('new', { priority: 'interactive' }); // offered at 100, after 'retry' became eligible at 100
    expect(q.nextEligibleAtMs()).toBeUndefined();
    await clock.advanceBy(7);
    expect(q.poll()).toEqual({ item: 'retry', waitedMs: 7 }); // backoff time is not queue time
    expect(q.poll()).toEqual({ item: 'new', waitedMs: 7 });
    expect(q.poll()).toEqual({ item: 'x', waitedMs: 67 });
  });

  it('a delayed item whose deadline passes before it is eligible expires', async () => {
    const clock = new VirtualClock();
    const q = new BoundedQueue<string>(clock, { capacity: 3 });
    const events: Array<QueueEvent<string>> = [];
    q.onEvent((e) => events.push(e));
    q.offer('r', { priority: 'interactive', notBeforeMs: 100, deadlineAtMs: 80 });
    await clock.advanceBy(120);
    expect(q.poll()).toBeUndefined();
    expect(events).toEqual([{ type: 'expired', item: 'r', waitedMs: 20 }]);
  });

  it('lifo-under-overload serves newest first only above the threshold', () => {
    const q = new BoundedQueue<number>(new VirtualClock(), { capacity: 100, order: 'lifo-under-overload', lifoThreshold: 3 });
    for (let i = 1; i <= 6; i++) q.offer(i, { priority: 'batch' });
    q.offer(100, { priority: 'interactive' });
    // 7 eligible > 3: LIFO within each class, classes still in priority order; at 3 left it turns FIFO again.
    expect(drain(q)).toEqual([100, 6, 5, 4, 1, 2, 3]);
  });

  it('lifo-under-overload serves newest first once the queue has stood for lifoStandingMs, however short', async () => {
    const clock = new VirtualClock();
    const q = new BoundedQueue<number>(clock, { capacity: 100, order: 'lifo-under-overload', lifoThreshold: 50, lifoStandingMs: 1000 });
    // A queue that drains within the interval stays FIFO.
    q.offer(1, { priority: 'interactive' });
    q.offer(2, { priority: 'interactive' });
    await clock.advanceBy(999);
    expect(q.newestFirst).toBe(false);
    expect(q.poll()?.item).toBe(1);
    expect(q.poll()?.item).toBe(2);
    // Now one that has not been empty for a whole second: 3 waiting, far under the count threshold, newest first.
    q.offer(3, { priority: 'interactive' });
    await clock.advanceBy(600);
    q.offer(4, { priority: 'interactive' });
    await clock.advanceBy(400);
    q.offer(5, { priority: 'interactive' });
    expect(q.newestFirst).toBe(true);
    expect(q.poll()?.item).toBe(5);
    expect(q.poll()?.item).toBe(4);
    expect(q.poll()?.item).toBe(3);
    // Emptied: the next queue starts FIFO again.
    q.offer(6, { priority: 'interactive' });
    q.offer(7, { priority: 'interactive' });
    expect(q.newestFirst).toBe(false);
    expect(drain(q)).toEqual([6, 7]);
    expect(() => new BoundedQueue<number>(clock, { capacity: 1, lifoStandingMs: -1 })).toThrow(ValidationError);
  });

  it('CoDel sheds long waiters only from a queue that has not drained for intervalMs', async () => {
    const clock = new VirtualClock();
    const q = new BoundedQueue<string>(clock, { capacity: 100, codel: { targetMs: 5, intervalMs: 100 } });
    const shed: Array<QueueEvent<string>> = [];
    q.onEvent((e) => shed.push(e));
    // A queue that drains regularly never sheds, however long one item waited within the interval.
    q.offer('a', { priority: 'interactive' });
    await clock.advanceBy(50);
    expect(q.poll()?.item).toBe('a');
    // Now a standing queue: never empty for 150 ms.
    q.offer('old', { priority: 'interactive' });
    await clock.advanceBy(148);
    q.offer('young', { priority: 'interactive' });
    await clock.advanceBy(2);
    expect(q.poll()).toEqual({ item: 'young', waitedMs: 2 });
    expect(shed).toEqual([{ type: 'shed', item: 'old', waitedMs: 150, reason: 'codel' }]);
    expect(q.counters.shed).toBe(1);
  });

  it('remove takes an item out for good; unknown items give false', () => {
    const q = new BoundedQueue<object>(new VirtualClock(), { capacity: 5 });
    const a = {};
    const b = {};
    q.offer(a, { priority: 'batch' });
    q.offer(b, { priority: 'batch', notBeforeMs: 10 });
    expect(q.remove(a)).toBe(true);
    expect(q.remove(a)).toBe(false);
    expect(q.remove(b)).toBe(true);
    expect(q.size).toBe(0);
    expect(q.poll()).toBeUndefined();
    expect(q.nextEligibleAtMs()).toBeUndefined();
    expect(q.counters.removed).toBe(2);
  });

  it('keeps working after mass removals (lazy deletion compacts)', () => {
    const q = new BoundedQueue<number>(new VirtualClock(), { capacity: Infinity });
    for (let i = 0; i < 5000; i++) q.offer(i, { priority: i % 2 === 0 ? 'interactive' : 'batch', deadlineAtMs: 1e9 });
    for (let i = 0; i < 4990; i++) q.remove(i);
    expect(q.size).toBe(10);
    expect(drain(q)).toEqual([4990, 4992, 4994, 4996, 4998, 4991, 4993, 4995, 4997, 4999]);
  });

  it('rejects bad input with clear errors', () => {
    const clock = new VirtualClock();
    expect(() => new BoundedQueue(clock, { capacity: 0 })).toThrow('capacity: expected an integer >= 1 or Infinity, got 0');
    expect(() => new BoundedQueue(clock, { capacity: 5, codel: { targetMs: 0, intervalMs: 10 } })).toThrow(ValidationError);
    const q = new BoundedQueue<string>(clock, { capacity: 5 });
    expect(() => q.offer('x', { priority: 'urgent' as Priority })).toThrow("priority: expected 'interactive' or 'batch', got \"urgent\"");
    q.offer('x', { priority: 'batch' });
    expect(() => q.offer('x', { priority: 'batch' })).toThrow(DuplicateQueueItemError);
  });

  it('onEvent returns an unsubscribe function', async () => {
    const clock = new VirtualClock();
    const q = new BoundedQueue<string>(clock, { capacity: 5 });
    let n = 0;
    const off = q.onEvent(() => n++);
    off();
    q.offer('x', { priority: 'batch', deadlineAtMs: 0 });
    expect(n).toBe(0);
  });

  it('property: bound holds, nothing expired is dispatched, order matches a reference model, every item ends once', async () => {
    type Op =
      | { k: 'offer'; cls: Priority; deadline: number | undefined; delay: number | undefined }
      | { k: 'poll' }
      | { k: 'remove'; i: number }
      | { k: 'advance'; ms: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        k: fc.constant('offer' as const),
        cls: fc.constantFrom<Priority>('interactive', 'batch'),
        deadline: fc.option(fc.integer({ min: 0, max: 60 }), { nil: undefined }),
        delay: fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }),
      }),
      fc.constant({ k: 'poll' as const }),
      fc.record({ k: fc.constant('remove' as const), i: fc.nat() }),
      fc.record({ k: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 30 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.array(op, { maxLength: 60 }), async (capacity, ops) => {
        const clock = new VirtualClock();
        const q = new BoundedQueue<number>(clock, { capacity });
        interface M { id: number; cls: number; deadline: number; eligible: number; seq: number }
        const live = new Map<number, M>();
        const ended = new Map<number, string>();
        q.onEvent((e) => {
          expect(ended.has(e.item)).toBe(false);
          ended.set(e.item, e.type);
          expect(live.get(e.item)?.deadline ?? Infinity).toBeLessThanOrEqual(clock.now());
          live.delete(e.item);
        });
        let id = 0;
        for (const o of ops) {
          const now = clock.now();
          if (o.k === 'offer') {
            const m: M = {
              id: id++,
              cls: o.cls === 'interactive' ? 0 : 1,
              deadline: o.deadline === undefined ? Infinity : now + o.deadline,
              eligible: now + (o.delay ?? 0),
              seq: id,
            };
            const wasFull = q.size >= capacity;
            live.set(m.id, m);
            const ok = q.offer(m.id, { priority: o.cls, deadlineAtMs: m.deadline, notBeforeMs: o.delay === undefined ? undefined : m.eligible });
            if (!ok) {
              expect(wasFull).toBe(true);
              live.delete(m.id);
              ended.set(m.id, 'rejected');
            }
          } else if (o.k === 'poll') {
            const candidates = [...live.values()].filter((m) => m.eligible <= now && m.deadline > now);
            candidates.sort((a, b) => a.cls - b.cls || a.eligible - b.eligible || a.seq - b.seq);
            const r = q.poll();
            expect(r?.item).toBe(candidates[0]?.id);
            if (r !== undefined) {
              const m = live.get(r.item) as M;
              expect(m.deadline).toBeGreaterThan(now);
              expect(r.waitedMs).toBe(now - m.eligible);
              live.delete(r.item);
              ended.set(r.item, 'dispatched');
            }
          } else if (o.k === 'remove') {
            const ids = [...live.keys()];
            const target = ids.length > 0 ? (ids[o.i % ids.length] as number) : -1;
            expect(q.remove(target)).toBe(target >= 0);
            if (target >= 0) {
              live.delete(target);
              ended.set(target, 'removed');
            }
          } else {
            await clock.advanceBy(o.ms);
          }
          expect(q.size).toBeLessThanOrEqual(capacity);
          expect(q.size).toBe(live.size);
        }
        // Every item offered is either still live or ended exactly once (the Map guarantees once).
        expect(live.size + ended.size).toBe(id);
        const c = q.counters;
        expect(c.dispatched + c.expired + c.shed + c.removed + c.rejected + q.size).toBe(c.offered);
      }),
      { seed: 20240601, numRuns: 200 },
    );
  });
});
