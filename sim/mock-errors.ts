/**
 * The errors a mock model throws for injected statuses, carrying the headers a provider would send. Transports
 * send `headers` (lower-case names) as they are: `retry-after` (whole seconds, rounded up), `retry-after-ms`, and
 * for rate limits `x-ratelimit-*` (see sim/rate-limit.ts).
 */
import { withoutStack } from '../src/errors.js';
import { BadRequestError, OverloadedError, RateLimitedError, ServerError } from '../src/upstream/errors.js';

/** Refusals that are expected control flow (a rate limit, an injected status) are built without a stack. */
export { withoutStack };

/**
 * A 429 from the rate limiter or an injected fault, with the headers a provider sends (`headers`, lower-case
 * names): `retry-after`, `retry-after-ms` and, from the rate limiter, `x-ratelimit-*`. Transports send `headers`
 * as they are.
 */
export class MockRateLimitedError extends RateLimitedError {
  constructor(
    retryAfterMs: number | undefined,
    readonly headers: Readonly<Record<string, string>>,
    message: string,
  ) {
    super(retryAfterMs, message);
  }
}

/** A 503 with the headers to send (`retry-after`, `retry-after-ms` when a wait is known). */
export class MockOverloadedError extends OverloadedError {
  readonly headers: Readonly<Record<string, string>>;

  constructor(retryAfterMs: number | undefined, message: string) {
    super(retryAfterMs, message);
    this.headers = retryHeaders(retryAfterMs);
  }
}

/** `retry-after` and `retry-after-ms` for a wait, or nothing when none is known. */
export function retryHeaders(retryAfterMs: number | undefined): Record<string, string> {
  if (retryAfterMs === undefined) return {};
  const msInt = Math.ceil(retryAfterMs);
  return { 'retry-after': String(Math.ceil(msInt / 1000)), 'retry-after-ms': String(msInt) };
}

/** The typed error for an injected status: 429, 503, other 5xx, or a 4xx. */
export function injectedError(status: number, retryAfterMs: number | undefined, why: string): Error {
  return withoutStack(() => {
    if (status === 429) return new MockRateLimitedError(retryAfterMs, retryHeaders(retryAfterMs), `rate limited (429): ${why}`);
    if (status === 503) return new MockOverloadedError(retryAfterMs, `overloaded (503): ${why}`);
    if (status >= 500) return new ServerError(status, `server error (${status}): ${why}`);
    return new BadRequestError(`bad request (${status}): ${why}`, status);
  });
}
