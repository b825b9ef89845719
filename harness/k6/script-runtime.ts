/**
 * The fixed head of a generated k6 script: imports, step types, `__ENV` settings and the schedule knobs
 * (DURATION, SCALE, VUS, MAX_VUS) that rewrite the exported executor at init time. It is k6 code kept as text (it
 * runs in k6, not in Node), typechecked against `@types/k6` (plus harness/k6/types/k6-x-sse.d.ts) by
 * test/k6-typecheck.test.ts. Time and randomness here are k6's, outside this project's house rules.
 */

/** Headers the script sends to the engine besides the OpenAI body. The x-mock-* ones are for the mock model. */
export const ENGINE_HEADERS = {
  tenant: 'x-tenant',
  priority: 'x-priority',
  deadlineMs: 'x-deadline-ms',
  idempotencyKey: 'idempotency-key',
  promptTokens: 'x-mock-prompt-tokens',
  outputTokens: 'x-mock-output-tokens',
  prefix: 'x-mock-prefix',
  requestId: 'x-request-id',
} as const;

/** Environment variables the script reads (`k6 run -e NAME=value`), with what they do; written into the header. */
export const SCRIPT_KNOBS: ReadonlyArray<readonly [name: string, meaning: string]> = [
  ['TARGET', 'base URL of the engine (or of the mock, or any OpenAI-compatible server)'],
  ['API_KEY', 'Bearer key; API_KEYS=\'{"tenant":"key"}\' gives each tenant its own (the engine knows a tenant by its key)'],
  ['MODEL, EMBEDDING_MODEL', 'model names in the request bodies'],
  ['DURATION', 'arrival window (k6 duration like 30s or 2m, or ms); rate executors keep their rate and shape, a burst longer than it is cut to it at its rate (sessions due after it are not played)'],
  ['SCALE', 'multiplies arrival rates, the number of burst sessions, or closed-loop VUs (0.1 = a tenth of the load)'],
  ['VUS', 'preAllocatedVUs of arrival-rate executors (default: sized from the scenario\'s concurrency)'],
  ['MAX_VUS', 'maxVUs of arrival-rate executors'],
  ['GRACEFUL_STOP', 'time given to running sessions after the window (default from the export)'],
  ['REQUEST_TIMEOUT', 'per request, the whole stream included (default 300s)'],
  ['MOCK_URL', 'the mock model server: setup() puts the scenario\'s fault plan and rate limits on it, teardown() clears them'],
  ['MOCK_MODEL, MOCK_TOKEN', 'the mock model to configure (default primary) and its control token (for a non-loopback mock)'],
  ['MAX_ERROR_RATE', 'the error-rate bound when the scenario sets none (default 0.05)'],
  ['SLO_STAT', 'the statistic the SLO thresholds judge (default p(99))'],
  ['ABORT_ON_FAIL=1', 'every threshold aborts the run as soon as it fails'],
  ['SUMMARY_FILE', 'where handleSummary writes the JSON for `npm run regress -- --from-k6` (default k6-summary.json)'],
  ['POLICY', 'the name of the system under test in that JSON (default k6)'],
  ['PAD_PROMPTS=1', 'real-length prompts, for a real model (the mock reads x-mock-prompt-tokens)'],
];

/** What {@link runtimePrelude} writes into the script. */
export interface PreludeOptions {
  readonly target: string;
  readonly model: string;
  readonly stream: boolean;
}

/** Imports, step types and `__ENV` settings. */
export function runtimePrelude(o: PreludeOptions): string {
  return `import http from 'k6/http';
import type { RefinedResponse, ResponseType } from 'k6/http';
${o.stream ? "import sse from 'k6/x/sse';\n" : ''}import { check, sleep } from 'k6';
import { SharedArray } from 'k6/data';
import exec from 'k6/execution';
import { Counter, Rate, Trend } from 'k6/metrics';
import type { ObjectThreshold, Options, Scenario } from 'k6/options';

type Priority = 'interactive' | 'batch';
/**
 * A chat completion: [kind, label, class, promptTokens, outputTokens, idempotencyKey (null: none), prefix?]. The
 * prefix is the prompt's identity for the mock's prefix cache (x-mock-prefix, ID=TOKENS,...), as the harness sends it.
 */
type ChatStep = readonly [kind: 'chat', label: string, cls: string, promptTokens: number, outputTokens: number, idempotencyKey?: string | null, prefix?: string];
/** Retriever calls sent in parallel (http.batch): [kind, class, [label, tokens of each input][]]. */
type EmbedStep = readonly [kind: 'embed', cls: string, calls: ReadonlyArray<readonly [label: string, inputTokens: readonly number[]]>];
/** The user's think time before the next turn, in ms. */
type ThinkStep = readonly [kind: 'think', ms: number];
type Step = ChatStep | EmbedStep | ThinkStep;
interface Session {
  readonly id: string;
  /** Seeded start, ms from the scenario's start (used by per-vu-iterations; arrival-rate executors schedule by themselves). */
  readonly atMs: number;
  readonly tenant: string;
  readonly priority: Priority;
  readonly deadlineMs?: number;
  /** A failed chat call ends the session. */
  readonly abandon: boolean;
  readonly steps: readonly Step[];
}
/** SLO bounds of a request class, ms. */
interface SloBounds {
  readonly ttftMs?: number;
  readonly e2eMs?: number;
  readonly tpotMs?: number;
}

const TARGET = (__ENV.TARGET || ${JSON.stringify(o.target)}).replace(/\\/+$/, '');
const API_KEY = __ENV.API_KEY || '';
/** API_KEYS='{"tenant-a":"key-a",...}': the engine knows a tenant by its Bearer key; tenants not listed use API_KEY. */
const API_KEYS: Record<string, string> = __ENV.API_KEYS ? (JSON.parse(__ENV.API_KEYS) as Record<string, string>) : {};
const MODEL = __ENV.MODEL || ${JSON.stringify(o.model)};
const EMBEDDING_MODEL = __ENV.EMBEDDING_MODEL || MODEL;
const REQUEST_TIMEOUT = __ENV.REQUEST_TIMEOUT || '300s';
/** PAD_PROMPTS=1 pads prompts to about 4 characters a token, for real models (the mock reads x-mock-prompt-tokens). */
const PAD_PROMPTS = __ENV.PAD_PROMPTS === '1';
const MOCK_URL = (__ENV.MOCK_URL || '').replace(/\\/+$/, '');
const MOCK_MODEL = __ENV.MOCK_MODEL || 'primary';
const ABORT_ON_FAIL = __ENV.ABORT_ON_FAIL === '1';
const SLO_STAT = __ENV.SLO_STAT || 'p(99)';

function envNumber(name: string, fallback: number): number {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  if (!(Number.isFinite(v) && v > 0)) throw new Error(name + ': expected a number > 0, got ' + JSON.stringify(raw));
  return v;
}

/** Ms of a k6 duration ('1500ms', '30s', '2m', '1h', '1m30s') or of a plain number of ms. */
function durationMs(name: string, raw: string): number {
  if (/^\\d+(\\.\\d+)?$/.test(raw)) return Number(raw);
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  const rest = raw.replace(/(\\d+(?:\\.\\d+)?)(ms|s|m|h)/g, (_m: string, n: string, u: string) => {
    total += Number(n) * (units[u] as number);
    return '';
  });
  if (rest !== '' || total <= 0) throw new Error(name + ': expected a duration like 30s, 2m or 1500 (ms), got ' + JSON.stringify(raw));
  return total;
}

function envDurationMs(name: string, fallback: number): number {
  const raw = __ENV[name];
  return raw === undefined || raw === '' ? fallback : durationMs(name, raw);
}

function msText(ms: number): string {
  const r = Math.max(0, Math.round(ms));
  return r % 1000 === 0 ? r / 1000 + 's' : r + 'ms';
}
`;
}

/**
 * The schedule knobs: `schedule(BASE, BASE_WINDOW_MS)` returns the k6 scenario after DURATION, SCALE, VUS, MAX_VUS
 * and GRACEFUL_STOP, and `scheduledStartMs(n)`, when iteration `n` was due (ms from the scenario's start). k6
 * starts iteration n of constant-arrival-rate at n × interval; for ramping-arrival-rate the time is where the
 * integral of the rate reaches n (k6 may differ by one gap: the script never dates a request after it was sent).
 */
export const SCHEDULE_BODY = `
interface Schedule {
  readonly scenario: Scenario;
  /** The arrival window, ms. */
  readonly windowMs: number;
  /** Sessions the scenario plays per base session (SCALE). */
  readonly scale: number;
  /** When iteration n was due, ms from the scenario's start; undefined when the executor does not say. */
  readonly scheduledStartMs: (n: number) => number | undefined;
}

/** Integer rates per one shared time unit (k6 takes whole iterations per timeUnit). */
function integerRates(perSec: readonly number[]): { timeUnit: string; unitMs: number; rates: number[] } {
  for (const unit of [1, 10, 60, 600, 3600]) {
    const scaled = perSec.map((r) => r * unit);
    if (scaled.every((x) => Math.abs(x - Math.round(x)) < 1e-9)) return { timeUnit: msText(unit * 1000), unitMs: unit * 1000, rates: scaled.map((x) => Math.round(x)) };
  }
  return { timeUnit: '3600s', unitMs: 3_600_000, rates: perSec.map((r) => Math.round(r * 3600)) };
}

function schedule(base: Scenario, baseWindowMs: number): Schedule {
  const windowMs = envDurationMs('DURATION', baseWindowMs);
  const scale = envNumber('SCALE', 1);
  const gracefulStop = __ENV.GRACEFUL_STOP || base.gracefulStop;
  if (base.executor === 'per-vu-iterations') {
    const vus = Math.max(1, Math.round((base.vus ?? 1) * scale));
    const maxDuration = __ENV.DURATION ? msText(windowMs) : base.maxDuration;
    return { scenario: { ...base, vus, maxDuration, gracefulStop }, windowMs, scale: vus / (base.vus ?? 1), scheduledStartMs: () => undefined };
  }
  if (base.executor === 'constant-arrival-rate') {
    const unitMs = durationMs('timeUnit', base.timeUnit ?? '1s');
    const r = integerRates([((base.rate * 1000) / unitMs) * scale]);
    const rate = r.rates[0] as number;
    const peakPerSec = (rate * 1000) / r.unitMs;
    const scenario: Scenario = { ...base, rate, timeUnit: r.timeUnit, duration: msText(windowMs), ...vuPool(base, peakPerSec, scale), gracefulStop };
    return { scenario, windowMs, scale, scheduledStartMs: (n) => (rate > 0 ? (n * r.unitMs) / rate : undefined) };
  }
  if (base.executor === 'ramping-arrival-rate') {
    const unitMs = durationMs('timeUnit', base.timeUnit ?? '1s');
    const stretch = windowMs / baseWindowMs;
    const perSec = [base.startRate ?? 0, ...base.stages.map((s) => s.target)].map((x) => ((x * 1000) / unitMs) * scale);
    const r = integerRates(perSec);
    const stages = base.stages.map((s, i) => ({ duration: msText(durationMs('stage duration', s.duration) * stretch), target: r.rates[i + 1] as number }));
    const peakPerSec = Math.max(...r.rates) * (1000 / r.unitMs);
    const scenario: Scenario = { ...base, startRate: r.rates[0] as number, timeUnit: r.timeUnit, stages, ...vuPool(base, peakPerSec, scale), gracefulStop };
    return { scenario, windowMs, scale, scheduledStartMs: (n) => rampingStartMs(r.rates[0] as number, stages, r.unitMs, n) };
  }
  // Closed-loop users: SCALE multiplies the VUs, DURATION stretches the window (a ramp keeps its share of it).
  if (base.executor === 'constant-vus') {
    const vus = Math.max(1, Math.round((base.vus ?? 1) * scale));
    return { scenario: { ...base, vus, duration: msText(windowMs), gracefulStop }, windowMs, scale, scheduledStartMs: () => undefined };
  }
  if (base.executor === 'ramping-vus') {
    const stretch = windowMs / baseWindowMs;
    const stages = base.stages.map((s) => ({ duration: msText(durationMs('stage duration', s.duration) * stretch), target: Math.max(1, Math.round(s.target * scale)) }));
    return { scenario: { ...base, stages, gracefulStop }, windowMs, scale, scheduledStartMs: () => undefined };
  }
  return { scenario: base, windowMs, scale, scheduledStartMs: () => undefined };
}

/** preAllocatedVUs and maxVUs after SCALE, VUS and MAX_VUS. */
function vuPool(base: Scenario, peakPerSec: number, scale: number): { preAllocatedVUs: number; maxVUs: number } {
  const basePre = 'preAllocatedVUs' in base ? base.preAllocatedVUs : 1;
  const baseMax = 'maxVUs' in base && base.maxVUs !== undefined ? base.maxVUs : basePre;
  const preAllocatedVUs = Math.round(envNumber('VUS', Math.max(1, Math.ceil(basePre * scale))));
  const maxVUs = Math.round(envNumber('MAX_VUS', Math.max(preAllocatedVUs, Math.ceil(baseMax * scale), Math.ceil(peakPerSec))));
  return { preAllocatedVUs, maxVUs: Math.max(maxVUs, preAllocatedVUs) };
}

/** When ramping-arrival-rate's iteration n is due: where the integral of the piecewise-linear rate reaches n. */
function rampingStartMs(startRate: number, stages: ReadonlyArray<{ duration: string; target: number }>, unitMs: number, n: number): number | undefined {
  let t0 = 0;
  let r0 = startRate / unitMs;
  let done = 0;
  for (const s of stages) {
    const d = durationMs('stage duration', s.duration);
    const r1 = s.target / unitMs;
    const count = ((r0 + r1) / 2) * d;
    if (d > 0 && n < done + count) {
      const need = n - done;
      const a = (r1 - r0) / (2 * d);
      const t = Math.abs(a) < 1e-15 ? need / r0 : (-r0 + Math.sqrt(r0 * r0 + 4 * a * need)) / (2 * a);
      return t0 + t;
    }
    done += count;
    t0 += d;
    r0 = r1;
  }
  return undefined;
}
`;
