/**
 * Provider-style rate limits: a requests-per-minute and a tokens-per-minute bucket per API key, refilled
 * continuously, as OpenAI and Azure OpenAI describe theirs. A refused request gets a 429 whose `retry-after-ms`
 * is the exact wait until both buckets would admit it (rounded up to the ms), `retry-after` the same in whole
 * seconds (rounded up), and the `x-ratelimit-*` headers. Buckets are computed lazily from the clock: no timers.
 */
import { z } from 'zod';
import { BadRequestError } from '../src/upstream/errors.js';
import { parseOrThrow } from './distributions.js';
import { MockRateLimitedError, withoutStack } from './mock-errors.js';

export { MockRateLimitedError } from './mock-errors.js';

const limit = z.number().positive().max(1e12);
const limitsShape = {
  /** Requests per minute; unlimited when absent. */
  rpm: limit.optional(),
  /** Tokens per minute (prompt + max_tokens, as providers count at admission); unlimited when absent. */
  tpm: limit.optional(),
};

/** Rate limits as JSON: defaults for every key, and per-key overrides. */
export const providerLimitsSchema = z
  .object({ ...limitsShape, keys: z.record(z.string(), z.object(limitsShape).strict()).optional() })
  .strict();

/** Provider-style limits, e.g. `{ rpm: 60, tpm: 40000, keys: { "team-a": { rpm: 600 } } }`. */
export type ProviderLimitsInput = z.input<typeof providerLimitsSchema>;

/** The key used when a request carries none. */
export const ANONYMOUS_KEY = 'anonymous';

class Bucket {
  private tokens: number;
  private lastMs: number;
  readonly ratePerMs: number;
  /** `capacity` as the `x-ratelimit-limit-*` header says it (built once, not per response). */
  readonly limitText: string;

  constructor(readonly capacity: number, nowMs: number) {
    this.tokens = capacity;
    this.lastMs = nowMs;
    this.ratePerMs = capacity / 60_000;
    this.limitText = String(capacity);
  }

  level(nowMs: number): number {
    if (nowMs > this.lastMs) {
      this.tokens = Math.min(this.capacity, this.tokens + (nowMs - this.lastMs) * this.ratePerMs);
      this.lastMs = nowMs;
    }
    return this.tokens;
  }

  /** Whole ms until `cost` is available (0 when it is now). */
  waitMs(cost: number, nowMs: number): number {
    const missing = cost - this.level(nowMs);
    // A relative epsilon absorbs float error, so that at now + wait the bucket really admits the request.
    return missing <= 1e-9 * this.capacity ? 0 : Math.ceil(missing / this.ratePerMs - 1e-9);
  }

  take(cost: number): void {
    this.tokens -= cost;
  }

  /** Whole units left now (never negative). */
  remaining(nowMs: number): number {
    return Math.max(0, Math.floor(this.level(nowMs) + 1e-9));
  }

  /** Ms until the bucket is full again. */
  resetMs(nowMs: number): number {
    return Math.ceil((this.capacity - this.level(nowMs)) / this.ratePerMs);
  }
}

interface KeyState {
  readonly requests: Bucket | undefined;
  readonly tokens: Bucket | undefined;
}

/** OpenAI's duration format for `x-ratelimit-reset-*`: `20ms`, `1s`, `1.5s`, `6m0s`, `1h2m3s`. */
export function formatResetDuration(ms: number): string {
  if (ms < 1000) return `${Math.ceil(ms)}ms`;
  const totalS = ms / 1000;
  const h = Math.floor(totalS / 3600);
  const m = Math.floor((totalS - h * 3600) / 60);
  const s = Math.round((totalS - h * 3600 - m * 60) * 1000) / 1000;
  if (h > 0) return `${h}h${m}m${Math.floor(s)}s`;
  if (m > 0) return `${m}m${Math.floor(s)}s`;
  return `${s}s`;
}

/** Per-key RPM/TPM buckets. */
export class ProviderRateLimiter {
  private readonly limits: z.infer<typeof providerLimitsSchema>;
  private readonly keys = new Map<string, KeyState>();

  /** Validates `input`; an error names the field, e.g. `rateLimits.keys.team-a.rpm`. */
  constructor(input: ProviderLimitsInput, private readonly now: () => number) {
    this.limits = parseOrThrow(providerLimitsSchema, input, 'rateLimits');
  }

  /** True when no limit is configured at all (the limiter can be skipped). */
  get unlimited(): boolean {
    return this.limits.rpm === undefined && this.limits.tpm === undefined && Object.keys(this.limits.keys ?? {}).length === 0;
  }

  /**
   * Admits one request costing `tokens` tokens for `apiKey`, and returns the headers to send with the response;
   * or throws MockRateLimitedError (429) with the exact wait. A request larger than the TPM limit can never be
   * admitted: BadRequestError.
   */
  admit(apiKey: string | undefined, tokens: number): Record<string, string> {
    const key = apiKey ?? ANONYMOUS_KEY;
    const s = this.state(key);
    const nowMs = this.now();
    if (s.tokens !== undefined && tokens > s.tokens.capacity) {
      throw new BadRequestError(`request too large: expected at most ${s.tokens.capacity} tokens per minute for key ${key}, got a request of ${tokens}`, 429);
    }
    const waitReq = s.requests?.waitMs(1, nowMs) ?? 0;
    const waitTok = s.tokens?.waitMs(tokens, nowMs) ?? 0;
    const wait = Math.max(waitReq, waitTok);
    if (wait > 0) {
      const which = waitTok > waitReq ? 'tokens' : 'requests';
      const headers = this.headers(s, nowMs);
      headers['retry-after'] = String(Math.ceil(wait / 1000));
      headers['retry-after-ms'] = String(wait);
      // A refusal is expected control flow, often thousands a second: no stack trace is captured for it.
      throw withoutStack(() => new MockRateLimitedError(wait, headers, `rate limited (429): ${which} per minute exceeded for key ${key}`));
    }
    s.requests?.take(1);
    s.tokens?.take(tokens);
    return this.headers(s, nowMs);
  }

  private state(key: string): KeyState {
    let s = this.keys.get(key);
    if (s === undefined) {
      const own = this.limits.keys?.[key];
      const rpm = own?.rpm ?? this.limits.rpm;
      const tpm = own?.tpm ?? this.limits.tpm;
      const nowMs = this.now();
      s = { requests: rpm === undefined ? undefined : new Bucket(rpm, nowMs), tokens: tpm === undefined ? undefined : new Bucket(tpm, nowMs) };
      this.keys.set(key, s);
    }
    return s;
  }

  /** The `x-ratelimit-*` headers of both buckets now (constant names, so the object keeps one shape). */
  private headers(s: KeyState, nowMs: number): Record<string, string> {
    const h: Record<string, string> = {};
    const r = s.requests;
    if (r !== undefined) {
      h['x-ratelimit-limit-requests'] = r.limitText;
      h['x-ratelimit-remaining-requests'] = String(r.remaining(nowMs));
      h['x-ratelimit-reset-requests'] = formatResetDuration(r.resetMs(nowMs));
    }
    const t = s.tokens;
    if (t !== undefined) {
      h['x-ratelimit-limit-tokens'] = t.limitText;
      h['x-ratelimit-remaining-tokens'] = String(t.remaining(nowMs));
      h['x-ratelimit-reset-tokens'] = formatResetDuration(t.resetMs(nowMs));
    }
    return h;
  }
}
