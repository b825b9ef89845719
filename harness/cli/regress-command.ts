/**
 * `npm run regress [-- --baselines DIR --update]`: runs the CI set of scenarios (those with a `regress` block) in
 * virtual mode and compares every policy with the committed baseline: p99 TTFT, p99 E2E and goodput, within the
 * tolerance the scenario states. Prints a Markdown summary, writes JUnit XML, and rewrites baselines only with
 * --update.
 */
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Command } from 'commander';
import { HarnessError } from '../../src/errors.js';
import { compareToBaseline, renderRegressMarkdown, type BaselineComparison } from '../report/regress.js';
import { renderJUnit } from '../report/junit.js';
import { allThresholdResults, thresholdsPassed } from '../report/run-result.js';
import { parseRunResult, type RunResult } from '../report/schema.js';
import { serializeRunResult } from '../report/serialize.js';
import { listScenarioNames, loadScenario } from '../run/scenarios.js';
import { runScenarioVirtual } from '../run/run-scenario.js';
import type { Scenario } from '../scenario.js';
import { parseList } from './flags.js';
import { runRegressFromK6 } from './regress-k6.js';

interface RegressFlags {
  baselines: string;
  update?: boolean;
  junit: string;
  scenarios?: string;
  fromK6?: string;
}

export function regressCommand(): Command {
  return new Command('regress')
    .description('Run the CI scenarios in virtual mode and fail when p99 latency or goodput regressed against the baselines.')
    .option('--baselines <dir>', 'folder of committed baselines, one <scenario>.json each', 'reports/baselines')
    .option('--update', 'write the current results as the new baselines instead of comparing')
    .option('--junit <file>', 'where to write the JUnit XML report', 'reports/runs/regress/junit.xml')
    .option('--scenarios <list>', 'only these CI scenarios (default: every scenario with a regress block)')
    .option('--from-k6 <file>', 'gate a k6 run instead: the JSON an exported script\'s handleSummary wrote, against <baselines>/k6/<scenario>.json (harness/cli/regress-k6.ts)')
    .addHelpText(
      'after',
      '\nExit codes: 0 no regression and every threshold held; 1 a regression, a broken threshold or a missing baseline;\n' +
        '2 bad flag. With GITHUB_STEP_SUMMARY set, the Markdown summary is appended there too.',
    )
    .action(async (flags: RegressFlags) => {
      if (flags.fromK6 !== undefined) {
        process.exitCode = await runRegressFromK6({ fromK6: flags.fromK6, baselines: flags.baselines, ...(flags.update === true ? { update: true } : {}) });
        return;
      }
      process.exitCode = await runRegress(flags);
    });
}

async function ciScenarios(only: string | undefined): Promise<Scenario[]> {
  const all = await Promise.all(listScenarioNames().map((n) => loadScenario(n)));
  const ci = all.filter((s) => s.regress !== undefined);
  if (only === undefined) return ci;
  const names = parseList('--scenarios', only, ci.map((s) => s.name));
  return ci.filter((s) => names.includes(s.name));
}

async function readBaseline(file: string): Promise<RunResult | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  return parseRunResult(text, file);
}

async function runRegress(flags: RegressFlags): Promise<number> {
  const scenarios = await ciScenarios(flags.scenarios);
  if (scenarios.length === 0) throw new HarnessError('NO_CI_SCENARIOS', 'regress: expected at least one scenario with a regress block, got none');
  const sections: string[] = ['# Regression check (virtual mode)', ''];
  const suites: string[] = [];
  let failed = false;
  for (const s of scenarios) {
    process.stderr.write(`regress: ${s.name} (${s.policies.length} policies) ...\n`);
    const result = await runScenarioVirtual({ scenario: s });
    const file = join(flags.baselines, `${s.name}.json`);
    if (flags.update === true) {
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, serializeRunResult(result));
      sections.push(`- ${s.name}: baseline written to ${file}`);
      continue;
    }
    const baseline = await readBaseline(file);
    let comparison: BaselineComparison | undefined;
    if (baseline === undefined) {
      failed = true;
      sections.push(`## ${s.name}`, '', `**No baseline** at \`${file}\`: run \`npm run regress -- --update\` and commit it.`, '');
    } else {
      comparison = compareToBaseline(result, baseline, s.regress?.tolerance);
      if (comparison.regression) failed = true;
      sections.push(renderRegressMarkdown(comparison), '');
    }
    if (!thresholdsPassed(result)) {
      failed = true;
      const broken = allThresholdResults(result).filter((t) => !t.pass);
      sections.push(`Thresholds broken in ${s.name}: ${broken.map((t) => `${t.policy} ${t.label} (actual ${t.actual ?? 'unknown'})`).join('; ')}`, '');
    }
    suites.push(...testsuites(renderJUnit({ result, ...(comparison !== undefined ? { comparison } : {}) })));
  }
  const summary = `${sections.join('\n')}\n${flags.update === true ? '' : failed ? '**Result: regression**\n' : '**Result: no regression**\n'}`;
  console.log(summary);
  if (process.env['GITHUB_STEP_SUMMARY']) await appendFile(process.env['GITHUB_STEP_SUMMARY'], summary);
  if (flags.update !== true) {
    const junit = resolve(flags.junit);
    await mkdir(dirname(junit), { recursive: true });
    await writeFile(junit, `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="regress">\n${suites.join('\n')}\n</testsuites>\n`);
    console.error(`regress: JUnit XML written to ${junit}`);
  }
  return failed ? 1 : 0;
}

/** The <testsuite> elements of a JUnit document, to merge several scenarios into one file. */
function testsuites(doc: string): string[] {
  return doc.match(/ {2}<testsuite [\s\S]*?<\/testsuite>/g) ?? [];
}
