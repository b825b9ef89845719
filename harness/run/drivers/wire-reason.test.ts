import { describe, expect, it } from 'vitest';
import { wireReason } from './http-driver.js';

describe('wireReason: a reason code for an answer the engine did not explain (a target)', () => {
  it('uses the degraded reason, else the error code of the body, else the status, else the outcome', () => {
    expect(wireReason('degraded', 'fallback', undefined)).toBe('fallback');
    expect(wireReason('degraded', 'partial', 'stream error x')).toBe('partial');
    expect(wireReason('failed', undefined, 'HTTP 503 upstream_overloaded')).toBe('upstream_overloaded');
    expect(wireReason('failed', undefined, 'HTTP 502')).toBe('http_502');
    expect(wireReason('failed', undefined, 'ECONNRESET')).toBe('econnreset');
    expect(wireReason('cancelled', undefined, 'AbortError')).toBe('cancelled');
    expect(wireReason('timeout', undefined, undefined)).toBe('timeout');
  });
});
