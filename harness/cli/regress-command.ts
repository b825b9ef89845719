/**
 * `npm run regress [-- FILES... --baselines DIR --update]`: runs the CI set of scenarios (the built-in ones with a
 * `regress` block, or the scenario files, folders or globs given) in virtual mode and compares every policy with its
 * committed baseline (`DIR/<scenario>.json`): p99 TTFT, p99 E2E and goodput, within the tolerance the scenario states
 * (the default tolerance when it states none). Prints a Markdown summary, writes JUnit XML, and rewrites baselines
 * only with --update.
 */
import { appendFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Command } from 'commander';
import { HarnessError } from '../../src/errors.js';
import { compareToBaseline, renderRegressMarkdown, type BaselineComparison } from '../report/regress.js';
import { fmtMetric } from '../report/format.js';
import { renderJUnit } from '../report/junit.js';
import { allThresholdResults, thresholdsPassed } from '../report/run-result.js';
import { parseRunResult, type RunResult } from '../report/schema.js';
import { serializeRunResult } from '../report/serialize.js';
import { findScenarioFiles, listScenarioNames, loadScenario, loadScenarioFile } from '../run/scenarios.js';
import { runScenarioVirtual } from '../run/run-scenario.js';
import type { Scenario } from '../scenario.js';
import { UsageError, parseDuration, parseInteger, parseList, parsePort } from './flags.js';
import { liveScenarios, parseToleranceFlag, printLiveSummary, runLiveRegress } from './regress-live.js';
import { parseProxyFlag, parseTargets } from './target-flags.js';
import { runRegressFromK6 } from './regress-k6.js';

interface RegressFlags {
  baselines: string;
  update?: boolean;
  junit: string;
  scenarios?: string;
  target?: string[];
  runs?: string;
  duration?: string;
  mockPort?: string;
  proxy?: string;
  tolerance?: string;
  fromK6?: string;
}

export function regressCommand(): Command {
  return new Command('regress')
    .description('Run the CI scenarios in virtual mode and fail when p99 latency or goodput regressed against the baselines.')
    .argument('[scenarios...]', 'scenario files, folders of them or globs (default: the built-in scenarios with a regress block); with --target, run live')
    .option('--baselines <dir>', 'folder of committed baselines, one <scenario>.json each', 'reports/baselines')
    .option('--update', 'write the current results as the new baselines instead of comparing')
    .option('--junit <file>', 'where to write the JUnit XML report', 'reports/runs/regress/junit.xml')
    .option('--scenarios <list>', 'only these CI scenarios (default: every scenario with a regress block); with --target, the scenarios to run live')
    .option('--target <name=url>', 'live regression of a system you started, at an OpenAI-compatible URL (repeatable): harness/cli/regress-live.ts', (v: string, prev: string[] = []) => [...prev, v])
    .option('--runs <n>', 'with --target: live runs per scenario and target; the median is compared (default 3)')
    .option('--duration <d>', 'with --target: arrival window of each run, e.g. 20s (default: the scenario\'s)')
    .option('--mock-port <n>', 'with --target: the mock GPU listens here, the fallback on the next port (default 18000)')
    .option('--proxy <url>', 'with --target: a chaos proxy (npm run sim -- --proxy REAL_URL) in front of a real model, in place of the built-in mock')
    .option('--tolerance <pairs>', 'with --target: ttft=25,e2e=25,goodput=15,errors=5,min-delta-ms=50 (percent; errors in points)')
    .option('--from-k6 <file>', 'gate a k6 run instead: the JSON an exported script\'s handleSummary wrote, against <baselines>/k6/<scenario>.json (harness/cli/regress-k6.ts)')
    .addHelpText(
      'after',
      '\nExit codes: 0 no regression and every threshold held; 1 a regression, a broken threshold or a missing baseline;\n' +
        '2 bad flag or scenario file. With GITHUB_STEP_SUMMARY set, the Markdown summary is appended there too.\n' +
        'Example: npm run regress -- perf/ --baselines perf/baselines --update   (then commit perf/baselines)\n' +
        "         npm run regress -- 'perf/**/*.scenario.ts' --baselines perf/baselines",
    )
    .action(async (refs: string[], flags: RegressFlags) => {
      if (flags.fromK6 !== undefined) {
        process.exitCode = await runRegressFromK6({ fromK6: flags.fromK6, baselines: flags.baselines, ...(flags.update === true ? { update: true } : {}) });
        return;
      }
      if (flags.target !== undefined) {
        process.exitCode = await liveRegressCommand(refs, flags);
        return;
      }
      process.exitCode = await runRegress(refs, flags);
    });
}

/** `regress --target`: the live regression of harness/cli/regress-live.ts. */
async function liveRegressCommand(files: readonly string[], flags: RegressFlags): Promise<number> {
  const targets = parseTargets(flags.target ?? []);
  const scenarios = await liveScenarios(flags.scenarios, files);
  const runs = flags.runs === undefined ? 3 : parseInteger('--runs', flags.runs, 1);
  const { markdown, exitCode } = await runLiveRegress({
    targets,
    scenarios,
    runs,
    baselinesDir: flags.baselines,
    update: flags.update === true,
    junitFile: flags.junit,
    ...(flags.duration !== undefined ? { durationMs: parseDuration('--duration', flags.duration) } : {}),
    ...(flags.mockPort !== undefined ? { mockPort: parsePort('--mock-port', flags.mockPort) } : {}),
    ...(flags.proxy !== undefined ? { proxyUrl: parseProxyFlag(flags.proxy) } : {}),
    ...(flags.tolerance !== undefined ? { tolerance: parseToleranceFlag(flags.tolerance) } : {}),
  });
  await printLiveSummary(markdown);
  return exitCode;
}

async function ciScenarios(refs: readonly string[], only: string | undefined): Promise<Scenario[]> {
  let ci: Scenario[];
  if (refs.length > 0) {
    const files = await findScenarioFiles(refs);
    ci = [];
    for (const f of files) ci.push(await loadScenarioFile(f));
    const seen = new Set<string>();
    for (const s of ci) {
      if (seen.has(s.name)) throw new UsageError(`regress: two scenario files are named ${JSON.stringify(s.name)}; each needs its own name (it names its baseline)`);
      seen.add(s.name);
    }
  } else {
    const all = await Promise.all(listScenarioNames().map((n) => loadScenario(n)));
    ci = all.filter((s) => s.regress !== undefined);
  }
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

/** Fails fast (a usage error, exit 2) when the baselines folder to compare with is not there. */
async function checkBaselinesDir(dir: string): Promise<void> {
  let isDir = false;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'unreadable';
    // A first run has none yet: say how to write them.
    const hint = code === 'ENOENT' ? '; write them once with --update and commit them' : '';
    throw new UsageError(`--baselines: expected a folder of baselines, got ${JSON.stringify(dir)} (${code})${hint}`);
  }
  if (!isDir) throw new UsageError(`--baselines: expected a folder of baselines, got ${JSON.stringify(dir)} (not a folder)`);
}

async function runRegress(refs: readonly string[], flags: RegressFlags): Promise<number> {
  // Before running anything: a wrong folder would otherwise show only after every scenario ran.
  if (flags.update !== true) await checkBaselinesDir(flags.baselines);
  const scenarios = await ciScenarios(refs, flags.scenarios);
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
      sections.push(`## ${s.name}`, '', `**No baseline** at \`${file}\`: run regress with \`--update\` and commit it.`, '');
    } else {
      comparison = compareToBaseline(result, baseline, s.regress?.tolerance);
      if (comparison.regression) failed = true;
      sections.push(renderRegressMarkdown(comparison), '');
    }
    if (!thresholdsPassed(result)) {
      failed = true;
      const broken = allThresholdResults(result).filter((t) => !t.pass);
      sections.push(`Thresholds broken in ${s.name}: ${broken.map((t) => `${t.policy} ${t.label} (actual ${fmtMetric(t.metric, t.actual)})`).join('; ')}`, '');
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
