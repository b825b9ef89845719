import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ValidationError } from '../errors.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { RateLimiter, TokenBucket } from './rate-limiter.js';

describe('TokenBucket', () => {
  it('starts full, takes all-or-nothing, and refills exactly with time', async () => {
    const clock = new VirtualClock();
    const b = new TokenBucket(clock, { capacity: 10, refillPerSec: 2 });
    expect(b.level).toBe(10);
    expect(b.tryTake(7)).toBe(true);
    expect(b.tryTake(4)).toBe(false);
    expect(b.level).toBe(3); // a refusal takes nothing
    await clock.advanceBy(500);
    expect(b.level).toBe(4);
    await clock.advanceBy(60_000);
    expect(b.level).toBe(10); // never over capacity
  });

  it('msUntil is an honest wait: not a ms earlier, and enough at that time', async () => {
    const clock = new VirtualClock();
    const b = new TokenBucket(clock, { capacity: 5, refillPerSec: 3, initial: 0 });
    const wait = b.msUntil(2);
    expect(wait).toBe(667); // 2 tokens at 3/s = 666.67 ms, rounded up
    await clock.advanceBy(wait - 1);
    expect(b.tryTake(2)).toBe(false);
    await clock.advanceBy(1);
    expect(b.msUntil(2)).toBe(0);
    expect(b.tryTake(2)).toBe(true);
  });

  it('msUntil is Infinity when the request exceeds capacity or nothing refills', () => {
    const clock = new VirtualClock();
    expect(new TokenBucket(clock, { capacity: 5, refillPerSec: 1 }).msUntil(6)).toBe(Infinity);
    const dry = new TokenBucket(clock, { capacity: 5, refillPerSec: 0 });
    dry.tryTake(5);
    expect(dry.msUntil(1)).toBe(Infinity);
  });

  it('put refunds without passing capacity', () => {
    const b = new TokenBucket(new VirtualClock(), { capacity: 4, refillPerSec: 1 });
    b.tryTake(3);
    b.put(2);
    expect(b.level).toBe(3);
    b.put(10);
    expect(b.level).toBe(4);
  });

  it('validates options and amounts', () => {
    const clock = new VirtualClock();
    expect(() => new TokenBucket(clock, { capacity: 0, refillPerSec: 1 })).toThrow('capacity: expected a finite number > 0, got 0');
    expect(() => new TokenBucket(clock, { capacity: 1, refillPerSec: -1 })).toThrow(ValidationError);
    expect(() => new TokenBucket(clock, { capacity: 1, refillPerSec: 1 }).tryTake(-1)).toThrow('n: expected a finite number >= 0, got -1');
  });

  it('property: level stays within [0, capacity]; msUntil is honest', async () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant('take' as const), n: fc.double({ min: 0, max: 12, noNaN: true }) }),
      fc.record({ k: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 3000 }) }),
      fc.record({ k: fc.constant('wait' as const), n: fc.double({ min: 0.1, max: 10, noNaN: true }) }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.double({ min: 0.5, max: 10, noNaN: true }),
        fc.double({ min: 0.01, max: 5000, noNaN: true }),
        fc.array(op, { maxLength: 40 }),
        async (capacity, refillPerSec, ops) => {
          const clock = new VirtualClock();
          const b = new TokenBucket(clock, { capacity, refillPerSec });
          for (const o of ops) {
            if (o.k === 'take') {
              const before = b.level;
              const took = b.tryTake(o.n);
              expect(took).toBe(before + 1e-9 * Math.max(1, o.n) >= o.n);
            } else if (o.k === 'advance') {
              await clock.advanceBy(o.ms);
            } else {
              const w = b.msUntil(o.n);
              if (o.n > capacity + 1e-9 * o.n) expect(w).toBe(Infinity);
              else {
                await clock.advanceBy(w);
                expect(b.tryTake(o.n)).toBe(true);
              }
            }
            expect(b.level).toBeGreaterThanOrEqual(0);
            expect(b.level).toBeLessThanOrEqual(capacity);
          }
        },
      ),
      { seed: 31337, numRuns: 200, endOnFailure: true },
    );
  });
});

describe('RateLimiter', () => {
  it('limits global requests per minute and says how long to wait', async () => {
    const clock = new VirtualClock();
    const rl = new RateLimiter(clock, { requestsPerMinute: 3 });
    for (let i = 0; i < 3; i++) expect(rl.check(undefined, 100).allowed).toBe(true);
    const d = rl.check(undefined, 100);
    expect(d).toEqual({ allowed: false, retryAfterMs: 20_000, scope: 'global', limit: 'requests' });
    await clock.advanceBy(19_999);
    expect(rl.check(undefined, 1).allowed).toBe(false);
    await clock.advanceBy(1);
    expect(rl.check(undefined, 1).allowed).toBe(true);
  });

  it('limits tokens per minute and names the tokens limit', () => {
    const rl = new RateLimiter(new VirtualClock(), { requestsPerMinute: 1000, tokensPerMinute: 6000 });
    expect(rl.check(undefined, 5000).allowed).toBe(true);
    expect(rl.check(undefined, 2000)).toEqual({ allowed: false, retryAfterMs: 10_000, scope: 'global', limit: 'tokens' });
  });

  it('keeps per-key limits apart and checks all buckets atomically', () => {
    const rl = new RateLimiter(new VirtualClock(), { requestsPerMinute: 100, perKey: { requestsPerMinute: 2 } });
    expect(rl.check('a', 0).allowed).toBe(true);
    expect(rl.check('a', 0).allowed).toBe(true);
    const d = rl.check('a', 0);
    expect(d).toMatchObject({ allowed: false, scope: 'key', limit: 'requests', retryAfterMs: 30_000 });
    expect(rl.check('b', 0).allowed).toBe(true); // another tenant is unaffected
    // Refused requests took nothing from the global bucket: 97 more fit globally (3 taken).
    let allowed = 0;
    for (let i = 0; i < 200; i++) if (rl.check(`k${i}`, 0).allowed) allowed++;
    expect(allowed).toBe(97);
  });

  it('reports the limit that binds longest, so the retry-after covers every limit', async () => {
    const clock = new VirtualClock();
    const rl = new RateLimiter(clock, { requestsPerMinute: 60, tokensPerMinute: 600, perKey: { tokensPerMinute: 60 } });
    expect(rl.check('t', 60).allowed).toBe(true);
    const d = rl.check('t', 30);
    // key tokens: 30 at 1/s = 30 s; global requests: 1 at 1/s = 1 s. The key bound is the honest answer.
    expect(d).toEqual({ allowed: false, retryAfterMs: 30_000, scope: 'key', limit: 'tokens' });
    if (d.allowed) return;
    await clock.advanceBy(d.retryAfterMs);
    expect(rl.check('t', 30).allowed).toBe(true);
  });

  it('a request larger than a limit can never pass: retryAfterMs is Infinity', () => {
    const rl = new RateLimiter(new VirtualClock(), { tokensPerMinute: 1000 });
    expect(rl.check(undefined, 1001)).toMatchObject({ allowed: false, retryAfterMs: Infinity, limit: 'tokens' });
  });

  it('credit returns reserved tokens', () => {
    const rl = new RateLimiter(new VirtualClock(), { tokensPerMinute: 1000, perKey: { tokensPerMinute: 500 } });
    expect(rl.check('a', 500).allowed).toBe(true);
    expect(rl.check('a', 100).allowed).toBe(false);
    rl.credit('a', 300);
    expect(rl.check('a', 300).allowed).toBe(true);
  });

  it('forgets idle keys (full buckets) so memory stays bounded, without changing decisions', async () => {
    const clock = new VirtualClock();
    const rl = new RateLimiter(clock, { perKey: { requestsPerMinute: 1 } });
    for (let i = 0; i < 1024; i++) rl.check(`old${i}`, 0);
    expect(rl.check('busy', 0).allowed).toBe(true);
    await clock.advanceBy(30_000); // old keys half refilled: must be kept
    rl.check('x1', 0);
    expect(rl.trackedKeys).toBe(1026);
    await clock.advanceBy(60_000); // now all full
    for (let i = 0; i < 2100; i++) rl.check(`new${i}`, 0);
    expect(rl.trackedKeys).toBeLessThan(2200);
    expect(rl.check('new5', 0).allowed).toBe(false); // recent keys are remembered
  });

  it('validates options', () => {
    expect(() => new RateLimiter(new VirtualClock(), { perKey: { tokensPerMinute: 0 } })).toThrow(
      'perKey.tokensPerMinute: expected a finite number > 0, got 0',
    );
    expect(() => new RateLimiter(new VirtualClock(), {}).check(undefined, Number.NaN)).toThrow(ValidationError);
  });
});
