import { describe, expect, it } from 'vitest';
import { ConnectionRefusedError, RateLimitedError, ServerError, StreamInterruptedError } from '../upstream/errors.js';
import { scriptedDeployment } from './fleet-fixture.js';
import type { FleetEvent } from './types.js';

const ejection = (o: Record<string, unknown> = {}) => ({
  balancer: { kind: 'round-robin' as const },
  ejection: { enabled: true, successRate: { enabled: false }, ...o },
});
const kinds = (events: readonly FleetEvent[]) => events.map((e) => (e.type === 'ejected' ? `ejected ${e.replica} ${e.reason} until ${e.untilMs}` : e.type === 'returned' ? `returned ${e.replica} at ${e.atMs}` : e.type));

describe('outlier ejection', () => {
  it('ejects a replica after consecutive 5xx, sends nothing to it while ejected, and returns it on time', async () => {
    const f = scriptedDeployment(4, ejection());
    f.behaviour.set('d/1', () => ({ error: new ServerError(500) }));
    const served: string[] = [];
    for (let i = 0; i < 20; i++) served.push((await f.call()).replica);
    // Round-robin: d/1 got calls 1, 5, 9, 13, 17; the fifth failure in a row ejected it.
    expect(served.filter((r) => r === 'd/1')).toHaveLength(5);
    expect(f.ejected()).toEqual(['d/1']);
    const ej = f.events.find((e) => e.type === 'ejected');
    expect(ej).toMatchObject({ type: 'ejected', replica: 'd/1', reason: 'consecutive-5xx' });
    if (ej?.type !== 'ejected') throw new Error('no ejection');
    expect(ej.untilMs - ej.atMs).toBe(30_000);
    for (let i = 0; i < 12; i++) expect((await f.call()).replica).not.toBe('d/1');
    expect(f.d.states()[1]).toMatchObject({ ejected: true, ejections: 1, calls: 5, failures: 5, outstanding: 0 });
    await f.clock.advanceTo(ej.untilMs);
    expect(f.ejected()).toEqual([]);
    expect(f.events.at(-1)).toEqual({ type: 'returned', deployment: 'd', replica: 'd/1', atMs: ej.untilMs });
  });

  it('ejects for longer each time (base × times ejected), up to the maximum', async () => {
    const f = scriptedDeployment(2, ejection({ consecutive5xx: 2, baseEjectionMs: 1000, maxEjectionMs: 2500 }));
    f.behaviour.set('d/0', () => ({ error: new ServerError(500) }));
    const lengths: number[] = [];
    for (let round = 0; round < 4; round++) {
      while (f.ejected().length === 0) await f.call();
      const ej = f.events.filter((e) => e.type === 'ejected').at(-1);
      if (ej?.type !== 'ejected') throw new Error('no ejection');
      lengths.push(ej.untilMs - ej.atMs);
      await f.clock.advanceTo(ej.untilMs);
      expect(f.ejected()).toEqual([]);
    }
    expect(lengths).toEqual([1000, 2000, 2500, 2500]);
    expect(f.d.states()[0]?.ejections).toBe(4);
  });

  it('ejects on consecutive gateway failures (refused, broken stream, 502/503/504) sooner than on other 5xx', async () => {
    const f = scriptedDeployment(2, ejection({ consecutive5xx: 10, consecutiveGatewayFailures: 3 }));
    const errors = [new ConnectionRefusedError(), new StreamInterruptedError(0, 'reset'), new ServerError(502)];
    let k = 0;
    f.behaviour.set('d/0', () => ({ error: errors[k++ % errors.length] as Error }));
    for (let i = 0; i < 6; i++) await f.call();
    expect(f.events.filter((e) => e.type === 'ejected')).toMatchObject([{ replica: 'd/0', reason: 'consecutive-gateway' }]);
  });

  it('does not count a 429 or a success between failures as consecutive', async () => {
    const f = scriptedDeployment(2, ejection({ consecutive5xx: 3 }));
    let k = 0;
    f.behaviour.set('d/0', () => (k++ % 3 === 2 ? { error: new RateLimitedError(100) } : { error: new ServerError(500) }));
    for (let i = 0; i < 40; i++) await f.call();
    expect(f.ejected()).toEqual([]);
    expect(f.d.states()[0]).toMatchObject({ calls: 20, failures: 14 });
  });

  it('never ejects more than the maximum share of replicas, so never the only one', async () => {
    const four = scriptedDeployment(4, ejection({ consecutive5xx: 2, maxEjectedPercent: 50 }));
    for (const id of ['d/0', 'd/1', 'd/2']) four.behaviour.set(id, () => ({ error: new ServerError(500) }));
    for (let i = 0; i < 40; i++) await four.call();
    expect(four.ejected()).toEqual(['d/0', 'd/1']);

    const one = scriptedDeployment(1, ejection({ consecutive5xx: 1, maxEjectedPercent: 99 }));
    one.behaviour.set('d/0', () => ({ error: new ServerError(500) }));
    for (let i = 0; i < 10; i++) expect(await one.call()).toEqual({ replica: 'd/0', code: 'SERVER_ERROR' });
    expect(one.ejected()).toEqual([]);
    expect(one.events).toEqual([]);
  });

  it("ejects a replica whose success rate over the interval is below mean − stdevFactor × stdev", async () => {
    const f = scriptedDeployment(5, ejection({ consecutive5xx: 100, consecutiveGatewayFailures: 100, successRate: { enabled: true, minRequests: 10, minReplicas: 5, stdevFactor: 1.9, intervalMs: 1000 } }));
    let k = 0;
    // d/2 fails every other call: rates 1, 1, 0.5, 1, 1 -> mean 0.9, stdev 0.2, threshold 0.52.
    f.behaviour.set('d/2', () => (k++ % 2 === 0 ? { error: new ServerError(500) } : { tokens: 2 }));
    for (let i = 0; i < 120; i++) await f.call();
    expect(kinds(f.events).filter((e) => e.startsWith('ejected'))).toHaveLength(1);
    expect(f.events.find((e) => e.type === 'ejected')).toMatchObject({ replica: 'd/2', reason: 'success-rate' });
  });

  it('does not judge success rates with too few replicas or calls', async () => {
    const f = scriptedDeployment(4, ejection({ consecutive5xx: 100, successRate: { enabled: true, minRequests: 10, minReplicas: 5, intervalMs: 1000 } }));
    f.behaviour.set('d/2', () => ({ error: new ServerError(500) }));
    for (let i = 0; i < 200; i++) await f.call();
    expect(f.ejected()).toEqual([]);
  });

  it('does nothing when disabled', async () => {
    const f = scriptedDeployment(3, { balancer: { kind: 'round-robin' }, ejection: { enabled: false } });
    f.behaviour.set('d/0', () => ({ error: new ServerError(500) }));
    for (let i = 0; i < 30; i++) await f.call();
    expect(f.ejected()).toEqual([]);
    expect(f.d.states()[0]).toMatchObject({ calls: 10, failures: 10 });
  });
});
