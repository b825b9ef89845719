/**
 * Issue #14's metastability grid (scenarios/metastability-grid.ts): chat at 85% of capacity, clients that time out
 * after 3 s and resend up to 4 times, brownouts (step time ×4) of 1, 2, 5, 10 and 20 s, seeds 1–3, in virtual time.
 * The budgeted policies recover in every cell and stay recovered (no relapse); `naive` stays saturated after the
 * long triggers (metastable), as the recovery figure says. `npm run metastability-grid` prints the whole grid.
 */
import { describe, expect, it } from 'vitest';
import { gridCellText, runMetastabilityGrid } from '../harness/run/metastability-grid.js';
import { GRID_BROWNOUTS_MS, metastabilityCell } from '../scenarios/metastability-grid.js';

const SEEDS = [1, 2, 3];
const cellName = (c: { policy: string; brownoutMs: number; seed: number }): string => `${c.policy} ${c.brownoutMs / 1000} s seed ${c.seed}`;

describe('metastability grid', () => {
  it('resilient and adaptive recover after every brownout at every seed, and stay recovered', async () => {
    const cells = await runMetastabilityGrid({ cell: metastabilityCell, brownoutsMs: GRID_BROWNOUTS_MS, seeds: SEEDS, policies: ['resilient', 'adaptive'] });
    expect(cells).toHaveLength(GRID_BROWNOUTS_MS.length * SEEDS.length * 2);
    const notRecovered = cells.filter((c) => c.status !== 'recovered').map((c) => `${cellName(c)}: ${gridCellText(c)}`);
    expect(notRecovered).toEqual([]);
  }, 3_600_000);

  it('naive stays saturated after the 10 s and 20 s brownouts (metastable)', async () => {
    const cells = await runMetastabilityGrid({ cell: metastabilityCell, brownoutsMs: [10_000, 20_000], seeds: SEEDS, policies: ['naive'] });
    expect(cells.map((c) => `${c.brownoutMs / 1000} s seed ${c.seed}: ${c.status}`)).toEqual(
      [10, 20].flatMap((b) => SEEDS.map((s) => `${b} s seed ${s}: metastable`)),
    );
    // The clients' timeouts are what keep it there: it keeps abandoning and resending.
    for (const c of cells) expect(c.clientTimeouts).toBeGreaterThan(0);
  }, 3_600_000);
});
