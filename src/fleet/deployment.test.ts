import { describe, expect, it } from 'vitest';
import { Random } from '../random.js';
import { VirtualClock } from '../time/virtual-clock.js';
import type { ModelClient, StreamOptions } from '../upstream/model-client.js';
import { FakeModel, expectedText } from '../engine/testing/fake-model.js';
import { buildFleet } from './build.js';
import { ReplicaDeployment } from './deployment.js';
import { fleetPolicySchema } from './policy-schema.js';
import { drain, textOf } from './testing.js';
import type { FleetEvent } from './types.js';

const roundRobin = fleetPolicySchema.parse({ balancer: { kind: 'round-robin' }, ejection: { enabled: false } });

function deployment(n: number, clock = new VirtualClock()) {
  const clients = Array.from({ length: n }, () => new FakeModel(clock, () => ({ tokens: 3 })));
  const d = new ReplicaDeployment({ name: 'd', clock, random: new Random(1), policy: roundRobin, replicas: clients.map((client, i) => ({ id: `d/${i}`, client })) });
  return { clock, d, clients };
}

describe('a deployment', () => {
  it('sends calls to its replicas in turn (round-robin) and streams each answer whole', async () => {
    const { clock, d, clients } = deployment(3);
    for (let i = 0; i < 7; i++) {
      const events = await clock.run(drain(d.stream({ id: `r${i}`, model: 'm' })));
      expect(textOf(events)).toBe(expectedText(`r${i}`, 3));
      expect(events.at(-1)?.type).toBe('done');
    }
    expect(clients.map((c) => c.calls.map((x) => x.id))).toEqual([['r0', 'r3', 'r6'], ['r1', 'r4'], ['r2', 'r5']]);
    expect(d.states().map((s) => [s.id, s.calls, s.outstanding, s.failures])).toEqual([['d/0', 3, 0, 0], ['d/1', 2, 0, 0], ['d/2', 2, 0, 0]]);
  });

  it('passes resumeFrom, resumeText and the signal through to the replica', async () => {
    const clock = new VirtualClock();
    const seen: StreamOptions[] = [];
    const inner = new FakeModel(clock, () => ({ tokens: 5 }));
    const spy: ModelClient = { capabilities: inner.capabilities, stream: (r, o) => (seen.push(o ?? {}), inner.stream(r, o)), embed: (r, o) => inner.embed(r, o) };
    const d = new ReplicaDeployment({ name: 'd', clock, random: new Random(1), policy: roundRobin, replicas: [{ id: 'd/0', client: spy }] });
    const ac = new AbortController();
    const events = await clock.run(drain(d.stream({ id: 'x', model: 'm' }, { resumeFrom: 2, resumeText: 'x#0 x#1 ', signal: ac.signal })));
    expect(seen[0]).toMatchObject({ resumeFrom: 2, resumeText: 'x#0 x#1 ', signal: ac.signal });
    expect(events[0]).toMatchObject({ type: 'tokens', index: 2 });
    // Aborting the caller's signal ends the replica's call.
    const late = new AbortController();
    const run = clock.run(drain(d.stream({ id: 'y', model: 'm' }, { signal: late.signal })));
    late.abort();
    await expect(run).rejects.toThrow();
    expect(inner.callsFor('y')[0]?.aborted).toBe(true);
    expect(d.states()[0]?.outstanding).toBe(0);
  });

  it('has the capabilities every replica has', () => {
    const clock = new VirtualClock();
    const a = new FakeModel(clock);
    const b = new FakeModel(clock);
    a.capabilities = { continuation: true, reproducible: true, batchPrompts: true };
    b.capabilities = { continuation: true, reproducible: false, batchPrompts: true };
    const d = new ReplicaDeployment({ name: 'd', clock, random: new Random(1), policy: roundRobin, replicas: [{ id: 'a', client: a }] });
    expect(d.capabilities).toEqual({ continuation: true, reproducible: true, batchPrompts: true });
    d.addReplica({ id: 'b', client: b });
    expect(d.capabilities).toEqual({ continuation: true, reproducible: false, batchPrompts: true });
    d.removeReplica('a');
    expect(d.capabilities).toEqual({ continuation: true, reproducible: false, batchPrompts: true });
    d.removeReplica('b');
    expect(d.capabilities).toEqual({ continuation: false, reproducible: false });
  });

  it('adds and removes replicas while it runs: a removed replica gets no new call, its call in flight finishes', async () => {
    const { clock, d, clients } = deployment(2);
    const events: FleetEvent[] = [];
    d.onEvent((e) => events.push(e));
    const inFlight = drain(d.stream({ id: 'a', model: 'm' }));
    await clock.advanceBy(1);
    expect(d.states().map((s) => s.outstanding)).toEqual([1, 0]);
    d.removeReplica('d/0');
    const extra = new FakeModel(clock, () => ({ tokens: 3 }));
    d.addReplica({ id: 'd/2', client: extra });
    expect(textOf(await clock.run(inFlight))).toBe(expectedText('a', 3));
    for (const id of ['b', 'c', 'e']) await clock.run(drain(d.stream({ id, model: 'm' })));
    expect(clients[0]?.calls.map((c) => c.id)).toEqual(['a']);
    expect([...(clients[1]?.calls ?? []), ...extra.calls].map((c) => c.id).sort()).toEqual(['b', 'c', 'e']);
    expect(d.states().map((s) => s.id)).toEqual(['d/1', 'd/2']);
    expect(events.map((e) => e.type)).toEqual(['replica-removed', 'replica-added']);
  });

  it('fails with a 503 when it has no replica', async () => {
    const clock = new VirtualClock();
    const d = new ReplicaDeployment({ name: 'empty', clock, random: new Random(1), policy: roundRobin });
    await expect(clock.run(drain(d.stream({ id: 'x', model: 'm' })))).rejects.toThrow('deployment "empty" has no replica in service (503)');
    await expect(d.embed({ id: 'e', model: 'm', inputs: ['a'] })).rejects.toThrow('no replica in service');
  });
});

describe('a fleet as a ModelClient', () => {
  it('embeds, batches and lists models through the default deployment', async () => {
    const clock = new VirtualClock();
    const inner = new FakeModel(clock);
    const batchCalls: string[] = [];
    const client: ModelClient = {
      capabilities: { continuation: true, reproducible: true, batchPrompts: true },
      stream: (r, o) => inner.stream(r, o),
      embed: (r, o) => inner.embed(r, o),
      completeBatch: (r) => (batchCalls.push(r.id), Promise.resolve({ choices: r.prompts.map((p, index) => ({ index, text: p, finishReason: 'stop' })) })),
      listModels: () => Promise.resolve([{ id: 'm' }]),
    };
    const fleet = buildFleet({
      clock,
      random: new Random(1),
      config: { deployments: { a: {}, b: {} }, defaultDeployment: 'a' },
      policy: roundRobin,
      replicas: { a: [{ id: 'a/0', client }], b: [{ id: 'b/0', client: new FakeModel(clock) }] },
    });
    const e = await clock.run(fleet.embed({ id: 'e', model: 'm', inputs: ['abcd', 'ef'] }));
    expect(e.items.map((x) => x.ok)).toEqual([true, true]);
    const b = await fleet.completeBatch?.({ id: 'cb', model: 'm', prompts: ['p', 'q'] });
    expect(b?.choices.map((c) => c.text)).toEqual(['p', 'q']);
    expect(batchCalls).toEqual(['cb']);
    expect(await fleet.listModels?.()).toEqual([{ id: 'm' }]);
    // The fleet's capabilities: what every replica of every deployment can do.
    expect(fleet.capabilities).toEqual({ continuation: true, reproducible: true, batchPrompts: false });
  });
});

describe("a fleet's capabilities", () => {
  it('follow the replicas as they are added and removed', () => {
    const clock = new VirtualClock();
    const full = new FakeModel(clock);
    full.capabilities = { continuation: true, reproducible: true, batchPrompts: true };
    const openai = new FakeModel(clock);
    openai.capabilities = { continuation: false, reproducible: false };
    const fleet = buildFleet({ clock, random: new Random(1), config: { deployments: { a: {}, b: {} }, defaultDeployment: 'a' }, policy: roundRobin, replicas: { a: [{ id: 'a/0', client: full }] } });
    expect(fleet.capabilities).toEqual({ continuation: true, reproducible: true, batchPrompts: true });
    fleet.deployment('b')?.addReplica({ id: 'b/0', client: openai });
    expect(fleet.capabilities).toEqual({ continuation: false, reproducible: false, batchPrompts: false });
    fleet.deployment('b')?.removeReplica('b/0');
    expect(fleet.capabilities).toEqual({ continuation: true, reproducible: true, batchPrompts: true });
  });
});
