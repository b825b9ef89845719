import { describe, expect, it } from 'vitest';
import { validationMessage } from './scenario-testkit.js';
import { loadScenario } from './run/scenarios.js';
import { resolveScenarioPolicy, validateScenario } from './scenario.js';

const message = validationMessage;

describe('validateScenario', async () => {
  const good = JSON.parse(JSON.stringify(await loadScenario('steady-poisson'))) as Record<string, unknown>;
  const with_ = (patch: Record<string, unknown>): Record<string, unknown> => ({ ...good, ...patch });

  it('accepts a shipped scenario', () => {
    expect(validateScenario(good).name).toBe('steady-poisson');
  });

  it('names the bad field of the scenario itself', () => {
    expect(message(with_({ durationMs: -5 }))).toMatch(/^scenario\.durationMs: expected /);
    expect(message(with_({ name: 'Has Spaces' }))).toMatch(/^scenario\.name: expected /);
    expect(message(with_({ policies: ['naive', 'fancy'] }))).toMatch(/^scenario\.policies\[1\]/);
  });

  it('names the bad field inside a policy override, with the expected and given values', () => {
    const bad = with_({ policies: ['naive', { name: 'tight', preset: 'resilient', overrides: { retry: { maxAttempts: 0 } } }] });
    expect(message(bad)).toBe('scenario.policies[1].overrides.retry.maxAttempts: expected a number >= 1, got 0');
  });

  it('names bad fields in the workload and the fault plan', () => {
    expect(message(with_({ workload: { arrivals: { kind: 'poisson', ratePerSec: -1 }, mix: [] } }))).toMatch(/^scenario\.workload\./);
    expect(message(with_({ model: { faults: { disconnect: { probability: 2 } } } }))).toMatch(/^scenario\.model\.faults\.disconnect\.probability: /);
  });

  it('refuses two policies with one name', () => {
    expect(message(with_({ policies: ['naive', { name: 'naive', preset: 'bounded' }] }))).toBe(
      'scenario.policies[1]: expected a policy name not used before in this scenario, got "naive"',
    );
  });

  it('resolves a policy reference to the full validated Policy', () => {
    const p = resolveScenarioPolicy({ name: 'wide', preset: 'bounded', overrides: { concurrency: { limit: 32 } } });
    expect(p.concurrency.limit).toBe(32);
    expect(p.retry.jitter).toBe('full');
  });
});
