import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../time/virtual-clock.js';
import { CallControl } from './call-control.js';
import { IdleTimeoutError } from './errors.js';

describe('CallControl', () => {
  it('aborts with IdleTimeoutError(idleMs, tokens) after idleMs without a touch', async () => {
    const clock = new VirtualClock();
    let tokens = 0;
    const c = new CallControl(clock, 100, undefined, () => tokens);
    await clock.advanceBy(60);
    tokens = 4;
    c.touch();
    await clock.advanceBy(99);
    expect(c.signal.aborted).toBe(false);
    await clock.advanceBy(1);
    expect(c.signal.aborted).toBe(true);
    const e = c.failure();
    expect(e).toBeInstanceOf(IdleTimeoutError);
    expect([(e as IdleTimeoutError).idleMs, (e as IdleTimeoutError).tokensReceived]).toEqual([100, 4]);
    expect(c.signal.reason).toBe(e);
    c.dispose();
    expect(clock.pendingTimers).toBe(0);
  });

  it('a touch per event costs no timer: one timer re-arms for the remainder', async () => {
    const clock = new VirtualClock();
    const c = new CallControl(clock, 100, undefined, () => 0);
    for (let i = 0; i < 50; i++) {
      await clock.advanceBy(10);
      c.touch();
      expect(clock.pendingTimers).toBe(1);
    }
    expect(c.signal.aborted).toBe(false);
    c.dispose();
    expect(clock.pendingTimers).toBe(0);
  });

  it('does not time out while the consumer holds a chunk (suspend), and counts from resume', async () => {
    const clock = new VirtualClock();
    const c = new CallControl(clock, 100, undefined, () => 0);
    c.suspend();
    await clock.advanceBy(1000);
    expect(c.signal.aborted).toBe(false);
    c.resume();
    await clock.advanceBy(99);
    expect(c.signal.aborted).toBe(false);
    await clock.advanceBy(101);
    expect(c.failure()).toBeInstanceOf(IdleTimeoutError);
  });

  it("the caller's abort wins: failure() is the signal's reason, and it follows the abort", () => {
    const clock = new VirtualClock();
    const outer = new AbortController();
    const c = new CallControl(clock, 0, outer.signal, () => 0);
    expect(c.failure()).toBeUndefined();
    const reason = new Error('stop');
    outer.abort(reason);
    expect(c.signal.aborted).toBe(true);
    expect(c.failure()).toBe(reason);
    expect(clock.pendingTimers).toBe(0);
  });

  it('abort() by the client is reported as an abort error; dispose unlinks the outer signal', () => {
    const clock = new VirtualClock();
    const outer = new AbortController();
    const c = new CallControl(clock, 50, outer.signal, () => 0);
    c.abort(new Error('HttpModelClient closed'));
    expect(c.failure()?.message).toBe('HttpModelClient closed');
    c.dispose();
    outer.abort(new Error('late'));
    expect((c.signal.reason as Error).message).toBe('HttpModelClient closed');
    expect(new CallControl(clock, 0, AbortSignal.abort(), () => 0).failure()?.name).toBe('AbortError');
    expect(clock.pendingTimers).toBe(0);
  });

  it('onAbort runs once, with the reason, whatever aborts (caller, idle timeout, abort()); a signal read later is aborted', async () => {
    const clock = new VirtualClock();
    const reasons: unknown[] = [];
    const idle = new CallControl(clock, 50, undefined, () => 2);
    idle.onAbort = (r) => reasons.push(r);
    await clock.advanceBy(50);
    idle.abort(new Error('late'));
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toBeInstanceOf(IdleTimeoutError);
    expect(idle.aborted).toBe(true);
    expect(idle.signal.reason).toBe(reasons[0]);

    const outer = new AbortController();
    const caller = new CallControl(clock, 0, outer.signal, () => 0);
    caller.onAbort = (r) => reasons.push(r);
    expect(caller.aborted).toBe(false);
    outer.abort(new Error('gone'));
    expect((reasons[1] as Error).message).toBe('gone');
    expect(caller.failure()?.message).toBe('gone');
    expect(clock.pendingTimers).toBe(0);
  });
});
