import { describe, expect, it } from 'vitest';
import { DeadlockError, EventLimitError, VirtualClock } from './virtual-clock.js';

describe('VirtualClock', () => {
  it('fires timers in (due time, sequence) order', async () => {
    const clock = new VirtualClock();
    const seen: string[] = [];
    clock.setTimer(20, () => seen.push('b@20'));
    clock.setTimer(10, () => seen.push('a@10'));
    clock.setTimer(20, () => seen.push('c@20'));
    clock.setTimer(0, () => seen.push('z@0'));
    const fired = await clock.runUntilIdle();
    expect(seen).toEqual(['z@0', 'a@10', 'b@20', 'c@20']);
    expect(fired).toBe(4);
    expect(clock.now()).toBe(20);
  });

  it('advances only after promise work settles, so chained sleeps interleave exactly', async () => {
    const clock = new VirtualClock();
    const log: string[] = [];
    const worker = async (name: string, delays: number[]): Promise<void> => {
      for (const d of delays) {
        await clock.sleep(d);
        // Several awaits between sleeps: the clock must not move while these are pending.
        await Promise.resolve();
        await Promise.resolve();
        log.push(`${name}@${clock.now()}`);
      }
    };
    const done = Promise.all([worker('a', [5, 5, 5]), worker('b', [7, 1, 100])]);
    await clock.runUntilIdle();
    await done;
    expect(log).toEqual(['a@5', 'b@7', 'b@8', 'a@10', 'a@15', 'b@108']);
  });

  it('advanceBy fires due timers and sets the time even when none is due', async () => {
    const clock = new VirtualClock();
    const seen: number[] = [];
    clock.setTimer(10, () => seen.push(clock.now()));
    clock.setTimer(30, () => seen.push(clock.now()));
    await clock.advanceBy(15);
    expect(seen).toEqual([10]);
    expect(clock.now()).toBe(15);
    await clock.advanceBy(100);
    expect(seen).toEqual([10, 30]);
    expect(clock.now()).toBe(115);
  });

  it('cancelled timers never fire and do not count as pending', async () => {
    const clock = new VirtualClock();
    let fired = 0;
    const timers = Array.from({ length: 5000 }, (_, i) => clock.setTimer(i, () => fired++));
    timers.forEach((t, i) => i % 2 === 0 && t.cancel());
    timers[0]?.cancel(); // twice is harmless
    expect(clock.pendingTimers).toBe(2500);
    await clock.runUntilIdle();
    expect(fired).toBe(2500);
  });

  it('cancelling a timer that already fired changes nothing (a common pattern: clear the timeout when done)', async () => {
    const clock = new VirtualClock();
    const fired = clock.setTimer(1, () => undefined);
    await clock.advanceBy(1);
    clock.setTimer(10, () => undefined);
    fired.cancel();
    expect(clock.pendingTimers).toBe(1);
    expect(await clock.runUntilIdle()).toBe(1);
    expect(clock.pendingTimers).toBe(0);
  });

  it('an aborted sleep rejects at once with the signal reason and cancels its timer', async () => {
    const clock = new VirtualClock();
    const ac = new AbortController();
    const p = clock.sleep(1000, ac.signal);
    clock.setTimer(10, () => ac.abort(new Error('stop')));
    const outcome = p.then(() => 'resolved', (e: Error) => `rejected: ${e.message} at ${clock.now()}`);
    await clock.runUntilIdle();
    expect(await outcome).toBe('rejected: stop at 10');
    expect(clock.now()).toBe(10);
    await expect(clock.sleep(5, ac.signal)).rejects.toThrow('stop');
  });

  it('run() returns the value of the work', async () => {
    const clock = new VirtualClock();
    const value = await clock.run((async () => {
      await clock.sleep(50);
      return clock.now();
    })());
    expect(value).toBe(50);
  });

  it('run() names the deadlocked work and what components are still waiting for', async () => {
    const clock = new VirtualClock();
    clock.registerProbe('semaphore', () => '2 waiters');
    clock.registerProbe('idle-queue', () => undefined);
    const never = new Promise<void>(() => undefined);
    const err = await clock.run(never, 'burst-1000/naive').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeadlockError);
    expect((err as DeadlockError).code).toBe('DEADLOCK');
    expect((err as Error).message).toBe(
      'deadlock at t=0ms: "burst-1000/naive" is still pending but no timer is scheduled; still waiting: semaphore: 2 waiters',
    );
  });

  it('stops a runaway timer at the event limit and names what was next', async () => {
    const clock = new VirtualClock({ maxEvents: 100 });
    const tick = (): void => {
      clock.setTimer(1, tick, 'runaway');
    };
    clock.setTimer(1, tick, 'runaway');
    const err = await clock.runUntilIdle().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EventLimitError);
    expect((err as Error).message).toBe('event limit of 100 reached at t=101ms; next events: runaway@101ms');
  });

  it.each(['turn', 'tick'] as const)('settles deep promise chains before each instant, over hundreds of instants (drain: %s)', async (drain) => {
    const clock = new VirtualClock({ drain });
    const seen: string[] = [];
    // At every instant a timer starts a 200-deep chain of promise reactions; the next instant must see it finished.
    let depthDone = 0;
    const chain = async (n: number): Promise<void> => {
      for (let i = 0; i < 200; i++) await Promise.resolve();
      depthDone = n;
    };
    for (let t = 1; t <= 300; t++) {
      clock.setTimer(t, () => {
        if (depthDone !== t - 1) seen.push(`t=${t}: chain ${t - 1} unfinished (at ${depthDone})`);
        void chain(t);
      });
    }
    await clock.runUntilIdle();
    // The last chain settles in the final drain.
    await clock.run(Promise.resolve());
    expect(seen).toEqual([]);
    expect(depthDone).toBe(300);
  });
});
