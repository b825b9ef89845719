import { describe, expect, it } from 'vitest';
import { resolvePolicy } from '../policy.js';
import { Random } from '../random.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { ServerError } from '../upstream/errors.js';
import { Engine } from '../engine/engine.js';
import { FakeModel, expectedText } from '../engine/testing/fake-model.js';
import { buildFleet } from './build.js';
import { scriptedDeployment } from './fleet-fixture.js';
import { HedgeDelay } from './hedge-delay.js';
import { drain, textOf } from './testing.js';
import type { FleetEvent } from './types.js';

const hedging = {
  balancer: { kind: 'round-robin' as const },
  ejection: { enabled: false },
  hedging: { enabled: true, minDelayMs: 50, maxDelayMs: 100 },
};

/** A budget that grants `grants` times and counts the asks. */
function budget(grants: number) {
  const b = { asked: 0, granted: 0, tryAcquire: () => (b.asked++, b.granted < grants ? (b.granted++, true) : false) };
  return b;
}

function twoReplicas(first: { ttftMs: number; error?: Error }, second: { ttftMs: number }) {
  const f = scriptedDeployment(2, hedging);
  f.behaviour.set('d/0', () => ({ tokens: 3, ...first }));
  f.behaviour.set('d/1', () => ({ tokens: 3, ...second }));
  const c0 = f.clients.get('d/0') as FakeModel;
  const c1 = f.clients.get('d/1') as FakeModel;
  return { ...f, c0, c1 };
}

const summary = (events: readonly FleetEvent[]) =>
  events.map((e) => (e.type === 'hedge' ? `hedge ${e.from}->${e.to} at ${e.atMs}` : e.type === 'hedge-lost' ? `lost ${e.replica} at ${e.atMs}` : e.type));

describe('hedged requests', () => {
  it('hedges a slow first call on another replica; the hedge answers first and the first call is cancelled', async () => {
    const f = twoReplicas({ ttftMs: 1000 }, { ttftMs: 10 });
    const b = budget(5);
    const events = await f.clock.run(drain(f.d.stream({ id: 'r', model: 'm' }, { hedgeBudget: b })));
    expect(textOf(events)).toBe(expectedText('r', 3));
    expect(f.clock.now()).toBe(120);
    expect(summary(f.events)).toEqual(['hedge d/0->d/1 at 100', 'lost d/0 at 110']);
    // The first call was made at 0 and aborted through its signal when the hedge answered.
    expect(f.c0.calls).toMatchObject([{ id: 'r', atMs: 0, aborted: true }]);
    expect(f.c1.calls).toMatchObject([{ id: 'r', atMs: 100, aborted: false }]);
    expect([b.asked, b.granted]).toEqual([1, 1]);
    expect(f.d.states().map((s) => [s.calls, s.outstanding])).toEqual([[1, 0], [1, 0]]);
  });

  it('cancels the hedge when the first call answers first; the hedge was sent, drew from the budget and is aborted', async () => {
    const f = twoReplicas({ ttftMs: 150 }, { ttftMs: 1000 });
    const b = budget(5);
    const events = await f.clock.run(drain(f.d.stream({ id: 'r', model: 'm' }, { hedgeBudget: b })));
    expect(textOf(events)).toBe(expectedText('r', 3));
    expect(summary(f.events)).toEqual(['hedge d/0->d/1 at 100', 'lost d/1 at 150']);
    expect(f.c1.calls).toMatchObject([{ id: 'r', atMs: 100, aborted: true }]);
    expect(f.c0.calls).toMatchObject([{ id: 'r', aborted: false }]);
    expect(b.granted).toBe(1);
    expect(f.d.states().map((s) => s.outstanding)).toEqual([0, 0]);
  });

  it('sends no hedge when the budget refuses, and none when the first call answers within the delay', async () => {
    const refused = twoReplicas({ ttftMs: 1000 }, { ttftMs: 10 });
    const none = budget(0);
    await refused.clock.run(drain(refused.d.stream({ id: 'r', model: 'm' }, { hedgeBudget: none })));
    expect(refused.clock.now()).toBe(1010);
    expect([none.asked, refused.c1.calls.length, refused.events.length]).toEqual([1, 0, 0]);

    const quick = twoReplicas({ ttftMs: 40 }, { ttftMs: 10 });
    const b = budget(5);
    await quick.clock.run(drain(quick.d.stream({ id: 'r', model: 'm' }, { hedgeBudget: b })));
    expect([b.asked, quick.c1.calls.length, quick.events.length]).toEqual([0, 0, 0]);
  });

  it('sends no hedge without another replica in service, and asks no budget for it', async () => {
    const f = scriptedDeployment(1, hedging);
    f.behaviour.set('d/0', () => ({ tokens: 2, ttftMs: 500 }));
    const b = budget(5);
    await f.clock.run(drain(f.d.stream({ id: 'r', model: 'm' }, { hedgeBudget: b })));
    expect([b.asked, f.events.length, f.clock.now()]).toEqual([0, 0, 505]);
  });

  it('goes on with the hedge when the first call fails after it was sent', async () => {
    const f = twoReplicas({ ttftMs: 150, error: new ServerError(500) }, { ttftMs: 300 });
    const events = await f.clock.run(drain(f.d.stream({ id: 'r', model: 'm' }, { hedgeBudget: budget(1) })));
    expect(textOf(events)).toBe(expectedText('r', 3));
    expect(summary(f.events)).toEqual(['hedge d/0->d/1 at 100']);
    expect(f.d.states().map((s) => [s.failures, s.outstanding])).toEqual([[1, 0], [0, 0]]);
  });

  it('fails with the last error when every call failed', async () => {
    const f = twoReplicas({ ttftMs: 150, error: new ServerError(500) }, { ttftMs: 10 });
    f.behaviour.set('d/1', () => ({ ttftMs: 200, error: new ServerError(502) }));
    await expect(f.clock.run(drain(f.d.stream({ id: 'r', model: 'm' }, { hedgeBudget: budget(1) })))).rejects.toThrow('server error (502)');
    expect(f.d.states().map((s) => s.outstanding)).toEqual([0, 0]);
  });

  it("aborts both calls when the caller aborts", async () => {
    const f = twoReplicas({ ttftMs: 1000 }, { ttftMs: 1000 });
    const ac = new AbortController();
    const run = f.clock.run(drain(f.d.stream({ id: 'r', model: 'm' }, { hedgeBudget: budget(1), signal: ac.signal })));
    await f.clock.advanceBy(200);
    ac.abort();
    await expect(run).rejects.toThrow();
    expect([f.c0.calls[0]?.aborted, f.c1.calls[0]?.aborted]).toEqual([true, true]);
    expect(f.d.states().map((s) => s.outstanding)).toEqual([0, 0]);
  });

  it('waits the percentile of recent times to first token, clamped', () => {
    const d = new HedgeDelay({ percentile: 0.95, minDelayMs: 50, maxDelayMs: 5000, windowSize: 100 });
    expect(d.delayMs()).toBe(5000);
    for (let i = 1; i <= 100; i++) d.add(i * 2);
    expect(d.delayMs()).toBe(190);
    const clamped = new HedgeDelay({ percentile: 0.5, minDelayMs: 80, maxDelayMs: 90, windowSize: 4 });
    for (const x of [10, 20, 30, 40]) clamped.add(x);
    expect(clamped.delayMs()).toBe(80);
    // Only the last `windowSize` samples count.
    for (const x of [500, 600, 700, 800]) clamped.add(x);
    expect(clamped.delayMs()).toBe(90);
  });

  it("hedges at the deployment's recent TTFT percentile", async () => {
    const f = scriptedDeployment(2, { ...hedging, hedging: { enabled: true, percentile: 0.9, minDelayMs: 1, maxDelayMs: 10_000 } });
    for (const id of f.ids) f.behaviour.set(id, () => ({ tokens: 1, ttftMs: 20 }));
    for (let i = 0; i < 10; i++) await f.clock.run(drain(f.d.stream({ id: `w${i}`, model: 'm' }, { hedgeBudget: budget(0) })));
    f.behaviour.set('d/0', () => ({ tokens: 1, ttftMs: 1000 }));
    const t0 = f.clock.now();
    await f.clock.run(drain(f.d.stream({ id: 'slow', model: 'm' }, { hedgeBudget: budget(1) })));
    expect(f.events.find((e) => e.type === 'hedge')?.atMs).toBe(t0 + 20);
  });
});

describe('hedging through the engine', () => {
  it('serves a request from the replica that answered first, drawing the hedge from the retry budget', async () => {
    const clock = new VirtualClock();
    const slow = new FakeModel(clock, () => ({ tokens: 4, ttftMs: 3000 }));
    const fast = new FakeModel(clock, () => ({ tokens: 4, ttftMs: 20 }));
    const policy = resolvePolicy('resilient', { fleet: { balancer: { kind: 'round-robin' }, hedging: { enabled: true, minDelayMs: 100, maxDelayMs: 100 } } });
    const fleet = buildFleet({
      clock,
      random: new Random(3),
      config: { deployments: { main: {} }, defaultDeployment: 'main' },
      policy: policy.fleet,
      replicas: { main: [{ id: 'main/0', client: slow }, { id: 'main/1', client: fast }] },
    });
    const events: FleetEvent[] = [];
    fleet.onEvent((e) => events.push(e));
    const engine = new Engine({ clock, random: new Random(1), policy, primary: fleet });
    const r = await clock.run(engine.submit({ id: 'a', kind: 'chat', request: { id: 'a', model: 'm', prompt: 'hi' } }));
    expect(r).toMatchObject({ outcome: 'ok', text: expectedText('a', 4), attempts: 1, firstTokenAtMs: 120 });
    expect(events.filter((e) => e.type !== 'routed').map((e) => e.type)).toEqual(['hedge', 'hedge-lost']);
    expect(slow.calls[0]?.aborted).toBe(true);
  });
});
