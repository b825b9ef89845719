/**
 * POST /v1/chat/completions and POST /v1/completions: parse, admit through the model (admission errors become
 * OpenAI errors with the right status and headers), then stream SSE (sim/stream-response.ts) or answer once. A
 * `disconnect` event from the core is played out on the wire in its form (reset, clean-close, error-event,
 * truncated-chunk); a stall is a stream that goes quiet, a hang a request never answered; both end when the
 * client leaves, which aborts the generation so its GPU slot is freed.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ChatMessage } from '../src/upstream/model-client.js';
import { toHttpError } from './http-errors.js';
import { isHttpErrorReply, parseMockHeaders, type MockHeaders } from './mock-headers.js';
import { contentText, normalizeTextOrTokens, type ChatBody, type ChatMessageBody, type CompletionBody } from './schemas.js';
import { ChunkWriter, usageBody, type StreamKind } from './sse.js';
import { streamResponse } from './stream-response.js';
import { forcedTool, wholeToolCall } from './tool-calls.js';
import type { DisconnectForm, GenerateRequest, Generation } from './types.js';
import { ClientAbort, modelNotFound, resetConnection, sendError, type RouteContext } from './wire.js';
import { breakJson } from './wire-breaks.js';

const ROLE_MAP: Record<ChatMessageBody['role'], ChatMessage['role']> = {
  system: 'system',
  developer: 'system',
  user: 'user',
  assistant: 'assistant',
  tool: 'tool',
  function: 'tool',
};

/** One choice's outcome after its events ran out. */
interface ChoiceResult {
  text: string;
  tokens: number;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  finishReason: 'stop' | 'length' | null;
  disconnect?: { form: DisconnectForm; tokensSent: number };
}

type MutableRequest = { -readonly [K in keyof GenerateRequest]: GenerateRequest[K] };

/**
 * The generation request of one prompt. Every field is set, in one order (absent ones as undefined), so all
 * requests share one object shape and the model's admission code stays monomorphic whichever headers were sent.
 */
function generateRequest(id: string, model: string, kind: StreamKind, h: MockHeaders, maxTokens: number | undefined, promptTokens: number | undefined): MutableRequest {
  return {
    id,
    model,
    kind,
    messages: undefined,
    prompt: undefined,
    promptTokens,
    maxTokens,
    outputTokens: h.outputTokens,
    resumeFrom: h.resumeFrom,
    resumeText: undefined,
    apiKey: h.apiKey,
    fault: h.fault,
    prefix: h.prefix,
  };
}

/** The generation requests of one HTTP request: one for chat, one per prompt for completions. */
function toGenerateRequests(kind: StreamKind, body: ChatBody | CompletionBody, id: string, h: MockHeaders): GenerateRequest[] {
  if (kind === 'chat') {
    const b = body as ChatBody;
    const messages: ChatMessage[] = [];
    for (const m of b.messages) messages.push({ role: ROLE_MAP[m.role], content: contentText(m.content) });
    const r = generateRequest(id, b.model, kind, h, b.max_completion_tokens ?? b.max_tokens ?? undefined, h.promptTokens);
    // The standard continuation (vLLM's `continue_final_message`): the final assistant message is the prefix.
    if (b.continue_final_message === true && messages.length > 1 && messages[messages.length - 1]?.role === 'assistant') {
      r.resumeText = messages.pop()?.content;
    }
    r.messages = messages;
    return [r];
  }
  const b = body as CompletionBody;
  const prompts = normalizeTextOrTokens(b.prompt);
  return prompts.map((p, i) => {
    const r = generateRequest(prompts.length === 1 ? id : `${id}-${i}`, b.model, kind, h, b.max_tokens ?? undefined, h.promptTokens ?? p.tokens);
    r.prompt = p.text;
    return r;
  });
}

/**
 * Handles one chat or completion request. A request refused at admission (the 429 fast path) is answered
 * synchronously, without a promise or an AbortController; admitted ones continue asynchronously.
 */
export function handleGenerate(ctx: RouteContext, kind: StreamKind, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> | undefined {
  const body = req.body as ChatBody | CompletionBody;
  const model = ctx.models.get(body.model);
  if (!model) {
    sendError(reply, modelNotFound(body.model, ctx.models.keys()));
    return undefined;
  }
  const h = parseMockHeaders(req.headers);
  if (isHttpErrorReply(h)) {
    sendError(reply, h);
    return undefined;
  }
  const id = h.requestId ?? ctx.nextId();
  const requests = toGenerateRequests(kind, body, id, h);
  const abort = new ClientAbort(reply.raw);
  if (requests.length > 1) {
    return Promise.all(requests.map((r) => model.generate(r, abort.signal))).then(
      (gens) => respond(ctx, kind, body, id, gens, reply, abort),
      (err: unknown) => {
        abort.abort(); // frees the prompts of a batch admitted before one was refused
        return refuse(err, id, reply, abort);
      },
    );
  }
  let started: Generation | Promise<Generation>;
  try {
    started = model.start(requests[0] as GenerateRequest, abort);
  } catch (err) {
    refuse(err, id, reply, abort);
    return undefined;
  }
  if (started instanceof Promise) {
    return started.then(
      (gen) => respond(ctx, kind, body, id, [gen], reply, abort),
      (err: unknown) => refuse(err, id, reply, abort),
    );
  }
  return respond(ctx, kind, body, id, [started], reply, abort);
}

/** Answers a request refused at admission with its error (status, provider headers, the request id). */
function refuse(err: unknown, id: string, reply: FastifyReply, abort: ClientAbort): FastifyReply {
  abort.done();
  if (reply.raw.destroyed || reply.raw.writableFinished) {
    reply.hijack();
    return reply;
  }
  const e = toHttpError(err);
  if (e.kind === 'reset') return sendError(reply, e);
  e.headers['x-request-id'] = id;
  return sendError(reply, e);
}

async function respond(
  ctx: RouteContext,
  kind: StreamKind,
  body: ChatBody | CompletionBody,
  id: string,
  gens: Generation[],
  reply: FastifyReply,
  abort: ClientAbort,
): Promise<FastifyReply> {
  const headers: Record<string, string> = { 'x-request-id': id };
  for (const g of gens) Object.assign(headers, g.headers);
  const responseId = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${id}`;
  const tool = kind === 'chat' ? forcedTool(body as ChatBody) : undefined;
  const writer = new ChunkWriter(kind, responseId, body.model, ctx.created(), tool);
  reply.hijack();
  let clean = false;
  try {
    clean =
      body.stream === true
        ? await streamResponse(reply.raw, writer, gens, headers, body.stream_options?.include_usage === true, abort.signal)
        : await jsonResponse(reply.raw, writer, gens, headers, abort.signal);
  } finally {
    if (!clean) abort.abort(); // stops sibling choices after a disconnect or an error
    abort.done();
  }
  return reply;
}

/** Drains one generation, calling `onTokens` per chunk; stops at `done`, a disconnect, or an abort. */
async function runChoice(
  gen: Generation,
  signal: AbortSignal,
  onTokens: (text: string, index: number, count: number) => void | Promise<void>,
): Promise<ChoiceResult> {
  const r: ChoiceResult = { text: '', tokens: 0, promptTokens: 0, completionTokens: 0, cachedTokens: 0, finishReason: null };
  // A plain flag: reading `signal.aborted` per token costs more than the rest of the bookkeeping.
  let aborted = signal.aborted;
  const onAbort = (): void => {
    aborted = true;
  };
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const ev of gen.events) {
      if (aborted) break;
      if (ev.type === 'tokens') {
        r.tokens += ev.count;
        const p = onTokens(ev.text, ev.index, ev.count);
        if (p !== undefined) await p;
      } else if (ev.type === 'done') {
        r.promptTokens = ev.promptTokens;
        r.completionTokens = ev.completionTokens;
        r.cachedTokens = ev.cachedTokens;
        r.finishReason = ev.finishReason;
        break;
      } else {
        r.disconnect = { form: ev.form, tokensSent: ev.tokensSent };
        break;
      }
    }
  } catch (err) {
    if (!signal.aborted) throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  return r;
}

async function jsonResponse(
  res: ServerResponse,
  writer: ChunkWriter,
  gens: Generation[],
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<boolean> {
  let results: ChoiceResult[];
  try {
    results = await Promise.all(
      gens.map(async (g) => {
        let text = '';
        const r = await runChoice(g, signal, (t) => {
          text += t;
        });
        r.text = text;
        return r;
      }),
    );
  } catch (err) {
    const e = toHttpError(err);
    if (e.kind === 'reset') resetConnection(res);
    else {
      res.writeHead(e.status, { 'content-type': 'application/json; charset=utf-8', ...e.headers });
      res.end(JSON.stringify(e.body));
    }
    return false;
  }
  if (res.destroyed || signal.aborted) return false;
  let prompt = 0;
  let completion = 0;
  let cached = 0;
  for (const r of results) {
    prompt += r.promptTokens;
    completion += r.completionTokens;
    cached += r.cachedTokens;
  }
  const broken = results.find((r) => r.disconnect)?.disconnect;
  const object = writer.kind === 'chat' ? 'chat.completion' : 'text_completion';
  const body = JSON.stringify({
    id: writer.responseId,
    object,
    created: writer.created,
    model: writer.model,
    choices: results.map((r, index) =>
      writer.tool !== undefined
        ? { index, message: { role: 'assistant', content: null, tool_calls: [wholeToolCall(writer.tool, writer.responseId, r.text)] }, logprobs: null, finish_reason: 'tool_calls' }
        : writer.kind === 'chat'
        ? { index, message: { role: 'assistant', content: r.text }, logprobs: null, finish_reason: r.finishReason }
        : { index, text: r.text, logprobs: null, finish_reason: r.finishReason },
    ),
    usage: usageBody(prompt, completion, cached),
  });
  if (!broken) {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), ...headers });
    res.end(body);
    return true;
  }
  // A disconnect in a non-streamed answer: the same four forms, applied to the one JSON body.
  breakJson(res, broken.form, body, headers, broken.tokensSent);
  return false;
}
