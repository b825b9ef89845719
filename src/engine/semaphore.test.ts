import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ValidationError } from '../errors.js';
import { type Permit, Semaphore } from './semaphore.js';

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

describe('Semaphore', () => {
  it('grants up to the limit, then queues FIFO and hands each release to the oldest waiter', async () => {
    const sem = new Semaphore({ limit: 2 });
    const a = sem.tryAcquire();
    const b = await sem.acquire();
    expect(a).toBeDefined();
    expect(sem.tryAcquire()).toBeUndefined();
    const order: string[] = [];
    const c = sem.acquire().then((p) => (order.push('c'), p));
    const d = sem.acquire().then((p) => (order.push('d'), p));
    expect(sem.waiting).toBe(2);
    a?.release();
    await flush();
    expect(order).toEqual(['c']);
    expect(sem.inFlight).toBe(2);
    // A newcomer cannot barge ahead of d even though it asks synchronously.
    expect(sem.tryAcquire()).toBeUndefined();
    b.release();
    await flush();
    expect(order).toEqual(['c', 'd']);
    (await c).release();
    (await d).release();
    expect(sem.inFlight).toBe(0);
  });

  it('release is idempotent', async () => {
    const sem = new Semaphore({ limit: 1 });
    const p = await sem.acquire();
    const q = sem.acquire();
    p.release();
    p.release();
    const held = await q;
    expect(sem.inFlight).toBe(1);
    held.release();
    held.release();
    expect(sem.inFlight).toBe(0);
  });

  it('abort removes the waiter and rejects with the signal reason; later waiters still get served', async () => {
    const sem = new Semaphore({ limit: 1 });
    const p = await sem.acquire();
    const ac = new AbortController();
    const aborted = sem.acquire(ac.signal);
    const next = sem.acquire();
    const reason = new Error('client went away');
    ac.abort(reason);
    await expect(aborted).rejects.toBe(reason);
    expect(sem.waiting).toBe(1);
    p.release();
    const n = await next;
    expect(sem.inFlight).toBe(1);
    n.release();
  });

  it('an already aborted signal rejects at once even when a slot is free', async () => {
    const sem = new Semaphore({ limit: 3 });
    const ac = new AbortController();
    ac.abort(new Error('gone'));
    await expect(sem.acquire(ac.signal)).rejects.toThrow('gone');
    expect(sem.inFlight).toBe(0);
  });

  it('raising the limit wakes waiters; lowering it revokes nothing', async () => {
    const sem = new Semaphore({ limit: 1 });
    const first = await sem.acquire();
    const woken: number[] = [];
    const ws = [1, 2, 3].map((i) => sem.acquire().then((p) => (woken.push(i), p)));
    sem.setLimit(3);
    await flush();
    expect(woken).toEqual([1, 2]);
    expect(sem.inFlight).toBe(3);
    sem.setLimit(1);
    expect(sem.inFlight).toBe(3); // held permits stay held
    first.release();
    (await ws[0])?.release();
    await flush();
    expect(woken).toEqual([1, 2]); // still 1 held >= limit 1
    (await ws[1])?.release();
    await flush();
    expect(woken).toEqual([1, 2, 3]);
  });

  it('Infinity never waits', async () => {
    const sem = new Semaphore({ limit: Infinity });
    const ps: Permit[] = [];
    for (let i = 0; i < 10_000; i++) ps.push(sem.tryAcquire() as Permit);
    expect(sem.inFlight).toBe(10_000);
    expect(ps.every((p) => p !== undefined)).toBe(true);
  });

  it('rejects bad limits with a ValidationError naming the field', () => {
    expect(() => new Semaphore({ limit: 0 })).toThrow(ValidationError);
    expect(() => new Semaphore({ limit: 1.5 })).toThrow('limit: expected an integer >= 1 or Infinity, got 1.5');
    expect(() => new Semaphore({ limit: 2 }).setLimit(Number.NaN)).toThrow(ValidationError);
  });

  it('onIdle resolves once nothing is held or waiting', async () => {
    const sem = new Semaphore({ limit: 1 });
    await sem.onIdle();
    const p = await sem.acquire();
    const ac = new AbortController();
    const w = sem.acquire(ac.signal).catch(() => 'aborted');
    let idle = false;
    void sem.onIdle().then(() => (idle = true));
    p.release(); // hands off to w
    await flush();
    expect(idle).toBe(false);
    const held = (await w) as Permit;
    held.release();
    await flush();
    expect(idle).toBe(true);
  });

  it('execute releases on success and on failure, and passes results through', async () => {
    const sem = new Semaphore({ limit: 2 });
    await expect(sem.execute(() => 42)).resolves.toBe(42);
    await expect(sem.execute(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(sem.inFlight).toBe(0);
    let peak = 0;
    let running = 0;
    await Promise.all(
      Array.from({ length: 20 }, () =>
        sem.execute(async () => {
          running++;
          peak = Math.max(peak, running);
          await flush();
          running--;
        }),
      ),
    );
    expect(peak).toBe(2);
  });

  it('property: held permits never exceed the limit at grant time, and every waiter is served or aborted', async () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant('acquire' as const), abortable: fc.boolean() }),
      fc.record({ k: fc.constant('release' as const), i: fc.nat() }),
      fc.record({ k: fc.constant('abort' as const), i: fc.nat() }),
      fc.record({ k: fc.constant('setLimit' as const), limit: fc.integer({ min: 1, max: 6 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5 }), fc.array(op, { maxLength: 80 }), async (limit0, ops) => {
        const sem = new Semaphore({ limit: limit0 });
        const held: Permit[] = [];
        const controllers: AbortController[] = [];
        let limitAtLastGrantOk = true;
        let settled = 0;
        let started = 0;
        for (const o of ops) {
          if (o.k === 'acquire') {
            const ac = o.abortable ? new AbortController() : undefined;
            if (ac) controllers.push(ac);
            started++;
            sem.acquire(ac?.signal).then(
              (p) => {
                settled++;
                held.push(p);
                // Granting must never push the count above the limit in force at grant time.
                if (sem.inFlight > sem.limit) limitAtLastGrantOk = false;
              },
              () => settled++,
            );
          } else if (o.k === 'release' && held.length > 0) {
            held.splice(o.i % held.length, 1)[0]?.release();
          } else if (o.k === 'abort' && controllers.length > 0) {
            controllers[o.i % controllers.length]?.abort();
          } else if (o.k === 'setLimit') {
            sem.setLimit(o.limit);
          }
          await flush();
          expect(sem.inFlight).toBe(held.length);
          expect(sem.waiting).toBe(started - settled);
        }
        expect(limitAtLastGrantOk).toBe(true);
        // Drain: releasing everything serves every remaining waiter.
        while (held.length > 0 || sem.waiting > 0) {
          held.pop()?.release();
          await flush();
        }
        expect(settled).toBe(started);
        expect(sem.inFlight).toBe(0);
      }),
      { seed: 1234, numRuns: 200 },
    );
  });
});
