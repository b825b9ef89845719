/**
 * `npm run metastability-grid [-- --seeds 1,2,3] [--brownouts 1s,2s,5s,10s,20s] [--policies a,b] [--json]`: runs
 * the metastability grid (harness/run/metastability-grid.ts) in virtual time and prints it as Markdown, or the
 * cells as JSON. Exit 2 on a bad flag.
 */
import { parseArgs } from 'node:util';
import { parseDuration, UsageError } from '../harness/cli/flags.js';
import { renderGridMarkdown, runMetastabilityGrid } from '../harness/run/metastability-grid.js';
import { GRID_BROWNOUTS_MS, metastabilityCell } from '../scenarios/metastability-grid.js';

function list<T>(flag: string, text: string | undefined, parse: (s: string) => T, fallback: readonly T[]): readonly T[] {
  if (text === undefined) return fallback;
  const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new UsageError(`${flag}: expected a comma-separated list, got ${JSON.stringify(text)}`);
  return items.map(parse);
}

try {
  const { values } = parseArgs({
    options: { seeds: { type: 'string' }, brownouts: { type: 'string' }, policies: { type: 'string' }, json: { type: 'boolean' } },
    strict: true,
  });
  const seeds = list('--seeds', values.seeds, (s) => {
    const n = Number(s);
    if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--seeds: expected non-negative integers like 1,2,3, got ${JSON.stringify(s)}`);
    return n;
  }, [1, 2, 3]);
  const brownoutsMs = list('--brownouts', values.brownouts, (s) => parseDuration('--brownouts', s), GRID_BROWNOUTS_MS);
  const policies = values.policies === undefined ? undefined : list('--policies', values.policies, (s) => s, []);
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
    process.stderr.write(`${e.message}\n`);
    process.exit(2);
  }
  throw err;
}
