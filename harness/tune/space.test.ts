import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { preset } from '../../src/policy.js';
import { buildConfigs, configLabel, gridSize, parseSearch, parseSpace, parseVary, stableStringify } from './space.js';

const base = preset('resilient');

describe('--vary parsing', () => {
  it('parses lists typed after the base field', () => {
    expect(parseVary('concurrency.limit=32,64,128', base)).toEqual({ path: 'concurrency.limit', values: [32, 64, 128], scale: 'list' });
    expect(parseVary('retry.jitter=none,full', base).values).toEqual(['none', 'full']);
    expect(parseVary('breaker.enabled=true,false', base).values).toEqual([true, false]);
    // An optional field absent from the base: the type is inferred from the text.
    expect(parseVary('rateLimit.requestsPerMinute=600,1200', base).values).toEqual([600, 1200]);
  });

  it('parses linear and log ranges, ends included, rounding only integer fields', () => {
    expect(parseVary('retryBudget.ratio=0.05..0.3:6', base)).toEqual({ path: 'retryBudget.ratio', values: [0.05, 0.1, 0.15, 0.2, 0.25, 0.3], scale: 'linear' });
    expect(parseVary('concurrency.limit=16..256:5:log', base).values).toEqual([16, 32, 64, 128, 256]);
    // 10, 32.5, 55 → integers for an integer field; a float field keeps the fractions.
    expect(parseVary('concurrency.limit=10..55:3', base).values).toEqual([10, 33, 55]);
    expect(parseVary('retry.factor=1..2:3', base).values).toEqual([1, 1.5, 2]);
    // Rounding that collapses values de-duplicates them.
    expect(parseVary('retry.maxAttempts=1..2:4', base).values).toEqual([1, 2]);
  });

  it('names the flag, the path and the bad value before anything runs', () => {
    expect(() => parseVary('concurrency.limt=1,2', base)).toThrow(/--vary concurrency\.limt=1,2: unknown Policy field "concurrency\.limt"; expected one of concurrency\.mode, concurrency\.limit/);
    expect(() => parseVary('concurrency.limit=0,4', base)).toThrow('--vary concurrency.limit=0,4: concurrency.limit: expected a number >= 1, got 0');
    expect(() => parseVary('retry.jitter=full,sometimes', base)).toThrow('retry.jitter: expected one of "none" | "full" | "equal" | "decorrelated", got "sometimes"');
    expect(() => parseVary('breaker.enabled=yes', base)).toThrow('--vary breaker.enabled=yes: expected true or false, got "yes"');
    expect(() => parseVary('concurrency.limit=4,x', base)).toThrow('--vary concurrency.limit=4,x: expected a number, got "x"');
    expect(() => parseVary('concurrency=4', base)).toThrow('concurrency is a group; expected one of its fields: concurrency.mode');
    expect(() => parseVary('retryBudget.ratio=0.05..0.3:1', base)).toThrow('expected a range with at least 2 points');
    expect(() => parseVary('retryBudget.ratio=0.05..x:3', base)).toThrow('expected a range like 0.05..0.3:6');
    expect(() => parseVary('concurrency.limit=0..4:0:log', base)).toThrow('at least 2 points');
    expect(() => parseVary('concurrency.limit=0..4:3:log', base)).toThrow('expected positive ends for a log range');
    expect(() => parseVary('retry.jitter=1..2:2', base)).toThrow('retry.jitter takes string values; a numeric range does not apply');
    expect(() => parseVary('concurrency.limit=4,4', base)).toThrow('value 4 is listed twice');
    expect(() => parseVary('concurrency.limit', base)).toThrow('--vary: expected path=values');
    expect(() => parseVary('concurrency.minLimit=1,600', base)).toThrow('concurrency.minLimit: expected a number <= concurrency.maxLimit (512), got 600');
    expect(() => parseSpace([], base)).toThrow('--vary: expected at least one');
    expect(() => parseSpace(['concurrency.limit=4', 'concurrency.limit=8'], base)).toThrow('concurrency.limit is varied twice');
  });

  it('parses --search', () => {
    expect(parseSearch('grid')).toEqual({ kind: 'grid' });
    expect(parseSearch('random:12')).toEqual({ kind: 'random', samples: 12 });
    expect(() => parseSearch('random')).toThrow('--search: expected grid or random:N with N >= 1, got "random"');
    expect(() => parseSearch('random:0')).toThrow('--search');
  });
});

describe('configurations', () => {
  const dims = parseSpace(['concurrency.limit=32,64', 'retryBudget.ratio=0.1,0.2,0.3'], base);

  it('spans the grid, first dimension slowest, each a valid policy with a content id', () => {
    const configs = buildConfigs(base, dims, { kind: 'grid' }, 1);
    expect(configs.map((c) => configLabel(c.assignments))).toEqual([
      'concurrency.limit=32 retryBudget.ratio=0.1',
      'concurrency.limit=32 retryBudget.ratio=0.2',
      'concurrency.limit=32 retryBudget.ratio=0.3',
      'concurrency.limit=64 retryBudget.ratio=0.1',
      'concurrency.limit=64 retryBudget.ratio=0.2',
      'concurrency.limit=64 retryBudget.ratio=0.3',
    ]);
    const c = configs[4]!;
    expect(c.policy.concurrency.limit).toBe(64);
    expect(c.policy.retryBudget.ratio).toBe(0.2);
    // Everything else is the base policy.
    expect(stableStringify({ ...c.policy, concurrency: base.concurrency, retryBudget: base.retryBudget })).toBe(stableStringify(base));
    expect(new Set(configs.map((x) => x.id)).size).toBe(6);
    // The id is a content hash: the same policy always gets the same id.
    expect(buildConfigs(base, dims, { kind: 'grid' }, 99)[4]!.id).toBe(c.id);
  });

  it('rejects a combination that breaks a cross-field rule, naming it', () => {
    const d = parseSpace(['concurrency.minLimit=4,300', 'concurrency.maxLimit=256,512'], base);
    expect(() => buildConfigs(base, d, { kind: 'grid' }, 1)).toThrow(
      '--vary: the combination concurrency.minLimit=300 concurrency.maxLimit=256 is not a valid policy: concurrency.minLimit: expected a number <= concurrency.maxLimit (256), got 300',
    );
  });

  it('random:N draws N distinct grid points, the same for the same seed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 1000 }), (n, seed) => {
        const a = buildConfigs(base, dims, { kind: 'random', samples: n }, seed);
        const grid = new Set(buildConfigs(base, dims, { kind: 'grid' }, seed).map((c) => c.id));
        expect(a.length).toBe(Math.min(n, gridSize(dims)));
        expect(new Set(a.map((c) => c.id)).size).toBe(a.length);
        for (const c of a) expect(grid.has(c.id)).toBe(true);
        expect(buildConfigs(base, dims, { kind: 'random', samples: n }, seed).map((c) => c.id)).toEqual(a.map((c) => c.id));
      }),
      { numRuns: 60 },
    );
  });
});
