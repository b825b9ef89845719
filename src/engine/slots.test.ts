import { describe, expect, it } from 'vitest';
import { resolvePolicy } from '../policy.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { Abortable } from './deadline.js';
import { Slots, type Slot } from './slots.js';

const meta = { priority: 'interactive' as const, deadlineAtMs: Number.POSITIVE_INFINITY };

/** One slot, a queue in front of it. */
function oneSlot(queue = true): { clock: VirtualClock; slots: Slots } {
  const clock = new VirtualClock();
  const slots = new Slots(clock, resolvePolicy('resilient', { concurrency: { mode: 'fixed', limit: 1 }, queue: { enabled: queue } }));
  return { clock, slots };
}

/** Whether reading `signal` made the Abortable's AbortController (it is private: seen through the object's keys). */
const madeController = (a: Abortable): boolean => (a as unknown as { controller?: AbortController }).controller !== undefined;

describe('Slots.acquire with an Abortable (the engine\'s own waits)', () => {
  for (const queue of [true, false]) {
    describe(queue ? 'queued' : 'without a queue', () => {
      it('rejects a waiting acquire with the abort reason, as with its signal, and frees its place', async () => {
        const { slots } = oneSlot(queue);
        const held = slots.tryAcquire() as Slot;
        const viaSignal = new AbortController();
        const viaAbortable = new Abortable();
        const a = slots.acquire(meta, viaSignal.signal);
        const b = slots.acquire(meta, viaAbortable);
        const c = slots.acquire(meta, new Abortable());
        const why = new Error('gone');
        viaSignal.abort(why);
        viaAbortable.abort(why);
        await expect(a).rejects.toBe(why);
        await expect(b).rejects.toBe(why);
        held.release();
        // The aborted waiters left: the slot goes to the third.
        await expect(c).resolves.toBeDefined();
        expect(slots.waiting).toBe(0);
      });

      it('rejects at once when already aborted, with a non-Error reason wrapped as the signal path does', async () => {
        const { slots } = oneSlot(queue);
        const a = new Abortable();
        a.abort('plain');
        const signal = AbortSignal.abort('plain');
        const viaAbortable = await slots.acquire(meta, a).catch((e: unknown) => e);
        const viaSignal = await slots.acquire(meta, signal).catch((e: unknown) => e);
        expect(viaAbortable).toBeInstanceOf(Error);
        expect((viaAbortable as Error & { code: string }).code).toBe((viaSignal as Error & { code: string }).code);
        expect((viaAbortable as Error).message).toBe((viaSignal as Error).message);
      });
    });
  }

  it('a queued wait makes no AbortController, and an abort after the slot came has no effect', async () => {
    const { slots } = oneSlot(true);
    const held = slots.tryAcquire() as Slot;
    const waiting = new Abortable();
    const got = slots.acquire(meta, waiting);
    expect(slots.waiting).toBe(1);
    held.release();
    const slot = await got;
    waiting.abort(new Error('late'));
    expect(madeController(waiting)).toBe(false);
    slot.release();
    expect(slots.tryAcquire()).toBeDefined();
  });

  it('a later wait on the same Abortable hears its abort, an earlier finished one does not', async () => {
    const { slots } = oneSlot(true);
    let held = slots.tryAcquire() as Slot;
    const waiting = new Abortable();
    const first = slots.acquire(meta, waiting);
    held.release();
    held = await first;
    const second = slots.acquire(meta, waiting);
    const why = new Error('stop');
    waiting.abort(why);
    await expect(second).rejects.toBe(why);
    held.release();
  });
});
