/**
 * A ModelClient for any OpenAI-compatible server (the mock in sim/, vLLM, OpenAI) over undici with SSE streaming.
 * It behaves as the in-process client does (sim/in-process.ts): admission failures are thrown before the first
 * event as the typed errors of ./errors.ts; a stream that breaks after headers (reset, clean close without
 * `[DONE]`, an in-stream error event, a truncated or unparseable chunk) throws StreamInterruptedError with the
 * absolute count of tokens received (resume included); no byte for `idleTimeoutMs` throws IdleTimeoutError;
 * aborting the signal, or leaving the loop early, aborts the HTTP request so the server frees the GPU slot.
 *
 * Resume: `resumeFrom` is sent as `x-mock-resume-from`, which only the mock understands (it continues the same
 * request id byte for byte). vLLM and OpenAI ignore the header and would generate from the start. Resuming against
 * a real server means sending the text received so far as an assistant prefix ("continue the final message",
 * vLLM's `continue_final_message`); that is not implemented here.
 */
import { Agent, type Dispatcher } from 'undici';
import { ValidationError } from '../errors.js';
import { RealClock } from '../time/real-clock.js';
import type { Clock } from '../time/clock.js';
import { CallControl } from './call-control.js';
import { ServerError, StreamInterruptedError } from './errors.js';
import { connectionError, errorFromResponse, type ResponseHeaders } from './http-errors.js';
import { embeddingItems } from './http-embeddings.js';
import type {
  CallOptions,
  EmbeddingRequest,
  EmbeddingResult,
  ModelClient,
  ModelRequest,
  StreamEvent,
  StreamOptions,
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
      throw ctl.failure() ?? connectionError(err, this.origin) ?? err;
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

  private run(request: ModelRequest, options: StreamOptions): StreamCall {
    const resumeFrom = options.resumeFrom ?? 0;
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
    if (options.resumeFrom !== undefined) extra['x-mock-resume-from'] = String(options.resumeFrom);
    if (request.prefix !== undefined && request.prefix.length > 0) extra['x-mock-prefix'] = request.prefix.map((s) => `${s.id}=${s.tokens}`).join(',');
    const chat = request.messages !== undefined;
    const body = {
      model: request.model,
      ...(chat ? { messages: request.messages } : { prompt: request.prompt ?? '' }),
      ...(request.maxTokens !== undefined ? { max_tokens: request.maxTokens } : {}),
      stream: true,
      stream_options: { include_usage: true },
    };
    const path = `${this.prefix}${chat ? '/chat/completions' : '/completions'}`;
    this.dispatcher.dispatch({ origin: this.origin, path, method: 'POST', headers: this.headersOf(request, extra), body: JSON.stringify(body) }, call);
    return call;
  }

  async embed(request: EmbeddingRequest, options: CallOptions = {}): Promise<EmbeddingResult> {
    const ctl = new CallControl(this.clock, this.idleTimeoutMs, options.signal, () => 0);
    const failure = ctl.failure();
    if (failure !== undefined) {
      ctl.dispose();
      throw failure;
    }
    this.inFlight.add(ctl);
    try {
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
    } finally {
      ctl.dispose();
      this.inFlight.delete(ctl);
    }
  }
}
