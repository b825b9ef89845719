import { describe, expect, it } from 'vitest';
import fleet10k from '../../scenarios/fleet-10k.js';
import crashRecovery from '../../scenarios/crash-recovery.js';
import { runScenario } from './run-scenario-ref.js';
import { scaleScenarioRun } from './scale-run.js';

describe('scaleScenarioRun', () => {
  it('runs fleet-10k at a tenth of its sessions and keeps its fleet, timeline, policies and SLOs', () => {
    const { scenario, scaling } = scaleScenarioRun(fleet10k, { scale: 0.1 });
    expect(scenario.workload).toEqual({ ...fleet10k.workload, arrivals: { kind: 'burst', sessions: 1_000, withinMs: 60_000 } });
    expect(scenario.model).toBe(fleet10k.model);
    expect(scenario.policies).toBe(fleet10k.policies);
    expect(scenario.slo).toBe(fleet10k.slo);
    expect(scenario.durationMs).toBe(60_000);
    expect(scaling).toMatchObject({ loadScale: 0.1, scaled: 'burst session count', sessions: { scenario: 10_000, run: 1_000 }, burstCut: null, phasesAfterWindow: [] });
    expect(scenario.description).toContain('[scaled: run at 10% of its load (burst session count 10,000 -> 1,000)');
  });

  it('cuts a burst longer than a shorter --duration to the window at the same rate, and lists the phases past it', () => {
    const { scenario, scaling } = scaleScenarioRun(fleet10k, { scale: 0.1, durationMs: 30_000 });
    expect('arrivals' in scenario.workload && scenario.workload.arrivals).toEqual({ kind: 'burst', sessions: 500, withinMs: 30_000 });
    expect(scaling?.burstCut).toEqual({ scenarioMs: 60_000, runMs: 30_000 });
    expect(scaling?.sessions).toEqual({ scenario: 10_000, run: 500 });
    expect(scaling?.phasesAfterWindow).toEqual(['crash default/5 at 40 s']);
    expect(scenario.model).toBe(fleet10k.model);
  });

  it('scales an open-loop rate, and leaves a scenario it does not change alone', () => {
    const { scenario, scaling } = scaleScenarioRun(crashRecovery, { scale: 0.5 });
    const rate = (s: typeof scenario): unknown => ('arrivals' in s.workload && s.workload.arrivals.kind === 'poisson' ? s.workload.arrivals.ratePerSec : undefined);
    expect(rate(scenario)).toBe((rate(crashRecovery) as number) / 2);
    expect(scaling?.scaled).toBe('session arrival rate');
    expect(scaling?.sessions).toBeNull();
    // --duration alone changes no load here: not a scaled run.
    expect(scaleScenarioRun(crashRecovery, { durationMs: 10_000 })).toEqual({ scenario: crashRecovery, scaling: null });
    expect(scaleScenarioRun(fleet10k, {})).toEqual({ scenario: fleet10k, scaling: null });
  });

  it('refuses a scale outside (0, 1]', () => {
    expect(() => scaleScenarioRun(fleet10k, { scale: 0 })).toThrow('scale: expected a number in (0, 1], got 0');
    expect(() => scaleScenarioRun(fleet10k, { scale: 1.5 })).toThrow('scale: expected a number in (0, 1], got 1.5');
  });

  it('runScenario({ scale }) runs the scaled scenario and records it in the RunResult', { timeout: 120_000 }, async () => {
    const result = await runScenario('fleet-10k', { scale: 0.01, policies: ['p2c-ejection'] });
    expect(result.scenario.config).toMatchObject({ workload: { arrivals: { sessions: 100 } }, scaling: { loadScale: 0.01, sessions: { scenario: 10_000, run: 100 } } });
    expect(result.scenario.description).toContain('[scaled: run at 1% of its load');
    expect(result.policies[0]?.fleet?.replicas).toHaveLength(12);
    await expect(runScenario('fleet-10k', { scale: 2 })).rejects.toThrow(/options\.scale/);
  });
});
