/**
 * The live load driver: sends one planned request to the engine service over HTTP (undici) and watches the answer
 * the way a client would. Chat requests stream (SSE, parsed with eventsource-parser, `stream_options.include_usage`);
 * every chunk's arrival time is kept, with its token count (the `x_mock`/`x_engine` `count` a chunk carries,
 * else 1). Embeddings are one POST. Times are read from `now`, the run's clock (ms since the load started), and
 * latencies count from the request's INTENDED start, never from when it was actually sent.
 *
 * The outcome comes from the engine's own verdict when the answer carries one (an `x_engine` object with
 * `outcome`, `degraded`, `attempts`, ...), else from the wire as src/api/outcome-http.ts writes it: 200 and a
 * finished stream is `ok` (`degraded` with an `x-degraded` header or `x_degraded` field); a 429 whose code says the
 * engine shed it is `shed` (`upstream_rate_limited` is a failure); `deadline_exceeded` is `timeout`; `cancelled`
 * is `cancelled`; an in-stream error after tokens marked `x_degraded: partial` is `degraded` (partial); anything
 * else `failed`. Aborting the run makes open requests `cancelled`.
 */
import { createParser } from 'eventsource-parser';
import { Agent } from 'undici';
import type { BilledCall } from '../../../src/engine/billed-usage.js';
import type { AttemptBill } from '../../measure/billing.js';
import type { Outcome, RequestObservation, TokenChunk } from '../../measure/types.js';
import type { PlannedRequest } from '../../workload/types.js';

/** What the engine reports about a request it finished, when it reports it (all optional). */
export interface EngineVerdict {
  readonly outcome?: Outcome;
  readonly degraded?: string;
  /** Why it did not end `ok` (a stable reason code). */
  readonly reason?: string;
  readonly attempts?: number;
  readonly upstreamCalls?: number;
  readonly queuedMs?: number;
  readonly backoffMs?: number;
  /** The engine's response cache verdict (`hit`, `miss`, `stale`), when the request was cacheable. */
  readonly cache?: 'hit' | 'miss' | 'stale';
  /** What each upstream call that ran was billed (`x_engine.bills`; none = none ran). */
  readonly bills?: readonly WireBill[];
}

/** One call's bill as the engine writes it in `x_engine.bills` (src/engine/billed-usage.ts); `model` as sent. */
export type WireBill = Omit<BilledCall, 'model' | 'estimated'> & { readonly model: string };

/** The standard `usage` object an answer may carry (the engine's, a target's, the mock's). */
interface WireUsage {
  prompt_tokens?: unknown;
  completion_tokens?: unknown;
  prompt_tokens_details?: { cached_tokens?: unknown } | null;
}

/** Options of {@link HttpDriver}. */
export interface HttpDriverOptions {
  /** The engine service, e.g. `http://127.0.0.1:8080`. */
  readonly baseUrl: string;
  /** Ms since the load started. */
  readonly now: () => number;
  /** The model name sent in the body. @default 'primary' */
  readonly model?: string;
  /** Sockets to the engine; every open stream holds one. @default 2048 */
  readonly connections?: number;
  /** Aborting it cancels every open request (outcome `cancelled`). */
  readonly signal?: AbortSignal;
  /** Extra headers on every request: what an external target needs (harness/targets). @default none */
  readonly headers?: Readonly<Record<string, string>>;
  /** The outcome of a non-2xx answer, for an external target whose codes differ from the engine's. @default outcomeOfStatus */
  readonly outcomeOfStatus?: (status: number, code: string | undefined) => Outcome;
  /** A degraded reason read from an external target's response headers (e.g. it answered from a fallback). */
  readonly degradedFrom?: (headers: Record<string, string | string[] | undefined>) => string | undefined;
}

/** The observation of one request plus what the session needs back. */
export interface DriverReply {
  readonly observation: RequestObservation;
  readonly text: string;
  /** True when the observation's counters came from the engine's verdict rather than defaults. */
  readonly engineReported: boolean;
  /** Why a request did not end `ok`, for diagnosis: `HTTP 503 upstream_overloaded`, `stream error ...`, `ECONNREFUSED`. */
  readonly cause?: string;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const OUTCOME_SET = new Set<string>(['ok', 'degraded', 'shed', 'failed', 'timeout', 'cancelled']);

/** Drives requests against one engine service. */
export class HttpDriver {
  readonly #o: HttpDriverOptions;
  readonly #agent: Agent;
  #open = 0;

  constructor(o: HttpDriverOptions) {
    this.#o = o;
    this.#agent = new Agent({
      connections: o.connections ?? 2048,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      // Streams may be quiet for long (queued behind a full GPU); the run's own drain limit ends them.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  }

  /** Requests still open. */
  get open(): number {
    return this.#open;
  }

  /** Sends `req`, due at `intendedStartMs`; never rejects. */
  async send(req: PlannedRequest, intendedStartMs: number): Promise<DriverReply> {
    this.#open++;
    try {
      return req.kind === 'embedding' ? await this.#embed(req, intendedStartMs) : await this.#chat(req, intendedStartMs);
    } finally {
      this.#open--;
    }
  }

  async close(): Promise<void> {
    await this.#agent.destroy();
  }

  #statusOutcome(status: number, code: string | undefined): Outcome {
    return status >= 200 && status < 300 ? 'ok' : (this.#o.outcomeOfStatus ?? outcomeOfStatus)(status, code);
  }

  #headers(req: PlannedRequest, intendedStartMs: number): Record<string, string> {
    const h: Record<string, string> = {
      'content-type': 'application/json',
      'x-request-id': req.id,
      authorization: `Bearer ${req.tenant}`,
      'x-tenant': req.tenant,
      'x-priority': req.priority,
      'x-mock-prompt-tokens': String(req.promptTokens),
      ...this.#o.headers,
    };
    if (req.kind === 'chat') h['x-mock-output-tokens'] = String(req.outputTokens);
    if (req.kind === 'chat' && req.prefix !== undefined && req.prefix.length > 0) h['x-mock-prefix'] = req.prefix.map((s) => `${s.id}=${s.tokens}`).join(',');
    if (req.idempotencyKey !== undefined) h['idempotency-key'] = req.idempotencyKey;
    h['x-batchable'] = req.batchable ? 'true' : 'false'; // the service batches embeddings unless told not to
    if (req.deadlineMs !== undefined) {
      // The deadline counts from the intended start: a request sent late has that much less time.
      h['x-deadline-ms'] = String(Math.max(1, Math.round(req.deadlineMs - (this.#o.now() - intendedStartMs))));
    }
    return h;
  }

  async #chat(req: PlannedRequest, intendedStartMs: number): Promise<DriverReply> {
    const obs = start(req, intendedStartMs);
    const chunks: TokenChunk[] = [];
    let text = '';
    let verdict: EngineVerdict | undefined;
    let finished = false;
    let streamError: string | undefined;
    let usageTokens: number | undefined;
    let usage: WireUsage | undefined;
    let degradedMarker: string | undefined;
    const body = JSON.stringify({
      model: this.#o.model ?? 'primary',
      messages: req.messages,
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: req.outputTokens,
      // A repeatable request (repeated prompts) says so, so the engine's response cache may answer it.
      ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
    });
    try {
      const res = await this.#agent.request({
        origin: this.#o.baseUrl,
        path: '/v1/chat/completions',
        method: 'POST',
        headers: this.#headers(req, intendedStartMs),
        body,
        ...(this.#o.signal !== undefined ? { signal: this.#o.signal } : {}),
      });
      degradedMarker = header(res.headers, 'x-degraded') ?? this.#o.degradedFrom?.(res.headers);
      if (res.statusCode !== 200) {
        const payload = await res.body.text().catch(() => '');
        obs.endAtMs = this.#o.now();
        verdict = verdictFrom(safeJson(payload));
        obs.outcome = verdict?.outcome ?? this.#statusOutcome(res.statusCode, errorCode(safeJson(payload)));
        return finish(obs, chunks, text, verdict, degradedMarker, `HTTP ${res.statusCode} ${errorCode(safeJson(payload)) ?? ''}`.trim());
      }
      const parser = createParser({
        onEvent: (ev) => {
          if (ev.data === '[DONE]') {
            finished = true;
            return;
          }
          const msg = safeJson(ev.data) as ChunkBody | undefined;
          if (msg === undefined) return;
          if (msg.error !== undefined) streamError = errorCode(msg) ?? 'error';
          verdict = verdictFrom(msg) ?? verdict;
          if (typeof msg.x_degraded === 'string') degradedMarker = msg.x_degraded;
          // The usage chunk: the engine's count of tokens delivered, authoritative when chunks carry no counts.
          if (typeof msg.usage?.completion_tokens === 'number') usageTokens = msg.usage.completion_tokens;
          if (msg.usage !== undefined && msg.usage !== null) usage = msg.usage;
          const choice = msg.choices?.[0];
          const content = choice?.delta?.content ?? choice?.text;
          if (typeof content === 'string' && content !== '') {
            const count = chunkCount(msg);
            const atMs = this.#o.now();
            chunks.push({ atMs, count });
            obs.tokens += count;
            if (obs.firstTokenAtMs === undefined) obs.firstTokenAtMs = atMs;
            text += content;
          }
          if (choice?.finish_reason !== undefined && choice.finish_reason !== null) finished = true;
        },
      });
      const utf8 = new TextDecoder();
      for await (const b of res.body as AsyncIterable<Uint8Array>) parser.feed(utf8.decode(b, { stream: true }));
      parser.feed(utf8.decode());
      parser.reset({ consume: true });
      obs.endAtMs = this.#o.now();
      if (usageTokens !== undefined && usageTokens > obs.tokens) obs.tokens = usageTokens;
      obs.outcome =
        verdict?.outcome ??
        (streamError === undefined ? (finished ? 'ok' : 'failed') : degradedMarker === 'partial' ? 'degraded' : this.#statusOutcome(500, streamError));
      if (verdict === undefined) usageBill(obs, usage, finished);
      const cause = streamError !== undefined ? `stream error ${streamError}` : finished ? undefined : 'stream ended without [DONE]';
      return finish(obs, chunks, text, verdict, degradedMarker, cause);
    } catch (err) {
      obs.endAtMs = this.#o.now();
      obs.outcome = verdict?.outcome ?? (this.#o.signal?.aborted === true ? 'cancelled' : 'failed');
      return finish(obs, chunks, text, verdict, degradedMarker, errorName(err));
    }
  }

  async #embed(req: PlannedRequest, intendedStartMs: number): Promise<DriverReply> {
    const obs = start(req, intendedStartMs);
    let verdict: EngineVerdict | undefined;
    let degradedMarker: string | undefined;
    try {
      const res = await this.#agent.request({
        origin: this.#o.baseUrl,
        path: '/v1/embeddings',
        method: 'POST',
        headers: this.#headers(req, intendedStartMs),
        body: JSON.stringify({ model: this.#o.model ?? 'primary', input: req.inputs ?? [] }),
        ...(this.#o.signal !== undefined ? { signal: this.#o.signal } : {}),
      });
      degradedMarker = header(res.headers, 'x-degraded') ?? this.#o.degradedFrom?.(res.headers);
      const payload = await res.body.text();
      obs.endAtMs = this.#o.now();
      const json = safeJson(payload) as { data?: unknown[]; degraded?: unknown; x_degraded?: unknown; usage?: WireUsage } | undefined;
      verdict = verdictFrom(json);
      if (verdict === undefined && res.statusCode === 200) usageBill(obs, json?.usage, true);
      const marker = json?.x_degraded ?? json?.degraded;
      if (typeof marker === 'string') degradedMarker = marker;
      obs.outcome = verdict?.outcome ?? this.#statusOutcome(res.statusCode, errorCode(json));
      return finish(obs, [], '', verdict, degradedMarker, res.statusCode === 200 ? undefined : `HTTP ${res.statusCode} ${errorCode(json) ?? ''}`.trim());
    } catch (err) {
      obs.endAtMs = this.#o.now();
      obs.outcome = this.#o.signal?.aborted === true ? 'cancelled' : 'failed';
      return finish(obs, [], '', verdict, degradedMarker, errorName(err));
    }
  }
}

interface ChunkBody {
  choices?: Array<{ delta?: { content?: string }; text?: string; finish_reason?: string | null }>;
  x_mock?: { count?: number };
  x_engine?: Record<string, unknown> & { count?: number };
  error?: unknown;
  x_degraded?: unknown;
  usage?: WireUsage & { completion_tokens?: number };
}

function chunkCount(msg: ChunkBody): number {
  const c = msg.x_engine?.count ?? msg.x_mock?.count;
  return typeof c === 'number' && Number.isInteger(c) && c >= 1 ? c : 1;
}

function start(req: PlannedRequest, intendedStartMs: number): Mutable<RequestObservation> & { tokens: number } {
  return {
    id: req.id,
    class: req.class,
    intendedStartMs,
    endAtMs: intendedStartMs,
    chunks: [],
    tokens: 0,
    outcome: 'failed',
    queuedMs: 0,
    backoffMs: 0,
    attempts: 1,
    upstreamCalls: 1,
  };
}

function errorName(err: unknown): string {
  const e = err as { code?: unknown; name?: unknown; message?: unknown };
  return typeof e.code === 'string' ? e.code : typeof e.name === 'string' ? e.name : String(e.message ?? err);
}

function finish(
  obs: Mutable<RequestObservation>,
  chunks: TokenChunk[],
  text: string,
  v: EngineVerdict | undefined,
  degradedMarker: string | undefined,
  cause?: string,
): DriverReply {
  obs.chunks = chunks;
  if (obs.endAtMs < obs.intendedStartMs) obs.endAtMs = obs.intendedStartMs;
  if (obs.outcome === 'ok' && degradedMarker !== undefined && degradedMarker !== '') obs.outcome = 'degraded';
  if (obs.outcome === 'degraded' && obs.tokens === 0 && degradedMarker === 'partial') obs.outcome = 'failed';
  const degraded = v?.degraded ?? degradedMarker;
  if (obs.outcome === 'degraded' && degraded !== undefined) obs.degraded = degraded;
  const shedEarly = obs.outcome === 'shed';
  obs.attempts = nonNegInt(v?.attempts) ?? (shedEarly ? 0 : 1);
  obs.upstreamCalls = nonNegInt(v?.upstreamCalls) ?? (shedEarly ? 0 : 1);
  obs.queuedMs = nonNeg(v?.queuedMs) ?? 0;
  obs.backoffMs = nonNeg(v?.backoffMs) ?? 0;
  if (v?.cache !== undefined) obs.cache = v.cache;
  if (obs.outcome !== 'ok') obs.reason = v?.reason ?? wireReason(obs.outcome, obs.degraded, cause);
  // The engine's verdict says what every call that ran was billed (none listed: none ran).
  if (v !== undefined) obs.bills = (v.bills ?? []).map((b, i) => attemptBill(obs, b, i));
  return { observation: obs, text, engineReported: v !== undefined, ...(obs.outcome !== 'ok' && cause !== undefined ? { cause } : {}) };
}

/** A wire bill as the harness records it; calls are ordered by position (the wire gives no call times). */
function attemptBill(obs: RequestObservation, b: WireBill, i: number): AttemptBill {
  return {
    id: obs.id,
    fallback: b.model === 'fallback',
    startMs: obs.intendedStartMs + i,
    endMs: obs.endAtMs,
    inputTokens: b.inputTokens,
    cachedInputTokens: b.cachedInputTokens,
    outputTokens: b.outputTokens,
    deliveredTokens: b.deliveredTokens,
    resumeFrom: b.resumeFrom,
    completed: b.completed,
    // A fleet's engine names the deployment that served the call: its price applies (as in virtual mode).
    ...(typeof b.deployment === 'string' ? { deployment: b.deployment } : {}),
  };
}

/**
 * An answer without the engine's verdict (a target, or the mock driven directly) is billed what its standard
 * `usage` says, as one call; without usage the bill stays unknown (a dash in reports, never 0).
 */
function usageBill(obs: Mutable<RequestObservation>, usage: WireUsage | undefined, completed: boolean): void {
  const prompt = count(usage?.prompt_tokens);
  if (prompt === undefined) return;
  const output = count(usage?.completion_tokens) ?? 0;
  const cached = Math.min(prompt, count(usage?.prompt_tokens_details?.cached_tokens) ?? 0);
  obs.bills = [
    { id: obs.id, fallback: false, startMs: obs.intendedStartMs, endMs: obs.endAtMs, inputTokens: prompt, cachedInputTokens: cached, outputTokens: output, deliveredTokens: Math.min(output, obs.tokens), resumeFrom: 0, completed },
  ];
}

const count = (v: unknown): number | undefined => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined);

/**
 * A reason code for an answer the engine did not explain (an external target): the degraded reason, else the
 * error code or status of the wire (`HTTP 503 upstream_overloaded` -> `upstream_overloaded`, `HTTP 502` ->
 * `http_502`, `ECONNRESET` -> `econnreset`), else the outcome.
 */
export function wireReason(outcome: Outcome, degraded: string | undefined, cause: string | undefined): string {
  if (outcome === 'degraded' && degraded !== undefined) return degraded === 'partial' ? 'partial' : degraded.replace(/[^A-Za-z0-9]+/g, '_').toLowerCase();
  if (outcome === 'cancelled' || cause === undefined) return outcome;
  const m = /^HTTP (\d+)(?: (\S+))?/.exec(cause);
  const raw = m === null ? cause : (m[2] ?? `http_${m[1]}`);
  return raw.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_|_$/g, '').toLowerCase().slice(0, 48) || outcome;
}

/** Error codes of a 429 that mean the engine shed the request (src/api/outcome-http.ts). */
const SHED_CODES = new Set(['rate_limit_exceeded', 'queue_full', 'deadline_exceeded_in_queue', 'overloaded']);

/** The outcome an HTTP status (and the error code of its body) means when the engine said nothing more. */
export function outcomeOfStatus(status: number, code: string | undefined): Outcome {
  if (status >= 200 && status < 300) return 'ok';
  if (code === 'deadline_exceeded' || (code === 'deadline_exceeded_in_queue' && status !== 429)) return 'timeout';
  if (code === 'cancelled') return 'cancelled';
  if (status === 429) return code === undefined || SHED_CODES.has(code) ? 'shed' : 'failed';
  return 'failed';
}

/** `error.code` of an OpenAI-shaped error body. */
function errorCode(json: unknown): string | undefined {
  const e = json !== null && typeof json === 'object' ? (json as { error?: unknown }).error : undefined;
  const code = e !== null && typeof e === 'object' ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

function verdictFrom(json: unknown): EngineVerdict | undefined {
  if (json === null || typeof json !== 'object') return undefined;
  const e = (json as { x_engine?: unknown }).x_engine;
  if (e === null || typeof e !== 'object') return undefined;
  const r = e as Record<string, unknown>;
  if (typeof r['outcome'] !== 'string' || !OUTCOME_SET.has(r['outcome'])) return undefined;
  return {
    outcome: r['outcome'] as Outcome,
    ...(typeof r['degraded'] === 'string' ? { degraded: r['degraded'] } : {}),
    ...(typeof r['reason'] === 'string' ? { reason: r['reason'] } : {}),
    ...(typeof r['attempts'] === 'number' ? { attempts: r['attempts'] } : {}),
    ...(typeof r['upstreamCalls'] === 'number' ? { upstreamCalls: r['upstreamCalls'] } : {}),
    ...(typeof r['queuedMs'] === 'number' ? { queuedMs: r['queuedMs'] } : {}),
    ...(typeof r['backoffMs'] === 'number' ? { backoffMs: r['backoffMs'] } : {}),
    ...(r['cache'] === 'hit' || r['cache'] === 'miss' || r['cache'] === 'stale' ? { cache: r['cache'] } : {}),
    ...(Array.isArray(r['bills']) ? { bills: r['bills'].filter(isWireBill) } : {}),
  };
}

function isWireBill(b: unknown): b is WireBill {
  if (b === null || typeof b !== 'object') return false;
  const o = b as Record<string, unknown>;
  return (
    typeof o['model'] === 'string' &&
    ['inputTokens', 'cachedInputTokens', 'outputTokens', 'deliveredTokens', 'resumeFrom'].every((k) => count(o[k]) !== undefined) &&
    typeof o['completed'] === 'boolean'
  );
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s) as unknown;
  } catch {
    return undefined;
  }
}

function header(h: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

const nonNeg = (v: number | undefined): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);
const nonNegInt = (v: number | undefined): number | undefined => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined);
