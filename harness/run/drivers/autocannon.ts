/**
 * A load driver on autocannon, for non-streaming request mixes against the engine or the mock: a closed loop of
 * `connections` keep-alive connections, each cycling through one list of requests built from a scenario's mix
 * (the same seeded sessions the harness plays, flattened into independent calls). It measures throughput and
 * latency at the HTTP level; it knows nothing of tokens, sessions or intended start times (autocannon sends the
 * next request when the previous answer arrives, so slow answers lower the offered load: coordinated omission).
 * Use the harness's own runner for open-loop arrivals.
 */
import autocannonUntyped from 'autocannon';
import { AbortError, ValidationError, abortReason } from '../../../src/errors.js';
import { Random } from '../../../src/random.js';
import { compileSession, sessionCalls, type Call } from '../../k6/sessions.js';
import { buildSessions, isTraceWorkload, type WorkloadSpec } from '../../workload/index.js';

/** One request of the cycle; `class` is for the caller's bookkeeping (autocannon does not report per request). */
export interface AutocannonRequest {
  readonly method: 'POST';
  readonly path: '/v1/chat/completions' | '/v1/embeddings';
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly class: string;
}

/** Options of {@link buildAutocannonRequests}. */
export interface AutocannonRequestsOptions {
  /** Requests in the cycle. @default 200 */
  readonly count?: number;
  /** Seed of the sessions drawn from the mix. @default 1 */
  readonly seed?: number;
  /** `model` of chat requests. @default 'primary' */
  readonly model?: string;
  /** `model` of embedding requests. @default the chat model */
  readonly embeddingModel?: string;
  /** Bearer key per tenant; tenants not listed use `apiKey`. @default {} */
  readonly apiKeys?: Readonly<Record<string, string>>;
  /** Bearer key for tenants without one in `apiKeys`. @default none (no authorization header) */
  readonly apiKey?: string;
  /** Directory a trace path is resolved against. @default process.cwd() */
  readonly baseDir?: string;
}

/**
 * The first `count` calls of the workload's seeded sessions, in order, as autocannon requests. Weights, token
 * sizes, tenants and idempotency keys come from the mix; multi-turn turns and agent calls become independent
 * requests with their planned sizes. Non-streaming; sizes go in `max_tokens` and the `x-mock-*` headers.
 */
export function buildAutocannonRequests(workload: WorkloadSpec, o: AutocannonRequestsOptions = {}): AutocannonRequest[] {
  const count = o.count ?? 200;
  if (!Number.isInteger(count) || count < 1) throw new ValidationError('count', 'an integer >= 1', count);
  const model = o.model ?? 'primary';
  const embeddingModel = o.embeddingModel ?? model;
  // Only the mix matters here: draw `count` sessions at once (each has at least one call).
  const spec: WorkloadSpec = isTraceWorkload(workload) ? workload : { ...workload, arrivals: { kind: 'burst', sessions: count, withinMs: 1 } };
  const sessions = buildSessions(spec, new Random(o.seed ?? 1).derive('workload'), {
    durationMs: isTraceWorkload(workload) ? Number.MAX_SAFE_INTEGER : 1,
    baseDir: o.baseDir ?? process.cwd(),
  });
  const out: AutocannonRequest[] = [];
  for (const s of sessions) {
    const c = compileSession(s, workload);
    const key = o.apiKeys?.[c.tenant] ?? o.apiKey;
    for (const call of sessionCalls(c)) {
      if (out.length === count) return out;
      out.push(toRequest(call, `${c.id}/${call.label}`, key, call.kind === 'chat' ? model : embeddingModel));
    }
  }
  return out;
}

function toRequest(call: Call, id: string, apiKey: string | undefined, model: string): AutocannonRequest {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-request-id': id };
  if (apiKey !== undefined) headers['authorization'] = `Bearer ${apiKey}`;
  if (call.kind === 'embedding') {
    headers['x-mock-prompt-tokens'] = String(call.inputTokens.reduce((a, b) => a + b, 0));
    const input = call.inputTokens.map((t, j) => `[${id}.${j}] synthetic passage of ${t} tokens`);
    return { method: 'POST', path: '/v1/embeddings', headers, body: JSON.stringify({ model, input }), class: call.class };
  }
  headers['x-mock-prompt-tokens'] = String(call.promptTokens);
  headers['x-mock-output-tokens'] = String(call.outputTokens);
  if (call.idempotencyKey !== undefined) headers['idempotency-key'] = call.idempotencyKey;
  const body = JSON.stringify({
    model,
    messages: [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: `[${id}] synthetic prompt of ${call.promptTokens} tokens` },
    ],
    max_tokens: call.outputTokens,
    stream: false,
  });
  return { method: 'POST', path: '/v1/chat/completions', headers, body, class: call.class };
}

/** Options of {@link runAutocannon}. Exactly one of `amount` and `durationMs`. */
export interface AutocannonRunOptions {
  /** Base URL, e.g. `http://127.0.0.1:8080`; request paths are appended. */
  readonly url: string;
  readonly requests: readonly AutocannonRequest[];
  /** Concurrent connections, each cycling through `requests` from the first. @default 10 */
  readonly connections?: number;
  /** Stop after this many responses (and errors). */
  readonly amount?: number;
  /** Stop after this long. */
  readonly durationMs?: number;
  /** A request without an answer after this long counts as a timeout. @default 30_000 */
  readonly timeoutMs?: number;
  /** Stops the run; the promise then rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** Latency of answered requests (every status), in ms. */
export interface LatencySummaryMs {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** What a run measured. */
export interface AutocannonSummary {
  /** Responses per second over the run. */
  readonly requestsPerSec: number;
  /** Requests written to the sockets. */
  readonly sent: number;
  /** Responses received, of any status (the sum of `statusCounts`). */
  readonly responses: number;
  readonly durationMs: number;
  readonly latencyMs: LatencySummaryMs;
  /** Responses by status code, e.g. `{ '200': 480, '429': 20 }`. */
  readonly statusCounts: Readonly<Record<string, number>>;
  /** Responses with a status outside 200–299. */
  readonly non2xx: number;
  /** Socket errors other than timeouts (refused, reset, malformed response). */
  readonly errors: number;
  readonly timeouts: number;
}

/** The part of autocannon's options and result this driver uses (the package ships no types). */
interface RawOptions {
  url: string;
  connections: number;
  pipelining: number;
  amount?: number;
  duration?: number;
  timeout: number;
  requests: Array<{ method: string; path: string; headers: Record<string, string>; body: string }>;
}
interface RawResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  requests: { sent: number };
  latency: { p50: number; p90: number; p99: number; max: number; mean: number };
  statusCodeStats: Record<string, { count: number }>;
}
type RawAutocannon = (opts: RawOptions, cb: (err: Error | null, result: RawResult) => void) => { stop(): void };
const autocannon = autocannonUntyped as unknown as RawAutocannon;

function validate(o: AutocannonRunOptions): { connections: number; timeoutMs: number } {
  if (!/^https?:\/\/[^\s/]+/.test(o.url)) throw new ValidationError('url', 'an http(s) base URL like http://127.0.0.1:8080', o.url);
  if (o.requests.length === 0) throw new ValidationError('requests', 'at least one request', o.requests);
  const connections = o.connections ?? 10;
  if (!Number.isInteger(connections) || connections < 1) throw new ValidationError('connections', 'an integer >= 1', connections);
  if ((o.amount === undefined) === (o.durationMs === undefined)) {
    throw new ValidationError('amount', 'exactly one of amount and durationMs', { amount: o.amount, durationMs: o.durationMs });
  }
  if (o.amount !== undefined && (!Number.isInteger(o.amount) || o.amount < connections)) {
    throw new ValidationError('amount', `an integer >= connections (${connections})`, o.amount);
  }
  if (o.durationMs !== undefined && !(o.durationMs >= 1000)) throw new ValidationError('durationMs', 'a duration of at least 1000 ms (autocannon counts whole seconds)', o.durationMs);
  const timeoutMs = o.timeoutMs ?? 30_000;
  if (!(timeoutMs >= 1000)) throw new ValidationError('timeoutMs', 'at least 1000 ms (autocannon counts whole seconds)', timeoutMs);
  return { connections, timeoutMs };
}

/** Runs autocannon against `url` with the given request cycle and returns what it measured. */
export async function runAutocannon(o: AutocannonRunOptions): Promise<AutocannonSummary> {
  const { connections, timeoutMs } = validate(o);
  if (o.signal?.aborted === true) throw abortReason(o.signal);
  const base = o.url.replace(/\/+$/, '');
  return await new Promise<AutocannonSummary>((resolve, reject) => {
    let aborted: Error | undefined;
    const instance = autocannon(
      {
        url: base,
        connections,
        pipelining: 1,
        // Autocannon takes seconds; the options here are in ms (units in names).
        ...(o.amount !== undefined ? { amount: o.amount } : { duration: Math.round((o.durationMs as number) / 1000) }),
        timeout: Math.ceil(timeoutMs / 1000),
        requests: o.requests.map((r) => ({ method: r.method, path: r.path, headers: { ...r.headers }, body: r.body })),
      },
      (err, result) => {
        o.signal?.removeEventListener('abort', onAbort);
        if (aborted !== undefined) reject(aborted);
        else if (err) reject(err);
        else resolve(summarize(result));
      },
    );
    const onAbort = (): void => {
      aborted = o.signal === undefined ? new AbortError() : abortReason(o.signal);
      instance.stop();
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function summarize(r: RawResult): AutocannonSummary {
  const statusCounts: Record<string, number> = {};
  let responses = 0;
  for (const [code, s] of Object.entries(r.statusCodeStats)) {
    statusCounts[code] = s.count;
    responses += s.count;
  }
  const durationMs = Math.round(r.duration * 1000);
  return {
    requestsPerSec: durationMs > 0 ? (responses * 1000) / durationMs : 0,
    sent: r.requests.sent,
    responses,
    durationMs,
    latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max, mean: r.latency.mean },
    statusCounts,
    non2xx: r.non2xx,
    errors: r.errors - r.timeouts,
    timeouts: r.timeouts,
  };
}
