/**
 * The agreement check: the same scenario, seed and policies run in virtual time and live on loopback, and the
 * relative differences of p50 and p99 TTFT and E2E, and of goodput, reported per policy against goals (p50
 * within 10%, p99 within 20%, goodput within 10%). This is how the simulator earns trust: where it misses, the
 * live run shows what the model leaves out. Pure functions of two RunResults, plus the Markdown rendering.
 */
import type { RunResult } from '../report/schema.js';
import { resolveScenarioPolicy, type Scenario, type ScenarioPolicy } from '../scenario.js';
import { PRIMARY_MODEL, buildWorld } from './world.js';
import { PROBE_OUTPUT_TOKENS, PROBE_PROMPT_TOKENS, probeRequest, type LivePolicyRun, type ProbeTtft } from './live.js';

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
  readonly virtual: number | null;
  readonly live: number | null;
  /** (live − virtual) / virtual × 100; null when either is missing or virtual is 0. */
  readonly diffPct: number | null;
  readonly goalPct: number;
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
  /** Every row within its goal. */
  readonly pass: boolean;
  /** The live run's load generator kept up (otherwise the comparison says little). */
  readonly liveValid: boolean;
  readonly liveInvalidReasons: readonly string[];
  readonly wallMs: { readonly virtual: number; readonly live: number };
}

const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** Per policy name: the live runs' probe figures and the virtual probe TTFT. */
export type AgreementContexts = ReadonlyMap<string, AgreementContext>;

/** Compares a virtual and a live run of the same scenario, policy by policy (policies present in both). */
export function compareModes(virtual: RunResult, live: RunResult, contexts?: AgreementContexts): AgreementReport {
  const policies: PolicyAgreement[] = [];
  for (const v of virtual.policies) {
    const l = live.policies.find((p) => p.name === v.name);
    if (l === undefined) continue;
    const rows = AGREEMENT_METRICS.map(({ metric, stat }): AgreementRow => {
      const pick = (p: typeof v): number | null => (metric === 'goodputPerSec' ? p.summary.goodputPerSec : p.summary[metric][stat as 'p50' | 'p99']);
      const a = pick(v);
      const b = pick(l);
      const goalPct = stat === null ? AGREEMENT_GOALS.goodput : AGREEMENT_GOALS[stat];
      const diffPct = a === null || b === null || a === 0 ? (a === 0 && b === 0 ? 0 : null) : round(((b - a) / a) * 100, 1);
      return { label: stat === null ? metric : `${metric} ${stat}`, virtual: a, live: b, diffPct, goalPct, pass: diffPct !== null && Math.abs(diffPct) <= goalPct };
    });
    const context = contexts?.get(v.name);
    policies.push({ policy: v.name, rows, ...(context !== undefined ? { context } : {}) });
  }
  const lg = live.meta.loadGenerator;
  return {
    scenario: virtual.scenario.name,
    seed: virtual.seed,
    durationMs: virtual.scenario.durationMs,
    goalsPct: AGREEMENT_GOALS,
    policies,
    pass: policies.length > 0 && policies.every((p) => p.rows.every((r) => r.pass)),
    liveValid: lg?.valid ?? false,
    liveInvalidReasons: lg?.reasons ?? ['no load-generator report'],
    wallMs: { virtual: virtual.meta.wallMs, live: live.meta.wallMs },
  };
}

const fmt = (x: number | null): string => (x === null ? '–' : Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(x % 1 === 0 ? 0 : 2));
const fmtMs = (x: number | null): string => (x === null ? '–' : `${x.toFixed(1)} ms`);
const fmtPct = (x: number | null): string => (x === null ? '–' : `${x > 0 ? '+' : ''}${x.toFixed(1)}%`);

/** The agreement table as Markdown (also fine on a terminal). */
export function renderAgreementMarkdown(r: AgreementReport): string {
  const lines = [
    `# Agreement: ${r.scenario} (seed ${r.seed}, ${r.durationMs / 1000} s of arrivals)`,
    '',
    `Goals: p50 within ${r.goalsPct.p50}%, p99 within ${r.goalsPct.p99}%, goodput within ${r.goalsPct.goodput}%. ` +
      `Result: **${r.pass ? 'agree' : 'disagree'}**. Live load generator: ${r.liveValid ? 'valid' : `INVALID (${r.liveInvalidReasons.join('; ')})`}.`,
    '',
    '| policy | figure | virtual | live | difference | goal | |',
    '|---|---|---:|---:|---:|---:|---|',
  ];
  for (const p of r.policies) {
    for (const row of p.rows) {
      lines.push(`| ${p.policy} | ${row.label} | ${fmt(row.virtual)} | ${fmt(row.live)} | ${fmtPct(row.diffPct)} | ±${row.goalPct}% | ${row.pass ? 'ok' : 'MISS'} |`);
    }
  }
  const ctx = r.policies.filter((p) => p.context !== undefined);
  if (ctx.length > 0) {
    lines.push(
      '',
      'Context: the same probe request (one at a time, nothing else running) in virtual time, straight to the mock, and',
      'through the engine service: the fixed cost of the HTTP path, which virtual time does not model. Mock lag is the',
      "worst per-second p99 of the mock process's event-loop delay during the load.",
      '',
      '| policy | zero-load TTFT virtual | direct to mock | through engine | HTTP path cost | mock lag p99 |',
      '|---|---:|---:|---:|---:|---:|',
    );
    for (const p of ctx) {
      const c = p.context as AgreementContext;
      const z = c.zeroLoadTtftMs;
      const cost = z.virtual === null || z.throughEngine === null ? null : z.throughEngine - z.virtual;
      lines.push(
        `| ${p.policy} | ${fmtMs(z.virtual)} | ${fmtMs(z.directToMock)} | ${fmtMs(z.throughEngine)} | ${cost === null ? '–' : `+${cost.toFixed(1)} ms`} | ${fmtMs(c.mockEventLoopLagP99Ms)} |`,
      );
    }
  }
  lines.push('', `Wall time: virtual ${(r.wallMs.virtual / 1000).toFixed(1)} s, live ${(r.wallMs.live / 1000).toFixed(1)} s.`, '');
  return lines.join('\n');
}

/**
 * The median TTFT of `n` sequential probe requests in virtual time: the same request the live runner probes with,
 * through the engine with `policy` and the in-process mock, one at a time.
 */
export async function virtualProbeTtftMs(scenario: Scenario, policy: ScenarioPolicy, seed: number, n: number): Promise<number | null> {
  const world = buildWorld(scenario, resolveScenarioPolicy(policy), seed);
  try {
    const ttft: number[] = [];
    const run = async (): Promise<void> => {
      for (let i = 0; i < n; i++) {
        const p = probeRequest(i, 'virtual');
        const t = world.clock.now();
        const r = await world.engine.submit(
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
