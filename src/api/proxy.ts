/**
 * `POST /v1/chat/completions`: an OpenAI-compatible proxy through the engine, so any OpenAI client can sit on
 * top and get queueing, limits, retries, breaker and fallback for free. Streaming sends nothing until the first
 * token or the outcome, so a shed is still a real 429 and a failure a real 5xx; once streaming, a failure is an
 * in-stream `error` event (which OpenAI clients raise), never a silent end. A client that goes away cancels the
 * engine request, which aborts the upstream call. Vendor fields (./engine-summary.ts): each token chunk carries
 * `x_engine: { index, count }`, and the final chunk, the whole response or the error the request's `x_engine`
 * summary (outcome, attempts, upstream calls, resumes, queued and backoff ms).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { EngineResult, TokenChunk } from '../engine/engine-types.js';
import { estimateTokens } from '../engine/router.js';
import type { ChatMessage } from '../upstream/model-client.js';
import { ApiError } from './api-errors.js';
import { engineSummary, type EngineSummary } from './engine-summary.js';
import { idempotencyKey, mockHeaders, requestControls, sendError, tenantOf } from './http.js';
import { outcomeError } from './outcome-http.js';
import { requestAbort } from './request-abort.js';
import type { RouteContext } from './route-context.js';
import { chatBodySchema, toChatMessages, type ChatBody } from './schemas.js';
import { SseWriter } from './sse.js';

type FinishReason = 'stop' | 'length' | 'error';

/** The head of every streamed chunk of one response. */
export interface ChunkHead {
  readonly id: string;
  readonly object: 'chat.completion.chunk';
  readonly created: number;
  readonly model: string;
}

/**
 * The SSE event of one token chunk: the same bytes as `data: ${JSON.stringify({ ...head, choices: [{ index: 0,
 * delta: { content: c.text }, logprobs: null, finish_reason: null }], x_engine: { index: c.index, count: c.count }
 * })}\n\n`, with the head serialized once per response, so a token costs one JSON.stringify of its text.
 * `x_engine` says which tokens the chunk carries (one chunk may carry several), as the mock's `x_mock` does.
 */
export function tokenChunkFramer(head: ChunkHead): (c: Pick<TokenChunk, 'text' | 'index' | 'count'>) => string {
  const prefix = `data: ${JSON.stringify(head).slice(0, -1)},"choices":[{"index":0,"delta":{"content":`;
  return (c) => `${prefix}${JSON.stringify(c.text)}},"logprobs":null,"finish_reason":null}],"x_engine":{"index":${c.index},"count":${c.count}}}\n\n`;
}

function finishReason(r: EngineResult, maxTokens: number | undefined): FinishReason {
  if (r.degraded === 'partial') return 'error';
  return maxTokens !== undefined && r.tokens >= maxTokens ? 'length' : 'stop';
}

function usage(prompt: number, completion: number) {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

function promptTokens(messages: readonly ChatMessage[], given: number | undefined): number {
  return given ?? estimateTokens(messages.map((m) => m.content).join(''));
}

export function registerProxy(app: FastifyInstance, ctx: RouteContext): void {
  const ids = ctx.random.derive('api/chat-ids');
  let seq = 0;
  const newId = (): string => `chatcmpl-${ids.int(0, 0xffffffff).toString(16).padStart(8, '0')}${(++seq).toString(36)}`;
  // The model of the attempt in progress, per request: a stream that starts on the fallback says so in its headers.
  const attemptModel = new Map<string, 'primary' | 'fallback'>();
  const off = ctx.engine.onEvent((e) => {
    if (e.type === 'attempt' && attemptModel.has(e.id)) attemptModel.set(e.id, e.model);
  });
  app.addHook('onClose', async () => off());

  app.post<{ Body: ChatBody }>('/v1/chat/completions', { schema: { body: chatBodySchema } }, async (req, reply) => {
    const tenant = tenantOf(req);
    const b = req.body;
    const key = idempotencyKey(req);
    const mock = ctx.forwardMockHeaders ? mockHeaders(req) : undefined;
    const { priority, deadlineMs, requestId } = requestControls(req);
    const maxTokens = b.max_completion_tokens ?? b.max_tokens ?? undefined;
    const messages = toChatMessages(b.messages);
    const stream = b.stream === true;
    const includeUsage = stream && b.stream_options?.include_usage === true;
    const id = newId();
    const created = ctx.createdSeconds();
    const abort = requestAbort(reply, ctx);

    const head: ChunkHead = { id, object: 'chat.completion.chunk', created, model: b.model };
    let sse: SseWriter | undefined;
    const tokenChunk = tokenChunkFramer(head);
    const start = (): SseWriter => {
      if (sse !== undefined) return sse;
      reply.hijack();
      sse = new SseWriter(reply.raw, ctx.clock, ctx.sseKeepAliveMs, ctx.sseLimits, ctx.sseStats);
      const model = attemptModel.get(id);
      // The headers leave with the first chunk, written right below: one packet.
      sse.open(200, { 'x-request-id': id, ...(model === 'fallback' ? { 'x-degraded': 'fallback' } : {}) }, false);
      sse.write(`data: ${JSON.stringify({ ...head, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] })}\n\n`);
      return sse;
    };
    const onTokens = (c: TokenChunk): void => {
      ctx.telemetry?.tokens(id, c);
      if (!stream) return;
      start().write(tokenChunk(c));
    };

    ctx.telemetry?.begin(id, { attributes: { tenant, 'request.priority': priority ?? 'interactive', 'request.api': 'chat.completions', 'request.stream': stream } });
    attemptModel.set(id, 'primary');
    let result: EngineResult;
    try {
      const pending = ctx.engine.submit(
        {
          id,
          tenant,
          kind: 'chat',
          ...(priority !== undefined ? { priority } : {}),
          ...(key !== undefined ? { idempotencyKey: `${tenant}\u0000${key}` } : {}),
          ...(deadlineMs !== undefined ? { deadlineMs } : {}),
          request: {
            id: requestId ?? id,
            model: b.model,
            messages,
            ...(maxTokens !== undefined ? { maxTokens } : {}),
            ...(mock?.outputTokens !== undefined ? { outputTokens: mock.outputTokens } : {}),
            ...(mock?.promptTokens !== undefined ? { promptTokens: mock.promptTokens } : {}),
            ...(mock?.fault !== undefined ? { fault: mock.fault } : {}),
            ...(mock?.prefix !== undefined ? { prefix: mock.prefix } : {}),
          },
          onTokens,
        },
        abort.signal,
      );
      ctx.telemetry?.admitted(id);
      result = await pending;
    } finally {
      attemptModel.delete(id);
      abort.release();
    }
    const prompt = promptTokens(messages, mock?.promptTokens);
    const reason = finishReason(result, maxTokens);
    const good = result.outcome === 'ok' || result.outcome === 'degraded';
    const x_engine = engineSummary(result);
    if (sse === undefined && !good) return sendError(reply, outcomeError(result), { x_engine });
    if (!stream) return sendWhole(reply, { id, created, model: b.model, result, prompt, reason, x_engine });
    const out = start();
    if (good && result.degraded !== 'partial') {
      const degraded = result.degraded !== undefined ? { x_degraded: result.degraded } : {};
      out.write(`data: ${JSON.stringify({ ...head, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: reason }], ...degraded, x_engine })}\n\n`);
      if (includeUsage) out.write(`data: ${JSON.stringify({ ...head, choices: [], usage: usage(prompt, result.tokens) })}\n\n`);
      out.write('data: [DONE]\n\n');
    } else {
      // Tokens were sent, then the request failed: say so in the stream (OpenAI clients raise it) and end without [DONE].
      const e = result.degraded === 'partial' ? new ApiError(502, 'partial_response', `partial: ${result.error?.message ?? 'the upstream failed mid-stream'}`) : outcomeError(result);
      out.write(`data: ${JSON.stringify({ ...e.body(), x_degraded: 'partial', tokens: result.tokens, x_engine })}\n\n`);
    }
    out.end();
    return reply;
  });
}

function sendWhole(
  reply: FastifyReply,
  o: { id: string; created: number; model: string; result: EngineResult; prompt: number; reason: FinishReason; x_engine: EngineSummary },
): FastifyReply {
  const r = o.result;
  if (r.degraded !== undefined) reply.header('x-degraded', r.degraded);
  return reply.code(200).send({
    id: o.id,
    object: 'chat.completion',
    created: o.created,
    model: o.model,
    choices: [{ index: 0, message: { role: 'assistant', content: r.text, refusal: null }, logprobs: null, finish_reason: o.reason }],
    usage: usage(o.prompt, r.tokens),
    ...(r.degraded !== undefined ? { degraded: r.degraded } : {}),
    ...(r.error !== undefined ? { error: r.error } : {}),
    x_engine: o.x_engine,
  });
}
