/**
 * A ModelClient for any OpenAI-compatible server (the mock in sim/, vLLM, OpenAI) over undici with SSE streaming.
 * It behaves as the in-process client does (sim/in-process.ts): admission failures are thrown before the first
 * event as the typed errors of ./errors.ts; a stream that breaks after headers (reset, clean close without
 * `[DONE]`, an in-stream error event, a truncated or unparseable chunk) throws StreamInterruptedError with the
 * absolute count of tokens received (resume included); no byte for `idleTimeoutMs` throws IdleTimeoutError;
 * aborting the signal, or leaving the loop early, aborts the HTTP request so the server frees the GPU slot.
 *
 * Pass-through: every field of `request.params` (what the engine does not own: sampling, `stop`, `n`, `tools`,
 * `response_format`, unknown vendor fields, ...) is sent unchanged, and messages go as the client sent them
 * (`ChatMessage.wire`). Usage is asked for (`stream_options.include_usage`) and reported as the server sent it.
 *
 * Resume depends on the upstream's dialect (`dialect`, see UpstreamDialect). `openai` (the default) has no
 * continuation: a call with `resumeFrom` is refused, and the engine never makes one. `vllm` and `mock` send the
 * standard continuation request: on chat, the text so far as a final assistant message with
 * `continue_final_message: true, add_generation_prompt: false`; on completions, the text appended to the prompt
 * (plus `x-mock-resume-from`, which tells the mock how much of the prompt is its own output; vLLM ignores it).
 * The token limit sent is what is left of it.
 */
import { Agent, type Dispatcher } from 'undici';
import { ValidationError } from '../errors.js';
import { RealClock } from '../time/real-clock.js';
import type { Clock } from '../time/clock.js';
import { CallControl } from './call-control.js';
import { ServerError, StreamInterruptedError } from './errors.js';
import { connectionError, errorFromResponse, timeoutError, type ResponseHeaders } from './http-errors.js';
import { embeddingItems } from './http-embeddings.js';
import {
  dialectCapabilities,
  UPSTREAM_DIALECTS,
  type CallOptions,
  type ChatMessage,
  type CompletionBatchRequest,
  type CompletionBatchResult,
  type CompletionChoice,
  type EmbeddingRequest,
  type EmbeddingResult,
  type ModelClient,
  type ModelRequest,
  type StreamEvent,
  type StreamOptions,
  type UpstreamCapabilities,
  type UpstreamDialect,
} from './model-client.js';
import { StreamCall, type StreamCallContext } from './stream-call.js';

/** Options of {@link HttpModelClient}. */
export interface HttpModelClientOptions {
  /** The server, e.g. `http://127.0.0.1:8000` or `https://api.openai.com/v1` (`/v1` is added when missing). */
  readonly baseUrl: string;
  /** Sent as `authorization: Bearer …` unless the request carries its own `apiKey`. @default undefined */
  readonly apiKey?: string;
  /** Extra headers on every request. @default {} */
  readonly headers?: Readonly<Record<string, string>>;
  /** For the idle timeout. @default new RealClock() */
  readonly clock?: Clock;
  /** No byte from the server for this long (before the response, or between events) fails the call; 0 disables. @default 300000 */
  readonly idleTimeoutMs?: number;
  /** Connection pool size per origin; calls beyond it wait in undici's queue. @default 256 */
  readonly connections?: number;
  /** Requests in flight per connection (HTTP/1.1 pipelining; streams need 1). @default 1 */
  readonly pipelining?: number;
  /** TCP (and TLS) connect timeout. @default 10000 */
  readonly connectTimeoutMs?: number;
  /**
   * How long an idle pooled connection is kept for the next call when the server sends no `Keep-Alive: timeout`
   * hint (a hint wins). A burst after a longer lull opens every connection again, which costs the upstream and
   * this process a TCP handshake and an accept per stream. Keep it below the server's own idle timeout (Node
   * and uvicorn/vLLM: 5 s; fastify, e.g. the mock: 72 s), or a request may be sent on a socket the server is
   * closing. @default 4000 (undici's own default)
   */
  readonly keepAliveTimeoutMs?: number;
  /** Use this dispatcher instead of an own pool; `close()` then leaves it open. @default undefined */
  readonly dispatcher?: Dispatcher;
  /**
   * What the server can do: `openai` (no continuation: OpenAI, Azure OpenAI, anything unknown), `vllm` (continues
   * a prefix: vLLM, SGLang), `mock` (our mock: `vllm`, and restarts reproduce the same text). @default 'openai'
   */
  readonly dialect?: UpstreamDialect;
}

/** The message as sent upstream: the client's own, or role and text. */
function wireMessage(m: ChatMessage): unknown {
  return m.wire ?? { role: m.role, content: m.content };
}

function positiveInt(path: string, v: number | undefined, fallback: number, min = 1): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v < min) throw new ValidationError(`HttpModelClient.${path}`, `an integer >= ${min}`, v);
  return v;
}

/** The wall clock of a RealClock, for Retry-After dates when the response has no `date` header. */
function wallNow(clock: Clock): number | undefined {
  const c = clock as { wallTimeMs?: () => number };
  return typeof c.wallTimeMs === 'function' ? c.wallTimeMs() : undefined;
}

/** A ModelClient over HTTP, pooling connections per origin. Call `close()` when done. */
export class HttpModelClient implements ModelClient {
  private readonly origin: string;
  private readonly prefix: string;
  private readonly clock: Clock;
  private readonly idleTimeoutMs: number;
  private readonly dispatcher: Dispatcher;
  private readonly ownDispatcher: Agent | undefined;
  private readonly baseHeaders: Readonly<Record<string, string>>;
  private readonly inFlight = new Set<CallControl>();
  private readonly callContext: StreamCallContext;
  private closed = false;
  readonly dialect: UpstreamDialect;
  readonly capabilities: UpstreamCapabilities;

  constructor(o: HttpModelClientOptions) {
    let url: URL;
    try {
      url = new URL(o.baseUrl);
    } catch {
      throw new ValidationError('HttpModelClient.baseUrl', 'an http(s) URL', o.baseUrl);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ValidationError('HttpModelClient.baseUrl', 'an http(s) URL', o.baseUrl);
    }
    const dialect = o.dialect ?? 'openai';
    if (!(UPSTREAM_DIALECTS as readonly string[]).includes(dialect)) {
      throw new ValidationError('HttpModelClient.dialect', UPSTREAM_DIALECTS.map((d) => JSON.stringify(d)).join(' | '), dialect);
    }
    this.dialect = dialect;
    this.capabilities = dialectCapabilities(dialect);
    this.origin = url.origin;
    const path = url.pathname.replace(/\/+$/, '');
    this.prefix = path.endsWith('/v1') ? path : `${path}/v1`;
    this.clock = o.clock ?? new RealClock();
    this.idleTimeoutMs = positiveInt('idleTimeoutMs', o.idleTimeoutMs, 300_000, 0);
    const connections = positiveInt('connections', o.connections, 256);
    const pipelining = positiveInt('pipelining', o.pipelining, 1);
    const connectTimeoutMs = positiveInt('connectTimeoutMs', o.connectTimeoutMs, 10_000);
    const keepAliveTimeout = positiveInt('keepAliveTimeoutMs', o.keepAliveTimeoutMs, 4_000);
    if (o.dispatcher !== undefined) {
      this.dispatcher = o.dispatcher;
    } else {
      // Our idle timeout replaces undici's header and body timeouts (0 disables them), so one rule applies.
      this.ownDispatcher = new Agent({ connections, pipelining, keepAliveTimeout, connect: { timeout: connectTimeoutMs }, headersTimeout: 0, bodyTimeout: 0 });
      this.dispatcher = this.ownDispatcher;
    }
    this.callContext = {
      origin: this.origin,
      wallNow: () => wallNow(this.clock),
      done: (c) => this.inFlight.delete(c),
    };
    this.baseHeaders = {
      'content-type': 'application/json',
      ...(o.apiKey !== undefined ? { authorization: `Bearer ${o.apiKey}` } : {}),
      ...o.headers,
    };
  }

  /** Cancels the calls in flight (they reject with an AbortError) and closes the pool, if it is ours. */
  async close(): Promise<void> {
    this.closed = true;
    for (const c of [...this.inFlight]) c.abort(new Error('HttpModelClient closed'));
    await this.ownDispatcher?.close();
  }

  /** A hand-written iterator over undici's dispatch API (./stream-call.ts): the hot path of every proxied token. */
  stream(request: ModelRequest, options: StreamOptions = {}): AsyncIterable<StreamEvent> {
    return this.run(request, options);
  }

  private headersOf(r: { id: string; apiKey?: string; fault?: string }, extra: Record<string, string>): Record<string, string> {
    const h: Record<string, string> = { ...this.baseHeaders, 'x-request-id': r.id, ...extra };
    if (r.apiKey !== undefined) h['authorization'] = `Bearer ${r.apiKey}`;
    if (r.fault !== undefined) h['x-mock-fault'] = r.fault;
    return h;
  }

  /** Sends one POST; failures before a response become ConnectionRefusedError (or the caller's/idle error). */
  private async post(path: string, headers: Record<string, string>, body: unknown, ctl: CallControl): Promise<Dispatcher.ResponseData> {
    if (this.closed) ctl.abort(new Error('HttpModelClient closed'));
    try {
      return await this.dispatcher.request({ origin: this.origin, path: `${this.prefix}${path}`, method: 'POST', headers, body: JSON.stringify(body), signal: ctl.signal });
    } catch (err) {
      throw ctl.failure() ?? timeoutError(err, ctl.quietMs(), 0) ?? connectionError(err, this.origin) ?? err;
    }
  }

  /** Reads an error response and throws its typed error. */
  private async fail(res: Dispatcher.ResponseData, ctl: CallControl): Promise<never> {
    let text = '';
    try {
      text = await res.body.text();
    } catch {
      // The status alone decides the class; the body only adds the message.
    }
    throw ctl.failure() ?? errorFromResponse(res.statusCode, res.headers as ResponseHeaders, text, wallNow(this.clock));
  }

  /**
   * The request body: the client's own fields first (`params`), then the engine's (model, messages or prompt, the
   * token limit, streaming with usage), then the continuation when resuming.
   */
  private body(request: ModelRequest, options: StreamOptions, chat: boolean): Record<string, unknown> {
    const resumeFrom = options.resumeFrom ?? 0;
    const params = request.params ?? {};
    const body: Record<string, unknown> = { ...params, model: request.model };
    if (chat) body['messages'] = (request.messages ?? []).map(wireMessage);
    else body['prompt'] = request.prompt ?? '';
    if (request.maxTokens !== undefined) {
      // The name the client used (`max_completion_tokens` for OpenAI's newer models); what is left of it on resume.
      const left = Math.max(1, request.maxTokens - resumeFrom);
      const named = 'max_completion_tokens' in params || 'max_tokens' in params;
      if ('max_completion_tokens' in params) body['max_completion_tokens'] = left;
      if ('max_tokens' in params || !named) body['max_tokens'] = left;
    }
    const streamOptions = params['stream_options'];
    body['stream'] = true;
    body['stream_options'] = { ...(typeof streamOptions === 'object' && streamOptions !== null ? streamOptions : {}), include_usage: true };
    if (resumeFrom > 0) {
      if (!this.capabilities.continuation) throw new TypeError(`HttpModelClient: the ${this.dialect} dialect cannot continue a stream (resumeFrom ${resumeFrom})`);
      if (options.resumeText === undefined) throw new TypeError('HttpModelClient: resumeFrom needs resumeText, the prefix to continue');
      if (chat) {
        (body['messages'] as unknown[]).push({ role: 'assistant', content: options.resumeText });
        body['continue_final_message'] = true;
        body['add_generation_prompt'] = false;
      } else {
        body['prompt'] = `${request.prompt ?? ''}${options.resumeText}`;
      }
    }
    return body;
  }

  private run(request: ModelRequest, options: StreamOptions): StreamCall {
    const resumeFrom = options.resumeFrom ?? 0;
    const chat = request.messages !== undefined;
    // First: a call this dialect cannot make is refused before anything is opened.
    const body = this.body(request, options, chat);
    // The idle timeout reports the call's token count (read only when it fires, after both exist).
    const ctl: CallControl = new CallControl(this.clock, this.idleTimeoutMs, options.signal, (): number => call.tokensReceived);
    const call: StreamCall = new StreamCall(ctl, this.callContext, resumeFrom, request.promptTokens ?? 0);
    if (ctl.failure() !== undefined) {
      ctl.abort(ctl.failure());
      return call;
    }
    if (this.closed) {
      ctl.abort(new Error('HttpModelClient closed'));
      return call;
    }
    this.inFlight.add(ctl);
    const extra: Record<string, string> = { accept: 'text/event-stream' };
    if (request.promptTokens !== undefined) extra['x-mock-prompt-tokens'] = String(request.promptTokens);
    if (request.outputTokens !== undefined) extra['x-mock-output-tokens'] = String(request.outputTokens);
    if (resumeFrom > 0 && !chat) extra['x-mock-resume-from'] = String(resumeFrom);
    if (request.prefix !== undefined && request.prefix.length > 0) extra['x-mock-prefix'] = request.prefix.map((s) => `${s.id}=${s.tokens}`).join(',');
    const path = `${this.prefix}${chat ? '/chat/completions' : '/completions'}`;
    this.dispatcher.dispatch({ origin: this.origin, path, method: 'POST', headers: this.headersOf(request, extra), body: JSON.stringify(body) }, call);
    return call;
  }

  /**
   * One unary (non-streamed) call: a CallControl for its signal and idle timeout, refused at once when the signal has
   * already fired, tracked in flight (close() aborts it) and disposed however it ends.
   */
  private async unary<T>(options: CallOptions, run: (ctl: CallControl) => Promise<T>): Promise<T> {
    const ctl = new CallControl(this.clock, this.idleTimeoutMs, options.signal, () => 0);
    const failure = ctl.failure();
    if (failure !== undefined) {
      ctl.dispose();
      throw failure;
    }
    this.inFlight.add(ctl);
    try {
      return await run(ctl);
    } finally {
      ctl.dispose();
      this.inFlight.delete(ctl);
    }
  }

  /** `GET /v1/models`: the served models as listed (entries without a string `id` are left out). */
  async listModels(options: CallOptions = {}): Promise<Array<Record<string, unknown> & { id: string }>> {
    return this.unary(options, async (ctl) => {
      if (this.closed) ctl.abort(new Error('HttpModelClient closed'));
      let res: Dispatcher.ResponseData;
      try {
        res = await this.dispatcher.request({ origin: this.origin, path: `${this.prefix}/models`, method: 'GET', headers: this.headersOf({ id: 'models' }, { accept: 'application/json' }), signal: ctl.signal });
      } catch (err) {
        throw ctl.failure() ?? connectionError(err, this.origin) ?? err;
      }
      if (res.statusCode !== 200) await this.fail(res, ctl);
      let body: unknown;
      try {
        body = await res.body.json();
      } catch (err) {
        throw ctl.failure() ?? new ServerError(502, `malformed models list (${err instanceof Error ? err.message : String(err)})`);
      }
      const data = (body as { data?: unknown } | null)?.data;
      if (!Array.isArray(data)) throw new ServerError(502, 'malformed models list: expected { data: [...] }');
      return data.filter((m): m is Record<string, unknown> & { id: string } => typeof m === 'object' && m !== null && typeof (m as { id?: unknown }).id === 'string');
    });
  }

  async embed(request: EmbeddingRequest, options: CallOptions = {}): Promise<EmbeddingResult> {
    return this.unary(options, async (ctl) => {
      const body = { model: request.model, input: request.inputs, encoding_format: 'float' };
      const res = await this.post('/embeddings', this.headersOf(request, {}), body, ctl);
      ctl.touch();
      if (res.statusCode !== 200) await this.fail(res, ctl);
      let text: string;
      try {
        text = await res.body.text();
      } catch (err) {
        throw ctl.failure() ?? new StreamInterruptedError(0, `embeddings response broken (${err instanceof Error ? err.message : String(err)})`);
      }
      const parsed = embeddingItems(text, request);
      if (typeof parsed === 'string') throw new ServerError(502, `malformed embeddings response: ${parsed}`);
      return parsed;
    });
  }

  /**
   * One non-streamed `POST /v1/completions` with `prompt: [p1, p2, ...]`: one choice per prompt, matched by its
   * `index`. Only for a dialect that takes prompt arrays (`vllm`, `mock`); `openai` refuses before sending.
   */
  async completeBatch(request: CompletionBatchRequest, options: CallOptions = {}): Promise<CompletionBatchResult> {
    if (this.capabilities.batchPrompts !== true) throw new TypeError(`HttpModelClient: the ${this.dialect} dialect takes no multi-prompt completions`);
    return this.unary(options, async (ctl) => {
      const body: Record<string, unknown> = { ...(request.params ?? {}), model: request.model, prompt: request.prompts, stream: false };
      if (request.maxTokens !== undefined) body['max_tokens'] = request.maxTokens;
      const res = await this.post('/completions', this.headersOf(request, { accept: 'application/json' }), body, ctl);
      ctl.touch();
      if (res.statusCode !== 200) await this.fail(res, ctl);
      let parsed: unknown;
      try {
        parsed = await res.body.json();
      } catch (err) {
        throw ctl.failure() ?? new StreamInterruptedError(0, `completions response broken (${err instanceof Error ? err.message : String(err)})`);
      }
      const out = batchChoices(parsed, request.prompts.length);
      if (typeof out === 'string') throw new ServerError(502, `malformed completions response: ${out}`);
      return out;
    });
  }
}

/** The choices (by `index`) and usage of a multi-prompt completions body, or what is wrong with it. */
function batchChoices(body: unknown, n: number): CompletionBatchResult | string {
  const choices = (body as { choices?: unknown } | null)?.choices;
  if (!Array.isArray(choices)) return 'expected { choices: [...] }';
  const byIndex: Array<CompletionChoice | undefined> = new Array<CompletionChoice | undefined>(n).fill(undefined);
  for (const c of choices as Array<Record<string, unknown> | null>) {
    const index = c?.['index'];
    const text = c?.['text'];
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= n) return `choice index ${String(index)} outside 0..${n - 1}`;
    if (typeof text !== 'string') return `choice ${index}: text is not a string`;
    if (byIndex[index] !== undefined) return `choice ${index} twice`;
    const fr = c?.['finish_reason'];
    byIndex[index] = { index, text, finishReason: typeof fr === 'string' ? fr : 'stop' };
  }
  const missing = byIndex.findIndex((c) => c === undefined);
  if (missing >= 0) return `no choice for prompt ${missing}`;
  const u = (body as { usage?: Record<string, unknown> | null }).usage;
  const pt = u?.['prompt_tokens'];
  const ct = u?.['completion_tokens'];
  const usage = typeof pt === 'number' && typeof ct === 'number' ? { promptTokens: pt, completionTokens: ct } : undefined;
  return { choices: byIndex as CompletionChoice[], ...(usage !== undefined ? { usage } : {}) };
}
