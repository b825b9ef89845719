import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.js';
import { BURST_1000_WORKLOAD, SHORT_CHAT } from './presets.js';
import { parseWorkload } from './spec.js';

const valid = () => ({
  arrivals: { kind: 'poisson', ratePerSec: 5 },
  mix: [
    { name: 'chat', weight: 3, kind: 'single', promptTokens: 100, outputTokens: { kind: 'uniform', min: 10, max: 50 } },
    { name: 'conv', weight: 1, kind: 'multi-turn', turns: 3, thinkTimeMs: 1000, userTokens: 50, outputTokens: 80 },
    {
      name: 'agent',
      weight: 1,
      kind: 'agent',
      planner: { promptTokens: 200, outputTokens: 50 },
      retrievers: 3,
      retriever: { inputTokens: 64, retrievedTokens: 300 },
      summarizer: { promptTokens: 100, outputTokens: 200 },
    },
  ],
});

function errorOf(input: unknown): string {
  try {
    parseWorkload(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).code).toBe('INVALID_VALUE');
    return (error as Error).message;
  }
  throw new Error('expected parseWorkload to throw');
}

describe('parseWorkload', () => {
  it('accepts a synthetic spec, the presets and a trace spec, unchanged', () => {
    expect(parseWorkload(valid())).toEqual(valid());
    expect(parseWorkload(BURST_1000_WORKLOAD)).toEqual(BURST_1000_WORKLOAD);
    expect(parseWorkload({ trace: { path: 'x.csv', speedup: 4, startMs: 1000, durationMs: 60_000 } })).toEqual({
      trace: { path: 'x.csv', speedup: 4, startMs: 1000, durationMs: 60_000 },
    });
  });

  it('names the field path, the expectation and the value', () => {
    const negativeWeight = valid();
    (negativeWeight.mix[2] as { weight: number }).weight = -1;
    expect(errorOf(negativeWeight)).toBe('workload.mix[2].weight: expected a number >= 0, got -1');

    expect(errorOf({ ...valid(), arrivals: { kind: 'poison', ratePerSec: 5 } })).toBe(
      'workload.arrivals.kind: expected one of "constant" | "poisson" | "gamma" | "ramp" | "spike" | "burst" | "users", got "poison"',
    );
    expect(errorOf({ ...valid(), arrivals: { kind: 'gamma', ratePerSec: 5 } })).toBe('workload.arrivals.cv: expected a number, got undefined');
    expect(errorOf({ ...valid(), arrivals: { kind: 'poisson', ratePerSec: 0 } })).toBe('workload.arrivals.ratePerSec: expected a number > 0, got 0');
    expect(errorOf({ ...valid(), arrivals: { kind: 'burst', sessions: 10.5, withinMs: 100 } })).toBe(
      'workload.arrivals.sessions: expected an integer, got 10.5',
    );
    expect(errorOf({ ...valid(), repeatFraction: 1.5 })).toBe('workload.repeatFraction: expected a number <= 1, got 1.5');
    expect(errorOf({ ...valid(), mix: [] })).toBe('workload.mix: expected at least 1 item, got an array of 0');
    expect(errorOf({ ...valid(), mix: [{ ...SHORT_CHAT, weight: 0 }] })).toBe('workload.mix: expected at least one weight > 0, got an array of 1');
    expect(errorOf({ ...valid(), arivals: 1 })).toBe('workload.arivals: expected no such field (check the spelling), got 1');
    expect(errorOf(42)).toBe('workload: expected an object, got 42');
  });

  it('reports errors inside distributions and nested objects', () => {
    const badDist = valid();
    (badDist.mix[0] as Record<string, unknown>).promptTokens = { kind: 'lognormal', median: -5, sigma: 1 };
    expect(errorOf(badDist)).toBe('workload.mix[0].promptTokens.median: expected a number > 0, got -5');

    const wrongType = valid();
    (wrongType.mix[0] as Record<string, unknown>).promptTokens = 'lots';
    expect(errorOf(wrongType)).toBe('workload.mix[0].promptTokens: expected a number or an object, got "lots"');

    const badKind = valid();
    (badKind.mix[1] as Record<string, unknown>).thinkTimeMs = { kind: 'weibull', scale: 3 };
    expect(errorOf(badKind)).toMatch(/^workload\.mix\[1\]\.thinkTimeMs\.kind: expected one of "bounded" \| "constant" .* got "weibull"$/);

    const badUniform = valid();
    (badUniform.mix[0] as Record<string, unknown>).outputTokens = { kind: 'uniform', min: 50, max: 10 };
    expect(errorOf(badUniform)).toBe('workload.mix[0].outputTokens.max: expected max >= min, got 10');

    const badAgent = valid();
    (badAgent.mix[2] as { retriever: Record<string, unknown> }).retriever.inputTokens = -1;
    expect(errorOf(badAgent)).toBe('workload.mix[2].retriever.inputTokens: expected a number >= 0, got -1');

    expect(errorOf({ ...valid(), mix: [{ ...SHORT_CHAT, kind: 'solo' }] })).toBe(
      'workload.mix[0].kind: expected one of "single" | "multi-turn" | "agent", got "solo"',
    );
    expect(errorOf({ ...valid(), mix: [{ ...SHORT_CHAT, priority: 'urgent' }] })).toBe(
      'workload.mix[0].priority: expected one of "interactive" | "batch", got "urgent"',
    );
  });

  it('validates trace specs', () => {
    expect(errorOf({ trace: { path: 'x.csv', speedup: 0 } })).toBe('workload.trace.speedup: expected a number > 0, got 0');
    expect(errorOf({ trace: { path: '' } })).toBe('workload.trace.path: expected a non-empty string, got ""');
    expect(errorOf({ trace: { path: 'x.csv', window: 3 } })).toBe('workload.trace.window: expected no such field (check the spelling), got 3');
    expect(errorOf({ trace: 'x.csv' })).toBe('workload.trace: expected an object, got "x.csv"');
  });

  it('uses the given root name', () => {
    expect(() => parseWorkload({ trace: { path: 'x', speedup: -1 } }, 'scenario.workload')).toThrow(
      'scenario.workload.trace.speedup: expected a number > 0, got -1',
    );
  });
});
