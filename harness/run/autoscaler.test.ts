import { describe, expect, it } from 'vitest';
import type { Deployment, Replica } from '../../src/fleet/types.js';
import { VirtualClock } from '../../src/time/virtual-clock.js';
import { Autoscaler, type AutoscaleEvent, type ScaledReplica } from './autoscaler.js';

/** A replica whose GPU is busy a given share of each second, and a deployment that records membership. */
function setup(utilization: () => number) {
  const clock = new VirtualClock();
  const members: string[] = [];
  const deployment = {
    addReplica: (r: Replica) => void members.push(r.id),
    removeReplica: (id: string) => void members.splice(members.indexOf(id), 1),
  } as unknown as Deployment;
  let made = 0;
  const replica = (): ScaledReplica & { busy: number; open: number } => {
    const id = `default/${made++}`;
    const r = {
      id,
      busy: 0,
      open: 0,
      replica: { id } as Replica,
      busyMs: () => r.busy,
      idle: () => r.open === 0,
    };
    return r;
  };
  const all: Array<ReturnType<typeof replica>> = [replica()];
  members.push(all[0]!.id);
  const scaler = new Autoscaler(
    [
      {
        name: 'default',
        spec: { minReplicas: 1, maxReplicas: 3, target: { utilization: 0.8 }, sustainMs: 3_000, coldStartMs: 120_000, scaleInIdleMs: 10_000 },
        deployment,
        initial: [all[0]!],
        provision: () => {
          const r = replica();
          all.push(r);
          return r;
        },
      },
    ],
    clock,
  );
  const events: AutoscaleEvent[] = [];
  scaler.onEvent((e) => events.push(e));
  // One tick a second; every replica in service is busy `utilization()` of it.
  const runFor = async (ms: number): Promise<void> => {
    const end = clock.now() + ms;
    while (clock.now() < end) {
      await clock.run(clock.sleep(1000), 'tick');
      for (const r of all) if (members.includes(r.id)) r.busy += utilization() * 1000;
      scaler.tick();
    }
  };
  return { clock, members, all, events, runFor };
}

describe('Autoscaler', () => {
  it('scales out after the signal stays above target for sustainMs, and the replica joins only after its cold start', async () => {
    let util = 0.95;
    const s = setup(() => util);
    await s.runFor(2_000);
    expect(s.events).toEqual([]); // above target, but not yet for sustainMs
    await s.runFor(2_000);
    const out = s.events.find((e) => e.type === 'provisioned');
    expect(out).toMatchObject({ replica: 'default/1', atMs: 4_000 });
    // Provisioned (paid for) at once, but not in the deployment: no request can reach it during the model load.
    expect(s.members).toEqual(['default/0']);
    await s.runFor(119_000);
    expect(s.members).not.toContain('default/1');
    util = 0.1;
    await s.runFor(2_000);
    expect(s.events.find((e) => e.type === 'joined')).toEqual({ type: 'joined', deployment: 'default', replica: 'default/1', atMs: 124_000 });
    expect(s.members).toContain('default/1');
  });

  it('never exceeds maxReplicas, counting replicas still cold starting', async () => {
    const s = setup(() => 1);
    await s.runFor(60_000);
    expect(s.events.filter((e) => e.type === 'provisioned').map((e) => e.replica)).toEqual(['default/1', 'default/2']);
  });

  it('scales in a replica beyond minReplicas idle for scaleInIdleMs, and deprovisions it once its calls finished', async () => {
    let util = 1;
    const s = setup(() => util);
    await s.runFor(130_000); // scaled out to 3 (two cold starts of 120 s)
    expect(s.members).toHaveLength(3);
    util = 0;
    s.all[2]!.open = 0;
    await s.runFor(10_000);
    const removed = s.events.filter((e) => e.type === 'removed');
    expect(removed.map((e) => e.replica)).toEqual(['default/2']);
    expect(s.events.filter((e) => e.type === 'deprovisioned').map((e) => e.replica)).toEqual(['default/2']);
    await s.runFor(20_000);
    // One replica a tick, the newest first, down to minReplicas and no further.
    expect(s.events.filter((e) => e.type === 'removed').map((e) => e.replica)).toEqual(['default/2', 'default/1']);
    expect(s.members).toEqual(['default/0']);
  });
});
