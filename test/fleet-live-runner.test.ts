/**
 * A fleet scenario (`model.deployments`) run live: a mock process per deployment serving its replicas
 * (`sim --replicas N`), the engine with a fleet file generated from the scenario, and a crash phase aimed at one
 * replica set on that replica alone. Every request reaches one outcome, the crashed replica's port closes while the
 * others serve, and no process is left behind. Short and bounded; waits are the run's own.
 */
import { describe, expect, it } from 'vitest';
import { fleetFileOf, fleetMockArgs, withFleet } from '../harness/run/live-fleet.js';
import type { ManagedProcess } from '../harness/run/processes.js';
import { runScenarioLive } from '../harness/run/run-scenario.js';
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
    arrivals: { kind: 'poisson', ratePerSec: 10 },
    mix: [{ name: 'chat', weight: 1, kind: 'single', promptTokens: { kind: 'uniform', min: 50, max: 200 }, outputTokens: { kind: 'uniform', min: 5, max: 20 } }],
  },
  model: {
    deployments: {
      default: { profile: 'h100-llama3-8b', replicas: 3 },
      fast: { profile: 'h100-llama3-8b', replicas: 1 },
    },
    routes: [{ name: 'batch', deployment: 'fast', when: { priority: 'batch' } }],
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
    expect(parsed.config).toEqual({ deployments: { default: {}, fast: {} }, routes: [{ name: 'batch', deployment: 'fast', when: { priority: 'batch' } }], defaultDeployment: 'default' });
    expect(fleetMockArgs({ profile: 'h100-llama3-8b', replicas: 3 }, 9001, 'primary', 13)).toEqual(['--port', '9001', '--replicas', '3', '--model', 'primary=h100-llama3-8b', '--seed', '13', '--supervise']);
    expect(withFleet(['--port', '1', '--upstream', 'http://x', '--open'], '{}')).toEqual(['--port', '1', '--fleet', '{}', '--open']);
  });

  it('runs over a mock process per deployment and the engine with --fleet; a crashed replica does not sink the run', { timeout: 180_000 }, async () => {
    const procs: ManagedProcess[] = [];
    const result = await runScenarioLive({ scenario, onProcess: (p) => procs.push(p) });
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
  });
});
