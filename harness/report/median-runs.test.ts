import { describe, expect, it } from 'vitest';
import { renderRunsMarkdown, summarizeRunsByPolicy } from './median-runs.js';
import type { RunResult } from './schema.js';
import { syntheticRunResult } from './synthetic-run.js';

/** A run whose policies' goodput and failures are set. */
function run(goodput: Record<string, number>, failed: Record<string, number>): RunResult {
  const r = syntheticRunResult(7, 10_000, 5);
  return {
    ...r,
    ceiling: { goodputPerSec: 10, requests: 100, planned: 100, feasible: 100, limit: 'arrivals', windowMs: null },
    policies: r.policies.map((p) => ({ ...p, summary: { ...p.summary, goodputPerSec: goodput[p.name] ?? 0, failed: failed[p.name] ?? 0, timeout: 1 } })),
  };
}

describe('median of runs', () => {
  const names = syntheticRunResult(7, 10_000, 5).policies.map((p) => p.name);
  const [a, b] = names as [string, string];
  const runs = [run({ [a]: 3, [b]: 9 }, { [a]: 10, [b]: 0 }), run({ [a]: 5, [b]: 7 }, { [a]: 30, [b]: 2 }), run({ [a]: 4, [b]: 8 }, { [a]: 20, [b]: 1 })];

  it('takes each figure of each policy over the runs, median by median', () => {
    const rows = summarizeRunsByPolicy(runs);
    expect(rows.map((r) => r.policy)).toEqual(names);
    expect(rows[0]!.runs.map((x) => x.goodputPerSec)).toEqual([3, 5, 4]);
    expect(rows[0]!.median).toMatchObject({ goodputPerSec: 4, failedOrTimeout: 21, ceilingShare: 0.4 });
    expect(rows[1]!.median).toMatchObject({ goodputPerSec: 8, failedOrTimeout: 2 });
  });

  it('prints a table per figure with a column per run and the median', () => {
    const md = renderRunsMarkdown(runs);
    expect(md).toContain('3 virtual runs, medians');
    expect(md).toContain(`| ${a} | 3.00 | 5.00 | 4.00 | 4.00 |`);
    expect(md).toContain(`| ${a} | 11 | 31 | 21 | 21 |`);
  });
});
