/**
 * The metastability grid: the metastability-grid scenario (chat at 85% of capacity, clients that time out after 3 s
 * and resend up to 4 times) through brownouts of several lengths at several seeds, each cell a virtual run of every
 * policy, and what the recovery figure says about each (recovered, never, or recovered and relapsed). A pure runner
 * and a Markdown renderer; `npm run metastability-grid` prints it.
 */
import { policyName, type Scenario } from '../scenario.js';
import type { RecoveryStatus } from '../measure/recovery.js';
import { fmtMs } from '../report/format.js';
import { runPolicyVirtual } from './virtual.js';

/** One policy in one cell. */
export interface GridCell {
  readonly brownoutMs: number;
  readonly seed: number;
  readonly policy: string;
  readonly status: RecoveryStatus;
  readonly recoveryMs: number | null;
  readonly relapsedAtMs: number | null;
  readonly goodputPerSec: number;
  /** Requests the clients abandoned (and resent, while resends were left). */
  readonly clientTimeouts: number;
}

/** Options of {@link runMetastabilityGrid}. */
export interface GridOptions {
  /** The scenario of a cell, by brownout length (scenarios/metastability-grid.ts `metastabilityCell`). */
  readonly cell: (brownoutMs: number) => Scenario;
  readonly brownoutsMs: readonly number[];
  readonly seeds: readonly number[];
  /** @default every policy of the scenario */
  readonly policies?: readonly string[];
  /** Called after each policy run. */
  readonly onCell?: (c: GridCell) => void;
}

/** Runs every cell; cells in brownout, seed, policy order. */
export async function runMetastabilityGrid(o: GridOptions): Promise<GridCell[]> {
  const out: GridCell[] = [];
  for (const brownoutMs of o.brownoutsMs) {
    const scenario = o.cell(brownoutMs);
    const policies = scenario.policies.filter((p) => o.policies === undefined || o.policies.includes(policyName(p)));
    for (const seed of o.seeds) {
      for (const policy of policies) {
        const { result } = await runPolicyVirtual({ scenario, policy, seed, durationMs: scenario.durationMs });
        const r = result.summary.recovery[0];
        const cell: GridCell = {
          brownoutMs,
          seed,
          policy: result.name,
          status: r?.status ?? 'insufficient-data',
          recoveryMs: r?.recoveryMs ?? null,
          relapsedAtMs: r?.relapsedAtMs ?? null,
          goodputPerSec: result.summary.goodputPerSec,
          clientTimeouts: result.summary.reasons?.client_timeout ?? 0,
        };
        out.push(cell);
        o.onCell?.(cell);
      }
    }
  }
  return out;
}

/** What the recovery figure says about one cell, e.g. `3.0 s`, `never`, `3.0 s, relapsed at 40 s`. */
export function gridCellText(c: GridCell): string {
  switch (c.status) {
    case 'recovered':
      return fmtMs(c.recoveryMs);
    case 'metastable':
      return c.relapsedAtMs === null ? 'never' : `${fmtMs(c.recoveryMs)}, relapsed at ${fmtMs(c.relapsedAtMs)}`;
    case 'no-baseline':
      return '— (no baseline)';
    case 'insufficient-data':
      return '— (run ended)';
  }
}

/** The grid as Markdown: a row per policy and seed, a column per brownout; each cell recovery and goodput. */
export function renderGridMarkdown(cells: readonly GridCell[]): string {
  const brownouts = [...new Set(cells.map((c) => c.brownoutMs))];
  const rows = [...new Set(cells.map((c) => `${c.policy}\u0000${c.seed}`))];
  const lines = [
    `| Policy | Seed | ${brownouts.map((b) => `${fmtMs(b)} brownout`).join(' | ')} |`,
    `| --- | ---: | ${brownouts.map(() => '---:').join(' | ')} |`,
  ];
  for (const row of rows) {
    const [policy, seed] = row.split('\u0000') as [string, string];
    const cellsOf = brownouts.map((b) => cells.find((c) => c.policy === policy && String(c.seed) === seed && c.brownoutMs === b));
    lines.push(`| ${policy} | ${seed} | ${cellsOf.map((c) => (c === undefined ? '' : `${gridCellText(c)} (${c.goodputPerSec.toFixed(1)}/s)`)).join(' | ')} |`);
  }
  const verdict = [...new Set(cells.map((c) => c.policy))].map((p) => {
    const mine = cells.filter((c) => c.policy === p);
    const ok = mine.filter((c) => c.status === 'recovered').length;
    return `${p} recovered and stayed recovered in ${ok} of ${mine.length} cells`;
  });
  return [
    ...lines,
    '',
    `Each cell: recovery after the brownout ("never" = metastable; "relapsed" = recovered, then under half its pre-fault goodput for 5 s in a row with no fault to blame), and goodput over the run. ${verdict.join('; ')}.`,
    '',
  ].join('\n');
}
