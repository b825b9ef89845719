import { describe, expect, it } from 'vitest';
import { validateScenario } from '../scenario.js';
import { tinyScenario } from '../tune/fixture.js';
import { dailyCosts } from './per-day.js';
import { resolvePrice } from './price.js';
import { PRICE_SHEET_NAMES, PRICE_SHEETS } from './price-sheets.js';
import { syntheticRunResult } from '../report/synthetic-run.js';

describe('prices', () => {
  it('resolves a sheet by name, and numbers with the cached price defaulting to the input price', () => {
    expect(resolvePrice('openai/gpt-4o-mini', 'p')).toEqual({ kind: 'tokens', inputPer1M: 0.15, cachedInputPer1M: 0.075, outputPer1M: 0.6 });
    expect(resolvePrice('gpu/h100-sxm', 'p')).toEqual({ kind: 'gpu-hour', gpuHourUsd: 2.99 });
    expect(resolvePrice({ inputPer1M: 1, outputPer1M: 2 }, 'p')).toEqual({ kind: 'tokens', inputPer1M: 1, cachedInputPer1M: 1, outputPer1M: 2 });
    expect(resolvePrice({ gpuHourUsd: 4 }, 'p')).toEqual({ kind: 'gpu-hour', gpuHourUsd: 4 });
  });

  it('every shipped sheet is dated and sourced', () => {
    for (const name of PRICE_SHEET_NAMES) {
      expect(PRICE_SHEETS[name].asOf).toMatch(/^\d{4}-\d{2}$/);
      expect(PRICE_SHEETS[name].source).toMatch(/^https:\/\//);
    }
  });

  it('a bad price is one line naming the field', () => {
    expect(() => resolvePrice('openai/gpt-5-turbo', 'scenario.model.price')).toThrow(/^scenario\.model\.price: expected a price sheet \(openai\/gpt-4o-mini, .*\) or numbers, got "openai\/gpt-5-turbo"$/);
    expect(() => resolvePrice({ inputPer1M: 1, outputPer1M: 'x' }, 'scenario.model.price')).toThrow('scenario.model.price.outputPer1M: expected a non-negative number (USD), got "x"');
    expect(() => resolvePrice({ inputPer1M: -1, outputPer1M: 1 }, 'scenario.model.price')).toThrow('scenario.model.price.inputPer1M: expected a non-negative number (USD), got -1');
    expect(() => resolvePrice({ gpuHourUsd: 2, perHour: 1 }, 'scenario.model.price')).toThrow('scenario.model.price.perHour: expected no such field (a price has only gpuHourUsd), got 1');
    expect(() => resolvePrice(7, 'scenario.model.fallbackPrice')).toThrow(/^scenario\.model\.fallbackPrice: expected a price sheet name or/);
  });

  it('a scenario validates its prices', () => {
    const s = tinyScenario();
    expect(validateScenario({ ...s, model: { ...s.model, price: 'openai/gpt-4o' } }).model.price).toBe('openai/gpt-4o');
    expect(() => validateScenario({ ...s, model: { ...s.model, fallbackPrice: { inputPer1M: 1 } } })).toThrow('scenario.model.fallbackPrice.outputPer1M: expected a non-negative number (USD), got undefined');
  });
});

describe('cost per day', () => {
  it('scales dollars per request of the run to daily volumes, and keeps unknown as null', () => {
    const r = structuredClone(syntheticRunResult(1, 10_000, 4));
    const p = r.policies[0]!;
    Object.assign(p.summary, { requests: 200, sloMet: 150, cost: { ...p.summary.cost, totalUsd: 0.5, wastedUsd: 0.1 } });
    const rows = dailyCosts(r, [1000, 100_000]);
    expect(rows[0]).toMatchObject({ policy: p.name, usdPerRequest: 0.0025, goodShare: 0.75, perDay: [2.5, 250], wastedPerDay: [0.5, 50] });
    expect(rows[1]).toMatchObject({ usdPerRequest: null, perDay: [null, null] });
  });
});
