import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../time/virtual-clock.js';
import { entryBytes, MemoryResponseStore, ResponseCache, type CachedAnswer } from './response-cache.js';

const answer = (text: string, storedAtMs = 0): CachedAnswer => ({ text, tokens: text.length, model: 'primary', storedAtMs });

describe('MemoryResponseStore', () => {
  it('evicts the least recently used entries to stay within its byte bound', () => {
    const clock = new VirtualClock();
    const one = entryBytes('k1', answer('x'.repeat(100)));
    const store = new MemoryResponseStore(clock, 3 * one);
    for (const k of ['k1', 'k2', 'k3']) store.set(k, answer('x'.repeat(100)), 60_000);
    expect(store.bytes).toBe(3 * one);
    store.get('k1'); // k1 is now the most recently used: k2 goes first
    store.set('k4', answer('x'.repeat(100)), 60_000);
    expect(store.get('k2')).toBeUndefined();
    expect(store.get('k1')).toBeDefined();
    expect(store.get('k3')).toBeDefined();
    expect(store.get('k4')).toBeDefined();
    expect(store.bytes).toBeLessThanOrEqual(3 * one);
    expect(store.evictions).toBe(1);
  });

  it('never stores an answer larger than the whole bound, and replacing a key frees its old bytes', () => {
    const clock = new VirtualClock();
    const store = new MemoryResponseStore(clock, 1000);
    store.set('big', answer('y'.repeat(1000)), 60_000);
    expect(store.size).toBe(0);
    store.set('a', answer('aa'), 60_000);
    store.set('a', answer('a'), 60_000);
    expect(store.size).toBe(1);
    expect(store.bytes).toBe(entryBytes('a', answer('a')));
  });

  it('expires entries by the clock', async () => {
    const clock = new VirtualClock();
    const store = new MemoryResponseStore(clock, 1 << 20);
    store.set('a', answer('a'), 1000);
    await clock.run(clock.sleep(999));
    expect(store.get('a')).toBeDefined();
    await clock.run(clock.sleep(1));
    expect(store.get('a')).toBeUndefined();
    expect(store.bytes).toBe(0);
  });
});

describe('ResponseCache', () => {
  it('serves fresh within the TTL, stale up to the staleness bound, then nothing', async () => {
    const clock = new VirtualClock();
    const cache = new ResponseCache(clock, new MemoryResponseStore(clock, 1 << 20), { ttlMs: 1000, staleIfErrorMs: 5000 });
    await cache.put('k', { text: 'hello', tokens: 1, model: 'primary' });
    expect(await cache.lookup('k')).toMatchObject({ fresh: true, ageMs: 0, answer: { text: 'hello', storedAtMs: 0 } });
    await clock.run(clock.sleep(1000));
    expect(await cache.lookup('k')).toMatchObject({ fresh: false, ageMs: 1000 });
    await clock.run(clock.sleep(4000));
    expect(await cache.lookup('k')).toBeUndefined();
  });

  it('counts a failing store and goes on as a miss', async () => {
    const clock = new VirtualClock();
    const broken = { get: () => Promise.reject(new Error('down')), set: () => Promise.reject(new Error('down')) };
    const cache = new ResponseCache(clock, broken, { ttlMs: 1000, staleIfErrorMs: 0 });
    await cache.put('k', { text: 'x', tokens: 1, model: 'primary' });
    expect(await cache.lookup('k')).toBeUndefined();
    expect(cache.counters).toEqual({ stores: 0, storeErrors: 2 });
  });

  it('rejects a bad TTL naming the field', () => {
    const clock = new VirtualClock();
    expect(() => new ResponseCache(clock, new MemoryResponseStore(clock, 1), { ttlMs: 0, staleIfErrorMs: 0 })).toThrow(/cache\.ttlMs/);
  });
});
