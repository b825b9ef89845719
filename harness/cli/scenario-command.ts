/** `npm run scenario <name> [-- flags]`: run a scenario's policies side by side and write the reports. */
import { Command, Option } from 'commander';
import { thresholdsPassed } from '../report/run-result.js';
import { serializeRunResult } from '../report/serialize.js';
import { renderTable } from '../report/table.js';
import { policyName, type Scenario } from '../scenario.js';
import { listScenarioNames, loadScenario } from '../run/scenarios.js';
import { runScenarioVirtual } from '../run/run-scenario.js';
import { UsageError, parseChoice, parseDuration, parseInteger, parseList } from './flags.js';
import { defaultRunDir, writeRunArtifacts } from './output.js';
import { createProgress } from './progress.js';

/** Exit code of a run that broke one of its thresholds (as k6 does). */
export const THRESHOLDS_FAILED_EXIT = 99;

interface ScenarioFlags {
  mode: string;
  policies?: string;
  seed?: string;
  duration?: string;
  out?: string;
  trace?: string;
  json?: boolean;
  quiet?: boolean;
  list?: boolean;
}

export function scenarioCommand(): Command {
  return new Command('scenario')
    .description('Run a scenario: every policy against the same seeded workload and faults, side by side.')
    .argument('[name]', 'scenario name (see --list)')
    .addOption(new Option('--mode <mode>', 'virtual (one process, simulated time)').default('virtual'))
    .option('--policies <list>', 'comma-separated policy names to run (default: all of the scenario\'s)')
    .option('--seed <n>', 'root seed (default: the scenario\'s)')
    .option('--duration <d>', 'arrival window, e.g. 60s, 1500ms, 2m (default: the scenario\'s)')
    .option('--out <dir>', 'where to write result.json, report.md, report.html (default: reports/runs/<time>-<name>/)')
    .option('--trace <path>', 'trace file in the Azure format, for scenarios that replay one (trace-replay)')
    .option('--json', 'print result.json to stdout instead of the table')
    .option('--quiet', 'no progress and no table; print only the output folder')
    .option('--list', 'list the scenarios and exit')
    .addHelpText(
      'after',
      '\nExit codes: 0 ok; 99 a threshold was broken; 2 bad flag or scenario; 1 the run itself failed.\n' +
        'Example: npm run scenario burst-1000 -- --policies naive,resilient --seed 7',
    )
    .action(async (name: string | undefined, flags: ScenarioFlags) => {
      process.exitCode = await runScenarioCommand(name, flags);
    });
}

async function runScenarioCommand(name: string | undefined, flags: ScenarioFlags): Promise<number> {
  if (flags.list === true) {
    for (const n of listScenarioNames()) {
      const s = await loadScenario(n);
      console.log(`${n.padEnd(24)} ${s.description}`);
    }
    return 0;
  }
  if (name === undefined) throw new UsageError(`expected a scenario name; one of ${listScenarioNames().join(', ')} (or --list)`);
  parseChoice('--mode', flags.mode, ['virtual', 'live'] as const);
  if (flags.mode === 'live') throw new UsageError('--mode live: not available yet; live mode arrives with the engine service (issue 5). Use --mode virtual.');
  let scenario = await loadScenario(name);
  const policies = flags.policies === undefined ? undefined : parseList('--policies', flags.policies, scenario.policies.map(policyName));
  const seed = flags.seed === undefined ? undefined : parseInteger('--seed', flags.seed);
  const durationMs = flags.duration === undefined ? undefined : parseDuration('--duration', flags.duration);
  scenario = withTrace(scenario, flags.trace);

  const progress = createProgress(durationMs ?? scenario.durationMs, flags.quiet === true || flags.json === true);
  let result;
  try {
    result = await runScenarioVirtual({
      scenario,
      ...(policies !== undefined ? { policies } : {}),
      ...(seed !== undefined ? { seed } : {}),
      ...(durationMs !== undefined ? { durationMs } : {}),
      onProgress: (p) => progress.update(p),
    });
  } finally {
    progress.stop();
  }
  const paths = await writeRunArtifacts(result, flags.out ?? defaultRunDir(result));
  if (flags.json === true) process.stdout.write(serializeRunResult(result));
  else if (flags.quiet === true) console.log(paths.json.replace(/\/result\.json$/, ''));
  else {
    console.log(`\n${result.scenario.name}: ${result.scenario.description}`);
    console.log(`seed ${result.seed}, ${result.policies.length} policies, ${(result.meta.simulatedMs / 1000).toFixed(0)} s simulated in ${(result.meta.wallMs / 1000).toFixed(1)} s\n`);
    console.log(renderTable(result));
    console.log(`\nwrote ${paths.json}\n      ${paths.md}\n      ${paths.html}`);
  }
  if (!thresholdsPassed(result)) {
    if (flags.json !== true) console.error('thresholds: at least one was broken (see report.md); exit 99');
    return THRESHOLDS_FAILED_EXIT;
  }
  return 0;
}

/** Points a trace-replay scenario at `--trace PATH`; refuses --trace for scenarios that do not replay one. */
function withTrace(s: Scenario, path: string | undefined): Scenario {
  if (path === undefined) return s;
  if (s.takesTrace !== true || !('trace' in s.workload)) throw new UsageError(`--trace: scenario ${s.name} does not replay a trace`);
  return { ...s, workload: { trace: { ...s.workload.trace, path } } };
}
