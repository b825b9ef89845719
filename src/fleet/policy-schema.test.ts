import { describe, expect, it } from 'vitest';
import { ValidationError } from '../errors.js';
import { parsePolicy, preset, PRESET_NAMES, resolvePolicy, setPolicyField } from '../policy.js';
import { defaultFleetPolicy } from './policy-schema.js';

describe("the policy's fleet section", () => {
  it('defaults to power of two choices with Envoy-style ejection and no hedging', () => {
    expect(defaultFleetPolicy()).toEqual({
      balancer: { kind: 'power-of-two', boundedLoadFactor: 1.25 },
      ejection: {
        enabled: true,
        consecutive5xx: 5,
        consecutiveGatewayFailures: 5,
        successRate: { enabled: true, minRequests: 100, minReplicas: 5, stdevFactor: 1.9, intervalMs: 10_000 },
        baseEjectionMs: 30_000,
        maxEjectionMs: 300_000,
        maxEjectedPercent: 50,
      },
      hedging: { enabled: false, percentile: 0.95, minDelayMs: 50, maxDelayMs: 5000, windowSize: 200 },
    });
    expect(parsePolicy({}).fleet).toEqual(defaultFleetPolicy());
  });

  it('naive and bounded round-robin without ejection or hedging; resilient and adaptive use power-of-two with ejection', () => {
    const summary = Object.fromEntries(
      PRESET_NAMES.map((n) => {
        const f = preset(n).fleet;
        return [n, [f.balancer.kind, f.ejection.enabled, f.hedging.enabled]];
      }),
    );
    expect(summary).toEqual({
      naive: ['round-robin', false, false],
      bounded: ['round-robin', false, false],
      resilient: ['power-of-two', true, false],
      adaptive: ['power-of-two', true, false],
    });
  });

  it('takes overrides by nested object or dotted path, keeping the other defaults', () => {
    const p = resolvePolicy('resilient', { fleet: { balancer: { kind: 'affinity' }, hedging: { enabled: true } } });
    expect(p.fleet.balancer).toEqual({ kind: 'affinity', boundedLoadFactor: 1.25 });
    expect(p.fleet.hedging.enabled).toBe(true);
    expect(p.fleet.ejection.enabled).toBe(true);
    expect(setPolicyField(p, 'fleet.ejection.successRate.stdevFactor', 2.5).fleet.ejection.successRate.stdevFactor).toBe(2.5);
  });

  it('rejects a bad value naming its field', () => {
    const bad = (input: unknown): string => {
      try {
        parsePolicy(input);
      } catch (e) {
        expect(e).toBeInstanceOf(ValidationError);
        return (e as Error).message;
      }
      throw new Error('expected a ValidationError');
    };
    expect(bad({ fleet: { balancer: { kind: 'random' } } })).toBe(
      'fleet.balancer.kind: expected one of "round-robin" | "least-outstanding" | "power-of-two" | "affinity", got "random"',
    );
    expect(bad({ fleet: { ejection: { maxEjectedPercent: 150 } } })).toBe('fleet.ejection.maxEjectedPercent: expected a number <= 100, got 150');
    expect(bad({ fleet: { hedging: { percentile: 0 } } })).toBe('fleet.hedging.percentile: expected a number > 0, got 0');
    expect(bad({ fleet: { hedging: { minDelayMs: 900, maxDelayMs: 100 } } })).toBe('fleet.hedging.minDelayMs: expected a number <= fleet.hedging.maxDelayMs (100), got 900');
    expect(bad({ fleet: { ejection: { baseEjectionMs: 10, maxEjectionMs: 5 } } })).toContain('fleet.ejection.baseEjectionMs');
    expect(bad({ fleet: { balancer: { boundedLoadFactor: 0.5 } } })).toBe('fleet.balancer.boundedLoadFactor: expected a number >= 1, got 0.5');
    expect(bad({ fleet: { hedge: {} } })).toBe('fleet.hedge: expected no such field in fleet, got {}');
  });
});
