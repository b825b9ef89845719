/**
 * `npm run tune <scenario> [-- flags]`: sweep Policy knobs in virtual mode across worker threads, rank the
 * configurations against SLOs and write the tuning report; or, with --capacity, find a policy's headroom.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { AbortError } from '../../src/errors.js';
import { RealClock } from '../../src/time/real-clock.js';
import type { Threshold } from '../measure/types.js';
import { alignColumns } from '../report/table.js';
import { gitCommit, machineInfo } from '../run/meta.js';
import { scaleScenarioRun } from '../run/scale-run.js';
import { isScenarioPath, loadScenario } from '../run/scenarios.js';
import type { Scenario } from '../scenario.js';
import { resolveBase, DEFAULT_BASE } from '../tune/base.js';
import { findCapacity } from '../tune/capacity.js';
import { capacityHeadline, type CapacityDocument } from '../tune/capacity-report.js';
import { RANK_ALIGN, RANK_HEADERS, rankRow } from '../tune/columns.js';
import { sweepDocument } from '../tune/document.js';
import { defaultTuneDir, writeCapacityArtifacts, writeSweepArtifacts } from '../tune/output.js';
import { createTuneProgress, fmtEta } from '../tune/progress.js';
import { noiseNote, sweepVerdict } from '../tune/report-md.js';
import { RANK_BY, type RankBy } from '../tune/rank.js';
import { defaultSlo, parseSlo, sloLabel } from '../tune/slo.js';
import { buildConfigs, configLabel, parseSearch, parseSpace } from '../tune/space.js';
import { runSweep } from '../tune/sweep.js';
import { UsageError, parseDuration, parseInteger, parsePort } from './flags.js';
import { parseProxyFlag, parseTargets } from './target-flags.js';
import { liveTargetTask } from './tune-target.js';

/** Exit code when no configuration meets the SLOs (or, with --capacity, not even the smallest load does). */
export const NO_CONFIG_MEETS_EXIT = 1;
/** Exit code after Ctrl-C; the sweep can be resumed from its output folder. */
export const INTERRUPTED_EXIT = 130;

/** The settings of a sweep as given on the command line; saved as tune-spec.json for --resume. */
export interface TuneSettings {
  scenario: string;
  vary: string[];
  base?: string;
  slo?: string;
  search?: string;
  seeds?: string;
  seed?: string;
  duration?: string;
  capacity?: boolean;
  rankBy?: string;
  tolerance?: string;
  maxMultiplier?: string;
  /** With --capacity: an external system (NAME=URL) whose headroom is found live (harness/cli/tune-target.ts). */
  target?: string;
  mockPort?: string;
  proxy?: string;
}

interface TuneFlags extends Omit<TuneSettings, 'scenario'> {
  workers?: string;
  out?: string;
  resume?: string;
  quiet?: boolean;
}

export const SPEC_FILE = 'tune-spec.json';

const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** The `tune` command, to register with `.addCommand(tuneCommand().exitOverride())`. */
export function tuneCommand(): Command {
  return new Command('tune')
    .description('Sweep Policy knobs in virtual mode and rank the configurations against SLOs; or find the headroom of a policy (--capacity).')
    .argument('[scenario]', 'scenario name (see npm run scenario -- --list) or a scenario file (.ts, .js, .mjs, .json)')
    .option('--vary <path=values>', 'a Policy field and its values, repeatable: concurrency.limit=32,64,128 | retryBudget.ratio=0.05..0.3:6 | concurrency.limit=16..256:5:log', collect, [])
    .option('--base <policy>', `the policy the sweep starts from: a preset, one of the scenario's policies, or a .json file (default: ${DEFAULT_BASE})`)
    .option('--slo <list>', "SLOs every configuration must meet, e.g. ttft.p99<=2000,e2e.p99<=30000,goodput>=5 (default: p99 TTFT and E2E within the scenario's SLO)")
    .option('--rank-by <what>', 'order of the configurations that meet the SLOs: goodput, or goodput-per-dollar (good requests per dollar billed; needs a priced scenario)', 'goodput')
    .option('--search <kind>', 'grid (every combination) or random:N (N distinct grid points, seeded)', 'grid')
    .option('--seeds <n>', 'seeds per configuration; with 2+ the reports show min / median / max across seeds', '1')
    .option('--seed <n>', "first seed; the others follow it (default: the scenario's)")
    .option('--duration <d>', "arrival window of each run, e.g. 30s (default: the scenario's)")
    .option('--workers <n>', 'worker threads (default: the number of CPUs)')
    .option('--out <dir>', 'output folder; a folder with results.jsonl is resumed (default: reports/tune/<time>-<scenario>/)')
    .option('--resume <dir>', 'resume the interrupted sweep in DIR with the settings saved there (tune-spec.json)')
    .option('--capacity', 'find the largest load multiplier at which --base still meets the SLOs (no --vary)')
    .option('--tolerance <pct>', 'with --capacity: stop when the bracket is narrower than this, in percent', '5')
    .option('--max-multiplier <x>', 'with --capacity: the largest load multiplier tried', '64')
    .option('--target <name=url>', 'with --capacity: find, live, the headroom of a system you started at an OpenAI-compatible URL (its upstream pointed at the mock)')
    .option('--mock-port <n>', 'with --target: the mock GPU listens here (default 18000)')
    .option('--proxy <url>', 'with --target: a chaos proxy in front of a real model, in place of the built-in mock')
    .option('--quiet', 'no progress; print only the output folder')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  npm run tune burst-1000 -- --vary concurrency.limit=32,64,128,256 --vary retryBudget.ratio=0.05..0.3:6',
        '  npm run tune burst-1000 -- --vary retry.maxAttempts=2,3,4 --seeds 3 --slo ttft.p99<=2s,e2e.p99<=30s,goodput>=4',
        '  npm run tune burst-1000 -- --capacity --base adaptive',
        '  npm run tune -- --resume reports/tune/20260101-120000-burst-1000',
        '',
        'Ranking: meets every SLO in every seed first, then higher median goodput, then lower median p99 E2E.',
        'Writes sweep.json, report.md, report.html and best-policy.json (capacity.json and capacity.md with --capacity).',
        `Exit codes: 0 a configuration meets the SLOs; ${NO_CONFIG_MEETS_EXIT} none does (or a run failed: the message says which);`,
        `2 bad flag, path or value (before any run starts); ${INTERRUPTED_EXIT} interrupted (resume with --resume DIR).`,
      ].join('\n'),
    )
    .action(async (scenario: string | undefined, flags: TuneFlags, command: Command) => {
      process.exitCode = await runTune(scenario, flags, command.parent?.name() ?? 'npm run');
    });
}

function scenarioRef(arg: string): string {
  return isScenarioPath(arg) ? resolve(arg) : arg;
}

async function settingsOf(scenarioArg: string | undefined, flags: TuneFlags): Promise<{ settings: TuneSettings; outDir?: string }> {
  if (flags.resume === undefined) {
    if (scenarioArg === undefined) throw new UsageError('expected a scenario name, e.g. npm run tune burst-1000 -- --vary concurrency.limit=32,64 (or --resume DIR)');
    const { workers: _w, out: _o, resume: _r, quiet: _q, ...rest } = flags;
    // A scenario file is saved by its absolute path, so --resume finds it from any folder.
    return { settings: { scenario: scenarioRef(scenarioArg), ...rest }, ...(flags.out !== undefined ? { outDir: flags.out } : {}) };
  }
  if (flags.vary.length > 0 || flags.out !== undefined) throw new UsageError('--resume: takes its settings from DIR/tune-spec.json; give only --workers or --quiet with it');
  const file = join(flags.resume, SPEC_FILE);
  let settings: TuneSettings;
  try {
    settings = JSON.parse(await readFile(file, 'utf8')) as TuneSettings;
  } catch (e) {
    throw new UsageError(`--resume ${flags.resume}: expected a sweep folder with ${SPEC_FILE}, got ${e instanceof Error ? e.message : String(e)}`);
  }
  if (scenarioArg !== undefined && scenarioRef(scenarioArg) !== settings.scenario) {
    throw new UsageError(`--resume: the folder holds a sweep of ${settings.scenario}, not ${scenarioArg}`);
  }
  return { settings, outDir: flags.resume };
}

function seedsOf(s: TuneSettings, scenario: Scenario): number[] {
  const n = parseInteger('--seeds', s.seeds ?? '1', 1);
  const first = s.seed === undefined ? scenario.seed : parseInteger('--seed', s.seed);
  return Array.from({ length: n }, (_, i) => first + i);
}

function parsePositive(flag: string, v: string): number {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v.trim()) || !(n > 0)) throw new UsageError(`${flag}: expected a positive number, got ${JSON.stringify(v)}`);
  return n;
}

/** `program` names the command line in the resume hint: `npm run` (this repository) or the package's bin. */
async function runTune(scenarioArg: string | undefined, flags: TuneFlags, program: string): Promise<number> {
  const clock = new RealClock();
  const startedAt = new Date(clock.wallTimeMs()).toISOString();
  const { settings: s, outDir: givenOut } = await settingsOf(scenarioArg, flags);
  const workers = flags.workers === undefined ? availableParallelism() : parseInteger('--workers', flags.workers, 1);
  const quiet = flags.quiet === true;

  // Everything is parsed and validated here, before any run starts.
  const loaded = await loadScenario(s.scenario);
  const durationMs = s.duration === undefined ? loaded.durationMs : parseDuration('--duration', s.duration);
  // A --duration shorter than a burst cuts it at its rate, as `scenario --duration` does (harness/run/scale-run.ts).
  const cut = s.duration === undefined ? { scenario: loaded, scaling: null } : scaleScenarioRun(loaded, { durationMs });
  const scenario = cut.scenario;
  const seeds = seedsOf(s, scenario);
  const base = await resolveBase(s.base ?? DEFAULT_BASE, scenario);
  const slo: Threshold[] = s.slo === undefined ? defaultSlo(scenario) : parseSlo(s.slo);
  if (slo.length === 0) throw new UsageError(`--slo: scenario ${scenario.name} states no TTFT or E2E bound; give one, e.g. --slo ttft.p99<=2000`);
  if (s.capacity === true && s.vary.length > 0) throw new UsageError('--capacity: finds the headroom of one policy (--base); it takes no --vary');
  if (s.target !== undefined && s.capacity !== true) throw new UsageError('--target: a live target is tuned for headroom only; add --capacity');
  const [target] = s.target === undefined ? [] : parseTargets([s.target]);
  const search = parseSearch(s.search ?? 'grid');
  const rankBy = s.rankBy ?? 'goodput';
  if (!(RANK_BY as readonly string[]).includes(rankBy)) throw new UsageError(`--rank-by: expected one of ${RANK_BY.join(', ')}, got ${JSON.stringify(rankBy)}`);
  const dims = s.capacity === true ? [] : parseSpace(s.vary, base.policy);
  const configs = s.capacity === true ? [] : buildConfigs(base.policy, dims, search, seeds[0]!);
  const tolerance = parsePositive('--tolerance', s.tolerance ?? '5') / 100;
  const maxMultiplier = parsePositive('--max-multiplier', s.maxMultiplier ?? '64');

  const outDir = resolve(givenOut ?? defaultTuneDir(startedAt, scenario.name));
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, SPEC_FILE), `${JSON.stringify(s, null, 2)}\n`);

  const abort = new AbortController();
  const onSigint = (): void => abort.abort(new Error('interrupted (SIGINT)'));
  process.once('SIGINT', onSigint);
  // A live target is probed one run at a time, whatever --workers says.
  const meta = { startedAt, workers: s.capacity === true && s.target !== undefined ? 1 : workers, gitCommit: gitCommit(), nodeVersion: process.version };
  const progress = createTuneProgress(durationMs, slo, quiet);
  if (cut.scaling !== null && !quiet) process.stderr.write(`scaled: ${scenario.name} ${cut.scaling.note}\n`);
  let finishedRuns = 0;
  try {
    if (s.capacity === true) {
      if (!quiet) process.stderr.write(`tune: headroom of ${target?.name ?? base.name} on ${scenario.name}, SLO ${sloLabel(slo)}, ${seeds.length} seed(s), ${target !== undefined ? 'live, one run at a time' : `${workers} workers`}\n`);
      const result = await findCapacity({
        scenario,
        durationMs,
        policy: target === undefined ? base : { name: target.name, policy: base.policy },
        slo,
        seeds,
        workers: target === undefined ? workers : 1,
        ...(target !== undefined
          ? {
              runTask: liveTargetTask({
                target,
                ...(s.mockPort !== undefined ? { mockPort: parsePort('--mock-port', s.mockPort) } : {}),
                ...(s.proxy !== undefined ? { proxyUrl: parseProxyFlag(s.proxy) } : {}),
                signal: abort.signal,
                log: (l) => progress.log(l),
              }),
            }
          : {}),
        tolerance,
        maxMultiplier,
        outDir,
        signal: abort.signal,
        onRun: () => finishedRuns++,
        onRound: (ms) => progress.log(`  probing ${ms.map((m) => `${Number(m.toPrecision(3))}×`).join(', ')} ...`),
      });
      for (const p of result.probes) progress.log(`  ${Number(p.multiplier.toPrecision(3))}×: ${Math.round(p.sessions)} sessions, ${p.pass ? 'meets' : 'misses'} the SLOs`);
      progress.stop();
      const doc: CapacityDocument = {
        schemaVersion: 1,
        kind: 'tune-capacity',
        scenario: { name: scenario.name, description: scenario.description, durationMs },
        seeds,
        sloText: sloLabel(slo),
        result,
        meta,
      };
      const paths = await writeCapacityArtifacts(doc, outDir);
      if (quiet) console.log(outDir);
      else console.log(`\n${target?.name ?? base.name} on ${scenario.name}: ${capacityHeadline(result)}\n\nwrote ${paths.json}\n      ${paths.md}`);
      return result.multiplier === null ? NO_CONFIG_MEETS_EXIT : 0;
    }

    const outcome = await runSweep({
      scenario,
      durationMs,
      base,
      dimensions: dims,
      search,
      seeds,
      slo,
      rankBy: rankBy as RankBy,
      workers,
      outDir,
      signal: abort.signal,
      onEvent: (e) => {
        if (e.type === 'run-done') finishedRuns++;
        progress.onEvent(e);
      },
    });
    progress.stop();
    const doc = sweepDocument(outcome, { ...meta, machine: machineInfo() });
    const paths = await writeSweepArtifacts(doc, outDir);
    if (quiet) console.log(outDir);
    else {
      const r = outcome.ranking;
      console.log(`\n${scenario.name}: ${sweepVerdict(doc)}`);
      console.log(`${configs.length} configurations × ${seeds.length} seed(s), ${outcome.ran} runs in ${fmtEta(outcome.wallMs)}${outcome.resumed > 0 ? ` (${outcome.resumed} resumed)` : ''}; SLO ${sloLabel(slo)}\n`);
      const top = r.configs.slice(0, 10);
      console.log(alignColumns([...RANK_HEADERS], top.map(rankRow), RANK_ALIGN));
      if (r.configs.length > top.length) console.log(`  ... ${r.configs.length - top.length} more in report.md`);
      const note = noiseNote(doc);
      if (note !== null) console.log(`\n${note}`);
      if (r.best !== null) console.log(`\nbest: ${configLabel(r.best.assignments)} -> ${paths.best}`);
      else console.log(`\nno configuration meets the SLOs (${sloLabel(slo)}); exit ${NO_CONFIG_MEETS_EXIT}`);
      console.log(`\nwrote ${paths.json}\n      ${paths.md}\n      ${paths.html}`);
    }
    return outcome.ranking.best === null ? NO_CONFIG_MEETS_EXIT : 0;
  } catch (e) {
    progress.stop();
    if (e instanceof AbortError && abort.signal.aborted) {
      console.error(`\ntune: interrupted after ${finishedRuns} finished run(s), logged in ${join(outDir, 'results.jsonl')}. Resume with: ${program === 'npm run' ? 'npm run tune --' : `${program} tune`} --resume ${outDir}`);
      return INTERRUPTED_EXIT;
    }
    throw e;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}
