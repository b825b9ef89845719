/**
 * Exported k6 scripts run for real: ../shared/bin/k6 (k6 v1.3.0 with xk6-sse; K6_BIN overrides the path) plays
 * shortened burst-1000 and steady-poisson against the mock and against the engine service on loopback. A healthy
 * run exits 0 and its TTFT p50 is within 20% of the harness's own live measurement of the same scenario (same seed,
 * same sessions, same prefix identities, the same target started the same way, each on a fresh system; a round that
 * disagrees is played again, at most 4 rounds, and two fair rounds that disagree fail, see playRound); a DURATION
 * shorter than a burst cuts it at
 * its rate; a run whose
 * mock gets an SLO-breaking fault plan from the script's setup()
 * (MOCK_URL) exits 99, and teardown() clears the plan. Without the binary the suite fails under CI=true, saying
 * why, and is skipped elsewhere.
 *
 * Bounded: every k6 run and harness run has a generous limit and every process started here is stopped by PID.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Random } from '../src/random.js';
import { RealClock } from '../src/time/real-clock.js';
import { buildSessions } from '../harness/workload/index.js';
import { generateK6Script } from '../harness/k6/index.js';
import { parseK6Summary, type K6Summary } from '../harness/report/k6-summary.js';
import { ENGINE_ENTRY, MOCK_ENTRY, engineArgs, runPolicyLive, type LivePolicyRun } from '../harness/run/live.js';
import { fetchMockStats } from '../harness/run/live-metrics.js';
import { ProcessGroup, freePort } from '../harness/run/processes.js';
import { loadScenario } from '../harness/run/scenarios.js';
import type { Scenario } from '../harness/scenario.js';
import type { FaultPlanInput } from '../sim/faults.js';

const ROOT = resolve(import.meta.dirname, '..');
const K6 = process.env['K6_BIN'] ?? resolve(ROOT, '..', 'shared', 'bin', 'k6');
const HAVE_K6 = existsSync(K6);
const CI = process.env['CI'] === 'true';
const POLICY = 'resilient';
/** A k6 run may take this long (sessions with think times and long generations included) before it is killed. */
const K6_LIMIT_MS = 300_000;
const clock = new RealClock();

describe('the k6 binary', () => {
  it.skipIf(!CI && !HAVE_K6)(`is at ${K6} (required under CI=true)`, () => {
    if (!HAVE_K6) {
      throw new Error(`k6 with xk6-sse not found at ${K6}: CI runs the exported scripts with it (see docs/k6.md; K6_BIN=path overrides)`);
    }
    expect(HAVE_K6).toBe(true);
  });
});

/** k6's TTFT p50 may differ from the harness's by this fraction of the harness's (the issue's 20%). */
const TTFT_AGREEMENT = 0.2;

/**
 * Shortened versions of the shipped scenarios: the same mix, SLOs, profile and seed, with less load, a 5 s window
 * (steady-poisson: 10/s; burst-1000: 20 sessions in its 2 s; with 40, two harness runs of the same burst through
 * the cold engine on this shared 2-core machine read TTFT p50 289 and 527 ms, more apart than the 20% compared), think times of 300 ms and long generations capped at
 * 500 tokens, so a run drains in seconds rather than a minute. k6 and the harness play the same shortened scenario.
 */
async function shortened(name: 'burst-1000' | 'steady-poisson', faults: FaultPlanInput | undefined): Promise<Scenario> {
  const s = await loadScenario(name);
  const w = s.workload;
  if ('trace' in w) throw new Error(`${name}: expected a synthetic workload`);
  const arrivals =
    w.arrivals.kind === 'burst' ? { ...w.arrivals, sessions: 20 } : w.arrivals.kind === 'poisson' ? { ...w.arrivals, ratePerSec: 10 } : w.arrivals;
  const mix = w.mix.map((e) =>
    e.kind === 'multi-turn' ? { ...e, thinkTimeMs: 300 } : e.kind === 'single' && typeof e.outputTokens === 'number' && e.outputTokens > 500 ? { ...e, outputTokens: 500 } : e,
  );
  const { faults: _dropped, ...model } = s.model;
  return { ...s, durationMs: 5_000, workload: { ...w, arrivals, mix }, model: { ...model, ...(faults !== undefined ? { faults } : {}) } };
}

interface K6Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly summary?: K6Summary;
}

async function runK6(dir: string, script: string, env: Record<string, string>): Promise<K6Run> {
  const file = join(dir, `${Object.keys(env).length}-${script.length}.ts`);
  writeFileSync(file, script);
  const summaryFile = `${file}.summary.json`;
  rmSync(summaryFile, { force: true });
  const args = ['run', '--quiet', '--no-color', ...Object.entries({ ...env, SUMMARY_FILE: summaryFile }).flatMap(([k, v]) => ['-e', `${k}=${v}`]), file];
  const child = spawn(K6, args, { cwd: dir, env: { ...process.env, K6_NO_USAGE_REPORT: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const limit = clock.setTimer(K6_LIMIT_MS, () => {
    if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  });
  const code = await new Promise<number | null>((done) => child.once('exit', (c) => done(c)));
  limit.cancel();
  const summary = existsSync(summaryFile) ? parseK6Summary(readFileSync(summaryFile, 'utf8'), summaryFile) : undefined;
  return { code, stdout, stderr: stderr.slice(-3000), ...(summary !== undefined ? { summary } : {}) };
}

interface System {
  readonly group: ProcessGroup;
  readonly mockUrl: string;
  readonly targetUrl: string;
}

/**
 * A fresh system as the harness's live runner starts it for `scenario` (harness/run/live.ts): the mock with the
 * scenario's profile (prefix caching as the profile says) and seed, the fallback mock when the scenario has one,
 * and the engine in front of them for target 'engine'. Fresh, so its prefix cache is as cold as the harness's.
 */
async function startSystem(scenario: Scenario, target: 'mock' | 'engine'): Promise<System> {
  const group = new ProcessGroup(clock);
  const mockOf = async (model: string, profile: unknown): Promise<{ url: string }> => {
    const port = await freePort();
    const spec = typeof profile === 'string' ? profile : JSON.stringify(profile);
    return group.start(
      { name: `mock[${model}]`, entry: MOCK_ENTRY, args: ['--port', String(port), '--model', `${model}=${spec}`, '--seed', String(scenario.seed)], port, readyPath: '/health' },
      { readyTimeoutMs: 60_000 },
    );
  };
  const m = scenario.model;
  const mock = await mockOf('primary', m.profile ?? 'h100-llama3-8b');
  if (target === 'mock') return { group, mockUrl: mock.url, targetUrl: mock.url };
  const fallback = m.fallbackProfile === undefined ? undefined : await mockOf('fallback', m.fallbackProfile);
  const enginePort = await freePort();
  const engine = await group.start(
    { name: 'engine', entry: ENGINE_ENTRY, args: engineArgs(POLICY, enginePort, mock.url, fallback?.url, scenario.seed), port: enginePort, readyPath: '/healthz' },
    { readyTimeoutMs: 60_000 },
  );
  return { group, mockUrl: mock.url, targetUrl: engine.url };
}

/**
 * The Bearer keys the harness's driver sends: the tenant's name (an engine started with --open takes the key for the
 * tenant; without a key every k6 request would be tenant `anonymous`).
 */
function tenantKeys(scenario: Scenario): Record<string, string> {
  const w = scenario.workload;
  const names = new Set<string>(['default']);
  if (!('trace' in w)) {
    for (const t of w.tenants ?? []) names.add(t.name);
    for (const e of w.mix) if (e.tenant !== undefined) names.add(e.tenant);
  }
  return Object.fromEntries([...names].map((n) => [n, n]));
}

/** Rounds of the agreement check at most: a round that disagrees is played again. */
const MAX_ROUNDS = 4;
/**
 * Fair rounds (playRound) that may disagree before the check fails: the second. One fair round near the 20% bound can
 * still disagree by chance (p50s of some 30-80 requests each, a few ms apart on a quiet machine); a measuring error
 * disagrees in every round.
 */
const MAX_FAIR_DISAGREEMENTS = 2;

/** One round of the agreement check: k6, then the harness's own live run, each on a fresh system. */
interface Round {
  readonly run: K6Run;
  readonly live: LivePolicyRun;
  /** The worst per-second event-loop lag p99 of the mock k6 played against (as the harness samples its own mock). */
  readonly k6MockLagP99Ms: number | null;
  readonly agree: boolean;
  /** Why the round was not a fair comparison (empty: it was). */
  readonly unfair: readonly string[];
}

/** The worst per-second event-loop lag p99 of the mock at `url` until `done` settles (harness/run/live-sampler.ts reads it so). */
async function watchMockLag(url: string, done: Promise<unknown>): Promise<number | null> {
  const stop = new AbortController();
  void done.finally(() => stop.abort());
  await fetchMockStats(url, true);
  let worst: number | null = null;
  while (!stop.signal.aborted) {
    await clock.sleep(1_000, stop.signal).catch(() => undefined);
    const lag = (await fetchMockStats(url, true))?.eventLoopDelay.p99Ms;
    if (lag !== undefined) worst = Math.max(worst ?? 0, lag);
  }
  return worst;
}

/**
 * Plays k6 against a fresh system, then the harness's own live run (its own fresh processes), and judges the round.
 * Played one after the other on a shared machine, the two runs can see different loads. A round is a fair comparison
 * when neither run was held up by a starved process that times requests: the harness's own self-monitoring found its
 * load generator valid, and neither mock's event loop stalled (p99 per second) longer than the TTFT difference allowed,
 * since a stall that long can by itself move a p50 by that much. `keep` gets k6's system, which the caller stops.
 */
async function playRound(scenario: Scenario, target: 'mock' | 'engine', dir: string, keep: (s: System) => void): Promise<Round> {
  const forK6 = await startSystem(scenario, target);
  keep(forK6);
  const out = generateK6Script(scenario, { targetUrl: forK6.targetUrl, baseDir: ROOT });
  const k6Run = runK6(dir, out.script, { MOCK_URL: forK6.mockUrl, POLICY: target === 'engine' ? POLICY : 'mock', API_KEYS: JSON.stringify(tenantKeys(scenario)) });
  const [run, k6MockLagP99Ms] = await Promise.all([k6Run, watchMockLag(forK6.mockUrl, k6Run)]);
  const live = await runPolicyLive({ scenario, policy: POLICY, seed: scenario.seed, durationMs: scenario.durationMs, target, baseDir: ROOT, readyTimeoutMs: 60_000 });
  const k6P50 = run.summary?.summary.ttftMs.p50 ?? null;
  const harnessP50 = live.result.summary.ttftMs.p50;
  const agree = run.code === 0 && k6P50 !== null && harnessP50 !== null && Math.abs(k6P50 - harnessP50) <= TTFT_AGREEMENT * harnessP50;
  const allowedMs = TTFT_AGREEMENT * (harnessP50 ?? 0);
  const stalled = (who: string, lag: number | null): string[] => (lag !== null && lag > allowedMs ? [`${who} mock's event-loop lag p99 ${lag} ms > the ${allowedMs.toFixed(1)} ms allowed`] : []);
  const unfair = [...(run.code === 0 ? [] : [`k6 exited ${run.code}`]), ...live.loadGenerator.reasons.map((r) => `harness ${r}`), ...stalled("k6's", k6MockLagP99Ms), ...stalled("the harness's", live.mockLagP99Ms)];
  return { run, live, k6MockLagP99Ms, agree, unfair };
}

const describeK6 = HAVE_K6 ? describe : describe.skip;

describeK6.each([
  ['steady-poisson', 'mock'],
  ['steady-poisson', 'engine'],
  ['burst-1000', 'mock'],
  ['burst-1000', 'engine'],
] as const)('k6 plays %s against the %s', (name, target) => {
  let dir: string;
  /** The system of the last healthy round, reused by the fault run. */
  let system: System | undefined;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'k6-run-'));
  });

  afterAll(async () => {
    await system?.group.stopAll();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('healthy: exits 0, and its TTFT p50 is within 20% of the harness\'s live run of the same scenario', async () => {
    const scenario = await shortened(name, undefined);
    // Each round plays k6 and then the harness, each on a fresh system (a used mock's prefix cache is warm). A round
    // that disagrees is played again, at most MAX_ROUNDS; the second fair round (playRound) that disagrees fails.
    const rounds: Round[] = [];
    for (let round = 1; round <= MAX_ROUNDS; round++) {
      await system?.group.stopAll();
      const r = await playRound(scenario, target, dir, (s) => (system = s));
      rounds.push(r);
      const s = r.live.result.summary;
      const k6 = r.run.summary?.summary;
      const lg = r.live.loadGenerator;
      process.stderr.write(
        `k6-run ${name} → ${target} round ${round}: exit ${r.run.code}; TTFT p50 k6 ${k6?.ttftMs.p50?.toFixed(1)} ms, harness ${s.ttftMs.p50?.toFixed(1)} ms; ` +
          `p90 k6 ${k6?.ttftMs.p90?.toFixed(1)} ms, harness ${s.ttftMs.p90?.toFixed(1)} ms; requests k6 ${k6?.requests}, harness ${s.requests}; ` +
          `harness lag p99 ${lg.eventLoopLagP99Ms} ms cpu ${lg.cpuPct}%; mock lag p99 k6 ${r.k6MockLagP99Ms} harness ${r.live.mockLagP99Ms} ms; ` +
          `${r.agree ? 'agree' : 'disagree'}, ${r.unfair.length === 0 ? 'fair' : `not fair (${r.unfair.join('; ')})`}\n`,
      );
      if (r.agree || rounds.filter((x) => x.unfair.length === 0).length >= MAX_FAIR_DISAGREEMENTS) break;
    }
    const last = rounds.at(-1);
    if (last === undefined) throw new Error('no round ran');
    const { run } = last;
    const harnessP50 = last.live.result.summary.ttftMs.p50;
    const harnessRequests = last.live.result.summary.requests;
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    const k6 = run.summary;
    if (k6 === undefined) throw new Error(`no summary JSON:\n${run.stdout}\n${run.stderr}`);
    expect(k6.summary.requests).toBeGreaterThan(0);
    expect(k6.summary.unfinished).toBe(0);
    const k6P50 = k6.summary.ttftMs.p50;
    if (harnessP50 === null || k6P50 === null) throw new Error('expected TTFT samples from both runs');
    // The same seeded sessions: k6 spaces Poisson arrivals evenly, so the counts agree only roughly.
    expect(Math.abs(k6.summary.requests - harnessRequests) / harnessRequests).toBeLessThanOrEqual(0.25);
    expect(
      Math.abs(k6P50 - harnessP50),
      `k6 TTFT p50 ${k6P50} ms, harness ${harnessP50} ms after ${rounds.length} round(s); ` +
        (last.unfair.length === 0 ? 'the last round was a fair comparison' : `no round was a fair comparison: ${rounds.map((x) => x.unfair.join(', ')).join(' / ')}`),
    ).toBeLessThanOrEqual(TTFT_AGREEMENT * harnessP50);
  }, 1_500_000);

  it('faults breaking the SLOs from setup() (MOCK_URL): exits 99, and teardown() clears the plan', async () => {
    // TTFT beyond every class's TTFT SLO (burst: 2 s; steady: 1 s), and errors beyond the error bound.
    const faults: FaultPlanInput = name === 'burst-1000' ? { ttftDelayMs: 2_500 } : { ttftDelayMs: 1_500, serverError: { probability: 0.5 } };
    const scenario = await shortened(name, faults);
    system ??= await startSystem(scenario, target);
    const out = generateK6Script(scenario, { targetUrl: system.targetUrl, baseDir: ROOT });
    const run = await runK6(dir, out.script, { MOCK_URL: system.mockUrl, ABORT_ON_FAIL: '1', SCALE: '0.5' });
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(99);
    expect(run.summary?.thresholdsPassed).toBe(false);
    const plan = (await (await fetch(`${system.mockUrl}/mock/faults?model=primary`)).json()) as { models: { primary: unknown } };
    expect(plan.models.primary).toEqual({});
  }, 600_000);
});

describeK6('k6 reads the knobs of an exported script', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'k6-knobs-'));
  });
  afterAll(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** `k6 inspect`: the options k6 would run with, without running anything. */
  async function inspect(name: string, env: Record<string, string>): Promise<{ scenarios: { sessions: Record<string, unknown> } }> {
    const file = join(dir, `${name}.ts`);
    writeFileSync(file, generateK6Script(await loadScenario(name), { baseDir: ROOT }).script);
    const child = spawn(K6, ['inspect', ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]), file], { cwd: dir, env: { ...process.env, K6_NO_USAGE_REPORT: 'true' } });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    const code = await new Promise<number | null>((done) => child.once('exit', (c) => done(c)));
    expect(code).toBe(0);
    return JSON.parse(out) as { scenarios: { sessions: Record<string, unknown> } };
  }

  it('DURATION, SCALE and VUS reshape an arrival-rate executor (brownout-fallback: 60/s)', async () => {
    const o = await inspect('brownout-fallback', { DURATION: '10s', SCALE: '0.5', VUS: '7' });
    expect(o.scenarios.sessions).toMatchObject({ executor: 'constant-arrival-rate', rate: 30, timeUnit: '1s', duration: '10s', preAllocatedVUs: 7 });
  }, 120_000);

  it('SCALE shrinks a burst and DURATION bounds it (burst-1000)', async () => {
    const o = await inspect('burst-1000', { DURATION: '20s', SCALE: '0.1' });
    expect(o.scenarios.sessions).toMatchObject({ executor: 'per-vu-iterations', vus: 100, iterations: 1, maxDuration: '20s' });
  }, 120_000);

  it('DURATION shorter than a burst cuts it at its rate: sessions due after the window are not played', async () => {
    // 12 one-call sessions at seeded times in 6 s; DURATION=2s keeps those due in the first 2 s, as --duration does.
    const base = await loadScenario('burst-1000');
    const scenario: Scenario = {
      ...base,
      durationMs: 6_000,
      workload: { arrivals: { kind: 'burst', sessions: 12, withinMs: 6_000 }, mix: [{ name: 'chat', weight: 1, kind: 'single', promptTokens: 16, outputTokens: 4 }] },
      model: { profile: 'h100-llama3-8b' },
    };
    const due = buildSessions(scenario.workload, new Random(scenario.seed).derive('workload'), { durationMs: scenario.durationMs, baseDir: ROOT }).map((x) => x.startAtMs);
    const inWindow = due.filter((t) => t < 2_000).length;
    expect(inWindow).toBeGreaterThan(0);
    expect(inWindow).toBeLessThan(12);
    const sys = await startSystem(scenario, 'mock');
    try {
      const run = await runK6(dir, generateK6Script(scenario, { targetUrl: sys.targetUrl, baseDir: ROOT }).script, { DURATION: '2s', POLICY: 'mock' });
      expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
      expect(run.summary?.windowMs).toBe(2_000);
      expect(run.summary?.summary.requests).toBe(inWindow);
    } finally {
      await sys.group.stopAll();
    }
  }, 300_000);

  it('refuses k6 run -d, which would replace the executor, and says what to use instead', async () => {
    const out = generateK6Script(await shortened('steady-poisson', undefined), { targetUrl: 'http://127.0.0.1:9', baseDir: ROOT });
    const d = await new Promise<{ code: number | null; text: string }>((done) => {
      const file = join(dir, 'guard.ts');
      writeFileSync(file, out.script);
      const child = spawn(K6, ['run', '--quiet', '-d', '2s', '-e', `SUMMARY_FILE=${file}.summary.json`, file], { cwd: dir, env: { ...process.env, K6_NO_USAGE_REPORT: 'true' } });
      let text = '';
      child.stderr.setEncoding('utf8').on('data', (s: string) => (text += s));
      child.stdout.setEncoding('utf8').on('data', (s: string) => (text += s));
      child.once('exit', (code) => done({ code, text }));
    });
    expect(d.code).toBe(108);
    expect(d.text).toMatch(/executor was replaced.*-e DURATION/s);
  }, 300_000);
});
