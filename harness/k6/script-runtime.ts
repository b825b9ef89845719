/**
 * The fixed part of a generated k6 script: types, settings from `__ENV`, metrics, and how a session is played.
 * It is k6 code kept as text (it runs in k6, not in Node), typechecked against `@types/k6` by
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
  requestId: 'x-request-id',
} as const;

const H = ENGINE_HEADERS;

/** Imports, step types and `__ENV` settings; `defaultTarget` and `defaultModel` are inserted as string literals. */
export function runtimePrelude(defaultTarget: string, defaultModel: string): string {
  return `import http from 'k6/http';
import type { RefinedResponse, ResponseType } from 'k6/http';
import { check, sleep } from 'k6';
import exec from 'k6/execution';
import { Counter, Rate, Trend } from 'k6/metrics';
import type { Options } from 'k6/options';

type Priority = 'interactive' | 'batch';
/** A chat completion: [kind, label, class, promptTokens, outputTokens, idempotencyKey?]. */
type ChatStep = readonly [kind: 'chat', label: string, cls: string, promptTokens: number, outputTokens: number, idempotencyKey?: string];
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

const TARGET = (__ENV.TARGET || ${JSON.stringify(defaultTarget)}).replace(/\\/+$/, '');
const API_KEY = __ENV.API_KEY || '';
/** API_KEYS='{"tenant-a":"key-a",...}': the engine knows a tenant by its Bearer key; tenants not listed use API_KEY. */
const API_KEYS: Record<string, string> = __ENV.API_KEYS ? (JSON.parse(__ENV.API_KEYS) as Record<string, string>) : {};
const MODEL = __ENV.MODEL || ${JSON.stringify(defaultModel)};
const EMBEDDING_MODEL = __ENV.EMBEDDING_MODEL || MODEL;
const REQUEST_TIMEOUT = __ENV.REQUEST_TIMEOUT || '300s';
/** PAD_PROMPTS=1 pads prompts to about 4 characters a token, for real models (the mock reads x-mock-prompt-tokens). */
const PAD_PROMPTS = __ENV.PAD_PROMPTS === '1';

function envInt(name: string, fallback: number): number {
  const v = Number(__ENV[name]);
  return Number.isInteger(v) && v > 0 ? v : fallback;
}
`;
}

/** Metrics, request helpers and `play`; after `E2E_SLO_MS` and `DEFAULT_E2E_SLO_MS` are declared. */
export const RUNTIME_BODY = `
/** Time to the first byte of a non-streamed chat answer: an upper bound of TTFT, not TTFT. */
const ttfb = new Trend('ttfb_ms', true);
const requestOk = new Rate('request_ok');
const requestShed = new Rate('request_shed');
const requestError = new Rate('request_error');
const sloMet = new Rate('slo_e2e_met');
const goodput = new Counter('goodput');

function e2eBoundMs(cls: string): number {
  const b = E2E_SLO_MS[cls];
  return b === undefined ? DEFAULT_E2E_SLO_MS : b;
}

function headersFor(s: Session, requestId: string, promptTokens: number, outputTokens?: number, idempotencyKey?: string): Record<string, string> {
  const h: Record<string, string> = {
    'content-type': 'application/json',
    '${H.requestId}': requestId,
    '${H.promptTokens}': String(promptTokens),
    '${H.tenant}': s.tenant,
    '${H.priority}': s.priority,
  };
  if (outputTokens !== undefined) h['${H.outputTokens}'] = String(outputTokens);
  const key = API_KEYS[s.tenant] || API_KEY;
  if (key !== '') h['authorization'] = 'Bearer ' + key;
  if (idempotencyKey !== undefined) h['${H.idempotencyKey}'] = idempotencyKey;
  if (s.deadlineMs !== undefined) h['${H.deadlineMs}'] = String(s.deadlineMs);
  return h;
}

function promptText(label: string, tokens: number): string {
  const head = '[' + label + '] synthetic prompt of ' + tokens + ' tokens';
  return PAD_PROMPTS ? head + ' lorem'.repeat(Math.max(0, Math.floor((tokens * 4 - head.length) / 6))) : head;
}

function usable(res: RefinedResponse<ResponseType | undefined>, field: 'choices' | 'data'): boolean {
  if (res.status !== 200 || typeof res.body !== 'string') return false;
  try {
    const parsed: unknown = JSON.parse(res.body);
    return typeof parsed === 'object' && parsed !== null && Array.isArray((parsed as Record<string, unknown>)[field]);
  } catch (_e) {
    return false;
  }
}

/** Records one response; true when it is a usable answer. */
function record(res: RefinedResponse<ResponseType | undefined>, cls: string, kind: 'chat' | 'embedding'): boolean {
  const tags = { class: cls };
  const ok = usable(res, kind === 'chat' ? 'choices' : 'data');
  const shed = res.status === 429 || res.status === 503;
  requestOk.add(ok, tags);
  requestShed.add(shed, tags);
  requestError.add(!ok && !shed, tags);
  if (kind === 'chat' && res.status !== 0) ttfb.add(res.timings.waiting, tags);
  const met = ok && res.timings.duration <= e2eBoundMs(cls);
  sloMet.add(met, tags);
  if (met) goodput.add(1, tags);
  check(res, { 'usable answer': () => ok });
  return ok;
}

/** Request ids and idempotency keys get '#<cycle>' when the embedded sessions are replayed again. */
function cycled(id: string, cycle: number): string {
  return cycle > 0 ? id + '#' + cycle : id;
}

function chat(s: Session, step: ChatStep, cycle: number): boolean {
  const [, label, cls, promptTokens, outputTokens, key] = step;
  const id = cycled(s.id + '/' + label, cycle);
  const body = JSON.stringify({
    model: MODEL,
    messages: [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: promptText(id, promptTokens) },
    ],
    max_tokens: outputTokens,
    stream: false,
  });
  const res = http.post(TARGET + '/v1/chat/completions', body, {
    headers: headersFor(s, id, promptTokens, outputTokens, key === undefined ? undefined : cycled(key, cycle)),
    tags: { class: cls, name: 'chat' },
    timeout: REQUEST_TIMEOUT,
    responseType: 'text',
  });
  return record(res, cls, 'chat');
}

function embed(s: Session, step: EmbedStep, cycle: number): void {
  const [, cls, calls] = step;
  const requests = calls.map(([label, inputTokens]) => {
    const id = cycled(s.id + '/' + label, cycle);
    const total = inputTokens.reduce((a, b) => a + b, 0);
    return {
      method: 'POST',
      url: TARGET + '/v1/embeddings',
      body: JSON.stringify({ model: EMBEDDING_MODEL, input: inputTokens.map((t, j) => promptText(id + '.' + j, t)) }),
      params: { headers: headersFor(s, id, total), tags: { class: cls, name: 'embeddings' }, timeout: REQUEST_TIMEOUT, responseType: 'text' as const },
    };
  });
  for (const res of http.batch(requests)) record(res, cls, 'embedding');
}

/** Plays a session's steps in order, as one iteration. */
function play(s: Session, cycle: number): void {
  for (const step of s.steps) {
    if (step[0] === 'think') sleep(step[1] / 1000);
    else if (step[0] === 'embed') embed(s, step, cycle);
    else if (!chat(s, step, cycle) && s.abandon) return;
  }
}
`;
