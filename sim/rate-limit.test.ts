import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BadRequestError } from '../src/upstream/errors.js';
import { formatResetDuration, MockRateLimitedError, ProviderRateLimiter } from './rate-limit.js';

function limiter(input: ConstructorParameters<typeof ProviderRateLimiter>[0]) {
  let now = 0;
  const l = new ProviderRateLimiter(input, () => now);
  return { l, at: (ms: number) => (now = ms) };
}

function refusal(f: () => unknown): MockRateLimitedError {
  try {
    f();
  } catch (e) {
    if (e instanceof MockRateLimitedError) return e;
    throw e;
  }
  throw new Error('expected a 429');
}

describe('ProviderRateLimiter', () => {
  it('admits up to the RPM burst, then refuses with the exact wait and provider headers', () => {
    const { l } = limiter({ rpm: 60 });
    for (let i = 0; i < 60; i++) l.admit('k', 0);
    const e = refusal(() => l.admit('k', 0));
    expect(e.status).toBe(429);
    expect(e.retryAfterMs).toBe(1000); // 60 per minute: one more every second
    expect(e.headers).toMatchObject({
      'retry-after': '1',
      'retry-after-ms': '1000',
      'x-ratelimit-limit-requests': '60',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': '1m0s',
    });
  });

  it('retry-after-ms is honest: refused 1 ms before, admitted at it (property over limits and costs)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 100, max: 1_000_000 }),
        fc.array(fc.integer({ min: 1, max: 5_000 }), { minLength: 1, maxLength: 30 }),
        (rpm, tpm, costs) => {
          const { l, at } = limiter({ rpm, tpm });
          let now = 0;
          for (const raw of costs) {
            const cost = Math.min(raw, tpm);
            let wait = 0;
            try {
              l.admit('k', cost);
              continue;
            } catch (e) {
              if (!(e instanceof MockRateLimitedError)) throw e;
              wait = e.retryAfterMs as number;
              expect(Number(e.headers['retry-after-ms'])).toBe(wait);
              expect(Number(e.headers['retry-after'])).toBe(Math.ceil(wait / 1000));
            }
            expect(wait).toBeGreaterThan(0);
            if (wait > 1) {
              at(now + wait - 1);
              expect(() => l.admit('k', cost)).toThrow(MockRateLimitedError);
            }
            now += wait;
            at(now);
            l.admit('k', cost); // must not throw
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('TPM: the wait is for the tokens missing; remaining and reset headers follow the bucket', () => {
    const { l, at } = limiter({ tpm: 6000 });
    const h = l.admit('k', 4000);
    expect(h).toEqual({ 'x-ratelimit-limit-tokens': '6000', 'x-ratelimit-remaining-tokens': '2000', 'x-ratelimit-reset-tokens': '40s' });
    const e = refusal(() => l.admit('k', 3000));
    expect(e.retryAfterMs).toBe(10_000); // 1000 missing at 100 tokens/s
    at(10_000);
    expect(l.admit('k', 3000)['x-ratelimit-remaining-tokens']).toBe('0');
  });

  it('keeps buckets per key, with per-key overrides', () => {
    const { l } = limiter({ rpm: 1, keys: { vip: { rpm: 3 } } });
    l.admit('a', 0);
    expect(() => l.admit('a', 0)).toThrow(MockRateLimitedError);
    l.admit('b', 0);
    l.admit('vip', 0);
    l.admit('vip', 0);
    l.admit('vip', 0);
    expect(() => l.admit('vip', 0)).toThrow(MockRateLimitedError);
    l.admit(undefined, 0);
    expect(() => l.admit(undefined, 0)).toThrow(/key anonymous/);
  });

  it('a request larger than the TPM limit can never pass: a non-retryable error', () => {
    const { l } = limiter({ tpm: 100 });
    expect(() => l.admit('k', 101)).toThrow(BadRequestError);
  });

  it('validates its input naming the field', () => {
    expect(() => new ProviderRateLimiter({ rpm: -1 }, () => 0)).toThrow(/^rateLimits\.rpm: expected/);
    expect(() => new ProviderRateLimiter({ keys: { a: { tpm: 0 } } }, () => 0)).toThrow(/^rateLimits\.keys\.a\.tpm: expected/);
    expect(() => new ProviderRateLimiter({ rps: 1 } as never, () => 0)).toThrow(/^rateLimits\.rps: expected no such field/);
  });

  it('formats reset durations as OpenAI does', () => {
    expect(formatResetDuration(20)).toBe('20ms');
    expect(formatResetDuration(1500)).toBe('1.5s');
    expect(formatResetDuration(360_000)).toBe('6m0s');
    expect(formatResetDuration(3_723_000)).toBe('1h2m3s');
  });
});
