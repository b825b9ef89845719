import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { RealClock } from './real-clock.js';

// Real time, on purpose: this is the one implementation that must touch real timers. Bounded and order-based,
// never asserting wall-clock durations.
describe('RealClock', () => {
  it('a zero-delay timer runs at the end of this turn of the event loop, before any timeout', async () => {
    const clock = new RealClock();
    const order: string[] = [];
    await new Promise<void>((resolve) => {
      setTimeout(() => {
        order.push('timeout(0)');
        resolve();
      }, 0);
      clock.setTimer(0, () => order.push('setTimer(0)'));
    });
    expect(order).toEqual(['setTimer(0)', 'timeout(0)']);
  });

  it('cancelled timers of either kind never fire', async () => {
    const clock = new RealClock();
    let fired = 0;
    clock.setTimer(0, () => fired++).cancel();
    clock.setTimer(1, () => fired++).cancel();
    await clock.sleep(5);
    expect(fired).toBe(0);
  });

  it('sleep rejects with the abort reason', async () => {
    const clock = new RealClock();
    const ac = new AbortController();
    const p = clock.sleep(60_000, ac.signal);
    ac.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
  });

  it('a negative delay is a zero delay (an immediate); cancelling twice, or after the timer fired, is harmless', async () => {
    const clock = new RealClock();
    const order: string[] = [];
    const fired = await new Promise<ReturnType<RealClock['setTimer']>>((resolve) => {
      setTimeout(() => order.push('timeout(0)'), 0);
      const t = clock.setTimer(-5, () => {
        order.push('setTimer(-5)');
        resolve(t);
      });
    });
    expect(order).toEqual(['setTimer(-5)']);
    fired.cancel();
    fired.cancel();
    const late = clock.setTimer(1, () => order.push('late'));
    await clock.sleep(5);
    late.cancel();
    late.cancel();
    const never = clock.setTimer(1, () => order.push('never'));
    never.cancel();
    never.cancel();
    await clock.sleep(5);
    expect(order).toEqual(['setTimer(-5)', 'timeout(0)', 'late']);
  });

  it('sleep resolves and removes its abort listener; an abort afterwards changes nothing', async () => {
    const clock = new RealClock();
    const ac = new AbortController();
    const p = clock.sleep(1, ac.signal);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1);
    await expect(p).resolves.toBeUndefined();
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    ac.abort();
    await expect(clock.sleep(0)).resolves.toBeUndefined();
  });

  it('an aborted sleep rejects with the very abort reason, leaves no listener, and never resolves later', async () => {
    const clock = new RealClock();
    const ac = new AbortController();
    const reason = new Error('stop');
    let settled = 0;
    const p = clock.sleep(1, ac.signal).then(
      () => void settled++,
      (e: unknown) => {
        settled++;
        throw e;
      },
    );
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    await clock.sleep(5);
    expect(settled).toBe(1);
    // Already aborted: rejects at once with the same reason, and adds no listener.
    await expect(clock.sleep(1, ac.signal)).rejects.toBe(reason);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    // No reason given: the default reason (an AbortError), as before.
    const bare = new AbortController();
    const q = clock.sleep(60_000, bare.signal);
    bare.abort();
    await expect(q).rejects.toMatchObject({ name: 'AbortError' });
  });
});
