/**
 * What each preset costs per day at a given request volume, from RunResults (the committed baselines, or any run):
 * dollars per client request of the run (every outcome counts: a failed request still paid for its attempts)
 * times requests per day. The scaling assumes the day looks like the run: the same mix, the same share of time
 * under its fault phases, the same prices.
 *
 *   npx tsx harness/cost/per-day.ts [RESULT.json ...]   (default: reports/baselines/*.json)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PRESET_NAMES } from '../../src/policy.js';
import { fmtPct, fmtUsd } from '../report/format.js';
import { mdTable } from '../report/markdown.js';
import { parseRunResult, type RunResult } from '../report/schema.js';

/** Daily volumes the table shows. */
export const DAILY_VOLUMES = [1_000, 10_000, 100_000] as const;

/** One policy's daily figures in one scenario; nulls where the run has no cost. */
export interface DailyCost {
  readonly scenario: string;
  readonly policy: string;
  readonly usdPerRequest: number | null;
  readonly wastedPerRequest: number | null;
  /** Share of requests that met every SLO (what the money bought). */
  readonly goodShare: number | null;
  readonly perDay: ReadonlyArray<number | null>;
  readonly wastedPerDay: ReadonlyArray<number | null>;
}

/** The presets' daily costs in one run. Custom policies (overrides) are left out: the question is about presets. */
export function dailyCosts(r: RunResult, volumes: readonly number[] = DAILY_VOLUMES): DailyCost[] {
  return r.policies
    .filter((p) => (PRESET_NAMES as readonly string[]).includes(p.name))
    .map((p) => {
      const n = p.summary.requests;
      const per = n === 0 || p.summary.cost.totalUsd === null ? null : p.summary.cost.totalUsd / n;
      const waste = n === 0 || p.summary.cost.wastedUsd === null ? null : p.summary.cost.wastedUsd / n;
      return {
        scenario: r.scenario.name,
        policy: p.name,
        usdPerRequest: per,
        wastedPerRequest: waste,
        goodShare: n === 0 ? null : p.summary.sloMet / n,
        perDay: volumes.map((v) => (per === null ? null : per * v)),
        wastedPerDay: volumes.map((v) => (waste === null ? null : waste * v)),
      };
    });
}

/** A Markdown table per scenario. */
export function renderDailyCosts(rows: readonly DailyCost[], volumes: readonly number[] = DAILY_VOLUMES): string {
  const out: string[] = [];
  const k = (v: number): string => (v >= 1000 ? `${v / 1000}K` : String(v));
  for (const scenario of [...new Set(rows.map((r) => r.scenario))]) {
    const mine = rows.filter((r) => r.scenario === scenario);
    out.push(`### ${scenario}`, '');
    out.push(
      mdTable(
        ['Preset', '$/request', ...volumes.map((v) => `$/day @${k(v)}`), `wasted $/day @${k(volumes[volumes.length - 1] ?? 0)}`, 'met SLO'],
        mine.map((r) => [r.policy, fmtUsd(r.usdPerRequest), ...r.perDay.map(fmtUsd), fmtUsd(r.wastedPerDay[r.wastedPerDay.length - 1]), fmtPct(r.goodShare)]),
        ['left', 'right', ...volumes.map(() => 'right' as const), 'right', 'right'],
      ),
      '',
    );
  }
  return out.join('\n');
}

const USAGE = `Usage: npx tsx harness/cost/per-day.ts [RESULT.json ...]

What each preset costs per day at 1K, 10K and 100K requests, from RunResults (result.json of runs, or baselines):
dollars per client request of the run times requests per day (docs/cost.md). Default: reports/baselines/*.json.
`;

function main(args: readonly string[]): void {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(USAGE);
    return;
  }
  const files = args.length > 0 ? args.map((a) => resolve(a)) : readdirSync('reports/baselines').filter((f) => f.endsWith('.json')).sort().map((f) => join('reports/baselines', f));
  const rows = files.flatMap((f) => {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (e) {
      throw new Error(`${f}: expected a readable RunResult file (result.json), got ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return dailyCosts(parseRunResult(text, f));
  });
  process.stdout.write(renderDailyCosts(rows));
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    if (process.env['DEBUG']) console.error(err);
    process.stderr.write(`error: ${(err as Error).message.split('\n')[0]}\n`);
    process.exit(2);
  }
}
