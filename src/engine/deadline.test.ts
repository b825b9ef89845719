import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../time/virtual-clock.js';
import { DeadlineExceededError, IdleTimeoutError } from '../upstream/errors.js';
import { Abortable, CancelScope, Deadline, IdleTimeout, linkSignals } from './deadline.js';

describe('Deadline', () => {
  it('aborts with DeadlineExceededError at the deadline, reporting tokens received', async () => {
    const clock = new VirtualClock();
    let tokens = 0;
    const d = new Deadline(clock, 100, { tokensReceived: () => tokens });
    await clock.advanceBy(60);
    tokens = 7;
    expect(d.remainingMs()).toBe(40);
    expect(d.signal.aborted).toBe(false);
    await clock.advanceBy(40);
    expect(d.signal.reason).toBeInstanceOf(DeadlineExceededError);
    expect((d.signal.reason as Error).message).toBe('deadline of 100ms exceeded after 7 tokens');
  });

  it('counts from startMs and aborts at once when already past', async () => {
    const clock = new VirtualClock({ startMs: 500 });
    const d = new Deadline(clock, 100, { startMs: 300 });
    expect(d.expired).toBe(true);
    expect(d.atMs).toBe(400);
  });

  it('Infinity keeps no timer; dispose cancels the timer', async () => {
    const clock = new VirtualClock();
    new Deadline(clock, Number.POSITIVE_INFINITY);
    expect(clock.pendingTimers).toBe(0);
    const d = new Deadline(clock, 10);
    d.dispose();
    await clock.runUntilIdle();
    expect(d.signal.aborted).toBe(false);
  });
});

describe('IdleTimeout', () => {
  it('resets on each touch and fires after idleMs of silence', async () => {
    const clock = new VirtualClock();
    const idle = new IdleTimeout(clock, 50);
    for (let i = 1; i <= 5; i++) {
      await clock.advanceBy(40);
      idle.touch(i);
    }
    expect(idle.signal.aborted).toBe(false);
    await clock.advanceBy(49);
    expect(idle.signal.aborted).toBe(false);
    await clock.advanceBy(1);
    expect(idle.signal.reason).toBeInstanceOf(IdleTimeoutError);
    expect((idle.signal.reason as Error).message).toBe('no token for 50ms after 5 tokens');
    expect(clock.now()).toBe(250);
  });

  it('does not fire while paused (the caller is slow, not the upstream), and counts idleMs again from resume', async () => {
    const clock = new VirtualClock();
    const idle = new IdleTimeout(clock, 50);
    await clock.advanceBy(30);
    idle.pause();
    await clock.advanceBy(500);
    expect(idle.signal.aborted).toBe(false);
    idle.resume();
    await clock.advanceBy(49);
    expect(idle.signal.aborted).toBe(false);
    await clock.advanceBy(1);
    expect(idle.signal.reason).toBeInstanceOf(IdleTimeoutError);
    expect(clock.now()).toBe(580);
  });

  it('keeps one timer however many touches', async () => {
    const clock = new VirtualClock();
    const idle = new IdleTimeout(clock, 50);
    for (let i = 0; i < 100; i++) idle.touch(i);
    expect(clock.pendingTimers).toBe(1);
    idle.dispose();
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('linkSignals', () => {
  it('follows the first abort with its reason and detaches on dispose', () => {
    const a = new AbortController();
    const b = new AbortController();
    const l = linkSignals([a.signal, undefined, b.signal]);
    b.abort(new Error('b'));
    expect((l.signal.reason as Error).message).toBe('b');
    const l2 = linkSignals([a.signal]);
    l2.dispose();
    a.abort(new Error('a'));
    expect(l2.signal.aborted).toBe(false);
  });

  it('is aborted at once when an input already is', () => {
    const a = new AbortController();
    a.abort(new Error('early'));
    expect((linkSignals([a.signal]).signal.reason as Error).message).toBe('early');
  });
});

describe('CancelScope and Abortable', () => {
  it('the deadline aborts live children with DeadlineExceededError, reporting progress', async () => {
    const clock = new VirtualClock();
    const progress = { delivered: 0 };
    const scope = new CancelScope(clock, 100, { startMs: 0, progress });
    const a = scope.child();
    const released = scope.child();
    scope.release(released);
    progress.delivered = 4;
    await clock.advanceBy(100);
    expect(scope.expired && !scope.cancelled).toBe(true);
    expect((a.signal.reason as Error).message).toBe('deadline of 100ms exceeded after 4 tokens');
    await expect(a.aborted).rejects.toBeInstanceOf(DeadlineExceededError);
    expect(released.isAborted).toBe(false);
    const late = scope.child();
    expect(late.isAborted && late.signal.aborted).toBe(true);
  });

  it("the caller's abort cancels the scope with the caller's reason; dispose detaches", async () => {
    const clock = new VirtualClock();
    const caller = new AbortController();
    const scope = new CancelScope(clock, Number.POSITIVE_INFINITY, { startMs: 0, caller: caller.signal });
    const a = scope.child();
    caller.abort(new Error('user left'));
    expect(scope.cancelled).toBe(true);
    expect(scope.reason?.message).toBe('user left');
    expect(a.signal.reason).toBe(scope.reason);
    const other = new AbortController();
    const s2 = new CancelScope(clock, 50, { startMs: 0, caller: other.signal });
    s2.dispose();
    other.abort();
    await clock.advanceBy(100);
    expect(s2.reason).toBeUndefined();
    expect(clock.pendingTimers).toBe(0);
  });

  it('Abortable makes its signal on demand, aborted if it already was', async () => {
    const x = new Abortable();
    const p = x.aborted;
    x.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
    expect(x.signal.aborted).toBe(true);
    expect((x.signal.reason as Error).message).toBe('stop');
  });
});
