/**
 * generateK6Script(scenario): a k6 script in TypeScript that replays the scenario's load against the engine's
 * OpenAI-compatible API: its arrival model as a k6 executor, its seeded sessions (the same classes, tenants,
 * token sizes and think times as a virtual run of the same seed), and its thresholds where k6 has an
 * equivalent. Pure apart from reading a trace file for trace replay.
 */
import { ValidationError } from '../../src/errors.js';
import { Random } from '../../src/random.js';
import { sloBoundsFor } from '../measure/latency.js';
import { scaleScenarioRun } from '../run/scale-run.js';
import type { Scenario } from '../scenario.js';
import { buildSessions, isTraceWorkload, type Session, type WorkloadSpec } from '../workload/index.js';
import { k6Executor, scheduledIterations, type ExecutorPlan } from './executors.js';
import { LIFECYCLE_BODY } from './script-lifecycle.js';
import { requestsBody } from './script-requests.js';
import { SCHEDULE_BODY, SCRIPT_KNOBS, runtimePrelude } from './script-runtime.js';
import { compileSession, estimateSessionMs, prefixHeader, type CompiledSession } from './sessions.js';
import { K6_METRICS, scriptThresholds, thresholdLabel, type ThresholdMapping } from './thresholds.js';

/** Options of {@link generateK6Script}. */
export interface K6ScriptOptions {
  /** The engine's base URL, the script's default for `__ENV.TARGET`. @default 'http://127.0.0.1:8080' */
  readonly targetUrl?: string;
  /** The `model` sent in requests, the default for `__ENV.MODEL`. @default 'primary' */
  readonly model?: string;
  /** Sessions written into the script; arrival-rate executors cycle through them. @default 1000 */
  readonly maxSessions?: number;
  /** Largest burst played with one VU per session. @default 2000 */
  readonly maxBurstVus?: number;
  /** Time given to running sessions after the arrival window. @default 120_000 */
  readonly drainMs?: number;
  /** Seed of the sessions. @default scenario.seed */
  readonly seed?: number;
  /**
   * Arrival window written into the script (DURATION changes it at run time); a burst longer than it is cut to it at its
   * rate, as `--duration` cuts it (harness/run/scale-run.ts). @default scenario.durationMs
   */
  readonly durationMs?: number;
  /** Directory a trace path is resolved against. @default process.cwd() */
  readonly baseDir?: string;
  /** Stream chat completions with k6/x/sse (TTFT, ITL, TPOT); false for plain k6 (response time only). @default true */
  readonly stream?: boolean;
}

/** A generated script and what went into it. */
export interface K6Export {
  readonly script: string;
  readonly executor: ExecutorPlan;
  readonly thresholds: ThresholdMapping;
  /** Sessions written into the script. */
  readonly sessions: number;
  /** Sessions the scenario has over its window (more than `sessions` when the script cycles). */
  readonly scenarioSessions: number;
  readonly stream: boolean;
}

export const DEFAULT_TARGET_URL = 'http://127.0.0.1:8080';

/** Generates the k6 script for `scenario`. */
export function generateK6Script(given: Scenario, o: K6ScriptOptions = {}): K6Export {
  // A window shorter than a burst cuts the burst at its own rate, as the harness's --duration does (said in the header).
  const scenario = o.durationMs === undefined ? given : scaleScenarioRun(given, { durationMs: o.durationMs }).scenario;
  const target = o.targetUrl ?? DEFAULT_TARGET_URL;
  if (!/^https?:\/\/[^\s/]+/.test(target)) throw new ValidationError('targetUrl', 'an http(s) URL like http://127.0.0.1:8080', target);
  const maxSessions = o.maxSessions ?? 1000;
  if (!Number.isInteger(maxSessions) || maxSessions < 1) throw new ValidationError('maxSessions', 'an integer >= 1', maxSessions);
  const stream = o.stream ?? true;
  const seed = o.seed ?? scenario.seed;
  const durationMs = o.durationMs ?? scenario.durationMs;
  const all = buildSessions(scenario.workload, new Random(seed).derive('workload'), { durationMs, baseDir: o.baseDir ?? process.cwd() });
  // Closed-loop users: the sessions they play, round by round (every user's first, then every user's second, ...).
  const users = all.some((s) => s.plan.kind === 'user') ? closedLoopSessions(all, maxSessions) : undefined;
  const compiled = (users?.sessions ?? all).map((s) => compileSession(s, scenario.workload));
  // The VU pool holds the sessions in flight: the peak arrival rate × the mean session's expected time.
  const sessionMs = estimateSessionMs(compiled);
  const executor = k6Executor(scenario.workload, {
    durationMs,
    arrivalTimesMs: all.map((s) => s.startAtMs),
    sessionMs,
    ...(o.drainMs !== undefined ? { drainMs: o.drainMs } : {}),
    ...(o.maxBurstVus !== undefined ? { maxBurstVus: o.maxBurstVus } : {}),
  });
  // per-vu-iterations needs every session (VU i plays session i); arrival-rate executors cycle through a sample.
  const sessions = users !== undefined || executor.sessionBy === 'vu' ? compiled : compiled.slice(0, maxSessions);
  const { classes, chatClasses } = classesOf(sessions);
  const thresholds = scriptThresholds(scenario.slo, scenario.thresholds ?? [], { stream, classes, chatClasses });

  const text = [
    header(scenario, seed, executor, thresholds, sessions.length, all.length, stream, sessionMs),
    runtimePrelude({ target, model: o.model ?? 'primary', stream }),
    SCHEDULE_BODY,
    `const SCENARIO_NAME = ${q(scenario.name)};\nconst SEED = ${seed};`,
    `/** The executor as exported; schedule() applies DURATION, SCALE, VUS, MAX_VUS and GRACEFUL_STOP. */\nconst BASE_SCHEDULE: Scenario = ${literal(executor.config, '')};`,
    `const BASE_WINDOW_MS = ${durationMs};\nconst SCHEDULE = schedule(BASE_SCHEDULE, BASE_WINDOW_MS);\n`,
    sloTable(scenario, classes),
    thresholdTable(thresholds),
    'export const options: Options = {',
    '  scenarios: { sessions: SCHEDULE.scenario },',
    '  thresholds: buildThresholds(),',
    "  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(99)', 'max', 'count'],",
    "  setupTimeout: '60s',",
    "  teardownTimeout: '60s',",
    '};\n',
    modelSide(scenario),
    requestsBody(stream),
    LIFECYCLE_BODY,
    defaultFunction(executor),
    // A SharedArray is built once, in the first VU's init, and shared: the other VUs do not hold a copy of the sessions.
    `/** The scenario's sessions for seed ${seed}, in arrival order (one copy shared by every VU). */\nconst SESSIONS: readonly Session[] = new SharedArray<Session>('sessions', (): Session[] => [\n${sessions.map(sessionLine).join('\n')}\n]);\n`,
    ...(users !== undefined ? [`/** Closed loop: the think time (ms) after each session of SESSIONS, before the VU's next one. */\nconst USER_THINK_MS: readonly number[] = [${users.thinkMs.join(', ')}];\n`] : []),
  ].join('\n');
  return { script: text, executor, thresholds, sessions: sessions.length, scenarioSessions: all.length, stream };
}

/** Closed-loop users' sessions, round by round, and the think time after each (seeded, as the harness plays them). */
function closedLoopSessions(users: readonly Session[], max: number): { sessions: Session[]; thinkMs: number[] } {
  const sessions: Session[] = [];
  const thinkMs: number[] = [];
  for (let k = 0; sessions.length < max && users.length > 0; k++) {
    for (const u of users) {
      if (sessions.length >= max) break;
      if (u.plan.kind !== 'user') continue;
      // The start time is not known before the run (it depends on the answers): k > 0 sessions carry the user's.
      sessions.push(u.plan.session(k, u.startAtMs));
      thinkMs.push(Math.round(u.plan.thinkTimeMs(k)));
    }
  }
  return { sessions, thinkMs };
}

function classesOf(sessions: readonly CompiledSession[]): { classes: string[]; chatClasses: string[] } {
  const all = new Set<string>();
  const chat = new Set<string>();
  for (const x of sessions) {
    for (const st of x.steps) {
      if (st.kind === 'call') {
        all.add(st.call.class);
        chat.add(st.call.class);
      } else if (st.kind === 'parallel') for (const c of st.calls) all.add(c.class);
    }
  }
  return { classes: [...all].sort(), chatClasses: [...chat].sort() };
}

function comment(lines: readonly string[]): string {
  return lines.map((l) => (l === '' ? '//' : `// ${l}`)).join('\n');
}

function header(s: Scenario, seed: number, ex: ExecutorPlan, th: ThresholdMapping, kept: number, total: number, stream: boolean, sessionMs: number): string {
  const lines = [
    `k6 load script for scenario "${s.name}": ${s.description}`,
    `Generated by \`npm run k6 ${s.name}${stream ? '' : ' -- --no-stream'}\` (harness/k6) with seed ${seed}. Re-export rather than edit.`,
    '',
    stream
      ? 'Run: k6 run <this file>, with a k6 that includes xk6-sse (import \'k6/x/sse\'); k6 >= 0.57 runs TypeScript.'
      : 'Run: k6 run <this file> (plain k6 >= 0.57; no extension: chat answers are not streamed).',
    'Do not pass -d/-u/-i/--stage: k6 would replace this script\'s executor with plain VUs; setup() refuses such a run.',
    'Settings by -e NAME=value or the environment:',
    ...SCRIPT_KNOBS.map(([name, meaning]) => `  ${name}: ${meaning}`),
    '',
    'Arrivals:',
    ...ex.notes.map((n) => `  ${n}`),
    ex.sessionBy === 'user'
      ? '  Sessions are not scheduled: each VU starts its next one when the last ended (plus think time).'
      : `  About ${Math.round(scheduledIterations(ex.config))} sessions scheduled; k6 reports sessions it could not start (no free VU) as dropped_iterations.`,
    ...vuPoolNote(ex, sessionMs),
    '  Latencies count from the intended start: for the first call of an iteration, when the executor scheduled it',
    '  (per-vu-iterations: the session\'s seeded time; constant-arrival-rate: n x interval; ramping: where the integral',
    '  of the rate reaches n), never later than when it was sent (scheduleLagMs records the difference); later calls',
    '  of a session count from when they are sent, after the earlier calls and think times.',
    '',
    'Workload:',
    ...describeWorkload(s.workload).map((l) => `  ${l}`),
    `  ${kept === total ? `All ${total}` : `${kept} of the ${total}`} seeded sessions are written below${kept < total ? '; iterations cycle through them' : ''}.`,
    '  Multi-turn and agent sessions are played as sequences within one iteration: turns with their think times,',
    '  an agent\'s retrievers in parallel (http.batch) between planner and summarizer. Prompt sizes of later turns',
    '  and of the summarizer assume every earlier call succeeded with its planned length.',
    stream
      ? '  Chat completions are streamed (k6/x/sse): ttftMs at the first token event, itlMs per token, tpotMs and e2eMs at the end.'
      : '  Chat completions are not streamed: responseMs is the whole answer\'s time (not TTFT); no ttftMs, itlMs or tpotMs.',
    '  max_tokens = the planned output, sizes in x-mock-prompt-tokens / x-mock-output-tokens (the engine passes x-mock-*',
    '  on to the mock). The tenant is the Bearer key (API_KEYS); priority, deadline and idempotency key are sent as',
    '  x-priority, x-deadline-ms and idempotency-key.',
    '  Outcomes: the engine\'s x_engine verdict when the answer carries one (outcome, degraded reason, attempts,',
    '  queue and backoff time become okFraction/degradedFraction/..., attempts, queueMs and backoffMs), else the wire:',
    '  a finished stream is ok, x-degraded/x_degraded makes it degraded (degraded is not ok), a 429 with a shedding',
    '  code is shed, the rest failed or timeout. (xk6-sse hands a non-200 body over only as \'unknown event\' lines;',
    '  a body it does not hand over leaves the status alone to judge by.)',
    '',
    'Thresholds (k6 exits 99 when one fails; SLO bounds judge SLO_STAT, default p(99)):',
    ...th.mapped.map((m) => `  ${m.label} -> ${m.metric}: ${m.bound !== undefined ? `SLO_STAT${m.bound}` : m.expression}${m.abortOnFail ? ' (abortOnFail)' : ''}${m.caveat !== undefined ? ` (${m.caveat})` : ''}`),
    ...(th.unmapped.length > 0 ? ['  No k6 equivalent (not checked here):'] : []),
    ...th.unmapped.map((u) => `    ${thresholdLabel(u.threshold)}: ${u.reason}`),
    '  Also recorded: sloMetFraction, goodput (ok within every SLO bound of the class), tokensDelivered, scheduleLagMs.',
    '  handleSummary writes SUMMARY_FILE (default k6-summary.json) for `npm run regress -- --from-k6 FILE`.',
  ];
  return comment(lines);
}

function vuPoolNote(ex: ExecutorPlan, sessionMs: number): string[] {
  const c = ex.config;
  if (c.executor === 'per-vu-iterations') return [`  One VU per session: ${c.vus} VUs (SCALE scales them).`];
  if (c.executor === 'constant-vus' || c.executor === 'ramping-vus') return [];
  return [
    `  VU pool: preAllocatedVUs ${c.preAllocatedVUs}, maxVUs ${c.maxVUs}: the sessions in flight at the peak rate (rate x an expected`,
    `  ${(sessionMs / 1000).toFixed(1)} s per session: its think times, 0.25 s + 20 ms per output token per call) x 1.5. -e VUS / -e MAX_VUS override.`,
  ];
}

/** The scenario's fault plans and rate limits, which setup() puts on the mock when MOCK_URL is given. */
function modelSide(s: Scenario): string {
  const m = s.model;
  const plan = m.faults ?? {};
  return [
    '/** The scenario\'s fault plan for the primary model: setup() puts it on MOCK_URL (timeline from the load\'s start). */',
    `const FAULT_PLAN: Record<string, unknown> = ${literal(plan, '')};`,
    '/** The scenario\'s provider rate limits, put on MOCK_URL by setup() (undefined: none). */',
    `const RATE_LIMITS: Record<string, unknown> | undefined = ${m.rateLimits === undefined ? 'undefined' : literal(m.rateLimits, '')};`,
    '/** The fallback model\'s fault plan, put on MOCK_FALLBACK_URL (model fallback) when given. */',
    `const FALLBACK_FAULT_PLAN: Record<string, unknown> | undefined = ${m.fallbackFaults === undefined ? 'undefined' : literal(m.fallbackFaults, '')};`,
    '',
  ].join('\n');
}

function describeWorkload(w: WorkloadSpec): string[] {
  if (isTraceWorkload(w)) return [`Trace replay of ${w.trace.path}${w.trace.speedup !== undefined ? ` at ${w.trace.speedup}x` : ''}.`];
  const total = w.mix.reduce((a, e) => a + e.weight, 0);
  const mix = w.mix.map((e) => `${e.name} ${((100 * e.weight) / total).toFixed(0)}% (${e.kind}${e.priority === 'batch' ? ', batch' : ''})`).join(', ');
  const tenants = w.tenants === undefined ? [] : [`Tenants: ${w.tenants.map((t) => `${t.name} (weight ${t.weight})`).join(', ')}.`];
  const repeats = (w.repeatFraction ?? 0) > 0 ? [`${(100 * (w.repeatFraction ?? 0)).toFixed(0)}% repeats share an idempotency key with an earlier request.`] : [];
  const cap =
    w.maxConcurrency !== undefined
      ? [
          `maxConcurrency ${w.maxConcurrency} is not enforced here: k6's arrival-rate executors drop an iteration that finds no free VU`,
          `(dropped_iterations) instead of holding it. -e MAX_VUS=${w.maxConcurrency} caps the sessions in flight that way.`,
        ]
      : [];
  const client =
    w.client !== undefined
      ? [
          `The scenario's clients abandon a request with no first token after ${w.client.timeoutMs} ms and resend it (up to ${w.client.resends ?? 0} times);`,
          'this script does not: each call waits up to REQUEST_TIMEOUT, once.',
        ]
      : [];
  return [`Mix: ${mix}.`, ...tenants, ...repeats, ...cap, ...client];
}

function sloTable(s: Scenario, classes: readonly string[]): string {
  const table: Record<string, Record<string, number>> = {};
  for (const c of classes) {
    const b = sloBoundsFor(s.slo, c);
    table[c] = Object.fromEntries(Object.entries(b).filter(([, v]) => v !== undefined)) as Record<string, number>;
  }
  const def = Object.fromEntries(Object.entries({ ttftMs: s.slo.ttftMs, e2eMs: s.slo.e2eMs, tpotMs: s.slo.tpotMs }).filter(([, v]) => v !== undefined));
  return [
    '/** SLO bounds (ms) by request class, from the scenario\'s `slo`; other classes use the default. */',
    `const SLO_BY_CLASS: Record<string, SloBounds> = ${literal(table, '')};`,
    `const DEFAULT_SLO: SloBounds = ${literal(def, '')};`,
    '',
  ].join('\n');
}

function thresholdTable(th: ThresholdMapping): string {
  const rows = th.mapped.map((m) => {
    const expr =
      m.bound !== undefined ? `SLO_STAT + ${q(m.bound)}` : m.threshold === undefined && m.metric === K6_METRICS.error ? "'rate<=' + envRate('MAX_ERROR_RATE', 0.05)" : q(m.expression);
    return `  [${q(m.metric)}, ${expr}, ${m.abortOnFail}],`;
  });
  return `function envRate(name: string, fallback: number): number {
  const raw = __ENV[name];
  const v = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!(Number.isFinite(v) && v >= 0 && v <= 1)) throw new Error(name + ': expected a fraction between 0 and 1, got ' + JSON.stringify(raw));
  return v;
}

/** [metric, expression, abortOnFail]: the thresholds listed in the header. ABORT_ON_FAIL=1 makes every one abort. */
const THRESHOLDS: ReadonlyArray<readonly [string, string, boolean]> = [
${rows.join('\n')}
];

function buildThresholds(): Record<string, ObjectThreshold[]> {
  const out: Record<string, ObjectThreshold[]> = {};
  for (const [metric, threshold, abort] of THRESHOLDS) {
    const list = out[metric] || (out[metric] = []);
    list.push(abort || ABORT_ON_FAIL ? { threshold, abortOnFail: true, delayAbortEval: '5s' } : { threshold });
  }
  return out;
}
`;
}

// The text below is the exported k6 script: it runs inside k6 (k6's own clock), never in this process.
function defaultFunction(ex: ExecutorPlan): string {
  if (ex.sessionBy === 'user') {
    return `
/** Closed loop: each VU plays sessions back to back (iteration n plays session n), then thinks before the next. */
export default function (): void {
  const n = exec.scenario.iterationInTest;
  const s = SESSIONS[n % SESSIONS.length];
  if (s === undefined) return;
  play(s, Math.floor(n / SESSIONS.length), undefined);
  const think = USER_THINK_MS[n % USER_THINK_MS.length] ?? 0;
  if (think > 0) sleep(think / 1000);
}
`;
  }
  if (ex.sessionBy === 'vu') {
    return `
/** One iteration per VU: VU i plays session i (i / SCALE with SCALE), starting at its seeded time in the burst window. */
export default function (): void {
  const n = Math.floor((exec.vu.idInTest - 1) / SCHEDULE.scale);
  const s = SESSIONS[n % SESSIONS.length];
  if (s === undefined) return;
  // A DURATION shorter than the burst cuts it at its own rate, as the harness's --duration does: a session due at or
  // after the arrival window is not played (without this its VU would sleep into gracefulStop and play it anyway).
  if (__ENV.DURATION && s.atMs >= SCHEDULE.windowMs) return;
  // exec.scenario.startTime is k6's own record of when this scenario began (epoch ms); inside k6, Date.now() is
  // the VU's wall clock, the only one a script has.
  const due = exec.scenario.startTime + s.atMs;
  const waitMs = due - Date.now(); // the VU's wall clock (see above)
  if (waitMs > 0) sleep(waitMs / 1000);
  // With SCALE > 1 several VUs play one session: each its own copy (request ids and idempotency keys get #cycle).
  play(s, Math.floor((exec.vu.idInTest - 1) % Math.max(1, SCHEDULE.scale)), due);
}
`;
  }
  return `
/** k6 starts iterations at the scheduled rate; iteration i plays session i (cycling when there are more). */
export default function (): void {
  const n = exec.scenario.iterationInTest;
  const s = SESSIONS[n % SESSIONS.length];
  if (s === undefined) return;
  const at = SCHEDULE.scheduledStartMs(n);
  play(s, Math.floor(n / SESSIONS.length), at === undefined ? undefined : exec.scenario.startTime + at);
}
`;
}

function sessionLine(s: CompiledSession): string {
  const steps = s.steps.map((st) => {
    if (st.kind === 'think') return `['think', ${st.ms}]`;
    if (st.kind === 'parallel') {
      const cls = st.calls[0]?.class ?? '';
      return `['embed', ${q(cls)}, [${st.calls.map((c) => `[${q(c.label)}, [${c.inputTokens.join(', ')}]]`).join(', ')}]]`;
    }
    const c = st.call;
    const prefix = c.prefix !== undefined && c.prefix.length > 0 ? `, ${q(prefixHeader(c.prefix))}` : '';
    const key = c.idempotencyKey !== undefined ? `, ${q(c.idempotencyKey)}` : prefix !== '' ? ', null' : '';
    return `['chat', ${q(c.label)}, ${q(c.class)}, ${c.promptTokens}, ${c.outputTokens}${key}${prefix}]`;
  });
  const deadline = s.deadlineMs !== undefined ? ` deadlineMs: ${s.deadlineMs},` : '';
  const atMs = Math.round(s.startAtMs * 10) / 10;
  return `  { id: ${q(s.id)}, atMs: ${atMs}, tenant: ${q(s.tenant)}, priority: ${q(s.priority)},${deadline} abandon: ${s.abandonOnFailure}, steps: [${steps.join(', ')}] },`;
}

function q(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
}

/** A TypeScript object literal for plain data, indented by two spaces per level. */
function literal(v: unknown, indent: string): string {
  if (typeof v === 'string') return q(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  const inner = `${indent}  `;
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x !== 'object')) return `[${v.map((x) => literal(x, inner)).join(', ')}]`;
    return `[\n${v.map((x) => `${inner}${literal(x, inner)},`).join('\n')}\n${indent}]`;
  }
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v).filter(([, x]) => x !== undefined);
    if (entries.length === 0) return '{}';
    const key = (k: string): string => (/^[A-Za-z_$][\w$]*$/.test(k) ? k : q(k));
    // Small flat objects (k6 stages) stay on one line.
    if (entries.length <= 3 && entries.every(([, x]) => typeof x === 'string' || typeof x === 'number')) {
      return `{ ${entries.map(([k, x]) => `${key(k)}: ${literal(x, inner)}`).join(', ')} }`;
    }
    return `{\n${entries.map(([k, x]) => `${inner}${key(k)}: ${literal(x, inner)},`).join('\n')}\n${indent}}`;
  }
  return 'null';
}
