import { describe, expect, it } from 'vitest';
import { loadScenario } from '../harness/run/scenarios.js';
import { runScenarioVirtual } from '../harness/run/run-scenario.js';
import { serializeRunResult } from '../harness/report/serialize.js';
import type { RunResult } from '../harness/report/schema.js';

/** result.json without `meta`, the only part allowed to differ between identical runs. */
const withoutMeta = (r: RunResult): string => serializeRunResult(r).replace(/"meta": \{[\s\S]*\}\n\}\n$/, '');

describe('virtual runs are exactly repeatable', () => {
  it('the same seed and code give a byte-identical result.json apart from meta (burst-1000, naive + resilient)', async () => {
    const scenario = await loadScenario('burst-1000');
    const run = (): Promise<RunResult> => runScenarioVirtual({ scenario, policies: ['naive', 'resilient'] });
    const a = await run();
    const b = await run();
    expect(withoutMeta(a)).toContain('"policies"');
    expect(withoutMeta(a)).not.toContain('"meta"');
    expect(withoutMeta(a)).toBe(withoutMeta(b));
    // And the seed matters: another seed gives other numbers.
    const c = await runScenarioVirtual({ scenario, policies: ['naive'], seed: 2 });
    expect(c.policies[0]?.summary.ttftMs).not.toEqual(a.policies[0]?.summary.ttftMs);
  });
});
