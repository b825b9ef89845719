import { describe, expect, it } from 'vitest';
import { Random } from '../random.js';
import { AffinityBalancer } from './affinity.js';
import type { Candidate } from './balancer.js';
import { createBalancer } from './balancers.js';
import { LeastOutstandingBalancer } from './least-outstanding.js';
import { PowerOfTwoBalancer } from './power-of-two.js';
import { RoundRobinBalancer } from './round-robin.js';

/** Replicas r0..r(n-1) with these calls in flight. */
const states = (...outstanding: number[]): Candidate[] => outstanding.map((o, i) => ({ id: `r${i}`, outstanding: o }));
const picks = (n: number, pick: () => Candidate): string[] => Array.from({ length: n }, () => pick().id);

describe('round-robin', () => {
  it('takes the replicas in turn whatever their load', () => {
    const b = new RoundRobinBalancer();
    const s = states(9, 0, 4);
    expect(picks(7, () => b.pick(s))).toEqual(['r0', 'r1', 'r2', 'r0', 'r1', 'r2', 'r0']);
  });
});

describe('least outstanding requests', () => {
  it('picks the replica with the fewest calls in flight', () => {
    const b = new LeastOutstandingBalancer();
    expect(b.pick(states(3, 1, 2)).id).toBe('r1');
    expect(b.pick(states(0, 5, 5, 1)).id).toBe('r0');
    expect(b.pick(states(4, 4, 4, 2)).id).toBe('r3');
  });

  it('rotates among replicas tied at the least load', () => {
    const b = new LeastOutstandingBalancer();
    const s = states(1, 1, 5, 1);
    expect(picks(6, () => b.pick(s))).toEqual(['r0', 'r1', 'r3', 'r3', 'r0', 'r1']);
  });
});

describe('power of two choices', () => {
  it('never picks the most loaded of several replicas, and picks the idle one whenever it is drawn', () => {
    const b = new PowerOfTwoBalancer(new Random(42).derive('p2c'));
    const s = states(0, 10, 10, 10);
    const got = picks(2000, () => b.pick(s));
    // r0 is in half of the 6 possible pairs; a drawn pair holding it always picks it.
    const share = got.filter((id) => id === 'r0').length / got.length;
    expect(share).toBeGreaterThan(0.45);
    expect(share).toBeLessThan(0.55);
    expect(picks(500, () => b.pick(states(1, 7, 3))).includes('r1')).toBe(false);
  });

  it('is repeatable from its seed and picks the only replica without drawing', () => {
    const a = new PowerOfTwoBalancer(new Random(7).derive('x'));
    const b = new PowerOfTwoBalancer(new Random(7).derive('x'));
    const s = states(2, 2, 2, 2, 2);
    expect(picks(50, () => a.pick(s))).toEqual(picks(50, () => b.pick(s)));
    const r = new Random(1);
    const one = new PowerOfTwoBalancer(r);
    expect(one.pick(states(3)).id).toBe('r0');
    expect(r.next()).toBe(new Random(1).next());
  });
});

describe('affinity (consistent hashing with bounded loads)', () => {
  const ids = ['r0', 'r1', 'r2', 'r3'];
  const ring = (factor = 1.25) => new AffinityBalancer(factor, ids);

  it('sends a key to the same replica every time, and spreads keys over the replicas', () => {
    const b = ring();
    const s = states(0, 0, 0, 0);
    const first = b.pick(s, { affinityKey: 'session-1' }).id;
    expect(picks(20, () => b.pick(s, { affinityKey: 'session-1' }))).toEqual(Array(20).fill(first));
    const counts = new Map<string, number>();
    for (let k = 0; k < 4000; k++) {
      const id = b.pick(s, { affinityKey: `s${k}` }).id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    for (const id of ids) expect(counts.get(id) ?? 0).toBeGreaterThan(700);
  });

  it('moves only the keys of a replica that leaves service', () => {
    const b = ring();
    const all = states(0, 0, 0, 0);
    const without1 = all.filter((c) => c.id !== 'r1');
    for (let k = 0; k < 500; k++) {
      const key = { affinityKey: `k${k}` };
      const before = b.pick(all, key).id;
      const after = b.pick(without1, key).id;
      if (before !== 'r1') expect(after).toBe(before);
    }
  });

  it('passes a key on to the next replica on the ring when its own is above ceil(c × mean load)', () => {
    const b = ring(1.25);
    const key = { affinityKey: 'hot' };
    const home = b.pick(states(0, 0, 0, 0), key).id;
    const next = b.pick(states(0, 0, 0, 0).filter((c) => c.id !== home), key).id;
    // 8 calls in flight over 4 replicas, all on `home`: cap = ceil(1.25 × 9 / 4) = 3, and home has 8.
    const loaded = states(0, 0, 0, 0).map((c) => (c.id === home ? { ...c, outstanding: 8 } : c));
    expect(b.pick(loaded, key).id).toBe(next);
    // One call on each: cap = ceil(1.25 × 5 / 4) = 2, home (1) is below it, the key stays home.
    expect(b.pick(states(1, 1, 1, 1), key).id).toBe(home);
    // Two on home and none elsewhere: cap = ceil(1.25 × 3 / 4) = 1, home is at it, the key moves on.
    expect(b.pick(states(0, 0, 0, 0).map((c) => (c.id === home ? { ...c, outstanding: 2 } : c)), key).id).toBe(next);
  });

  it('sends a request without a key to the least loaded replica', () => {
    const b = ring();
    expect(b.pick(states(3, 2, 0, 5), undefined).id).toBe('r2');
    expect(b.pick(states(3, 2, 4, 1), {}).id).toBe('r3');
  });
});

describe('createBalancer', () => {
  it('makes the balancer of each kind', () => {
    const kinds = (['round-robin', 'least-outstanding', 'power-of-two', 'affinity'] as const).map(
      (kind) => createBalancer({ kind, random: new Random(1), boundedLoadFactor: 1.25 }).kind,
    );
    expect(kinds).toEqual(['round-robin', 'least-outstanding', 'power-of-two', 'affinity']);
  });
});
