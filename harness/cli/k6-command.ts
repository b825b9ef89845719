/**
 * `npm run k6 <scenario> [-- --out FILE --target URL]`: writes the scenario as a k6 script in TypeScript (see
 * harness/k6), for running the same load from k6 or k6-operator against the engine service.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Command } from 'commander';
import { ValidationError } from '../../src/errors.js';
import { DEFAULT_TARGET_URL, generateK6Script, thresholdLabel, type K6Export } from '../k6/index.js';
import { scaleScenarioRun } from '../run/scale-run.js';
import { listScenarioNames, loadScenario } from '../run/scenarios.js';
import type { Scenario } from '../scenario.js';
import { UsageError, parseDuration, parseInteger } from './flags.js';

interface K6Flags {
  out?: string;
  target: string;
  model: string;
  seed?: string;
  duration?: string;
  maxSessions: string;
  trace?: string;
  stdout?: boolean;
  stream: boolean;
}

export function k6Command(): Command {
  return new Command('k6')
    .description('Write a scenario as a k6 script (TypeScript) that replays its arrivals, request mix and thresholds against the engine.')
    .argument('<scenario>', `scenario name (${listScenarioNames().join(', ')}) or a scenario file (.ts, .js, .mjs, .json)`)
    .option('--out <file>', 'where to write the script (default: reports/k6/<scenario>.ts)')
    .option('--target <url>', 'engine base URL written as the default of __ENV.TARGET', DEFAULT_TARGET_URL)
    .option('--model <name>', 'model name sent in requests (default of __ENV.MODEL)', 'primary')
    .option('--seed <n>', 'seed of the sessions (default: the scenario\'s)')
    .option('--duration <d>', "arrival window written into the script, e.g. 30s; a longer burst is cut to it at its rate (default: the scenario's; -e DURATION changes it at run time)")
    .option('--max-sessions <n>', 'sessions written into the script; arrival-rate executors cycle through them', '1000')
    .option('--trace <path>', 'trace file, for scenarios that replay one')
    .option('--stdout', 'print the script instead of writing a file')
    .option('--no-stream', 'plain k6 without the xk6-sse extension: chat answers are not streamed, so the script records response time, not TTFT')
    .addHelpText(
      'after',
      '\nExample: npm run k6 burst-1000 -- --target http://engine:8080\n' +
        'Then, with a k6 >= 0.57 built with xk6-sse: k6 run -e TARGET=http://engine:8080 reports/k6/burst-1000.ts\n' +
        'Do not shorten a run with k6 run -d (it replaces the executor; the script refuses it): use -e DURATION=30s.',
    )
    .action(async (name: string, flags: K6Flags) => {
      await runK6Command(name, flags);
    });
}

async function runK6Command(name: string, flags: K6Flags): Promise<void> {
  const scenario = withTrace(await loadScenario(name), flags.trace);
  const seed = flags.seed === undefined ? undefined : parseInteger('--seed', flags.seed);
  const maxSessions = parseInteger('--max-sessions', flags.maxSessions, 1);
  const durationMs = flags.duration === undefined ? undefined : parseDuration('--duration', flags.duration);
  const scaling = durationMs === undefined ? null : scaleScenarioRun(scenario, { durationMs }).scaling;
  let out: K6Export;
  try {
    out = generateK6Script(scenario, { targetUrl: flags.target, model: flags.model, maxSessions, stream: flags.stream, ...(seed !== undefined ? { seed } : {}), ...(durationMs !== undefined ? { durationMs } : {}) });
  } catch (e) {
    if (e instanceof ValidationError && e.path === 'targetUrl') throw new UsageError(`--target: ${e.message.replace(/^targetUrl: /, '')}`);
    throw e;
  }
  if (scaling !== null) console.error(`scaled: ${scenario.name} ${scaling.note}`);
  if (flags.stdout === true) {
    process.stdout.write(out.script);
    return;
  }
  const file = resolve(flags.out ?? `reports/k6/${scenario.name}.ts`);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, out.script);
  console.log(summary(file, out));
}

/** What was written, for the terminal. */
function summary(file: string, out: K6Export): string {
  const c = out.executor.config;
  const lines = [
    `wrote ${file}`,
    `  executor: ${c.executor}; ${out.sessions} sessions in the script${out.sessions < out.scenarioSessions ? ` (of ${out.scenarioSessions}; iterations cycle)` : ''}`,
    `  ${out.stream ? 'streamed with k6/x/sse (needs a k6 built with xk6-sse): ttftMs, itlMs, tpotMs, e2eMs' : 'not streamed (plain k6): responseMs and e2eMs, no TTFT'}`,
    `  thresholds: ${out.thresholds.mapped.length} in the script (listed in its header), ${out.thresholds.unmapped.length} without a k6 equivalent`,
    ...out.thresholds.unmapped.map((u) => `    not checked: ${thresholdLabel(u.threshold)} (${u.reason})`),
    `  run: k6 run ${file}   (k6 >= 0.57; -e TARGET=URL -e API_KEY=KEY -e DURATION=30s -e SCALE=0.1 -e MOCK_URL=URL)`,
  ];
  return lines.join('\n');
}

function withTrace(s: Scenario, path: string | undefined): Scenario {
  if (path === undefined) return s;
  if (s.takesTrace !== true || !('trace' in s.workload)) throw new UsageError(`--trace: scenario ${s.name} does not replay a trace`);
  return { ...s, workload: { trace: { ...s.workload.trace, path } } };
}
