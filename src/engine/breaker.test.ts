import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { VirtualClock } from '../time/virtual-clock.js';
import { BreakerOpenError, CircuitBreaker, breakerFromPolicy, type BreakerStateChange, type BreakerTicket } from './breaker.js';
import { parsePolicy } from '../policy.js';

const consecutive = (clock: VirtualClock, failures = 3, halfOpenProbes = 2, openMs = 1000) =>
  new CircuitBreaker(clock, { rule: { kind: 'consecutive', failures }, openMs, halfOpenProbes });

function fail(b: CircuitBreaker, n: number): void {
  for (let i = 0; i < n; i++) b.tryAcquire()?.failure();
}

describe('CircuitBreaker', () => {
  it('trips after N consecutive failures; a success resets the count', () => {
    const clock = new VirtualClock();
    const b = consecutive(clock);
    fail(b, 2);
    b.tryAcquire()?.success();
    fail(b, 2);
    expect(b.state).toBe('closed');
    fail(b, 1);
    expect(b.state).toBe('open');
    expect(b.tryAcquire()).toBeUndefined();
    expect(b.retryAfterMs).toBe(1000);
  });

  it('open -> half-open after openMs; closes only after every probe succeeds; extra calls refused meanwhile', async () => {
    const clock = new VirtualClock();
    const b = consecutive(clock, 1, 2, 500);
    const changes: BreakerStateChange[] = [];
    b.onStateChange((c) => changes.push(c));
    fail(b, 1);
    await clock.advanceBy(499);
    expect(b.state).toBe('open');
    await clock.advanceBy(1);
    expect(b.state).toBe('half-open');
    const p1 = b.tryAcquire() as BreakerTicket;
    const p2 = b.tryAcquire() as BreakerTicket;
    expect(p1.probe && p2.probe).toBe(true);
    expect(b.tryAcquire()).toBeUndefined();
    p1.success();
    expect(b.state).toBe('half-open');
    p2.success();
    expect(b.state).toBe('closed');
    expect(changes.map((c) => `${c.from}->${c.to}:${c.reason}@${c.atMs}`)).toEqual([
      'closed->open:tripped@0',
      'open->half-open:open-elapsed@500',
      'half-open->closed:probes-succeeded@500',
    ]);
  });

  it('an opening says what the breaker had counted, by code: the window (ratio), the streak (consecutive), the probe', async () => {
    const clock = new VirtualClock();
    const ratio = new CircuitBreaker(clock, { rule: { kind: 'ratio', failureRatio: 0.5, minThroughput: 4, windowMs: 1000, buckets: 4 }, openMs: 100, halfOpenProbes: 1 });
    const changes: BreakerStateChange[] = [];
    ratio.onStateChange((c) => changes.push(c));
    ratio.tryAcquire()?.failure('STREAM_INTERRUPTED');
    await clock.advanceBy(2000); // out of the window: not counted at the trip
    ratio.tryAcquire()?.success();
    ratio.tryAcquire()?.failure('STREAM_INTERRUPTED');
    ratio.tryAcquire()?.success();
    ratio.tryAcquire()?.failure('CONNECTION_REFUSED');
    expect(changes[0]).toMatchObject({ to: 'open', reason: 'tripped', counted: { calls: 4, failures: 2, codes: { STREAM_INTERRUPTED: 1, CONNECTION_REFUSED: 1 } } });
    await clock.advanceBy(100);
    ratio.tryAcquire()?.failure();
    expect(changes.at(-1)).toMatchObject({ to: 'open', reason: 'probe-failed', counted: { calls: 1, failures: 1, codes: { unknown: 1 } } });

    const b = consecutive(clock, 2);
    const seen: BreakerStateChange[] = [];
    b.onStateChange((c) => seen.push(c));
    b.tryAcquire()?.failure('OVERLOADED');
    b.tryAcquire()?.success(); // resets the streak, and what it counted
    b.tryAcquire()?.failure('SERVER_ERROR');
    b.tryAcquire()?.failure('SERVER_ERROR');
    expect(seen[0]).toMatchObject({ to: 'open', reason: 'tripped', counted: { calls: 2, failures: 2, codes: { SERVER_ERROR: 2 } } });
    expect(seen[0]?.counted?.codes).not.toHaveProperty('OVERLOADED');
  });

  it('a failed probe reopens for a fresh openMs', async () => {
    const clock = new VirtualClock();
    const b = consecutive(clock, 1, 2, 500);
    fail(b, 1);
    await clock.advanceBy(600);
    const p = b.tryAcquire() as BreakerTicket;
    p.failure();
    expect(b.state).toBe('open');
    expect(b.retryAfterMs).toBe(500);
  });

  it('an ignored probe frees its slot; late reports from an older state are ignored', async () => {
    const clock = new VirtualClock();
    const b = consecutive(clock, 1, 1, 100);
    const slow = b.tryAcquire() as BreakerTicket;
    fail(b, 1);
    expect(b.state).toBe('open');
    slow.failure(); // started while closed: says nothing now
    await clock.advanceBy(100);
    const p = b.tryAcquire() as BreakerTicket;
    expect(b.tryAcquire()).toBeUndefined();
    p.ignore();
    const q = b.tryAcquire() as BreakerTicket;
    q.success();
    q.failure(); // second report of one ticket is a no-op
    expect(b.state).toBe('closed');
  });

  it('ratio rule: needs minThroughput in the window, then trips at the failure ratio', async () => {
    const clock = new VirtualClock();
    const b = new CircuitBreaker(clock, { rule: { kind: 'ratio', failureRatio: 0.5, minThroughput: 10, windowMs: 1000, buckets: 10 } });
    fail(b, 4);
    for (let i = 0; i < 5; i++) b.tryAcquire()?.success();
    expect(b.state).toBe('closed'); // 9 calls < 10
    fail(b, 1);
    expect(b.state).toBe('open'); // 5/10 failed
  });

  it('ratio rule: failures older than the window no longer count', async () => {
    const clock = new VirtualClock();
    const b = new CircuitBreaker(clock, { rule: { kind: 'ratio', failureRatio: 0.5, minThroughput: 4, windowMs: 1000, buckets: 10 } });
    fail(b, 3);
    await clock.advanceBy(1000);
    for (let i = 0; i < 3; i++) b.tryAcquire()?.success();
    fail(b, 1);
    expect(b.state).toBe('closed'); // 1/4 in the window
  });

  it('execute refuses with BreakerOpenError and classifies with isFailure', async () => {
    const clock = new VirtualClock();
    const b = consecutive(clock, 2);
    await expect(b.execute(() => Promise.reject(new Error('x')), () => false)).rejects.toThrow('x');
    await expect(b.execute(() => Promise.reject(new Error('x')), () => false)).rejects.toThrow('x');
    expect(b.state).toBe('closed');
    await expect(b.execute(() => Promise.reject(new Error('y')))).rejects.toThrow('y');
    await expect(b.execute(() => Promise.reject(new Error('y')))).rejects.toThrow('y');
    const e = await b.execute(() => Promise.resolve(1)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BreakerOpenError);
    expect((e as BreakerOpenError).message).toBe('circuit breaker open: expected a closed breaker, got open for 1000ms more');
    expect(b.counters).toMatchObject({ rejected: 1, failures: 2, opened: 1 });
  });

  it('builds from a policy', () => {
    expect(breakerFromPolicy(new VirtualClock(), parsePolicy({ breaker: { enabled: false } }).breaker)).toBeUndefined();
    expect(breakerFromPolicy(new VirtualClock(), parsePolicy({}).breaker)?.state).toBe('closed');
  });

  it('property: never goes open -> closed without halfOpenProbes successful probes in between', async () => {
    type Op = { t: 'acquire' } | { t: 'report'; i: number; r: 'success' | 'failure' | 'ignore' } | { t: 'advance'; ms: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      { arbitrary: fc.constant<Op>({ t: 'acquire' }), weight: 2 },
      { arbitrary: fc.record({ t: fc.constant('report' as const), i: fc.nat(3), r: fc.constantFrom('success' as const, 'success' as const, 'failure' as const, 'ignore' as const) }), weight: 3 },
      { arbitrary: fc.record({ t: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 400 }) }), weight: 1 },
    );
    let recoveries = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 20, maxLength: 200, size: 'max' }), fc.integer({ min: 1, max: 3 }), fc.boolean(), async (ops, probes, ratio) => {
        const clock = new VirtualClock();
        const b = new CircuitBreaker(clock, {
          rule: ratio ? { kind: 'ratio', failureRatio: 0.5, minThroughput: 3, windowMs: 500, buckets: 5 } : { kind: 'consecutive', failures: 2 },
          openMs: 300,
          halfOpenProbes: probes,
        });
        const tickets: BreakerTicket[] = [];
        let probeSuccessesSinceOpen = 0;
        let lastState = b.state;
        b.onStateChange((c) => {
          if (c.to === 'closed') {
            expect(c.from).toBe('half-open');
            expect(probeSuccessesSinceOpen).toBeGreaterThanOrEqual(probes);
            recoveries++;
          }
          if (c.to === 'open' || c.to === 'half-open') probeSuccessesSinceOpen = 0;
          lastState = c.to;
        });
        for (const o of ops) {
          if (o.t === 'acquire') {
            const k = b.tryAcquire();
            if (k) tickets.push(k);
            if (lastState === 'open') expect(k).toBeUndefined();
          } else if (o.t === 'report') {
            const k = tickets[tickets.length - 1 - o.i];
            if (!k) continue;
            const wasHalfOpen = b.state === 'half-open';
            if (o.r === 'success' && k.probe && wasHalfOpen) probeSuccessesSinceOpen++;
            k[o.r]();
          } else await clock.advanceBy(o.ms);
        }
      }),
      { numRuns: 200 },
    );
    expect(recoveries).toBeGreaterThan(0); // the generator does reach half-open -> closed
  });
});
