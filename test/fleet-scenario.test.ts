import { describe, expect, it } from 'vitest';
import { validationMessage } from '../harness/scenario-testkit.js';
import { validateScenario } from '../harness/scenario.js';
import { fleetPhases, replicaFaultPlan } from '../harness/scenario-fleet.js';

const base = {
  name: 'small-fleet',
  description: 'a fleet',
  seed: 1,
  durationMs: 10_000,
  workload: { arrivals: { kind: 'poisson', ratePerSec: 5 }, mix: [{ name: 'chat', weight: 1, kind: 'single', promptTokens: 100, outputTokens: 20 }] },
  policies: ['bounded'],
  slo: { ttftMs: 2_000 },
};
const fleet = {
  deployments: {
    default: { profile: 'h100-llama3-8b', replicas: 4, price: 'gpu/h100-sxm', faults: { timeline: [{ replica: 'default/2', atMs: 1_000, durationMs: 2_000, fault: { brownoutMultiplier: 4 } }] } },
    fast: { profile: 'fallback', replicas: 1, fallback: 'default' },
  },
  routes: [{ name: 'priority', deployment: 'fast', when: { tenantId: 'premium' } }],
  defaultDeployment: 'default',
};
const withModel = (model: unknown): unknown => ({ ...base, model });
const message = validationMessage;

describe('scenario model.deployments', () => {
  it('accepts a fleet, and the single-model form stays valid', () => {
    expect(Object.keys(validateScenario(withModel(fleet)).model.deployments ?? {})).toEqual(['default', 'fast']);
    expect(validateScenario(withModel({ profile: 'h100-llama3-8b', faults: { serverError: { probability: 0.1 } } })).model.deployments).toBeUndefined();
  });

  it('names a route to an unknown deployment', () => {
    expect(message(withModel({ ...fleet, routes: [{ deployment: 'huge', when: {} }] }))).toBe(
      'scenario.model.routes[0].deployment: expected a deployment of model.deployments ("default", "fast"), got "huge"',
    );
  });

  it('names zero replicas', () => {
    expect(message(withModel({ ...fleet, deployments: { ...fleet.deployments, fast: { profile: 'fallback', replicas: 0 } } }))).toBe(
      'scenario.model.deployments.fast.replicas: expected a number >= 1, got 0',
    );
  });

  it('names a phase aimed at a replica that does not exist', () => {
    const bad = { ...fleet.deployments.default, faults: { timeline: [{ replica: 'default/4', atMs: 0, durationMs: 1, fault: { brownoutMultiplier: 2 } }] } };
    expect(message(withModel({ ...fleet, deployments: { ...fleet.deployments, default: bad } }))).toBe(
      'scenario.model.deployments.default.faults.timeline[0].replica: expected a replica that exists at the start (default/0 to default/3), got "default/4"',
    );
    const fleetTimeline = { timeline: [{ replica: 'fast/1', atMs: 0, durationMs: 1, fault: { brownoutMultiplier: 2 } }] };
    expect(message(withModel({ ...fleet, faults: fleetTimeline }))).toMatch(/^scenario\.model\.faults\.timeline\[0\]\.replica: expected a replica that exists at the start \(fast\/0 to fast\/0\)/);
    const elsewhere = { ...fleet.deployments.default, faults: { timeline: [{ replica: 'fast/0', atMs: 0, durationMs: 1, fault: { brownoutMultiplier: 2 } }] } };
    expect(message(withModel({ ...fleet, deployments: { ...fleet.deployments, default: elsewhere } }))).toMatch(/timeline\[0\]\.replica: expected a replica id <deployment>\/<index> of default, got "fast\/0"/);
  });

  it('names single-model fields that conflict with deployments', () => {
    expect(message(withModel({ ...fleet, profile: 'h100-llama3-8b' }))).toBe(
      'scenario.model.profile: expected no profile beside model.deployments (give each deployment its own), got "h100-llama3-8b"',
    );
    expect(message(withModel({ ...fleet, faults: { serverError: { probability: 0.1 } } }))).toMatch(/^scenario\.model\.faults\.serverError: expected only a timeline/);
    expect(message(withModel({ ...fleet, faults: { timeline: [{ atMs: 0, durationMs: 1, fault: { brownoutMultiplier: 2 } }] } }))).toMatch(
      /^scenario\.model\.faults\.timeline\[0\]: expected a phase naming its deployment or replica/,
    );
    expect(message(withModel({ profile: 'h100-llama3-8b', defaultDeployment: 'default' }))).toBe('scenario.model.defaultDeployment: expected no such field without model.deployments, got "default"');
  });

  it('names a missing default, a bad fallback and a fallback cycle', () => {
    expect(message(withModel({ deployments: fleet.deployments }))).toMatch(/^scenario\.model\.defaultDeployment: expected the deployment for requests no route matches/);
    expect(message(withModel({ ...fleet, defaultDeployment: 'nope' }))).toMatch(/^scenario\.model\.defaultDeployment: expected a deployment of model\.deployments/);
    const selfFallback = { ...fleet.deployments, fast: { profile: 'fallback', replicas: 1, fallback: 'fast' } };
    expect(message(withModel({ ...fleet, deployments: selfFallback }))).toMatch(/^scenario\.model\.deployments\.fast\.fallback: expected another deployment/);
    const cycle = { default: { ...fleet.deployments.default, fallback: 'fast' }, fast: fleet.deployments.fast };
    expect(message(withModel({ ...fleet, deployments: cycle }))).toBe(
      'scenario.model.deployments.default.fallback: expected a fallback chain that ends (no cycle), got "default → fast → default"',
    );
  });

  it('names bad profiles, prices, faults and autoscaling inside a deployment', () => {
    const d = (patch: object): unknown => withModel({ ...fleet, deployments: { ...fleet.deployments, fast: { ...fleet.deployments.fast, ...patch } } });
    expect(message(d({ profile: 'b200' }))).toMatch(/^scenario\.model\.deployments\.fast\.profile: expected one of /);
    expect(message(d({ price: { gpuHourUsd: -1 } }))).toMatch(/^scenario\.model\.deployments\.fast\.price\.gpuHourUsd: /);
    expect(message(d({ faults: { serverError: { probability: 3 } } }))).toMatch(/^scenario\.model\.deployments\.fast\.faults\.serverError\.probability: /);
    const scale = { minReplicas: 1, maxReplicas: 3, target: { utilization: 0.8 }, sustainMs: 5_000, coldStartMs: 120_000, scaleInIdleMs: 30_000 };
    expect(validateScenario(d({ autoscale: scale })).model.deployments?.fast?.autoscale?.maxReplicas).toBe(3);
    expect(message(d({ autoscale: { ...scale, maxReplicas: 0 } }))).toMatch(/^scenario\.model\.deployments\.fast\.autoscale\.maxReplicas: /);
    expect(message(d({ replicas: 4, autoscale: scale }))).toBe('scenario.model.deployments.fast.replicas: expected between autoscale.minReplicas and maxReplicas (1 to 3), got 4');
    expect(message(d({ autoscale: { ...scale, target: {} } }))).toMatch(/^scenario\.model\.deployments\.fast\.autoscale\.target: expected queueWaitMs or utilization/);
  });

  it('gives each replica the plain plan of the phases aimed at it', () => {
    const s = validateScenario(withModel({ ...fleet, faults: { timeline: [{ deployment: 'fast', name: 'fast down', atMs: 5, durationMs: 5, fault: { crash: { downtimeMs: 1 } } }] } }));
    expect(replicaFaultPlan(s.model, 'default', 2).timeline).toEqual([{ atMs: 1_000, durationMs: 2_000, fault: { brownoutMultiplier: 4 } }]);
    expect(replicaFaultPlan(s.model, 'default', 1)).toEqual({});
    expect(replicaFaultPlan(s.model, 'fast', 0).timeline).toEqual([{ name: 'fast down', atMs: 5, durationMs: 5, fault: { crash: { downtimeMs: 1 } } }]);
    expect(fleetPhases(s.model).map((p) => p.target)).toEqual(['default/2', 'fast']);
  });
});
