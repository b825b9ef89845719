import { describe, expect, it } from 'vitest';
import { ChunkTimes } from './chunk-times.js';

describe('ChunkTimes', () => {
  it('gives back the chunks pushed, in order, past its initial capacity', () => {
    const c = new ChunkTimes();
    const want = Array.from({ length: 100 }, (_, i) => ({ atMs: 1000 + i * 12.5, count: 1 }));
    for (const w of want) c.push(w.atMs, w.count);
    expect(c.length).toBe(100);
    expect(c.toChunks()).toEqual(want);
  });

  it('keeps counts other than 1 wherever they first appear', () => {
    const c = new ChunkTimes();
    const want = Array.from({ length: 40 }, (_, i) => ({ atMs: i * 3.25, count: i === 20 ? 7 : i > 30 ? 2 : 1 }));
    for (const w of want) c.push(w.atMs, w.count);
    expect(c.toChunks()).toEqual(want);
    const first = new ChunkTimes();
    first.push(5, 3);
    first.push(6, 1);
    expect(first.toChunks()).toEqual([{ atMs: 5, count: 3 }, { atMs: 6, count: 1 }]);
  });

  it('grows past the room it was told to expect', () => {
    for (const expected of [1, 3, 0, Number.NaN, 1e9]) {
      const c = new ChunkTimes(expected);
      const want = Array.from({ length: 50 }, (_, i) => ({ atMs: i, count: i % 9 === 8 ? 2 : 1 }));
      for (const w of want) c.push(w.atMs, w.count);
      expect(c.toChunks()).toEqual(want);
    }
  });

  it('starts empty', () => {
    const c = new ChunkTimes();
    expect(c.length).toBe(0);
    expect(c.toChunks()).toEqual([]);
  });
});
