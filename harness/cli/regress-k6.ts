/**
 * `npm run regress -- --from-k6 FILE [--baselines DIR] [--update]`: gates a k6 run of an exported script (the JSON
 * its handleSummary wrote) by the rules `npm run regress` applies to the harness's own runs: against the committed
 * k6 baseline `<baselines>/k6/<scenario>.json`, p99 TTFT, p99 E2E and goodput within the scenario's tolerance, and
 * every k6 threshold held. `--update` writes the run as that baseline instead.
 */
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { compareK6Summaries, failedK6Thresholds, parseK6Summary, type K6Summary } from '../report/k6-summary.js';
import { renderRegressMarkdown, type RegressTolerance } from '../report/regress.js';
import { listScenarioNames, loadScenario } from '../run/scenarios.js';
import { UsageError } from './flags.js';

/** The flags of `regress` that --from-k6 uses. */
export interface RegressK6Flags {
  readonly fromK6: string;
  readonly baselines: string;
  readonly update?: boolean;
}

async function readSummary(file: string, flag: string): Promise<K6Summary | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return parseK6Summary(text, file);
  } catch (e) {
    throw new UsageError(`${flag}: ${(e as Error).message}`);
  }
}

/** The tolerance of the scenario's regress block, when the scenario is one of ours and has one. */
async function toleranceOf(name: string): Promise<RegressTolerance | undefined> {
  if (!listScenarioNames().includes(name)) return undefined;
  return (await loadScenario(name)).regress?.tolerance;
}

/** Runs the check; returns the exit code (0 pass, 1 regression, broken threshold or missing baseline). */
export async function runRegressFromK6(flags: RegressK6Flags): Promise<number> {
  const current = await readSummary(resolve(flags.fromK6), '--from-k6');
  if (current === undefined) throw new UsageError(`--from-k6: cannot read ${flags.fromK6}`);
  const file = join(flags.baselines, 'k6', `${current.scenario}.json`);
  if (flags.update === true) {
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, `${JSON.stringify(current, null, 2)}\n`);
    console.log(`regress: k6 baseline written to ${file}`);
    return 0;
  }
  const sections = [`# Regression check (k6 run of ${current.scenario} against ${current.target})`, ''];
  let failed = false;
  const baseline = await readSummary(file, 'baseline');
  if (baseline === undefined) {
    failed = true;
    sections.push(`**No k6 baseline** at \`${file}\`: run \`npm run regress -- --from-k6 ${flags.fromK6} --update\` on a good run and commit it.`, '');
  } else {
    const comparison = compareK6Summaries(current, baseline, (await toleranceOf(current.scenario)) ?? undefined);
    if (comparison.regression) failed = true;
    sections.push(renderRegressMarkdown(comparison), '');
  }
  const broken = failedK6Thresholds(current);
  if (broken.length > 0) {
    failed = true;
    sections.push(`k6 thresholds broken: ${broken.join('; ')}`, '');
  }
  if (current.summary.unfinished > 0) {
    failed = true;
    sections.push(`${current.summary.unfinished} requests were still open when k6 stopped the run`, '');
  }
  const summary = `${sections.join('\n')}\n${failed ? '**Result: regression**\n' : '**Result: no regression**\n'}`;
  console.log(summary);
  if (process.env['GITHUB_STEP_SUMMARY']) await appendFile(process.env['GITHUB_STEP_SUMMARY'], summary);
  return failed ? 1 : 0;
}

