/**
 * `npm run bench [-- name ...]`: runs every `bench/*.bench.ts` (or the named ones), prints a table and writes
 * JSON to `reports/bench/<name>.json` plus `reports/bench/summary.json`.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cpus } from 'node:os';
import type { Comparison, Measurement } from './lib.js';

type Section = { results: Array<Comparison | Measurement> };

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, '..', 'reports', 'bench');

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    console.log('usage: npm run bench [-- NAME ...]\n\nRuns bench/NAME.bench.ts (all when no name is given) and writes reports/bench/NAME.json.');
    const files = (await readdir(here)).filter((f) => f.endsWith('.bench.ts'));
    console.log(`available: ${files.map((f) => f.replace('.bench.ts', '')).join(', ')}`);
    return;
  }
  const files = (await readdir(here)).filter((f) => f.endsWith('.bench.ts')).sort();
  const known = files.map((f) => f.replace('.bench.ts', ''));
  const unknown = args.filter((a) => !known.includes(a));
  if (unknown.length > 0) {
    console.error(`bench: unknown benchmark ${unknown.join(', ')}; expected one of ${known.join(', ')}`);
    process.exitCode = 2;
    return;
  }
  const selected = args.length > 0 ? known.filter((k) => args.includes(k)) : known;
  await mkdir(outDir, { recursive: true });
  const summary: Record<string, Section> = {};
  for (const name of selected) {
    process.stderr.write(`bench: ${name} ...\n`);
    const mod = (await import(pathToFileURL(join(here, `${name}.bench.ts`)).href)) as { run: () => Promise<Section> };
    const section = await mod.run();
    summary[name] = section;
    await writeFile(join(outDir, `${name}.json`), `${JSON.stringify(section, null, 2)}\n`);
    for (const r of section.results) {
      if ('medians' in r) {
        const parts = Object.entries(r.medians).map(([k, v]) => `${k} ${v.toLocaleString('en-US')} ${r.unit}`);
        console.log(`${r.name}: ${parts.join(' | ')}${r.ratio !== undefined ? ` | ratio ${r.ratio}` : ''}`);
      } else {
        console.log(`${r.name}: ${r.median.toLocaleString('en-US')} ${r.unit}${r.goal ? ` (goal ${r.goal})` : ''}`);
      }
    }
  }
  const machine = { node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown' };
  await writeFile(join(outDir, 'summary.json'), `${JSON.stringify({ machine, sections: summary }, null, 2)}\n`);
  console.log(`bench: wrote ${join('reports', 'bench')}/*.json`);
}

await main();
