/**
 * `npm run regress -- --target NAME=URL [--scenarios a,b | FILES] [--duration D] [--runs N] [--mock-port P]
 * [--proxy URL] [--baselines DIR] [--tolerance ...] [--update]`: live regression of a system the user runs. Each
 * scenario runs live against each target `--runs` times (the harness starts the mock on `--mock-port`, or uses a
 * chaos proxy with `--proxy`); a run whose load generator fell behind is invalid, is rerun and never compared; the
 * medians are compared with `<baselines>/live/<scenario>--<target>.json` (harness/report/live-regress.ts).
 * Exit 0 nothing regressed; 1 a regression, a tolerance tighter than the noise, a missing baseline or too many
 * invalid runs; 2 bad input.
 */
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { HarnessError } from '../../src/errors.js';
import { RealClock } from '../../src/time/real-clock.js';
import {
  compareLive,
  figuresOf,
  liveJUnitCases,
  makeLiveBaseline,
  parseLiveBaseline,
  renderLiveJUnit,
  renderLiveMarkdown,
  summarizeRuns,
  validLiveTolerance,
  type LiveJUnitCase,
  type LiveRun,
  type LiveTolerance,
} from '../report/live-regress.js';
import type { LoadLimits } from '../run/live-monitor.js';
import { gitCommit } from '../run/meta.js';
import type { RunResult } from '../report/schema.js';
import { runScenarioLive, type LiveScenarioRunOptions } from '../run/run-scenario.js';
import { scaleScenarioRun } from '../run/scale-run.js';
import { findScenarioFiles, listScenarioNames, loadScenario, loadScenarioFile } from '../run/scenarios.js';
import type { Scenario } from '../scenario.js';
import type { TargetAdapter } from '../targets/target.js';
import { UsageError, parseList } from './flags.js';

/** Options of {@link runLiveRegress}. */
export interface LiveRegressOptions {
  readonly targets: readonly TargetAdapter[];
  readonly scenarios: readonly Scenario[];
  /** @default each scenario's durationMs */
  readonly durationMs?: number;
  /** @default 3 */
  readonly runs?: number;
  /** @default 18000 */
  readonly mockPort?: number;
  /** A chaos proxy in front of a real model, in place of the built-in mock. */
  readonly proxyUrl?: string;
  readonly baselinesDir: string;
  readonly update: boolean;
  /** @default none (no JUnit file) */
  readonly junitFile?: string;
  readonly tolerance?: Partial<LiveTolerance>;
  /** When the load generator counts as the bottleneck (tests loosen it on a busy machine). */
  readonly limits?: LoadLimits;
  /** Invalid runs allowed per scenario × target before giving up. @default runs */
  readonly maxInvalid?: number;
  /** Progress lines. @default stderr */
  readonly log?: (line: string) => void;
  readonly signal?: AbortSignal;
  /** One live run (tests pass a stand-in). @default runScenarioLive */
  readonly runOnce?: (o: LiveScenarioRunOptions) => Promise<RunResult>;
}

/** The baseline file of a scenario × target. */
export function liveBaselineFile(dir: string, scenario: string, target: string): string {
  const safe = (s: string): string => s.replace(/[^A-Za-z0-9._-]/g, '_');
  return join(dir, 'live', `${safe(scenario)}--${safe(target)}.json`);
}

/** Runs the live regression; returns the exit code and the Markdown summary (also printed by the CLI). */
export async function runLiveRegress(o: LiveRegressOptions): Promise<{ exitCode: 0 | 1; markdown: string }> {
  const runs = o.runs ?? 3;
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const tolerance = validLiveTolerance(o.tolerance ?? {});
  const clock = new RealClock();
  const sections: string[] = [`# Live regression check (${runs} run${runs === 1 ? '' : 's'} per scenario and target)`, ''];
  const cases: LiveJUnitCase[] = [];
  let failed = false;
  for (const given of o.scenarios) {
    const durationMs = o.durationMs ?? given.durationMs;
    // A --duration shorter than a burst cuts it at its rate, as `scenario --duration` does (harness/run/scale-run.ts).
    const cut = o.durationMs === undefined ? { scenario: given, scaling: null } : scaleScenarioRun(given, { durationMs });
    const s = cut.scenario;
    if (cut.scaling !== null) log(`regress: scaled: ${s.name} ${cut.scaling.note}`);
    for (const t of o.targets) {
      const valid: LiveRun[] = [];
      let invalid = 0;
      const maxInvalid = o.maxInvalid ?? runs;
      while (valid.length < runs && invalid <= maxInvalid) {
        if (o.signal?.aborted === true) throw new HarnessError('RUN_FAILED', 'regress: interrupted');
        const k = valid.length + invalid + 1;
        log(`regress: ${s.name} × ${t.name}, run ${k} (${valid.length}/${runs} valid so far) ...`);
        const t0 = clock.now();
        const result = await (o.runOnce ?? runScenarioLive)({
          scenario: { ...s, targets: [] },
          policies: [t.name],
          targets: [t],
          durationMs,
          ...(cut.scaling !== null ? { scaling: cut.scaling } : {}),
          mockPort: o.mockPort ?? 18_000,
          ...(o.proxyUrl !== undefined ? { proxyUrl: o.proxyUrl } : {}),
          ...(o.limits !== undefined ? { limits: o.limits } : {}),
          ...(o.signal !== undefined ? { signal: o.signal } : {}),
        });
        const lg = result.meta.loadGenerator;
        if (lg !== null && !lg.valid) {
          invalid++;
          log(`regress: run ${k} is invalid, the load generator fell behind (${lg.reasons.join('; ')}); it is not compared${invalid <= maxInvalid ? ' and runs again' : ''}`);
          continue;
        }
        const p = result.policies.find((x) => x.name === t.name);
        valid.push({ figures: figuresOf(result, t.name), requests: p?.summary.requests ?? 0, wallMs: Math.round(clock.now() - t0) });
      }
      const name = `${s.name} × ${t.name}`;
      if (valid.length < runs) {
        failed = true;
        const msg = `${invalid} runs were invalid (the load generator fell behind) and only ${valid.length} of ${runs} valid: nothing compared. Free the machine, or lower the load (--duration, a lighter scenario).`;
        sections.push(`## ❌ ${name}: not judged`, '', msg, '');
        cases.push({ suite: `regress-live.${s.name}`, name: `${t.name} runs`, failure: msg });
        continue;
      }
      const series = summarizeRuns(valid);
      const file = liveBaselineFile(o.baselinesDir, s.name, t.name);
      if (o.update) {
        await mkdir(dirname(file), { recursive: true });
        const b = makeLiveBaseline({ scenario: s.name, target: t.name, seed: s.seed, durationMs, series, gitCommit: gitCommit(), createdAt: new Date(clock.wallTimeMs()).toISOString() });
        await writeFile(file, `${JSON.stringify(b, null, 2)}\n`);
        sections.push(`- ${name}: baseline written to ${file} (medians of ${runs} runs; spread ${Object.entries(series.spread).map(([m, v]) => `${m} ${v === null ? '—' : v.toFixed(1)}`).join(', ')})`);
        continue;
      }
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch {
        failed = true;
        sections.push(`## ❌ ${name}: no baseline`, '', `No baseline at \`${file}\`: run the same command with \`--update\` and commit it.`, '');
        cases.push({ suite: `regress-live.${s.name}`, name: `${t.name} baseline`, failure: `no baseline at ${file}` });
        continue;
      }
      const baseline = parseLiveBaseline(JSON.parse(text) as unknown, file);
      const c = compareLive(series, baseline, { scenario: s.name, target: t.name, seed: s.seed, durationMs, tolerance });
      if (c.regression || c.tooNoisy) failed = true;
      sections.push(renderLiveMarkdown(c));
      cases.push(...liveJUnitCases(c));
    }
  }
  const markdown = `${sections.join('\n')}\n${o.update ? '' : failed ? '**Result: regression**\n' : '**Result: no regression**\n'}`;
  if (!o.update && o.junitFile !== undefined) {
    const junit = resolve(o.junitFile);
    await mkdir(dirname(junit), { recursive: true });
    await writeFile(junit, renderLiveJUnit(cases));
    log(`regress: JUnit XML written to ${junit}`);
  }
  return { exitCode: failed ? 1 : 0, markdown };
}

/** Parses `--tolerance ttft=30,e2e=30,goodput=20,errors=5,min-delta-ms=50`. @throws UsageError */
export function parseToleranceFlag(value: string): Partial<LiveTolerance> {
  const keys: Record<string, keyof LiveTolerance> = { ttft: 'p99TtftPct', e2e: 'p99E2ePct', goodput: 'goodputPct', errors: 'errorSharePts', 'min-delta-ms': 'minDeltaMs' };
  const out: Partial<Record<keyof LiveTolerance, number>> = {};
  for (const part of value.split(',')) {
    const [k, v] = part.split('=').map((x) => x.trim());
    const key = keys[k ?? ''];
    if (key === undefined || v === undefined || !/^\d+(\.\d+)?$/.test(v)) {
      throw new UsageError(`--tolerance: expected KEY=NUMBER pairs with KEY one of ${Object.keys(keys).join(', ')} (e.g. ttft=30,e2e=30,goodput=20,errors=5), got ${JSON.stringify(part)}`);
    }
    out[key] = Number(v);
  }
  return out;
}

/** The scenarios of a live regress: `--scenarios a,b` by name, and/or scenario files (a default export each). */
export async function liveScenarios(names: string | undefined, files: readonly string[]): Promise<Scenario[]> {
  const out: Scenario[] = [];
  if (names !== undefined) for (const n of parseList('--scenarios', names, listScenarioNames())) out.push(await loadScenario(n));
  for (const f of await findScenarioFiles(files)) out.push(await loadScenarioFile(f));
  if (out.length === 0) throw new UsageError('regress --target: expected --scenarios a,b or scenario files to run live against the target');
  return out;
}

/** For the CLI: prints the summary and appends it to $GITHUB_STEP_SUMMARY. */
export async function printLiveSummary(markdown: string): Promise<void> {
  console.log(markdown);
  if (process.env['GITHUB_STEP_SUMMARY']) await appendFile(process.env['GITHUB_STEP_SUMMARY'], markdown);
}
