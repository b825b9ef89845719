/**
 * The agreement check: the same scenario, seed and policies run in virtual time and live on loopback, and the
 * relative differences of p50 and p99 TTFT and E2E, and of goodput, reported per policy against goals (p50
 * within 10%, p99 within 20%, goodput within 10%). This is how the simulator earns trust: where it misses, the
 * live run shows what the model leaves out.
 *
 * What plain virtual time leaves out is the HTTP path: two hops on loopback (driver→engine, engine→mock). The
 * live run measures them at zero load (sequential probe requests after the load), and a second virtual run with
 * that measured transport (harness/run/transport.ts) is compared too. The goals are judged on that calibrated run;
 * the report shows both, so a reader sees what the calibration contributed. The calibration comes from the zero-load
 * probes only, never from the loaded figures it is judged on.
 */
import type { RunResult } from '../report/schema.js';
import { policyName, resolveScenarioPolicy, type Scenario, type ScenarioPolicy } from '../scenario.js';
import { PROBE_OUTPUT_TOKENS, PROBE_PROMPT_TOKENS, probeRequest, type LivePolicyRun, type ProbeTtft } from './live.js';
import { transportFromHopCosts, type Transport } from './transport.js';
import { PRIMARY_MODEL, buildWorld } from './world.js';

/** Scenarios that `npm run scenario NAME` runs in both modes unless `--mode` says otherwise. */
export const AGREEMENT_SCENARIOS: readonly string[] = ['agreement'];

/** Sequential probe requests per policy and mode that measure the HTTP path's fixed cost at zero load. */
export const AGREEMENT_PROBES = 20;

/** Allowed relative difference, in percent, by statistic. */
export const AGREEMENT_GOALS = { p50: 10, p99: 20, goodput: 10 } as const;

export const AGREEMENT_METRICS = [
  { metric: 'ttftMs', stat: 'p50' },
  { metric: 'ttftMs', stat: 'p99' },
  { metric: 'e2eMs', stat: 'p50' },
  { metric: 'e2eMs', stat: 'p99' },
  { metric: 'goodputPerSec', stat: null },
] as const;

/** One compared figure. */
export interface AgreementRow {
  /** e.g. `ttftMs p50`, `goodputPerSec`. */
  readonly label: string;
  /** The plain virtual run (no transport model). */
  readonly virtual: number | null;
  readonly live: number | null;
  /** (live − virtual) / virtual × 100 for the plain virtual run; null when either is missing or virtual is 0. */
  readonly diffPct: number | null;
  readonly goalPct: number;
  /** The virtual run with the measured transport, when there is one: its figure and its difference from live. */
  readonly calibrated?: { readonly virtual: number | null; readonly diffPct: number | null; readonly pass: boolean };
  /** The plain difference is within the goal. */
  readonly plainPass: boolean;
  /** Within the goal, judged on the calibrated difference when there is one, else on the plain one. */
  readonly pass: boolean;
}

/**
 * What explains a difference: the fixed cost of the HTTP path measured at zero load (sequential probe requests, one
 * at a time, after the load), and how late the processes ran during the load.
 */
export interface AgreementContext {
  /** Median TTFT of the same probe request in virtual time, straight to the mock, and through the engine service. */
  readonly zeroLoadTtftMs: { readonly virtual: number | null; readonly directToMock: number | null; readonly throughEngine: number | null };
  /** The primary mock's worst per-second event-loop delay p99 during the load. */
  readonly mockEventLoopLagP99Ms: number | null;
}

/** Each hop's zero-load cost, in ms (request there plus first event back), from one policy's probes. */
export interface HopCosts {
  /** Straight to the mock minus virtual: one HTTP hop to the model. Null when a probe is missing. */
  readonly engineToModelMs: number | null;
  /** Through the engine minus straight to the mock: the driver's hop to the engine, and the engine's own work. */
  readonly clientToEngineMs: number | null;
}

/** The transport the calibrated virtual run used, and the measurements it came from. */
export interface TransportCalibration {
  /** Per policy, as measured (a negative cost is noise and is kept as measured here). */
  readonly measured: ReadonlyArray<{ readonly policy: string } & HopCosts>;
  /** The mean over the policies of each hop's cost, rounded to 0.01 ms, at least 0. */
  readonly engineToModelMs: number;
  readonly clientToEngineMs: number;
  /** The transport option of the calibrated run: each hop's cost split evenly between request and response. */
  readonly transport: Transport;
}

export interface PolicyAgreement {
  readonly policy: string;
  readonly rows: readonly AgreementRow[];
  readonly context?: AgreementContext;
}

/** The agreement.json document. */
export interface AgreementReport {
  readonly scenario: string;
  readonly seed: number | string;
  readonly durationMs: number;
  readonly goalsPct: typeof AGREEMENT_GOALS;
  readonly policies: readonly PolicyAgreement[];
  /** Which virtual run the goals are judged on: with the measured transport when there was one. */
  readonly judgedOn: 'calibrated' | 'plain';
  /** Every row within its goal (as judged). */
  readonly pass: boolean;
  /** Every row within its goal without the transport model. */
  readonly plainPass: boolean;
  /** The measured transport of the calibrated run; null when the live run measured none (no probes). */
  readonly calibration: TransportCalibration | null;
  /** The live run's load generator kept up (otherwise the comparison says little). */
  readonly liveValid: boolean;
  readonly liveInvalidReasons: readonly string[];
  readonly wallMs: { readonly virtual: number; readonly live: number; readonly calibrated?: number };
}

const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** Per policy name: the live runs' probe figures and the virtual probe TTFT. */
export type AgreementContexts = ReadonlyMap<string, AgreementContext>;

/** The virtual run with the measured transport, for `compareModes`. */
export interface CalibratedRun {
  readonly result: RunResult;
  readonly calibration: TransportCalibration;
}

type Summary = RunResult['policies'][number];
const pick = (p: Summary, metric: (typeof AGREEMENT_METRICS)[number]['metric'], stat: 'p50' | 'p99' | null): number | null =>
  metric === 'goodputPerSec' ? p.summary.goodputPerSec : p.summary[metric][stat as 'p50' | 'p99'];
const diff = (a: number | null, b: number | null): number | null =>
  a === null || b === null || a === 0 ? (a === 0 && b === 0 ? 0 : null) : round(((b - a) / a) * 100, 1);
const within = (d: number | null, goalPct: number): boolean => d !== null && Math.abs(d) <= goalPct;

/**
 * Compares a virtual and a live run of the same scenario, policy by policy (policies present in both), and the
 * calibrated virtual run when given (the goals are then judged on it).
 */
export function compareModes(virtual: RunResult, live: RunResult, contexts?: AgreementContexts, calibrated?: CalibratedRun): AgreementReport {
  const policies: PolicyAgreement[] = [];
  for (const v of virtual.policies) {
    const l = live.policies.find((p) => p.name === v.name);
    if (l === undefined) continue;
    const c = calibrated?.result.policies.find((p) => p.name === v.name);
    const rows = AGREEMENT_METRICS.map(({ metric, stat }): AgreementRow => {
      const a = pick(v, metric, stat);
      const b = pick(l, metric, stat);
      const goalPct = stat === null ? AGREEMENT_GOALS.goodput : AGREEMENT_GOALS[stat];
      const diffPct = diff(a, b);
      const plainPass = within(diffPct, goalPct);
      const label = stat === null ? metric : `${metric} ${stat}`;
      if (calibrated === undefined) return { label, virtual: a, live: b, diffPct, goalPct, plainPass, pass: plainPass };
      // A policy missing from the calibrated run has nothing to be judged on: it does not pass.
      const cv = c === undefined ? null : pick(c, metric, stat);
      const cd = diff(cv, b);
      const pass = within(cd, goalPct);
      return { label, virtual: a, live: b, diffPct, goalPct, calibrated: { virtual: cv, diffPct: cd, pass }, plainPass, pass };
    });
    const context = contexts?.get(v.name);
    policies.push({ policy: v.name, rows, ...(context !== undefined ? { context } : {}) });
  }
  const lg = live.meta.loadGenerator;
  const all = (ok: (r: AgreementRow) => boolean): boolean => policies.length > 0 && policies.every((p) => p.rows.every(ok));
  return {
    scenario: virtual.scenario.name,
    seed: virtual.seed,
    durationMs: virtual.scenario.durationMs,
    goalsPct: AGREEMENT_GOALS,
    policies,
    judgedOn: calibrated === undefined ? 'plain' : 'calibrated',
    pass: all((r) => r.pass),
    plainPass: all((r) => r.plainPass),
    calibration: calibrated?.calibration ?? null,
    liveValid: lg?.valid ?? false,
    liveInvalidReasons: lg?.reasons ?? ['no load-generator report'],
    wallMs: { virtual: virtual.meta.wallMs, live: live.meta.wallMs, ...(calibrated !== undefined ? { calibrated: calibrated.result.meta.wallMs } : {}) },
  };
}

/** One policy's hop costs from its zero-load probes. */
export function hopCosts(c: AgreementContext): HopCosts {
  const z = c.zeroLoadTtftMs;
  return {
    engineToModelMs: z.directToMock === null || z.virtual === null ? null : round(z.directToMock - z.virtual, 3),
    clientToEngineMs: z.throughEngine === null || z.directToMock === null ? null : round(z.throughEngine - z.directToMock, 3),
  };
}

/**
 * The transport measured by the live run's zero-load probes: each hop's cost per policy, then the mean over the
 * policies (the HTTP path is the same code under every policy, and the mean halves the probes' noise), clamped at
 * 0 and split evenly between request and response. Null when no policy has the probes of the engine→model hop.
 */
export function calibrateTransport(contexts: AgreementContexts): TransportCalibration | null {
  const measured = [...contexts.entries()].map(([policy, c]) => ({ policy, ...hopCosts(c) }));
  const mean = (xs: ReadonlyArray<number | null>): number | null => {
    const ok = xs.filter((x): x is number => x !== null);
    return ok.length === 0 ? null : ok.reduce((s, x) => s + x, 0) / ok.length;
  };
  const e2m = mean(measured.map((m) => m.engineToModelMs));
  if (e2m === null) return null;
  const c2e = mean(measured.map((m) => m.clientToEngineMs));
  const engineToModelMs = Math.max(0, round(e2m, 2));
  const clientToEngineMs = Math.max(0, round(c2e ?? 0, 2));
  return { measured, engineToModelMs, clientToEngineMs, transport: transportFromHopCosts({ engineToModelMs, clientToEngineMs }) };
}

/**
 * The median TTFT of `n` sequential probe requests in virtual time: the same request the live runner probes with,
 * from the driver's side of the world (across its transport, when it has one) through the engine with `policy` to the
 * in-process mock, one at a time.
 */
export async function virtualProbeTtftMs(scenario: Scenario, policy: ScenarioPolicy, seed: number, n: number, transport?: Transport): Promise<number | null> {
  const world = buildWorld(scenario, resolveScenarioPolicy(policy), seed, transport !== undefined ? { transport } : {});
  try {
    const ttft: number[] = [];
    const run = async (): Promise<void> => {
      for (let i = 0; i < n; i++) {
        const p = probeRequest(i, 'virtual');
        const t = world.clock.now();
        const r = await world.submit(
          {
            id: p.id,
            tenant: p.tenant,
            priority: p.priority,
            kind: 'chat',
            request: { id: p.id, model: PRIMARY_MODEL, messages: p.messages, promptTokens: PROBE_PROMPT_TOKENS, maxTokens: PROBE_OUTPUT_TOKENS, outputTokens: PROBE_OUTPUT_TOKENS, apiKey: p.tenant },
          },
          new AbortController().signal,
        );
        if (r.firstTokenAtMs !== undefined) ttft.push(r.firstTokenAtMs - t);
        // Apart in time, as the live probes are: each one finds the GPU idle.
        await world.clock.sleep(100);
      }
    };
    await world.clock.run(run(), 'agreement probes');
    ttft.sort((a, b) => a - b);
    return ttft.length === 0 ? null : Math.round((ttft[Math.floor(ttft.length / 2)] as number) * 1000) / 1000;
  } finally {
    world.close();
  }
}

/** The context of one policy's agreement row: live probes and mock lag, and the virtual probe. */
export function agreementContext(live: Pick<LivePolicyRun, 'probes' | 'mockLagP99Ms'>, virtualProbeMs: number | null): AgreementContext {
  const p: ProbeTtft | undefined = live.probes;
  return {
    zeroLoadTtftMs: { virtual: virtualProbeMs, directToMock: p?.directToMockMs ?? null, throughEngine: p?.throughEngineMs ?? null },
    mockEventLoopLagP99Ms: live.mockLagP99Ms,
  };
}

/**
 * Every policy's context: its live run's probes and mock lag (by policy name), and the same probe in plain virtual
 * time. Policies without a live run are left out.
 */
export async function agreementContexts(
  scenario: Scenario,
  seed: number,
  liveRuns: ReadonlyMap<string, Pick<LivePolicyRun, 'probes' | 'mockLagP99Ms'>>,
  probes = AGREEMENT_PROBES,
): Promise<Map<string, AgreementContext>> {
  const contexts = new Map<string, AgreementContext>();
  for (const p of scenario.policies) {
    const r = liveRuns.get(policyName(p));
    if (r !== undefined) contexts.set(policyName(p), agreementContext(r, await virtualProbeTtftMs(scenario, p, seed, probes)));
  }
  return contexts;
}
