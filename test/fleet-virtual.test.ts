import { describe, expect, it } from 'vitest';
import type { AttemptBill } from '../harness/measure/billing.js';
import type { RequestObservation } from '../harness/measure/types.js';
import { renderHtml } from '../harness/report/html.js';
import { renderMarkdown } from '../harness/report/markdown.js';
import type { RunResult } from '../harness/report/schema.js';
import { serializeRunResult } from '../harness/report/serialize.js';
import { runScenarioVirtual } from '../harness/run/run-scenario.js';
import { runPolicyVirtual } from '../harness/run/virtual.js';
import { validateScenario, type Scenario, type ScenarioPolicy } from '../harness/scenario.js';
import { buildFleetWorld } from '../harness/run/fleet-world.js';
import { InProcessModelClient } from '../sim/in-process.js';
import type { MockModel } from '../sim/mock-model.js';
import { resolvePolicy } from '../src/policy.js';
import { Random } from '../src/random.js';
import { VirtualClock } from '../src/time/virtual-clock.js';

/** Three replicas of a small-slot H100 profile (so waiting queues form), multi-turn chat sessions. */
function fleetScenario(model: object, policies: ScenarioPolicy[], ratePerSec = 12): Scenario {
  return validateScenario({
    name: 'small-fleet',
    description: 'three replicas of one deployment',
    seed: 5,
    durationMs: 8_000,
    workload: {
      arrivals: { kind: 'poisson', ratePerSec },
      mix: [{ name: 'chat', weight: 1, kind: 'multi-turn', turns: { kind: 'uniform', min: 2, max: 4 }, thinkTimeMs: 400, userTokens: 200, outputTokens: 120, systemPromptTokens: 100 }],
    },
    model: { deployments: { default: { profile: { base: 'h100-llama3-8b', maxNumSeqs: 8 }, replicas: 3, price: 'gpu/h100-sxm' } }, ...model },
    policies,
    slo: { ttftMs: 2_000 },
  });
}

const brownout = { faults: { timeline: [{ name: 'brownout', replica: 'default/1', atMs: 1_000, durationMs: 7_000, fault: { brownoutMultiplier: 4 } }] } };
const roundRobin: ScenarioPolicy = { name: 'round-robin', preset: 'resilient', overrides: { fleet: { balancer: { kind: 'round-robin' }, ejection: { enabled: false } } } };

/** Runs one policy, keeping every request's bills. */
async function runWithBills(scenario: Scenario, policy: ScenarioPolicy) {
  const obs: RequestObservation[] = [];
  const run = await runPolicyVirtual({ scenario, policy, seed: scenario.seed, durationMs: scenario.durationMs, onRequest: (o) => obs.push(o) });
  return { run, obs };
}

const sessionOf = (id: string): string => id.slice(0, id.lastIndexOf('/'));
const sum = (xs: ReadonlyArray<number | null>): number => xs.reduce<number>((s, x) => s + (x ?? 0), 0);

describe('fleet scenarios in virtual mode', () => {
  it('give the replicas of a deployment one answer per request id, so a resume on another replica continues byte for byte', async () => {
    const s = fleetScenario({ deployments: { default: { profile: 'h100-llama3-8b', replicas: 2 }, other: { profile: 'h100-llama3-8b', replicas: 1 } }, defaultDeployment: 'default' }, [roundRobin]);
    const clock = new VirtualClock();
    const world = buildFleetWorld(s, resolvePolicy('resilient'), clock, new Random(s.seed), (m) => new InProcessModelClient(m));
    /** The text a replica streams for request `s1/t0`: from token `resumeFrom`, up to `upTo` tokens. */
    const text = async (model: MockModel, resumeFrom?: number, upTo = Infinity): Promise<string> => {
      let out = '';
      let n = 0;
      const req = { id: 's1/t0', model: model.name, promptTokens: 50, outputTokens: 40, maxTokens: 40 };
      for await (const e of new InProcessModelClient(model).stream(req, resumeFrom === undefined ? {} : { resumeFrom })) {
        if (e.type !== 'tokens' || n >= upTo) continue;
        expect(n + e.count).toBeLessThanOrEqual(upTo === Infinity ? Infinity : upTo);
        out += e.text;
        n += e.count;
      }
      return out;
    };
    const [a, b, c] = world.models as [MockModel, MockModel, MockModel];
    const whole = await clock.run(text(a), 'replica 0');
    expect(whole.length).toBeGreaterThan(0);
    expect(await clock.run(text(b), 'replica 1')).toBe(whole);
    // The first 10 tokens came from replica 0; replica 1 continues from there.
    const head = await clock.run(text(a, undefined, 10), 'head');
    expect(head + (await clock.run(text(b, 10), 'resume'))).toBe(whole);
    // Another deployment (another model) writes another answer.
    expect(await clock.run(text(c), 'other deployment')).not.toBe(whole);
    world.close();
  });

  it('are byte-identical across two runs (meta aside)', async () => {
    const s = fleetScenario(brownout, [roundRobin, { name: 'p2c', preset: 'resilient', overrides: { fleet: { balancer: { kind: 'power-of-two' } } } }]);
    let last: RunResult | undefined;
    const text = async (): Promise<string> => {
      const r = await runScenarioVirtual({ scenario: s });
      last = r;
      return serializeRunResult({ ...r, meta: { ...r.meta, wallMs: 0, startedAt: '2026-01-01T00:00:00.000Z' } });
    };
    const a = await text();
    expect(await text()).toBe(a);
    expect(a).toContain('"fleet"');
    // The reports' per-replica sections: tables in Markdown, tables and charts per policy in HTML.
    const md = renderMarkdown(last!);
    expect(md).toContain('### Deployments and replicas');
    expect(md).toMatch(/\| default\/1 \| \d+ \|/);
    expect(md).toContain('brownoutMultiplier on default/1');
    const html = renderHtml(last!);
    for (const id of ['fleet-0-gpuUtilization', 'fleet-0-waiting', 'fleet-1-waiting', 'fleet-1-outstanding']) expect(html).toContain(`data-chart="${id}"`);
  }, 120_000);

  it('record per-replica series, and under round-robin the browned-out replica queues more than the others', async () => {
    const { run } = await runWithBills(fleetScenario(brownout, [roundRobin]), roundRobin);
    const f = run.result.fleet!;
    const n = run.result.series.arrivals.length;
    expect(Object.keys(f.series.replicas)).toEqual(['default/0', 'default/1', 'default/2']);
    for (const r of Object.values(f.series.replicas)) {
      for (const k of ['gpuUtilization', 'waiting', 'running', 'outstanding', 'ejected'] as const) expect(r[k]).toHaveLength(n);
    }
    const waiting = (id: string): number => sum(f.series.replicas[id]!.waiting);
    const outstanding = (id: string): number => sum(f.series.replicas[id]!.outstanding);
    // Round-robin keeps sending it a third of the calls while it serves at a quarter of the speed.
    expect(waiting('default/1')).toBeGreaterThan(waiting('default/0'));
    expect(waiting('default/1')).toBeGreaterThan(waiting('default/2'));
    expect(outstanding('default/1')).toBeGreaterThan(outstanding('default/0') + outstanding('default/2'));
    const rows = Object.fromEntries(f.replicas.map((r) => [r.id, r]));
    expect(rows['default/1']!.queueMean!).toBeGreaterThan(rows['default/0']!.queueMean!);
    // Round-robin: equal shares of calls, whatever each replica's state.
    expect(Math.max(...f.replicas.map((r) => r.requests)) - Math.min(...f.replicas.map((r) => r.requests))).toBeLessThanOrEqual(1);
    expect(f.deployments[0]).toMatchObject({ name: 'default', replicasStart: 3, replicasEnd: 3 });
    expect(f.deployments[0]!.costUsd).toBeGreaterThan(0);
    expect(run.result.summary.cost.gpuHours).toBeCloseTo(f.deployments[0]!.busyGpuHours, 5);
  }, 120_000);

  it('affinity keeps a session on one replica until that replica is ejected', async () => {
    const affinity: ScenarioPolicy = {
      name: 'affinity',
      preset: 'resilient',
      // No spill to the next replica on load, so a move can only come from an ejection.
      overrides: { fleet: { balancer: { kind: 'affinity', boundedLoadFactor: 100 }, ejection: { consecutiveGatewayFailures: 2, baseEjectionMs: 60_000 } } },
    };
    const crash = { faults: { timeline: [{ name: 'crash', replica: 'default/2', atMs: 4_000, durationMs: 4_000, fault: { crash: { downtimeMs: 60_000 } } }] } };
    const { run, obs } = await runWithBills(fleetScenario(crash, [affinity], 8), affinity);
    const ejected = new Map(run.result.fleet!.events.filter((e) => e.type === 'ejected').map((e) => [e.replica, e.atMs]));
    expect([...ejected.keys()]).toEqual(['default/2']);
    const bills = new Map<string, AttemptBill[]>();
    for (const o of obs) for (const b of o.bills ?? []) bills.set(sessionOf(o.id), [...(bills.get(sessionOf(o.id)) ?? []), b]);
    let sessions = 0;
    let moved = 0;
    for (const list of bills.values()) {
      const sorted = [...list].sort((a, b) => a.startMs - b.startMs);
      sessions++;
      for (let i = 1; i < sorted.length; i++) {
        const from = sorted[i - 1]!.replica!;
        if (sorted[i]!.replica === from) continue;
        moved++;
        // A session leaves its replica only once that replica has been ejected.
        expect(ejected.get(from), `session moved off ${from} at ${sorted[i]!.startMs} ms`).toBeDefined();
        expect(sorted[i]!.startMs).toBeGreaterThanOrEqual(ejected.get(from)!);
      }
    }
    expect(sessions).toBeGreaterThan(30);
    expect(moved).toBeGreaterThan(0);
  }, 120_000);

  it('autoscaling pays the cold start: a new replica gets no call before it, and its GPU-hours include it', async () => {
    const coldStartMs = 3_000;
    const s = fleetScenario(
      {
        deployments: {
          default: {
            profile: { base: 'h100-llama3-8b', maxNumSeqs: 8 },
            replicas: 1,
            autoscale: { minReplicas: 1, maxReplicas: 2, target: { queueWaitMs: 100 }, sustainMs: 1_000, coldStartMs, scaleInIdleMs: 60_000 },
          },
        },
      },
      [roundRobin],
    );
    const { run, obs } = await runWithBills(s, roundRobin);
    const f = run.result.fleet!;
    const provisioned = f.events.find((e) => e.type === 'provisioned' && e.replica === 'default/1');
    const joined = f.events.find((e) => e.type === 'joined' && e.replica === 'default/1');
    expect(provisioned).toBeDefined();
    expect(joined!.atMs - provisioned!.atMs).toBe(coldStartMs);
    const first = Math.min(...obs.flatMap((o) => (o.bills ?? []).filter((b) => b.replica === 'default/1').map((b) => b.startMs)));
    expect(first).toBeGreaterThanOrEqual(joined!.atMs);
    const row = f.replicas.find((r) => r.id === 'default/1')!;
    expect(row.requests).toBeGreaterThan(0);
    // Provisioned from the scale-out decision: the cold start is paid for, idle, before any work.
    expect(row.provisionedAtMs).toBe(provisioned!.atMs);
    expect(row.provisionedGpuHours * 3_600_000).toBeGreaterThanOrEqual(run.simulatedMs - provisioned!.atMs - 1);
    expect(row.provisionedGpuHours - row.busyGpuHours).toBeGreaterThanOrEqual(coldStartMs / 3_600_000);
    expect(f.series.replicaCount.default!.slice(0, 2)).toEqual([1, 1]);
    expect(Math.max(...f.series.replicaCount.default!)).toBe(2);
  }, 120_000);
});
