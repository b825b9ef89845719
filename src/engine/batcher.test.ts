import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ValidationError } from '../errors.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { type BatchItemResult, BatchResultMismatchError, Batcher } from './batcher.js';

/** A flush that doubles each number after `ms`, failing items listed in `failing`, and records its batches. */
function doubler(clock: VirtualClock, ms = 10, failing: ReadonlySet<number> = new Set()) {
  const batches: number[][] = [];
  const flush = async (items: number[]): Promise<Array<BatchItemResult<number>>> => {
    batches.push([...items]);
    await clock.sleep(ms);
    return items.map((x) => (failing.has(x) ? { ok: false, error: new Error(`bad ${x}`) } : { ok: true, value: x * 2 }));
  };
  return { batches, flush };
}

describe('Batcher', () => {
  it('size mode: one flush per full batch, results split back in order', async () => {
    const clock = new VirtualClock();
    const { batches, flush } = doubler(clock);
    const b = new Batcher(clock, { mode: 'size', maxSize: 3, maxWaitMs: 50 }, flush);
    const ps = [1, 2, 3, 4, 5, 6].map((x) => b.submit(x));
    expect(await clock.run(Promise.all(ps))).toEqual([2, 4, 6, 8, 10, 12]);
    expect(batches).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(b.counters).toEqual({ batches: 2, items: 6, meanBatchSize: 3 });
  });

  it('size mode never flushes a partial batch by itself; flushNow does', async () => {
    const clock = new VirtualClock();
    const { batches, flush } = doubler(clock);
    const b = new Batcher(clock, { mode: 'size', maxSize: 3, maxWaitMs: 50 }, flush);
    const p = b.submit(7);
    await clock.advanceBy(1000);
    expect(batches).toEqual([]);
    expect(b.pending).toBe(1);
    b.flushNow();
    expect(await clock.run(p)).toBe(14);
  });

  it('time mode: flushes maxWaitMs after the first item, chunked by maxSize', async () => {
    const clock = new VirtualClock();
    const { batches, flush } = doubler(clock);
    const b = new Batcher(clock, { mode: 'time', maxSize: 2, maxWaitMs: 50 }, flush);
    const ps = [b.submit(1)];
    await clock.advanceBy(30);
    ps.push(b.submit(2), b.submit(3));
    await clock.advanceBy(19);
    expect(batches).toEqual([]);
    await clock.advanceBy(1);
    expect(batches).toEqual([[1, 2], [3]]);
    expect(await clock.run(Promise.all(ps))).toEqual([2, 4, 6]);
  });

  it('hybrid mode: flushes on size or on the window, whichever is first', async () => {
    const clock = new VirtualClock();
    const { batches, flush } = doubler(clock);
    const b = new Batcher(clock, { mode: 'hybrid', maxSize: 2, maxWaitMs: 50 }, flush);
    const ps = [b.submit(1), b.submit(2)]; // full: out at once
    expect(batches).toEqual([[1, 2]]);
    ps.push(b.submit(3));
    await clock.advanceBy(50);
    expect(batches).toEqual([[1, 2], [3]]);
    expect(await clock.run(Promise.all(ps))).toEqual([2, 4, 6]);
    expect(clock.now()).toBe(60);
  });

  it('token-aware: closes a batch before it would exceed maxTokens; an oversized item goes alone', async () => {
    const clock = new VirtualClock();
    const { batches, flush } = doubler(clock);
    const b = new Batcher(clock, { mode: 'hybrid', maxSize: 10, maxWaitMs: 50, maxTokens: 100, tokensOf: (x: number) => x }, flush);
    const ps = [60, 30, 20, 150, 5].map((x) => b.submit(x));
    await clock.run(Promise.all(ps));
    expect(batches).toEqual([[60, 30], [20], [150], [5]]);
  });

  it('a failing item does not fail the others; a rejected flush fails every item of the batch with its error', async () => {
    const clock = new VirtualClock();
    const { flush } = doubler(clock, 10, new Set([2]));
    const b = new Batcher(clock, { mode: 'size', maxSize: 3, maxWaitMs: 0 }, flush);
    const r = await clock.run(Promise.allSettled([1, 2, 3].map((x) => b.submit(x))));
    expect(r.map((x) => (x.status === 'fulfilled' ? x.value : (x.reason as Error).message))).toEqual([2, 'bad 2', 6]);

    const down = new Error('upstream down');
    const b2 = new Batcher<number, number>(clock, { mode: 'size', maxSize: 2, maxWaitMs: 0 }, () => Promise.reject(down));
    const r2 = await clock.run(Promise.allSettled([b2.submit(1), b2.submit(2)]));
    expect(r2).toEqual([
      { status: 'rejected', reason: down },
      { status: 'rejected', reason: down },
    ]);
  });

  it('a flush returning the wrong number of results fails each item with BatchResultMismatchError', async () => {
    const clock = new VirtualClock();
    const b = new Batcher<number, number>(clock, { mode: 'size', maxSize: 2, maxWaitMs: 0 }, async () => [{ ok: true, value: 1 }]);
    const r = await clock.run(Promise.allSettled([b.submit(1), b.submit(2)]));
    for (const x of r) {
      expect(x.status).toBe('rejected');
      expect((x as PromiseRejectedResult).reason).toBeInstanceOf(BatchResultMismatchError);
      expect(((x as PromiseRejectedResult).reason as Error).message).toBe('batch flush: expected 2 results (one per item), got 1 results');
    }
  });

  it('abort before the flush removes the caller from the batch; abort after answers it at once', async () => {
    const clock = new VirtualClock();
    const { batches, flush } = doubler(clock, 100);
    const b = new Batcher(clock, { mode: 'time', maxSize: 10, maxWaitMs: 20 }, flush);
    const early = new AbortController();
    const late = new AbortController();
    const p1 = b.submit(1, early.signal);
    const p2 = b.submit(2, late.signal);
    const p3 = b.submit(3);
    early.abort(new Error('gone early'));
    await expect(p1).rejects.toThrow('gone early');
    await clock.advanceBy(20);
    expect(batches).toEqual([[2, 3]]);
    late.abort(new Error('gone late'));
    await expect(p2).rejects.toThrow('gone late');
    expect(await clock.run(p3)).toBe(6);
  });

  it('when every caller of an open batch aborts, nothing is flushed', async () => {
    const clock = new VirtualClock();
    const { batches, flush } = doubler(clock);
    const b = new Batcher(clock, { mode: 'hybrid', maxSize: 10, maxWaitMs: 20 }, flush);
    const ac = new AbortController();
    const p = b.submit(1, ac.signal).catch((e: Error) => e.message);
    ac.abort(new Error('x'));
    await clock.advanceBy(100);
    expect(await p).toBe('x');
    expect(batches).toEqual([]);
    expect(clock.pendingTimers).toBe(0);
  });

  it('validates options', () => {
    const clock = new VirtualClock();
    const f = async (): Promise<Array<BatchItemResult<number>>> => [];
    expect(() => new Batcher(clock, { mode: 'size', maxSize: 0, maxWaitMs: 1 }, f)).toThrow('maxSize: expected an integer >= 1, got 0');
    expect(() => new Batcher(clock, { mode: 'size', maxSize: 2, maxWaitMs: 1, maxTokens: 10 }, f)).toThrow(ValidationError);
  });

  it('property: every caller gets exactly its own result; batches respect maxSize and maxTokens', async () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant('submit' as const), tokens: fc.integer({ min: 0, max: 40 }), fail: fc.boolean(), abortable: fc.boolean() }),
      fc.record({ k: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 30 }) }),
      fc.record({ k: fc.constant('abort' as const), i: fc.nat() }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('size' as const, 'time' as const, 'hybrid' as const),
        fc.integer({ min: 1, max: 5 }),
        fc.array(op, { maxLength: 50 }),
        async (mode, maxSize, ops) => {
          const clock = new VirtualClock();
          interface Item { id: number; tokens: number; fail: boolean }
          const flushedIds = new Set<number>();
          const b = new Batcher<Item, string>(clock, { mode, maxSize, maxWaitMs: 15, maxTokens: 50, tokensOf: (x) => x.tokens }, async (items) => {
            expect(items.length).toBeLessThanOrEqual(maxSize);
            const sum = items.reduce((s, x) => s + x.tokens, 0);
            if (items.length > 1) expect(sum).toBeLessThanOrEqual(50);
            for (const x of items) {
              expect(flushedIds.has(x.id)).toBe(false); // flushed at most once
              flushedIds.add(x.id);
            }
            await clock.sleep(5);
            return items.map((x) => (x.fail ? { ok: false as const, error: new Error(`e${x.id}`) } : { ok: true as const, value: `v${x.id}` }));
          });
          const controllers: AbortController[] = [];
          const checks: Array<Promise<void>> = [];
          let id = 0;
          for (const o of ops) {
            if (o.k === 'submit') {
              const item: Item = { id: id++, tokens: o.tokens, fail: o.fail };
              const ac = o.abortable ? new AbortController() : undefined;
              if (ac) controllers.push(ac);
              checks.push(
                b.submit(item, ac?.signal).then(
                  (v) => expect(v).toBe(`v${item.id}`),
                  (e: Error) => {
                    if (ac?.signal.aborted !== true) expect(e.message).toBe(`e${item.id}`);
                  },
                ),
              );
            } else if (o.k === 'advance') {
              await clock.advanceBy(o.ms);
            } else if (controllers.length > 0) {
              controllers[o.i % controllers.length]?.abort(new Error('aborted'));
            }
          }
          b.flushNow();
          await clock.run(Promise.all(checks));
          expect(b.counters.items).toBe(flushedIds.size);
        },
      ),
      { seed: 777, numRuns: 200, endOnFailure: true },
    );
  });
});
