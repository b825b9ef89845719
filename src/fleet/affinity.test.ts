import { describe, expect, it } from 'vitest';
import { ConnectionRefusedError } from '../upstream/errors.js';
import { scriptedDeployment } from './fleet-fixture.js';
import { drain } from './testing.js';

const affinity = {
  balancer: { kind: 'affinity' as const, boundedLoadFactor: 1.25 },
  ejection: { enabled: true, consecutiveGatewayFailures: 3, baseEjectionMs: 10_000, successRate: { enabled: false } },
};

describe('affinity in a deployment', () => {
  it('keeps a session on one replica until that replica is ejected, then on one other, then back', async () => {
    const f = scriptedDeployment(4, affinity);
    const key = { affinityKey: 'session-42' };
    const home = (await f.call(key)).replica;
    for (let i = 0; i < 10; i++) expect((await f.call(key)).replica).toBe(home);
    // Other sessions spread over the replicas meanwhile.
    const others = new Set<string>();
    for (let s = 0; s < 40; s++) others.add((await f.call({ affinityKey: `s${s}` })).replica);
    expect(others.size).toBe(4);

    f.behaviour.set(home, () => ({ error: new ConnectionRefusedError() }));
    for (let i = 0; i < 3; i++) expect(await f.call(key)).toEqual({ replica: home, code: 'CONNECTION_REFUSED' });
    expect(f.ejected()).toEqual([home]);
    f.behaviour.delete(home);
    const away = (await f.call(key)).replica;
    expect(away).not.toBe(home);
    for (let i = 0; i < 5; i++) expect((await f.call(key)).replica).toBe(away);

    await f.clock.advanceBy(10_000);
    expect((await f.call(key)).replica).toBe(home);
  });

  it('moves a hot key off its replica under bounded load, and back once the load is gone', async () => {
    const f = scriptedDeployment(4, affinity);
    const key = { affinityKey: 'hot' };
    const home = (await f.call(key)).replica;
    for (const id of f.ids) f.behaviour.set(id, () => ({ tokens: 2, ttftMs: 1000 }));
    // Eight calls of the same key at once: each sees the others in flight.
    const runs = Array.from({ length: 8 }, (_, i) => drain(f.d.stream({ id: `hot${i}`, model: 'm' }, { route: key })));
    await f.clock.advanceBy(1);
    const load = f.d.states().map((s) => s.outstanding);
    await f.clock.run(Promise.all(runs));
    // Never above ceil(1.25 × 8 / 4) = 3 on one replica; the home replica took its share first.
    expect(Math.max(...load)).toBeLessThanOrEqual(3);
    expect(load[f.ids.indexOf(home)]).toBe(3);
    expect(load.reduce((a, b) => a + b, 0)).toBe(8);
    expect((await f.call(key)).replica).toBe(home);
  });
});
