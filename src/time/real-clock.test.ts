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
});
