import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HashTable } from './prefix-cache-table.js';

describe('HashTable (the prefix cache blocks by hash)', () => {
  it('agrees with a Map under any sequence of sets, deletes and clears, through growth and probe runs', () => {
    // Few distinct keys (so deletes hit and runs collide) drawn from the whole 53-bit range.
    const key = fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.constantFrom(0, 2 ** 53 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 52 + 7));
    const op = fc.oneof(
      { weight: 60, arbitrary: fc.tuple(fc.constant('set' as const), key) },
      { weight: 30, arbitrary: fc.tuple(fc.constant('delete' as const), key) },
      { weight: 1, arbitrary: fc.tuple(fc.constant('clear' as const), key) },
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 4000 }), (ops) => {
        const t = new HashTable<{ k: number }>();
        const m = new Map<number, { k: number }>();
        for (const [kind, k] of ops) {
          if (kind === 'set') {
            const v = { k };
            t.set(k, v);
            m.set(k, v);
          } else if (kind === 'delete') expect(t.delete(k)).toBe(m.delete(k));
          else {
            t.clear();
            m.clear();
          }
          expect(t.size).toBe(m.size);
        }
        for (let k = 0; k <= 3000; k++) expect(t.get(k)).toBe(m.get(k));
        for (const k of [0, 2 ** 53 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 52 + 7]) expect(t.has(k)).toBe(m.has(k));
      }),
      { numRuns: 60 },
    );
  });

  it('keeps every entry findable after many deletes in colliding runs', () => {
    const t = new HashTable<number>();
    const keys = Array.from({ length: 5000 }, (_, i) => i * 2 ** 21 + (i % 7));
    keys.forEach((k, i) => t.set(k, i));
    keys.forEach((k, i) => {
      if (i % 3 === 0) expect(t.delete(k)).toBe(true);
    });
    keys.forEach((k, i) => expect(t.get(k)).toBe(i % 3 === 0 ? undefined : i));
    expect(t.size).toBe(keys.length - Math.ceil(keys.length / 3));
  });
});
