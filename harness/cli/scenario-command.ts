/** `npm run scenario <name> [-- flags]`: run a scenario's policies side by side and write the reports. */
import { writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import type { RunResult } from '../report/schema.js';
import { thresholdsPassed } from '../report/run-result.js';
import { serializeRunResult } from '../report/serialize.js';
import { renderTable } from '../report/table.js';
import { policyName } from '../scenario.js';
import { describeScenario, type DescribeHints } from '../scenario-describe.js';
import { listScenarioNames, loadScenario } from '../run/scenarios.js';
import { AGREEMENT_PROBES, AGREEMENT_SCENARIOS, agreementContexts, calibrateTransport, compareModes } from '../run/agreement.js';
import { renderAgreementMarkdown } from '../run/agreement-markdown.js';
import type { LivePolicyRun } from '../run/live.js';
import { renderExplanation, type EngineExplanation } from '../run/live-explain.js';
import { runScenarioLive, runScenarioVirtual, type LiveScenarioRunOptions, type ScenarioRunOptions } from '../run/run-scenario.js';
import { liveOnlyTargets, parseProxyFlag, parseTargets, targetNotice } from './target-flags.js';
import { withTraceFlags } from './trace-flags.js';
import { scaleScenarioRun } from '../run/scale-run.js';
import { UsageError, checkOutputDir, parseChoice, parseDuration, parseInteger, parseList, parsePort, parseTransportFlag } from './flags.js';
import { defaultRunDir, writeRunArtifacts } from './output.js';
import { renderRunsMarkdown, summarizeRunsByPolicy } from '../report/median-runs.js';
import { createProgress } from './progress.js';

/** `--scale F`: a share of the scenario's load, 0 < F <= 1. */
function parseScale(value: string): number {
  const f = /^\d*\.?\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!(f > 0 && f <= 1)) throw new UsageError(`--scale: expected a share of the scenario's load, a number in (0, 1] like 0.1, got ${JSON.stringify(value)}`);
  return f;
}

/** Exit code of a live run stopped with Ctrl-C (as a shell reports SIGINT). */
export const INTERRUPTED_EXIT = 130;

/** Exit code of a run that broke one of its thresholds (as k6 does). */
export const THRESHOLDS_FAILED_EXIT = 99;

interface ScenarioFlags {
  mode?: string;
  policies?: string;
  seed?: string;
  duration?: string;
  out?: string;
  trace?: string;
  traceFormat?: string;
  traceSpeed?: string;
  traceWindow?: string;
  json?: boolean;
  quiet?: boolean;
  list?: boolean;
  help?: boolean;
  target?: string[];
  mockPort?: string;
  transportMs?: string;
  workers?: string;
  proxy?: string;
  runs?: string;
  scale?: string;
}

export function scenarioCommand(): Command {
  const command: Command = new Command('scenario')
    .description('Run a scenario: every policy against the same seeded workload and faults, side by side.')
    .argument('[name]', 'scenario name (see --list) or a scenario file (.ts, .mts, .js, .mjs, .json)')
    // With a scenario, --help describes that scenario; without one, it lists the flags.
    .helpOption(false)
    .option('-h, --help', 'describe the scenario given (workload, faults, policies, SLOs), or show these flags')
    .addOption(
      new Option(
        '--mode <mode>',
        'virtual (one process, simulated time), live (mock and engine processes on loopback, real time) or both (and compare them); default virtual, both for the agreement scenario',
      ),
    )
    .option('--policies <list>', 'comma-separated policy names to run (default: all of the scenario\'s)')
    .option('--seed <n>', 'root seed (default: the scenario\'s)')
    .option('--duration <d>', 'arrival window, e.g. 60s, 1500ms, 2m (default: the scenario\'s)')
    .option(
      '--scale <f>',
      'run at this share of the scenario\'s load, 0 < f <= 1 (a burst\'s sessions, the arrival rate or the user count times f; deployments, faults, timeline and SLOs unchanged), e.g. a live fleet-10k at 0.1; the reports say the run was scaled',
    )
    .option('--runs <n>', 'live mode: run it N times, write each run to <out>/run-K/, and print the median of each policy\'s goodput, failed + timeout and p99s (runs.md, runs.json)')
    .option('--out <dir>', 'where to write result.json, report.md, report.html (default: reports/runs/<time>-<name>/)')
    .option('--trace <path>', 'trace file for scenarios that replay one (trace-replay): Azure CSV, Mooncake JSONL, BurstGPT CSV or ShareGPT JSON, recognised by content')
    .option('--trace-format <format>', 'the trace\'s format when sniffing is not wanted: azure, mooncake, burstgpt or sharegpt')
    .option('--trace-speed <x>', 'replay the trace X times faster (gaps divided by X), e.g. 4 or 0.5')
    .option('--trace-window <start..end>', 'the part of the trace to replay, in trace time, e.g. 0..10m or 5m..15m (end may be empty: to the end)')
    .option('--json', 'print result.json to stdout instead of the table')
    .option('--quiet', 'no progress and no table; print only the output folder')
    .option('--list', 'list the scenarios and exit')
    .option(
      '--target <name=url>',
      'an external system under test you started, at an OpenAI-compatible URL, as one more row (repeatable; live mode; point its upstream at the mock URL printed)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--mock-port <n>', 'the primary mock GPU listens here and the fallback on the next port (default with --target: 18000; else free ports)')
    .option('--proxy <url>', 'live mode: a chaos proxy (npm run sim -- --proxy REAL_URL) in front of a real model, used in place of the built-in mock; the scenario\'s faults are set on it')
    .option('--workers <n>', 'virtual mode: worker threads running the policies side by side (the same figures; each thread takes a second or two to start, so it pays on long runs: fleet-10k 46 s -> 37 s on 2 cores); default 1, one after another in this thread')
    .option(
      '--transport-ms <hops>',
      'virtual mode: model the HTTP hops of live mode as ENGINE_TO_MODEL[,CLIENT_TO_ENGINE], each hop\'s zero-load cost per request in ms ' +
        '(split evenly between the request and the response events), or a JSON object ' +
        '{"engineToModel":{"requestMs":..,"responseMs":..},"clientToEngine":{..}} whose delays are ms or distributions; ' +
        'default none (--mode both measures it on loopback and runs virtual with and without it)',
    )
    .addHelpText(
      'after',
      '\nExit codes: 0 ok; 99 a threshold was broken; 2 bad flag or scenario; 1 the run itself failed.\n' +
        'Example: npm run scenario burst-1000 -- --policies naive,resilient --seed 7\n' +
        '         npm run scenario burst-1000 -- --mode live --duration 10s\n' +
        '         npm run scenario fleet-10k -- --mode live --scale 0.1 --policies p2c-ejection   (a tenth of the load: one machine serves it)\n' +
        '         npm run scenario agreement   (virtual and live, then agreement.json and agreement.md)\n' +
        '         npm run scenario agreement -- --mode virtual --transport-ms 1.4,1.2   (virtual with the HTTP hops modelled)\n' +
        '         npm run scenario burst-1000 -- --target mine=http://127.0.0.1:9000 --duration 10s   (your gateway as one more row)\n' +
        '         npm run scenario ./perf/my-scenario.ts   (a scenario file of your own)\n' +
        '         npm run scenario burst-1000 -- --help   (what that scenario does)\n' +
        '         npm run scenario trace-replay -- --trace my.jsonl --trace-speed 4 --trace-window 0..10m',
    )
    .action(async (name: string | undefined, flags: ScenarioFlags) => {
      if (flags.help === true) {
        if (name === undefined) command.outputHelp();
        else process.stdout.write(describeScenario(await loadScenario(name), describeHints(command, name)));
        process.exitCode = 0;
        return;
      }
      process.exitCode = await runScenarioCommand(name, flags);
    });
  return command;
}

/** How to run scenario `ref` from the program this command belongs to (npm scripts or the package's bin). */
function describeHints(command: Command, ref: string): DescribeHints {
  const program = command.parent?.name() ?? 'npm run';
  return program === 'npm run'
    ? { run: `npm run scenario ${ref}`, flagsHelp: 'npm run scenario -- --help' }
    : { run: `${program} scenario ${ref}`, flagsHelp: `${program} scenario --help` };
}

async function runScenarioCommand(name: string | undefined, flags: ScenarioFlags): Promise<number> {
  if (flags.list === true) {
    for (const n of listScenarioNames()) {
      const s = await loadScenario(n);
      console.log(`${n.padEnd(24)} ${s.description}`);
    }
    return 0;
  }
  if (name === undefined) throw new UsageError(`expected a scenario name or file; one of ${listScenarioNames().join(', ')} (or --list)`);
  let scenario = await loadScenario(name);
  const targets = parseTargets(flags.target ?? []);
  const hasTargets = targets.length > 0 || (scenario.targets?.length ?? 0) > 0;
  const mode = parseChoice('--mode', flags.mode ?? (AGREEMENT_SCENARIOS.includes(name) ? 'both' : hasTargets ? 'live' : 'virtual'), ['virtual', 'live', 'both'] as const);
  liveOnlyTargets(mode, scenario, targets);
  const rowNames = [...scenario.policies.map(policyName), ...(scenario.targets ?? []).map((t) => t.name), ...targets.map((t) => t.name)];
  const policies = flags.policies === undefined ? undefined : parseList('--policies', flags.policies, rowNames);
  const mockPort = flags.mockPort !== undefined ? parsePort('--mock-port', flags.mockPort) : targets.length > 0 ? 18_000 : undefined;
  if (flags.mockPort !== undefined && mode === 'virtual') throw new UsageError('--mock-port: expected --mode live or both (a virtual run opens no ports), got --mode virtual');
  const proxyUrl = flags.proxy === undefined ? undefined : parseProxyFlag(flags.proxy);
  if (proxyUrl !== undefined && mode !== 'live') throw new UsageError(`--proxy: expected --mode live (a chaos proxy is a live process), got --mode ${mode}`);
  const seed = flags.seed === undefined ? undefined : parseInteger('--seed', flags.seed);
  const durationMs = flags.duration === undefined ? undefined : parseDuration('--duration', flags.duration);
  scenario = withTraceFlags(scenario, flags);
  const scale = flags.scale === undefined ? undefined : parseScale(flags.scale);
  const scaled = scaleScenarioRun(scenario, { ...(scale !== undefined ? { scale } : {}), ...(durationMs !== undefined ? { durationMs } : {}) });
  scenario = scaled.scenario;
  if (scaled.scaling !== null && flags.json !== true && flags.quiet !== true) console.error(`scaled: ${scenario.name} ${scaled.scaling.note}`);
  const transport = flags.transportMs === undefined ? undefined : parseTransportFlag('--transport-ms', flags.transportMs);
  if (transport !== undefined && mode !== 'virtual') {
    throw new UsageError(
      mode === 'live'
        ? '--transport-ms: expected --mode virtual (live mode has real hops), got --mode live'
        : '--transport-ms: expected --mode virtual; --mode both measures the transport on loopback itself',
    );
  }
  if (flags.out !== undefined) checkOutputDir('--out', flags.out);
  const selectedCount = Math.max(1, policies?.length ?? scenario.policies.length);
  const workers = flags.workers === undefined ? 1 : Math.min(parseInteger('--workers', flags.workers, 1), selectedCount);
  if (flags.workers !== undefined && mode === 'live') throw new UsageError('--workers: expected --mode virtual or both (live policies run one at a time, on real processes), got --mode live');
  const options: LiveScenarioRunOptions = {
    scenario,
    ...(policies !== undefined ? { policies } : {}),
    ...(seed !== undefined ? { seed } : {}),
    ...(durationMs !== undefined ? { durationMs } : {}),
    ...(targets.length > 0 ? { targets } : {}),
    ...(mockPort !== undefined ? { mockPort } : {}),
    ...(proxyUrl !== undefined ? { proxyUrl } : {}),
    ...(scaled.scaling !== null ? { scaling: scaled.scaling } : {}),
  };
  if (mode !== 'virtual' && targets.length > 0 && flags.json !== true) console.error(targetNotice(targets, mockPort ?? 18_000, scenario, proxyUrl));
  const quiet = flags.quiet === true || flags.json === true;
  const liveRuns = new Map<string, LivePolicyRun>();
  const interrupt = new AbortController();
  const run = async (m: 'virtual' | 'live', hops = transport): Promise<RunResult> => {
    const progress = createProgress(durationMs ?? scenario.durationMs, quiet, m === 'virtual' ? 'simulated' : 'elapsed');
    // Comparing modes: probe the HTTP path at zero load after each policy's load, for the agreement's context.
    const liveOptions: LiveScenarioRunOptions = {
      ...options,
      ...(mode === 'both' ? { probes: AGREEMENT_PROBES } : {}),
      onPolicyRun: (r) => liveRuns.set(r.result.name, r),
    };
    try {
      return m === 'virtual'
        ? await runScenarioVirtual({ ...options, workers, ...(hops !== undefined ? { transport: hops } : {}), onProgress: (p) => progress.update(p) })
        : await runLive(liveOptions, (p) => progress.update(p), interrupt);
    } finally {
      progress.stop();
    }
  };

  if (mode === 'both') {
    if (!quiet) console.error('virtual run:');
    const virtual = await run('virtual');
    if (!quiet) console.error('live run:');
    const live = await run('live');
    // The live run's zero-load probes measure the HTTP hops; the same run in virtual time with that transport follows.
    const contexts = await agreementContexts(scenario, seed ?? scenario.seed, liveRuns);
    const calibration = interrupt.signal.aborted ? null : calibrateTransport(contexts);
    let calibrated: RunResult | undefined;
    if (calibration !== null) {
      if (!quiet) console.error(`virtual run with the measured transport (engine→model ${calibration.engineToModelMs} ms, client→engine ${calibration.clientToEngineMs} ms):`);
      calibrated = await run('virtual', calibration.transport);
    }
    const dir = resolve(flags.out ?? defaultRunDir(virtual));
    const vPaths = await writeRunArtifacts(virtual, join(dir, 'virtual'));
    const lPaths = await writeRunArtifacts(live, join(dir, 'live'));
    const cPaths = calibrated === undefined ? undefined : await writeRunArtifacts(calibrated, join(dir, 'virtual-transport'));
    const agreement = compareModes(virtual, live, contexts, calibrated !== undefined && calibration !== null ? { result: calibrated, calibration } : undefined);
    const md = renderAgreementMarkdown(agreement);
    await writeFile(join(dir, 'agreement.json'), `${JSON.stringify(agreement, null, 2)}\n`);
    await writeFile(join(dir, 'agreement.md'), md);
    if (flags.json === true) process.stdout.write(`${JSON.stringify(agreement, null, 2)}\n`);
    else if (flags.quiet === true) console.log(dir);
    else {
      console.log(`\n${md}`);
      console.log(`wrote ${join(dir, 'agreement.json')}\n      ${join(dir, 'agreement.md')}\n      ${vPaths.json}\n      ${lPaths.json}${cPaths !== undefined ? `\n      ${cPaths.json}` : ''}`);
    }
    if (interrupt.signal.aborted) return INTERRUPTED_EXIT;
    return thresholdsPassed(virtual) && thresholdsPassed(live) ? 0 : THRESHOLDS_FAILED_EXIT;
  }

  const runs = flags.runs === undefined ? 1 : parseInteger('--runs', flags.runs, 1);
  if (flags.runs !== undefined && mode !== 'live') throw new UsageError(`--runs: expected --mode live (virtual runs repeat exactly), got --mode ${mode}`);
  if (runs > 1) return runMany(runs, () => run('live'), flags, interrupt.signal, () => engineExplanations(liveRuns));

  const result = await run(mode);
  const paths = await writeRunArtifacts(result, flags.out ?? defaultRunDir(result));
  if (flags.json === true) process.stdout.write(serializeRunResult(result));
  else if (flags.quiet === true) console.log(paths.json.replace(/\/result\.json$/, ''));
  else {
    console.log(`\n${result.scenario.name}: ${result.scenario.description}`);
    const timing =
      result.scenario.mode === 'live'
        ? `${(result.meta.wallMs / 1000).toFixed(1)} s wall time, live`
        : `${(result.meta.simulatedMs / 1000).toFixed(0)} s simulated in ${(result.meta.wallMs / 1000).toFixed(1)} s`;
    console.log(`seed ${result.seed}, ${result.policies.length} policies, ${timing}\n`);
    console.log(renderTable(result));
    const causes = [...liveRuns.values()].filter((r) => r.causes.length > 0);
    if (causes.length > 0) {
      console.log('\nwhy requests did not end ok (most frequent first):');
      for (const r of causes) console.log(`  ${r.result.name}: ${r.causes.slice(0, 4).map((c) => `${c.cause} ×${c.count}`).join(', ')}`);
    }
    const explained = engineExplanations(liveRuns);
    if (Object.keys(explained).length > 0) {
      console.log(`\n${explanationText(explained)}`);
      await writeFile(join(dirname(paths.json), 'engine-explanation.json'), `${JSON.stringify(explained, null, 2)}\n`);
    }
    const lg = result.meta.loadGenerator;
    if (lg !== null) {
      console.log(
        `\nload generator: ${lg.valid ? 'valid' : 'INVALID'} (event-loop lag p99 ${lg.eventLoopLagP99Ms ?? '?'} ms, CPU ${lg.cpuPct ?? '?'}% of a core)` +
          (lg.valid ? '' : `: ${lg.reasons.join('; ')}`),
      );
    }
    console.log(`\nwrote ${paths.json}\n      ${paths.md}\n      ${paths.html}`);
  }
  if (interrupt.signal.aborted) {
    console.error('interrupted: the results above cover what ran before Ctrl-C; exit 130');
    return INTERRUPTED_EXIT;
  }
  if (!thresholdsPassed(result)) {
    if (flags.json !== true) console.error('thresholds: at least one was broken (see report.md); exit 99');
    return THRESHOLDS_FAILED_EXIT;
  }
  return 0;
}

/** `--runs N`: N live runs, each written to `<out>/run-K/`, then the medians (runs.md, runs.json) printed. */
async function runMany(
  n: number,
  runOnce: () => Promise<RunResult>,
  flags: ScenarioFlags,
  interrupted: AbortSignal,
  explain: () => Record<string, EngineExplanation>,
): Promise<number> {
  const results: RunResult[] = [];
  let dir: string | undefined;
  for (let k = 1; k <= n && !interrupted.aborted; k++) {
    if (flags.quiet !== true && flags.json !== true) console.error(`run ${k} of ${n}:`);
    const result = await runOnce();
    dir ??= resolve(flags.out ?? defaultRunDir(result));
    await writeRunArtifacts(result, join(dir, `run-${k}`));
    const explained = explain();
    if (Object.keys(explained).length > 0) await writeFile(join(dir, `run-${k}`, 'engine-explanation.json'), `${JSON.stringify(explained, null, 2)}\n`);
    if (flags.quiet !== true && flags.json !== true) {
      console.log(`\nrun ${k} of ${n}\n${renderTable(result)}`);
      if (Object.keys(explained).length > 0) console.log(`\n${explanationText(explained)}`);
    }
    results.push(result);
  }
  if (dir === undefined) return INTERRUPTED_EXIT;
  const md = renderRunsMarkdown(results);
  await writeFile(join(dir, 'runs.md'), md);
  await writeFile(join(dir, 'runs.json'), `${JSON.stringify(summarizeRunsByPolicy(results), null, 2)}\n`);
  if (flags.json === true) process.stdout.write(`${JSON.stringify(summarizeRunsByPolicy(results), null, 2)}\n`);
  else if (flags.quiet === true) console.log(dir);
  else console.log(`\n${md}\nwrote ${join(dir, 'runs.md')}\n      ${join(dir, 'runs.json')}\n      ${join(dir, 'run-1')}/ ... run-${results.length}/`);
  if (interrupted.aborted) return INTERRUPTED_EXIT;
  return results.every(thresholdsPassed) ? 0 : THRESHOLDS_FAILED_EXIT;
}

/**
 * A live run with Ctrl-C handled: the first SIGINT aborts the run (open requests end `cancelled`, every child
 * process is stopped by PID, nothing is left behind); a second one exits at once (the process groups are killed
 * by the runner's exit handlers).
 */
async function runLive(options: LiveScenarioRunOptions, onProgress: NonNullable<ScenarioRunOptions['onProgress']>, abort: AbortController): Promise<RunResult> {
  const onSigint = (): void => {
    if (abort.signal.aborted) process.exit(130);
    console.error('\ninterrupted: cancelling open requests and stopping the mock and engine processes (Ctrl-C again to exit now)');
    abort.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  try {
    return await runScenarioLive({ ...options, signal: abort.signal, onProgress });
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}

/** Each live policy's engine explanation (./live-explain.ts), for the policies whose engine exported one. */
function engineExplanations(runs: ReadonlyMap<string, LivePolicyRun>): Record<string, EngineExplanation> {
  const out: Record<string, EngineExplanation> = {};
  for (const [name, r] of runs) if (r.engineExplanation !== null) out[name] = r.engineExplanation;
  return out;
}

function explanationText(explained: Readonly<Record<string, EngineExplanation>>): string {
  const lines = ['the engine\'s judgment (from its /metrics: breaker openings, what it counted, why it gave up):'];
  for (const [name, e] of Object.entries(explained)) lines.push(`  ${name}:`, ...renderExplanation(e).map((l) => `    ${l}`));
  return lines.join('\n');
}
