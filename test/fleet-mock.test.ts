/**
 * A fleet of in-process mock replicas behind the engine: outlier ejection takes a failing replica out of service,
 * and a hedge's losing call is billed by the mock that ran it (its prompt and any tokens it computed).
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../src/engine/engine.js';
import { buildFleet } from '../src/fleet/build.js';
import type { FleetEvent } from '../src/fleet/types.js';
import { resolvePolicy } from '../src/policy.js';
import { Random } from '../src/random.js';
import { VirtualClock } from '../src/time/virtual-clock.js';
import type { BilledAttempt } from '../sim/billing.js';
import { InProcessModelClient } from '../sim/in-process.js';
import { MockModel } from '../sim/mock-model.js';
import type { FaultPlanInput } from '../sim/faults.js';

function fleetOfMocks(overrides: unknown, faults: readonly (FaultPlanInput | undefined)[]) {
  const clock = new VirtualClock();
  const random = new Random(18);
  const models = faults.map((f, i) => new MockModel({ name: 'm', profile: 'h100-llama3-8b', clock, random: random.derive(`mock/${i}`), ...(f !== undefined ? { faults: f } : {}) }));
  const bills: { replica: number; bill: BilledAttempt }[] = [];
  models.forEach((m, replica) => m.onBill((bill) => bills.push({ replica, bill })));
  const policy = resolvePolicy('resilient', overrides);
  const fleet = buildFleet({
    clock,
    random: random.derive('fleet'),
    config: { deployments: { main: {} }, defaultDeployment: 'main' },
    policy: policy.fleet,
    replicas: { main: models.map((m, i) => ({ id: `main/${i}`, client: new InProcessModelClient(m) })) },
  });
  const events: FleetEvent[] = [];
  fleet.onEvent((e) => events.push(e));
  const engine = new Engine({ clock, random: random.derive('engine'), policy, primary: fleet });
  const submit = (id: string) => engine.submit({ id, kind: 'chat', request: { id, model: 'm', prompt: 'hello', promptTokens: 1500, outputTokens: 20 } });
  const close = () => models.forEach((m) => m.close());
  return { clock, fleet, events, bills, submit, close };
}

describe('a fleet of mock replicas behind the engine', () => {
  it('ejects a replica that answers 500s and serves every request from the others', async () => {
    const f = fleetOfMocks({ fleet: { balancer: { kind: 'round-robin' }, ejection: { consecutive5xx: 3 } } }, [undefined, { serverError: { probability: 1 } }, undefined]);
    const results = [];
    for (let i = 0; i < 30; i++) results.push(await f.clock.run(f.submit(`r${i}`)));
    f.close();
    expect(results.every((r) => r.outcome === 'ok')).toBe(true);
    expect(f.events.filter((e) => e.type === 'ejected')).toMatchObject([{ replica: 'main/1', reason: 'consecutive-5xx' }]);
    const states = f.fleet.deployment('main')?.states() ?? [];
    expect(states[1]).toMatchObject({ ejected: true, calls: 3, failures: 3 });
  });

  it("bills a hedge's losing call on the replica that ran it", async () => {
    const f = fleetOfMocks({ fleet: { balancer: { kind: 'round-robin' }, hedging: { enabled: true, minDelayMs: 1, maxDelayMs: 1 } } }, [undefined, undefined]);
    const r = await f.clock.run(f.submit('h'));
    await f.clock.runUntilIdle();
    f.close();
    expect(r.outcome).toBe('ok');
    expect(f.events.filter((e) => e.type !== 'routed').map((e) => e.type)).toEqual(['hedge', 'hedge-lost']);
    const lost = f.events.find((e) => e.type === 'hedge-lost');
    const loser = Number((lost?.type === 'hedge-lost' ? lost.replica : '').split('/')[1]);
    // Both replicas ran the request: the winner's bill is complete, the loser's is billed too (its prompt, at least).
    expect(f.bills.map((b) => [b.replica, b.bill.completed]).sort()).toEqual([[0, loser === 0 ? false : true], [1, loser === 1 ? false : true]].sort());
    const loserBill = f.bills.find((b) => b.replica === loser)?.bill;
    expect(loserBill?.inputTokens).toBe(1500);
    expect(loserBill?.deliveredTokens).toBeLessThan(20);
  });
});
