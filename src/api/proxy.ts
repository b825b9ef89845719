/**
 * `POST /v1/chat/completions` and `POST /v1/completions`: an OpenAI-compatible proxy through the engine, so any
 * OpenAI client can sit on top and get queueing, limits, retries, breaker and fallback for free. Every body field
 * the engine does not own (sampling, `stop`, `n`, `tools`, `response_format`, vendor fields, ...) and every message
 * as sent (tool calls, content parts) reach the upstream unchanged; streamed deltas the engine does not read
 * (tool-call deltas, refusal, logprobs, other choices) reach the client as the upstream sent them. Streaming sends
 * nothing until the first output or the outcome, so a shed is still a real 429 and a failure a real 5xx; once
 * streaming, a failure is an in-stream `error` event (which OpenAI clients raise), never a silent end. `usage` is
 * the upstream's own; an estimate says so (`x_engine.usage: "estimated"`). A non-streamed request that runs out of
 * time after tokens answers 200 with the partial text, `degraded: "partial"`. A client that goes away cancels the
 * engine request, which aborts the upstream call. A streamed reader whose socket is full pauses the upstream (the
 * engine reads no more of it until the socket drains; see SseWriter for the per-response byte cap and the stall
 * timeout that ends a stream whose reader is gone). Vendor fields (./engine-summary.ts): each token chunk carries
 * `x_engine: { index, count }`, and the final chunk, the whole response or the error the request's `x_engine`
 * summary (outcome, attempts, upstream calls, resumes, queued and backoff ms).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EngineResult, ExtraDelta, TokenChunk } from '../engine/engine-types.js';
import { estimateTokens } from '../engine/router.js';
import type { ModelRequest } from '../upstream/model-client.js';
import { ApiError } from './api-errors.js';
import { ChoiceAccumulator } from './choice-accumulator.js';
import { engineSummary } from './engine-summary.js';
import { idempotencyKey, mockHeaders, requestControls, sendError, tenantOf } from './http.js';
import { outcomeError } from './outcome-http.js';
import { extraChunk, finishReason, reportedUsage, tokenChunkFramer, wholeChoices, type ChunkHead, type ProxyKind } from './proxy-frames.js';
import { requestAbort } from './request-abort.js';
import type { RouteContext } from './route-context.js';
import { chatBodySchema, completionBodySchema, passThroughParams, toChatMessages, type ChatBody, type CompletionBody } from './schemas.js';
import { SseWriter } from './sse.js';

export { tokenChunkFramer, type ChunkHead } from './proxy-frames.js';

/** The prompt's tokens for an estimated usage: the mock's count, the model's tokenizer, or about 4 characters a token. */
function promptTokens(ctx: RouteContext, request: ModelRequest): number {
  return request.promptTokens ?? ctx.countPromptTokens?.(request) ?? estimateTokens(request.messages?.map((m) => m.content).join('') ?? request.prompt ?? '');
}

export function registerProxy(app: FastifyInstance, ctx: RouteContext): void {
  const ids = ctx.random.derive('api/chat-ids');
  let seq = 0;
  const newId = (kind: ProxyKind): string => `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${ids.int(0, 0xffffffff).toString(16).padStart(8, '0')}${(++seq).toString(36)}`;
  // The model of the attempt in progress, per request: a stream that starts on the fallback says so in its headers.
  const attemptModel = new Map<string, 'primary' | 'fallback'>();
  // The response cache's verdict, per request (said before any token): a stream's headers carry it as `x-cache`.
  const cacheState = new Map<string, 'hit' | 'miss' | 'stale'>();
  const off = ctx.engine.onEvent((e) => {
    if (e.type === 'attempt' && attemptModel.has(e.id)) attemptModel.set(e.id, e.model);
    else if (e.type === 'cache' && attemptModel.has(e.id)) cacheState.set(e.id, e.result);
  });
  app.addHook('onClose', async () => off());

  const handle = async (kind: ProxyKind, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const tenant = tenantOf(req);
    const b = req.body as ChatBody | CompletionBody;
    const key = idempotencyKey(req);
    const mock = ctx.forwardMockHeaders ? mockHeaders(req) : undefined;
    const { priority, deadlineMs, requestId } = requestControls(req);
    const maxTokens = (b['max_completion_tokens'] as number | null | undefined) ?? b.max_tokens ?? undefined;
    const messages = kind === 'chat' ? toChatMessages((b as ChatBody).messages) : undefined;
    const prompt = kind === 'completion' ? (b as CompletionBody).prompt : undefined;
    const stream = b.stream === true;
    const includeUsage = stream && b.stream_options?.include_usage === true;
    const id = newId(kind);
    const created = ctx.createdSeconds();
    const abort = requestAbort(reply, ctx);

    const head: ChunkHead = { id, object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', created, model: b.model };
    let sse: SseWriter | undefined;
    const tokenChunk = tokenChunkFramer(head);
    const start = (): SseWriter => {
      if (sse !== undefined) return sse;
      reply.hijack();
      sse = new SseWriter(reply.raw, ctx.clock, ctx.sseKeepAliveMs, ctx.sseLimits, ctx.sseStats);
      // Ended by us before the answer was complete (its reader too slow or gone): stop the engine request at once,
      // and with it the reading of the upstream (the socket's own close event comes later).
      sse.onClose(() => {
        if (!answered) abort.abort('the stream was ended: its reader was too slow or gone');
      });
      const model = attemptModel.get(id);
      const cache = cacheState.get(id);
      // The headers leave with the first chunk, written right below: one packet.
      sse.open(
        200,
        {
          'x-request-id': id,
          ...(cache !== undefined ? { 'x-cache': cache } : {}),
          ...(cache === 'stale' ? { 'x-degraded': 'cached' } : model === 'fallback' ? { 'x-degraded': 'fallback' } : {}),
        },
        false,
      );
      if (kind === 'chat') sse.write(`data: ${JSON.stringify({ ...head, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] })}\n\n`);
      return sse;
    };
    const onTokens = (c: TokenChunk): void => {
      ctx.telemetry?.tokens(id, c);
      if (!stream) return;
      start().write(tokenChunk(c));
    };
    let passed = new ChoiceAccumulator();
    const onExtra = (e: ExtraDelta): void => {
      if (stream) start().write(extraChunk(head, e));
      else passed.add(e);
    };
    const request: ModelRequest = {
      id: requestId ?? id,
      model: b.model,
      ...(messages !== undefined ? { messages } : { prompt: prompt ?? '' }),
      ...(maxTokens !== undefined ? { maxTokens } : {}),
      params: passThroughParams(b),
      ...(mock?.outputTokens !== undefined ? { outputTokens: mock.outputTokens } : {}),
      ...(mock?.promptTokens !== undefined ? { promptTokens: mock.promptTokens } : {}),
      ...(mock?.fault !== undefined ? { fault: mock.fault } : {}),
      ...(mock?.prefix !== undefined ? { prefix: mock.prefix } : {}),
    };

    const api = kind === 'chat' ? 'chat.completions' : 'completions';
    ctx.telemetry?.begin(id, { attributes: { tenant, 'request.priority': priority ?? 'interactive', 'request.api': api, 'request.stream': stream } });
    attemptModel.set(id, 'primary');
    let result: EngineResult;
    let answered = false;
    try {
      const pending = ctx.engine.submit(
        {
          id,
          tenant,
          kind: 'chat',
          ...(priority !== undefined ? { priority } : {}),
          ...(key !== undefined ? { idempotencyKey: `${tenant}\u0000${key}` } : {}),
          ...(deadlineMs !== undefined ? { deadlineMs } : {}),
          request,
          onTokens,
          onExtra,
          // A reader whose socket is full pauses the upstream (the engine stops reading it); one that takes
          // nothing for the stall timeout is cut off, which cancels the request.
          ...(stream ? { backpressure: () => sse?.whenWritable() } : {}),
          // A non-streamed answer may start again from scratch after a break (the client saw nothing yet).
          ...(stream ? {} : { buffered: true, onRestart: () => (passed = new ChoiceAccumulator()) }),
        },
        abort.signal,
      );
      ctx.telemetry?.admitted(id);
      result = await pending;
      answered = true;
    } finally {
      attemptModel.delete(id);
      cacheState.delete(id);
      abort.release();
    }
    // A non-streamed answer that ran out of time after tokens: the partial text, said to be partial.
    if (result.outcome === 'timeout' && !stream && result.tokens > 0) result = { ...result, degraded: 'partial' };
    const reason = finishReason(result, maxTokens);
    const good = result.outcome === 'ok' || result.outcome === 'degraded' || result.degraded === 'partial';
    const usage = reportedUsage(result, () => promptTokens(ctx, request));
    const x_engine = { ...engineSummary(result), usage: usage.estimated ? 'estimated' : 'upstream' };
    if (sse === undefined && !good) return sendError(reply, outcomeError(result), { x_engine });
    if (!stream) {
      if (result.degraded !== undefined) reply.header('x-degraded', result.degraded);
      if (result.cache !== undefined) reply.header('x-cache', result.cache);
      return reply.code(200).send({
        id,
        object: kind === 'chat' ? 'chat.completion' : 'text_completion',
        created,
        model: b.model,
        choices: wholeChoices(kind, result, reason, passed),
        usage: usage.body,
        ...(result.degraded !== undefined ? { degraded: result.degraded } : {}),
        ...(result.error !== undefined ? { error: result.error } : {}),
        x_engine,
      });
    }
    const out = start();
    if (good && result.degraded !== 'partial') {
      const degraded = result.degraded !== undefined ? { x_degraded: result.degraded } : {};
      const delta = kind === 'chat' ? { delta: {} } : { text: '' };
      out.write(`data: ${JSON.stringify({ ...head, choices: [{ index: 0, ...delta, logprobs: null, finish_reason: reason }], ...degraded, x_engine })}\n\n`);
      if (includeUsage) out.write(`data: ${JSON.stringify({ ...head, choices: [], usage: usage.body })}\n\n`);
      out.write('data: [DONE]\n\n');
    } else {
      // Output was sent, then the request failed: say so in the stream (OpenAI clients raise it) and end without [DONE].
      const e = result.degraded === 'partial' ? new ApiError(502, 'partial_response', `partial: ${result.error?.message ?? 'the upstream failed mid-stream'}`) : outcomeError(result);
      out.write(`data: ${JSON.stringify({ ...e.body(), x_degraded: 'partial', tokens: result.tokens, x_engine })}\n\n`);
    }
    out.end();
    return reply;
  };

  app.post<{ Body: ChatBody }>('/v1/chat/completions', { schema: { body: chatBodySchema } }, (req, reply) => handle('chat', req, reply));
  app.post<{ Body: CompletionBody }>('/v1/completions', { schema: { body: completionBodySchema } }, (req, reply) => handle('completion', req, reply));
}
