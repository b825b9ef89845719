/** Writing a run's artifacts: result.json, report.md and report.html in one folder. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { renderHtml } from '../report/html.js';
import { renderMarkdown } from '../report/markdown.js';
import type { RunResult } from '../report/schema.js';
import { serializeRunResult } from '../report/serialize.js';

/** `reports/runs/20261122-125100-burst-1000` for a run started at that instant. */
export function defaultRunDir(result: RunResult, root = 'reports/runs'): string {
  const stamp = result.meta.startedAt.replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return join(root, `${stamp}-${result.scenario.name}`);
}

/** Writes the three artifacts and returns their paths. */
export async function writeRunArtifacts(result: RunResult, dir: string): Promise<{ json: string; md: string; html: string }> {
  const out = resolve(dir);
  await mkdir(out, { recursive: true });
  const paths = { json: join(out, 'result.json'), md: join(out, 'report.md'), html: join(out, 'report.html') };
  await writeFile(paths.json, serializeRunResult(result));
  await writeFile(paths.md, renderMarkdown(result));
  await writeFile(paths.html, renderHtml(result));
  return paths;
}
