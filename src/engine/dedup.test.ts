import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ValidationError } from '../errors.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { Dedup } from './dedup.js';

describe('Dedup', () => {
  it('twins in flight share one call; later calls within the TTL hit the cache', async () => {
    const clock = new VirtualClock();
    const d = new Dedup<string>(clock, { ttlMs: 1000, maxEntries: 10 });
    let calls = 0;
    const fn = async (): Promise<string> => {
      calls++;
      await clock.sleep(100);
      return `v${calls}`;
    };
    const all = Promise.all([d.run('k', fn), d.run('k', fn), d.run('k', fn)]);
    const results = await clock.run(all);
    expect(results).toEqual([
      { value: 'v1', source: 'leader' },
      { value: 'v1', source: 'joined' },
      { value: 'v1', source: 'joined' },
    ]);
    expect(calls).toBe(1);
    expect(d.inFlight).toBe(0);
    await clock.advanceBy(999);
    expect(await d.run('k', fn)).toEqual({ value: 'v1', source: 'cached' });
    await clock.advanceBy(1); // TTL counts from completion at t=100: expires at 1100
    expect(await clock.run(d.run('k', fn))).toEqual({ value: 'v2', source: 'leader' });
    expect(d.counters).toEqual({ leaders: 2, joined: 2, cached: 1 });
  });

  it('different keys never share', async () => {
    const clock = new VirtualClock();
    const d = new Dedup<string>(clock, { ttlMs: 1000, maxEntries: 10 });
    const [a, b] = await Promise.all([d.run('a', async () => 'A'), d.run('b', async () => 'B')]);
    expect([a.value, b.value]).toEqual(['A', 'B']);
  });

  it('a failing leader fails its twins and caches nothing; the next call runs afresh', async () => {
    const clock = new VirtualClock();
    const d = new Dedup<number>(clock, { ttlMs: 1000, maxEntries: 10 });
    const boom = new Error('upstream 500');
    let calls = 0;
    const failing = async (): Promise<number> => {
      calls++;
      await clock.sleep(10);
      throw boom;
    };
    const leader = d.run('k', failing);
    const twin = d.run('k', failing);
    const settled = clock.run(Promise.allSettled([leader, twin]));
    expect(await settled).toEqual([
      { status: 'rejected', reason: boom },
      { status: 'rejected', reason: boom },
    ]);
    expect(calls).toBe(1);
    expect(d.size).toBe(0);
    expect(await d.run('k', async () => 7)).toEqual({ value: 7, source: 'leader' });
  });

  it('a leader that throws synchronously is handled like a rejection', async () => {
    const d = new Dedup<number>(new VirtualClock(), { ttlMs: 1000, maxEntries: 10 });
    await expect(
      d.run('k', () => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(d.inFlight).toBe(0);
  });

  it('LRU keeps recently used entries; FIFO evicts in completion order', async () => {
    for (const eviction of ['lru', 'fifo'] as const) {
      const d = new Dedup<string>(new VirtualClock(), { ttlMs: 10_000, maxEntries: 2, eviction });
      await d.run('a', async () => 'A');
      await d.run('b', async () => 'B');
      await d.run('a', async () => 'A2'); // cache hit; refreshes 'a' under LRU only
      await d.run('c', async () => 'C'); // evicts one
      expect(d.size).toBe(2);
      const a = await d.run('a', async () => 'A3');
      expect(a.source).toBe(eviction === 'lru' ? 'cached' : 'leader');
    }
  });

  it('ttlMs 0 only coalesces in-flight twins', async () => {
    const d = new Dedup<number>(new VirtualClock(), { ttlMs: 0, maxEntries: 10 });
    const [x, y] = await Promise.all([d.run('k', async () => 1), d.run('k', async () => 2)]);
    expect([x.source, y.source, y.value]).toEqual(['leader', 'joined', 1]);
    expect((await d.run('k', async () => 3)).source).toBe('leader');
    expect(d.size).toBe(0);
  });

  it('delete forgets a cached result', async () => {
    const d = new Dedup<number>(new VirtualClock(), { ttlMs: 1000, maxEntries: 10 });
    await d.run('k', async () => 1);
    expect(d.delete('k')).toBe(true);
    expect((await d.run('k', async () => 2)).value).toBe(2);
  });

  it('validates options', () => {
    expect(() => new Dedup(new VirtualClock(), { ttlMs: -1, maxEntries: 1 })).toThrow('ttlMs: expected a number >= 0, got -1');
    expect(() => new Dedup(new VirtualClock(), { ttlMs: 1, maxEntries: 1.5 })).toThrow(ValidationError);
  });

  it('property: fn runs once per leader, every caller gets its leader’s value, the cache stays bounded', async () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant('run' as const), key: fc.constantFrom('a', 'b', 'c', 'd'), ms: fc.integer({ min: 0, max: 50 }), fail: fc.boolean() }),
      fc.record({ k: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 80 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 3 }), fc.array(op, { maxLength: 40 }), async (maxEntries, ops) => {
        const clock = new VirtualClock();
        const d = new Dedup<string>(clock, { ttlMs: 60, maxEntries });
        let calls = 0;
        const pending: Array<Promise<void>> = [];
        const produced = new Set<string>();
        for (const o of ops) {
          if (o.k === 'advance') {
            await clock.advanceBy(o.ms);
          } else {
            const fn = async (): Promise<string> => {
              const id = `${o.key}#${++calls}`;
              await clock.sleep(o.ms);
              if (o.fail) throw new Error(id);
              produced.add(id);
              return id;
            };
            pending.push(
              d.run(o.key, fn).then(
                (r) => {
                  expect(r.value.startsWith(`${o.key}#`)).toBe(true); // never another key's value
                  expect(produced.has(r.value)).toBe(true);
                },
                (e: Error) => expect(e.message.startsWith(`${o.key}#`)).toBe(true),
              ),
            );
          }
          expect(d.size).toBeLessThanOrEqual(maxEntries);
        }
        await clock.run(Promise.all(pending));
        expect(calls).toBe(d.counters.leaders);
        const c = d.counters;
        expect(c.leaders + c.joined + c.cached).toBe(pending.length);
      }),
      { seed: 5150, numRuns: 150, endOnFailure: true },
    );
  });
});
