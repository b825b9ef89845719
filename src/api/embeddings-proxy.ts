/**
 * `POST /v1/embeddings`: an OpenAI-compatible embeddings endpoint through the engine. Requests are `batchable`,
 * so when the policy enables batching the engine's batcher merges concurrent calls into one upstream `embed`
 * and splits the vectors back. Outcomes map to HTTP as everywhere else (outcome-http.ts): shed is a 429 with
 * Retry-After, failures an OpenAI-shaped 5xx (or the upstream's 400), a fallback answer a 200 that says so.
 * `encoding_format: base64` (the official openai client's default) returns little-endian float32 bytes, as the
 * OpenAI API does.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { EngineResult } from '../engine/engine-types.js';
import { describe } from '../errors.js';
import { estimateTokens, splitProportionally } from '../upstream/http-embeddings.js';
import { ApiError, badField } from './api-errors.js';
import { engineSummary } from './engine-summary.js';
import { header, idempotencyKey, mockHeaders, requestControls, sendError, tenantOf } from './http.js';
import { outcomeError } from './outcome-http.js';
import { requestAbort } from './request-abort.js';
import type { RouteContext } from './route-context.js';

const text = { type: 'string', minLength: 1, maxLength: 1_000_000 } as const;
const texts = { type: 'array', minItems: 1, maxItems: 2048, items: text } as const;

/**
 * `POST /v1/embeddings` body: the fields used here; others (`user`, ...) are accepted and ignored, as OpenAI
 * clients send them. `input` is one string or 1 to 2048 strings (OpenAI's limit), none empty. Token-id arrays
 * are not accepted: the engine's upstream contract carries text.
 */
export const embeddingsBodySchema = {
  type: 'object',
  required: ['model', 'input'],
  properties: {
    model: { type: 'string', minLength: 1, maxLength: 256 },
    // if/then/else rather than anyOf: only the branch that applies reports, so a bad item is `input[3]`, an
    // empty list is `input`, and no "expected string" is reported for a list (ajv's strict mode refuses unions).
    input: { if: { type: 'string' }, then: text, else: texts },
    // Not anyOf with null: its first branch would be the error ("expected null").
    encoding_format: { enum: ['float', 'base64', null] },
    dimensions: { type: ['integer', 'null'], minimum: 1, maximum: 65_536 },
  },
} as const;

/** A body admitted by {@link embeddingsBodySchema}. */
export interface EmbeddingsBody {
  model: string;
  input: string | string[];
  encoding_format?: 'float' | 'base64' | null;
  dimensions?: number | null;
}

/** Little-endian float32 bytes in base64, whatever the platform's byte order. */
export function base64Float32(v: readonly number[]): string {
  const buf = Buffer.allocUnsafe(v.length * 4);
  v.forEach((x, i) => buf.writeFloatLE(x, i * 4));
  return buf.toString('base64');
}

/** The first `dimensions` components, rescaled to unit length (what OpenAI's `dimensions` returns). */
export function shorten(v: readonly number[], dimensions: number): number[] {
  const head = v.slice(0, dimensions);
  const norm = Math.sqrt(head.reduce((a, x) => a + x * x, 0));
  return norm > 0 ? head.map((x) => x / norm) : head;
}

/**
 * Per-input token counts from `x-mock-prompt-tokens` (the whole request's tokens, as the load driver sends it):
 * split in proportion to the text, at least 1 each (the mock rejects an input of no tokens).
 */
function splitPromptTokens(total: number, inputs: readonly string[]): number[] {
  if (total < inputs.length) throw badField('x-mock-prompt-tokens', `at least 1 per input (${inputs.length})`, String(total));
  return splitProportionally(total - inputs.length, inputs.map(estimateTokens)).map((n) => n + 1);
}

/** The request controls shared with the chat proxy, parsed with a 400 naming the header. */
function controls(req: FastifyRequest) {
  const { priority, requestId, deadlineMs } = requestControls(req);
  const batchable = header(req, 'x-batchable')?.trim().toLowerCase();
  if (batchable !== undefined && batchable !== 'true' && batchable !== 'false') throw badField('x-batchable', '"true" or "false"', describe(batchable));
  return {
    priority,
    requestId,
    deadlineMs,
    key: idempotencyKey(req),
    // Batchable unless the client opts out: embeddings are the batch-friendly call.
    batchable: batchable !== 'false',
  };
}

/** The outcome's error, naming `input` where the generic mapping names chat `messages`. */
function embeddingError(r: EngineResult): ApiError {
  const e = outcomeError(r);
  return e.details.param === 'messages' ? new ApiError(e.status, e.code, e.message, { ...e.details, param: 'input' }) : e;
}

/** Registers `POST /v1/embeddings` (authenticated by the app's `/v1/` hook, like the other routes). */
export function registerEmbeddings(app: FastifyInstance, ctx: RouteContext): void {
  const ids = ctx.random.derive('api/embedding-ids');
  let seq = 0;
  const newId = (): string => `emb-${ids.int(0, 0xffffffff).toString(16).padStart(8, '0')}${(++seq).toString(36)}`;

  app.post<{ Body: EmbeddingsBody }>('/v1/embeddings', { schema: { body: embeddingsBodySchema } }, async (req, reply) => {
    const tenant = tenantOf(req);
    const b = req.body;
    const c = controls(req);
    const mock = ctx.forwardMockHeaders ? mockHeaders(req) : undefined;
    const inputs = typeof b.input === 'string' ? [b.input] : b.input;
    const inputTokens = mock?.promptTokens !== undefined ? splitPromptTokens(mock.promptTokens, inputs) : undefined;
    const id = newId();
    // The client going away aborts the upstream call (or leaves the open batch).
    const abort = requestAbort(reply, ctx);

    ctx.telemetry?.begin(id, { attributes: { tenant, 'request.priority': c.priority ?? 'interactive', 'request.api': 'embeddings', 'request.stream': false } });
    let result: EngineResult;
    try {
      const pending = ctx.engine.submit(
        {
          id,
          tenant,
          kind: 'embedding',
          // A per-request fault is for one upstream call; a batch is shared (and the batcher drops faults), so
          // a request that carries one goes alone.
          batchable: c.batchable && mock?.fault === undefined,
          ...(c.priority !== undefined ? { priority: c.priority } : {}),
          // Namespaced: the same key on a chat call must not join (or be served) this request.
          ...(c.key !== undefined ? { idempotencyKey: `${tenant}\u0000embeddings\u0000${c.key}` } : {}),
          ...(c.deadlineMs !== undefined ? { deadlineMs: c.deadlineMs } : {}),
          embedding: {
            id: c.requestId ?? id,
            model: b.model,
            inputs,
            ...(inputTokens !== undefined ? { inputTokens } : {}),
            ...(mock?.fault !== undefined ? { fault: mock.fault } : {}),
          },
        },
        abort.signal,
      );
      ctx.telemetry?.admitted(id);
      result = await pending;
    } finally {
      abort.release();
    }
    const x_engine = engineSummary(result);
    if (result.outcome !== 'ok' && result.outcome !== 'degraded') return sendError(reply, embeddingError(result), { x_engine });
    const vectors = result.embeddings ?? [];
    if (vectors.length !== inputs.length) {
      return sendError(reply, new ApiError(502, 'upstream_error', `the upstream answered ${vectors.length} embeddings for ${inputs.length} inputs`));
    }
    const dims = b.dimensions ?? undefined;
    const size = vectors.reduce((n, v) => Math.min(n, v.length), Infinity);
    if (dims !== undefined && dims > size) throw badField('dimensions', `at most the model's ${size}`, String(dims));
    const data = vectors.map((v, index) => {
      const out = dims !== undefined ? shorten(v, dims) : v;
      return { object: 'embedding', index, embedding: b.encoding_format === 'base64' ? base64Float32(out) : out };
    });
    const tokens = (inputTokens ?? inputs.map(estimateTokens)).reduce((a, n) => a + n, 0);
    reply.header('x-request-id', id);
    if (result.degraded !== undefined) reply.header('x-degraded', result.degraded);
    return reply.code(200).send({
      object: 'list',
      data,
      model: b.model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
      ...(result.degraded !== undefined ? { degraded: result.degraded } : {}),
      x_engine,
    });
  });
}
