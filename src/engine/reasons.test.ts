import { describe, expect, it } from 'vitest';
import { reasonOf, reasonOfCode } from './reasons.js';

const err = (code: string) => ({ code, message: code });

describe('reasonOf', () => {
  it('names every non-ok result by a stable snake_case code, and ok by none', () => {
    expect(reasonOf({ outcome: 'ok' })).toBeUndefined();
    expect(reasonOf({ outcome: 'failed', error: err('BREAKER_OPEN') })).toBe('breaker_open');
    expect(reasonOf({ outcome: 'failed', error: err('SERVER_ERROR') })).toBe('upstream_5xx');
    expect(reasonOf({ outcome: 'failed', error: err('STREAM_INTERRUPTED') })).toBe('stream_broken');
    expect(reasonOf({ outcome: 'failed', error: err('RATE_LIMITED') })).toBe('rate_limited');
    expect(reasonOf({ outcome: 'shed', error: err('RATE_LIMITED') })).toBe('shed_rate_limit');
    expect(reasonOf({ outcome: 'shed', error: err('QUEUE_FULL') })).toBe('shed_queue_full');
    expect(reasonOf({ outcome: 'shed', error: err('SHED_SLO') })).toBe('shed_slo');
    expect(reasonOf({ outcome: 'timeout', error: err('DEADLINE_EXCEEDED') })).toBe('deadline');
    expect(reasonOf({ outcome: 'timeout', error: err('EXPIRED_IN_QUEUE') })).toBe('deadline_in_queue');
    expect(reasonOf({ outcome: 'timeout' })).toBe('deadline');
    expect(reasonOf({ outcome: 'shed', error: err('DEADLINE_EXCEEDED') })).toBe('shed_expired');
    expect(reasonOf({ outcome: 'cancelled', error: err('DEADLINE_EXCEEDED') })).toBe('cancelled');
    expect(reasonOf({ outcome: 'failed', error: err('CONTEXT_LENGTH_EXCEEDED') })).toBe('context_length_exceeded');
  });

  it('names degraded answers by why they were degraded, a partial one by why its stream ended', () => {
    expect(reasonOf({ outcome: 'degraded', degraded: 'fallback' })).toBe('fallback');
    expect(reasonOf({ outcome: 'degraded', degraded: 'context-trimmed' })).toBe('context_trimmed');
    expect(reasonOf({ outcome: 'degraded', degraded: 'partial', error: err('IDLE_TIMEOUT') })).toBe('partial_idle_timeout');
    expect(reasonOf({ outcome: 'degraded', degraded: 'partial' })).toBe('partial_unknown');
  });

  it('turns an unknown code into snake_case', () => {
    expect(reasonOfCode('SOME-NEW Code')).toBe('some_new_code');
  });
});
