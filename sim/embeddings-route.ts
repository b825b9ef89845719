/**
 * POST /v1/embeddings: one upstream call for all inputs (batchable). `encoding_format: base64` (what the
 * official openai client asks for by default) sends little-endian float32 bytes, as the OpenAI API does.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { embeddingLimitError } from './embedding-limits.js';
import { toHttpError } from './http-errors.js';
import { isHttpErrorReply, parseMockHeaders } from './mock-headers.js';
import { normalizeTextOrTokens, type EmbeddingBody } from './schemas.js';
import { clientAbort, modelNotFound, sendError, type RouteContext } from './wire.js';

function base64Floats(v: readonly number[]): string {
  const f = Float32Array.from(v);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString('base64');
}

export async function handleEmbeddings(ctx: RouteContext, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const body = req.body as EmbeddingBody;
  const model = ctx.models.get(body.model);
  if (!model) return sendError(reply, modelNotFound(body.model, ctx.models.keys()));
  const h = parseMockHeaders(req.headers);
  if (isHttpErrorReply(h)) return sendError(reply, h);
  const id = h.requestId ?? ctx.nextId();
  const items = normalizeTextOrTokens(body.input);
  const tooMuch = embeddingLimitError(items);
  if (tooMuch !== undefined) return sendError(reply, tooMuch);
  const counts = items.map((i) => i.tokens);
  const abort = clientAbort(reply.raw);
  try {
    const result = await model.embed(
      {
        id,
        model: body.model,
        inputs: items.map((i) => i.text),
        ...(counts.every((c) => c !== undefined) ? { inputTokens: counts as number[] } : {}),
        ...(h.apiKey !== undefined ? { apiKey: h.apiKey } : {}),
        ...(h.fault !== undefined ? { fault: h.fault } : {}),
      },
      abort.signal,
    );
    // The OpenAI API has no per-input errors: one failed input fails the call, with that input's error.
    const failed = result.items.find((i) => !i.ok);
    if (failed && !failed.ok) return sendError(reply, toHttpError(failed.error));
    const data = result.items.map((item, index) => {
      const v = item.ok ? (body.dimensions !== undefined ? item.embedding.slice(0, body.dimensions) : item.embedding) : [];
      return { object: 'embedding', index, embedding: body.encoding_format === 'base64' ? base64Floats(v) : v };
    });
    const tokens = result.usage.promptTokens;
    return reply
      .header('x-request-id', id)
      .send({ object: 'list', data, model: body.model, usage: { prompt_tokens: tokens, total_tokens: tokens } });
  } catch (err) {
    if (reply.raw.destroyed) {
      reply.hijack();
      return reply;
    }
    return sendError(reply, toHttpError(err));
  } finally {
    abort.done();
  }
}
