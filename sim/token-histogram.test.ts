import fc from 'fast-check';
import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { TokenHistogram } from './token-histogram.js';

const BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5];

describe('TokenHistogram', () => {
  it('exposes exactly the text prom-client’s Histogram does for the same observations (property)', async () => {
    const value = fc.oneof(fc.constantFrom(...BOUNDS, 0, 10), fc.double({ min: 0, max: 20, noNaN: true }));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom('a', 'b'), value), { maxLength: 200 }), async (obs) => {
        const ref = new Registry();
        const theirs = new Histogram({ name: 'x_seconds', help: 'h', labelNames: ['model_name'] as const, buckets: BOUNDS, registers: [ref] });
        const mine = new Registry();
        const ours = new TokenHistogram('x_seconds', 'h', BOUNDS, mine);
        for (const [m, v] of obs) {
          theirs.observe({ model_name: m }, v);
          ours.for(m).observe(v);
        }
        // Series appear in the order they were first asked for (here: first observed, as prom-client orders them).
        expect(await mine.metrics()).toBe(await ref.metrics());
      }),
      { numRuns: 100 },
    );
  });

  it('reset() empties every series, and ascending bounds are required', async () => {
    const r = new Registry();
    const h = new TokenHistogram('y_seconds', 'h', [1, 2], r);
    h.for('m').observe(1.5);
    expect(await r.metrics()).toContain('y_seconds_bucket{le="2",model_name="m"} 1');
    r.resetMetrics();
    expect(await r.metrics()).not.toContain('y_seconds_count');
    expect(() => new TokenHistogram('z', 'h', [2, 1], new Registry())).toThrow(/expected ascending bucket bounds, got 2, 1/);
  });
});
