import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RingBuffer } from './ring-buffer.js';

describe('RingBuffer', () => {
  it('behaves like an array used as a deque, across growth and wrap-around', () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant('push' as const), v: fc.integer() }),
      fc.constant({ k: 'shift' as const }),
      fc.constant({ k: 'pop' as const }),
      fc.record({ k: fc.constant('filter' as const), m: fc.integer({ min: 2, max: 4 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const ring = new RingBuffer<number>(4);
        const model: number[] = [];
        for (const o of ops) {
          if (o.k === 'push') {
            ring.push(o.v);
            model.push(o.v);
          } else if (o.k === 'shift') expect(ring.shift()).toBe(model.shift());
          else if (o.k === 'pop') expect(ring.pop()).toBe(model.pop());
          else {
            ring.filter((x) => x % o.m !== 0);
            model.splice(0, model.length, ...model.filter((x) => x % o.m !== 0));
          }
          expect(ring.size).toBe(model.length);
          expect(ring.peekFront()).toBe(model[0]);
          expect(ring.peekBack()).toBe(model[model.length - 1]);
        }
        expect(ring.toArray()).toEqual(model);
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  it('clear empties it', () => {
    const ring = new RingBuffer<string>();
    ring.push('a');
    ring.clear();
    expect(ring.size).toBe(0);
    expect(ring.shift()).toBeUndefined();
  });
});
