/**
 * A fleet scenario (`model.deployments`) run live: a mock process per deployment serving its replicas
 * (`sim --replicas N`), the engine with a fleet file generated from the scenario, and a crash phase aimed at one
 * replica set on that replica alone. Every request reaches one outcome, the crashed replica's port closes while the
 * others serve, and no process is left behind. The run is scaled (`--scale 0.5`, harness/run/scale-run.ts) as a
 * short live fleet-10k is: the result says so, the load generator kept up, and each deployment is priced at its own
 * price (a token price, a GPU-hour price). Short and bounded; waits are the run's own.
 */
import { describe, expect, it } from 'vitest';
import { fleetFileOf, fleetMockArgs, withFleet } from '../harness/run/live-fleet.js';
import type { ManagedProcess } from '../harness/run/processes.js';
import { runScenarioLive } from '../harness/run/run-scenario.js';
import { scaleScenarioRun } from '../harness/run/scale-run.js';
import { parseRunResult } from '../harness/report/schema.js';
import { serializeRunResult } from '../harness/report/serialize.js';
import { defineScenario } from '../harness/scenario.js';
import { parseFleetFile } from '../src/api/fleet-file.js';
import { alive } from './helpers/processes.js';

const scenario = defineScenario({
  name: 'live-fleet-tiny',
  description: 'short chats over two deployments; replica default/1 crashes at 500 ms',
  seed: 13,
  durationMs: 2_500,
  workload: {
    // Run at half of it (10 requests/s) below.
    arrivals: { kind: 'poisson', ratePerSec: 20 },
    mix: [{ name: 'chat', weight: 1, kind: 'single', promptTokens: { kind: 'uniform', min: 50, max: 200 }, outputTokens: { kind: 'uniform', min: 5, max: 20 } }],
  },
  model: {
    deployments: {
      default: { profile: 'h100-llama3-8b', replicas: 3, price: { inputPer1M: 0.2, outputPer1M: 0.6 } },
      fast: { profile: 'h100-llama3-8b', replicas: 1, price: { gpuHourUsd: 3 } },
    },
    routes: [{ name: 'longer', deployment: 'fast', when: { minPromptTokens: 150 } }],
    defaultDeployment: 'default',
    faults: { timeline: [{ name: 'crash', replica: 'default/1', atMs: 500, durationMs: 0, fault: { crash: { downtimeMs: 60_000, coldStartMs: 0 } } }] },
  },
  policies: ['resilient'],
  slo: { ttftMs: 5_000, e2eMs: 20_000 },
});

describe('a fleet scenario, live', () => {
  it('generates the mock command lines and a fleet file the service accepts', () => {
    const m = scenario.model as Parameters<typeof fleetFileOf>[0];
    const file = fleetFileOf(m, { default: ['http://127.0.0.1:9001', 'http://127.0.0.1:9002', 'http://127.0.0.1:9003'], fast: ['http://127.0.0.1:9101'] });
    const parsed = parseFleetFile(file);
    expect(parsed.config).toEqual({ deployments: { default: {}, fast: {} }, routes: [{ name: 'longer', deployment: 'fast', when: { minPromptTokens: 150 } }], defaultDeployment: 'default' });
    expect(fleetMockArgs({ profile: 'h100-llama3-8b', replicas: 3 }, 9001, 'primary', 13)).toEqual(['--port', '9001', '--replicas', '3', '--model', 'primary=h100-llama3-8b', '--seed', '13', '--supervise']);
    expect(withFleet(['--port', '1', '--upstream', 'http://x', '--open'], '{}')).toEqual(['--port', '1', '--fleet', '{}', '--open']);
  });

  it('runs over a mock process per deployment and the engine with --fleet; a crashed replica does not sink the run', { timeout: 180_000 }, async () => {
    const procs: ManagedProcess[] = [];
    const scaled = scaleScenarioRun(scenario, { scale: 0.5 });
    const result = await runScenarioLive({ scenario: scaled.scenario, scaling: scaled.scaling, onProcess: (p) => procs.push(p) });
    // Two mock processes (default×3, fast×1) and the engine, all stopped.
    expect(procs.map((p) => p.name).sort()).toEqual(['engine[resilient]', 'mock[default×3]', 'mock[fast×1]']);
    expect(procs.map((p) => p.pid ?? -1).filter(alive)).toEqual([]);
    // The phase aimed at default/1 crashed that replica alone, in its deployment's process; the fast one never crashed.
    const stderr = (name: string): string => procs.find((x) => x.name === name)?.stderrTail().join('\n') ?? '';
    expect(stderr('mock[default×3]')).toContain('crash fault on model primary of replica 1: its port is closed for 60000ms');
    expect(stderr('mock[default×3]')).not.toMatch(/of replica [02]/);
    expect(stderr('mock[fast×1]')).not.toContain('crash fault');
    const p = result.policies[0];
    if (p === undefined) throw new Error('one policy expected');
    const c = p.summary;
    expect(c.requests).toBeGreaterThan(5);
    expect(c.ok + c.degraded + c.failed + c.shed + c.timeout + c.cancelled).toBe(c.requests);
    // Two replicas of three keep the default deployment serving after the crash.
    expect(c.ok).toBeGreaterThanOrEqual(Math.ceil(c.requests * 0.8));
    // The per-replica section, sampled over the wire: every replica, its calls, and per-second series as long as the run's.
    const f = p.fleet;
    if (f === undefined) throw new Error('a fleet section expected');
    expect(f.replicas.map((r) => r.id)).toEqual(['default/0', 'default/1', 'default/2', 'fast/0']);
    expect(f.deployments.map((d) => [d.name, d.replicasStart])).toEqual([['default', 3], ['fast', 1]]);
    expect(f.replicas.reduce((n, r) => n + r.requests, 0)).toBeGreaterThan(0);
    expect(f.replicas.find((r) => r.id === 'default/0')?.busyGpuHours).toBeGreaterThan(0);
    expect(f.series.replicas['default/0']?.gpuUtilization).toHaveLength(p.series.arrivals.length);
    // After its crash default/1 answers nothing: its samples say it is out of service (ejected or down).
    expect(f.series.replicas['default/1']?.ejected.some((x) => x === 1)).toBe(true);
    expect(parseRunResult(serializeRunResult(result)).policies[0]?.fleet?.replicas).toHaveLength(4);

    // A scaled run says so, and the load generator's verdict is recorded with what it measured. Whether it kept up
    // depends on the machine (two CPU burners beside the suite can push any process's event-loop lag past 50 ms), so
    // the test checks the verdict agrees with its measurements rather than asserting this machine was quiet.
    expect(result.scenario.description).toContain('[scaled: run at 50% of its load (session arrival rate)');
    expect(result.scenario.config).toMatchObject({ workload: { arrivals: { ratePerSec: 10 } }, scaling: { loadScale: 0.5, scaled: 'session arrival rate' } });
    const gen = result.meta.loadGenerator;
    if (gen === undefined || gen === null) throw new Error('a load generator report expected');
    expect(gen.eventLoopLagP99Ms).toEqual(expect.any(Number));
    expect(gen.valid).toBe(gen.reasons.length === 0);
    // Each deployment priced at its own price, as in virtual mode: fast by its busy GPU-hours, default by its tokens.
    const dep = (name: string): (typeof f.deployments)[number] => f.deployments.find((d) => d.name === name) as (typeof f.deployments)[number];
    expect(dep('fast').requests).toBeGreaterThan(0);
    expect(dep('fast').costUsd).toBeCloseTo(dep('fast').busyGpuHours * 3, 6);
    expect(dep('default').costUsd).toBeGreaterThan(0);
    // The engine's bills name their deployment, so the run's dollars are priced per deployment (null otherwise).
    expect(c.cost.totalUsd).toBeGreaterThan(0);
    // The headline GPU utilization is the fleet's (every replica), not one replica's.
    const busy = f.replicas.reduce((n, r) => n + r.busyGpuHours, 0);
    const provisioned = f.replicas.reduce((n, r) => n + r.provisionedGpuHours, 0);
    expect(c.gpuUtilization).toBeCloseTo(busy / provisioned, 3);
  });
});
