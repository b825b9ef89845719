/** Writing a sweep's artifacts into its output folder: sweep.json, report.md, report.html, best-policy.json. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { bestPolicy, serializeSweep, type SweepDocument } from './document.js';
import { renderCapacityMarkdown, type CapacityDocument } from './capacity-report.js';
import { renderTuneHtml } from './report-html.js';
import { renderTuneMarkdown } from './report-md.js';

/** `reports/tune/20261122-125100-burst-1000` for a sweep started at that instant (ISO `startedAt`). */
export function defaultTuneDir(startedAt: string, scenario: string, root = 'reports/tune'): string {
  const stamp = startedAt.replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return join(root, `${stamp}-${scenario}`);
}

/** The paths written. `best` is absent when no configuration met the SLOs. */
export interface SweepPaths {
  readonly json: string;
  readonly md: string;
  readonly html: string;
  readonly best?: string;
}

/** Writes the sweep's artifacts and returns their paths. */
export async function writeSweepArtifacts(doc: SweepDocument, dir: string): Promise<SweepPaths> {
  const out = resolve(dir);
  await mkdir(out, { recursive: true });
  const paths = { json: join(out, 'sweep.json'), md: join(out, 'report.md'), html: join(out, 'report.html') };
  await writeFile(paths.json, serializeSweep(doc));
  await writeFile(paths.md, renderTuneMarkdown(doc));
  await writeFile(paths.html, renderTuneHtml(doc));
  const best = bestPolicy(doc);
  if (best === null) return paths;
  const file = join(out, 'best-policy.json');
  await writeFile(file, `${JSON.stringify(best, null, 2)}\n`);
  return { ...paths, best: file };
}

/** Writes capacity.json and capacity.md. */
export async function writeCapacityArtifacts(doc: CapacityDocument, dir: string): Promise<{ json: string; md: string }> {
  const out = resolve(dir);
  await mkdir(out, { recursive: true });
  const paths = { json: join(out, 'capacity.json'), md: join(out, 'capacity.md') };
  await writeFile(paths.json, `${JSON.stringify(doc, null, 2)}\n`);
  await writeFile(paths.md, renderCapacityMarkdown(doc));
  return paths;
}
