/**
 * `npm run metastability-grid [-- --seeds 1,2,3] [--brownouts 1s,2s,5s,10s,20s] [--policies a,b] [--json]`: runs
 * the metastability grid (harness/run/metastability-grid.ts) in virtual time and prints it as Markdown, or the
 * cells as JSON. Exit 2 on a bad flag.
 */
import { parseArgs } from 'node:util';
import { parseDuration, parseList, UsageError } from '../harness/cli/flags.js';
import { renderGridMarkdown, runMetastabilityGrid } from '../harness/run/metastability-grid.js';
import { policyName } from '../harness/scenario.js';
import { GRID_BROWNOUTS_MS, metastabilityCell } from '../scenarios/metastability-grid.js';

function list<T>(flag: string, text: string | undefined, parse: (s: string) => T, fallback: readonly T[]): readonly T[] {
  if (text === undefined) return fallback;
  const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new UsageError(`${flag}: expected a comma-separated list, got ${JSON.stringify(text)}`);
  return items.map(parse);
}

const USAGE = `Usage: npm run metastability-grid [-- --brownouts LIST --seeds LIST --policies LIST --json]

Runs scenarios/metastability-grid.ts in virtual time for every brownout length and seed, every policy in every
cell, and prints per policy and seed the recovery after each brownout (never = metastable) and the goodput.

Options:
  --brownouts <list>  brownout lengths, e.g. 10s,20s (default: 1s,2s,5s,10s,20s)
  --seeds <list>      seeds, e.g. 1,2 (default: 1,2,3)
  --policies <list>   only these of the scenario's policies, e.g. naive,resilient (default: all)
  --json              print the cells as JSON instead of Markdown
  -h, --help          show this help

A line per cell goes to stderr as it finishes. Exit codes: 0 ok; 2 a bad flag.
Example: npm run metastability-grid -- --brownouts 10s,20s --seeds 1 --policies naive,resilient
`;

try {
  const { values } = parseArgs({
    options: { seeds: { type: 'string' }, brownouts: { type: 'string' }, policies: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help === true) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const seeds = list('--seeds', values.seeds, (s) => {
    const n = Number(s);
    if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--seeds: expected non-negative integers like 1,2,3, got ${JSON.stringify(s)}`);
    return n;
  }, [1, 2, 3]);
  const brownoutsMs = list('--brownouts', values.brownouts, (s) => parseDuration('--brownouts', s), GRID_BROWNOUTS_MS);
  // Named policies must be the scenario's: an unknown one would run nothing and print an empty grid.
  const policies = values.policies === undefined ? undefined : parseList('--policies', values.policies, metastabilityCell(10_000).policies.map(policyName));
  const cells = await runMetastabilityGrid({
    cell: metastabilityCell,
    brownoutsMs,
    seeds,
    ...(policies !== undefined ? { policies } : {}),
    onCell: (c) => process.stderr.write(`brownout ${c.brownoutMs / 1000} s, seed ${c.seed}, ${c.policy}: ${c.status}\n`),
  });
  process.stdout.write(values.json === true ? `${JSON.stringify(cells, null, 2)}\n` : renderGridMarkdown(cells));
} catch (err) {
  const e = err as Error & { code?: string };
  if (err instanceof UsageError || e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    process.stderr.write(`error: ${e.message.split('\n')[0]}\nRun "npm run metastability-grid -- --help" for usage.\n`);
    process.exit(2);
  }
  throw err;
}
