/**
 * buildServer(opts): the mock GPU's OpenAI-compatible fastify app. It listens nowhere (sim/main.ts does), so
 * tests drive it with `inject()`. Routes are schema-first; every failure answers in the OpenAI error shape
 * `{ error: { message, type, param, code } }` with the status a provider would use, and a malformed request is
 * always a 4xx naming the field, never a 500.
 */
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { RealClock } from '../src/time/real-clock.js';
import type { Clock } from '../src/time/clock.js';
import { registerControl } from './control.js';
import { handleEmbeddings } from './embeddings-route.js';
import { handleGenerate } from './generate-route.js';
import { badRequest, openAIError, toHttpError } from './http-errors.js';
import { ServerMetrics } from './metrics.js';
import { chatBodySchema, completionBodySchema, embeddingBodySchema, modelQuerySchema, type ModelQuery } from './schemas.js';
import type { ServedModel } from './served-model.js';
import { modelNotFound, sendError, type RouteContext } from './wire.js';

/** Options of {@link buildServer}. */
export interface BuildServerOptions {
  /** The models served, by their `name` (e.g. `primary` and `fallback`); each has its own GPU. */
  readonly models: readonly ServedModel[];
  /** For the `created` field. @default new RealClock() */
  readonly clock?: Clock;
  /** Lets non-loopback clients use /mock/* with `authorization: Bearer <token>`. @default undefined (loopback only) */
  readonly controlToken?: string;
  /** fastify's request logging. @default false */
  readonly logger?: boolean;
  /** Largest request body accepted. @default 8 MiB */
  readonly bodyLimitBytes?: number;
  /** Time to receive a whole request (headers and body); a slower one gets 408 and is closed. 0 disables. @default 30_000 */
  readonly requestTimeoutMs?: number;
  /** Time to receive the request headers (at most `requestTimeoutMs` when that is on). @default 10_000 */
  readonly headersTimeoutMs?: number;
}

/** fastify options that make Node's http server close a request whose headers or body stop arriving. */
function timeoutOptions(opts: BuildServerOptions) {
  const requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
  const headersTimeoutMs = opts.headersTimeoutMs ?? (requestTimeoutMs > 0 ? Math.min(10_000, requestTimeoutMs) : 10_000);
  if (!Number.isInteger(requestTimeoutMs) || requestTimeoutMs < 0) throw new RangeError(`requestTimeoutMs: expected an integer >= 0, got ${String(opts.requestTimeoutMs)}`);
  if (!Number.isInteger(headersTimeoutMs) || headersTimeoutMs < 1 || (requestTimeoutMs > 0 && headersTimeoutMs > requestTimeoutMs)) {
    throw new RangeError(`headersTimeoutMs: expected an integer from 1 to requestTimeoutMs, got ${String(opts.headersTimeoutMs)}`);
  }
  const shortest = requestTimeoutMs > 0 ? Math.min(requestTimeoutMs, headersTimeoutMs) : headersTimeoutMs;
  // Node looks for expired requests every connectionsCheckingInterval (30 s by default): check often enough.
  const connectionsCheckingInterval = Math.max(50, Math.min(1000, Math.floor(shortest / 4)));
  return { requestTimeout: requestTimeoutMs, http: { requestTimeout: requestTimeoutMs, headersTimeout: headersTimeoutMs, connectionsCheckingInterval } };
}

/** Turns an ajv error path (`/messages/0/role`) plus a missing property into `messages[0].role`. */
function paramOf(err: FastifyError): string | null {
  const v = err.validation?.[0];
  if (!v) return null;
  const parts = v.instancePath.split('/').filter((p) => p !== '');
  const missing = (v.params as { missingProperty?: unknown }).missingProperty;
  if (typeof missing === 'string') parts.push(missing);
  let out = '';
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out === '' ? p : `.${p}`;
  return out === '' ? (err.validationContext ?? null) : out;
}

function validationMessage(err: FastifyError, param: string | null): string {
  const v = err.validation?.[0];
  const allowed = (v?.params as { allowedValues?: unknown } | undefined)?.allowedValues;
  const detail = v?.message ?? err.message;
  const extra = Array.isArray(allowed) ? ` (${allowed.join(', ')})` : '';
  return `${param ?? err.validationContext ?? 'request'}: ${detail}${extra}`;
}

/** Builds the app. Closing it detaches its metrics from the models; the models themselves stay the caller's. */
export function buildServer(opts: BuildServerOptions): FastifyInstance {
  if (opts.models.length === 0) throw new RangeError('buildServer: expected at least one model, got none');
  const models = new Map<string, ServedModel>();
  for (const m of opts.models) {
    if (models.has(m.name)) throw new RangeError(`buildServer: expected unique model names, got "${m.name}" twice`);
    models.set(m.name, m);
  }
  const clock = opts.clock ?? new RealClock();
  const wall = (clock as Partial<RealClock>).wallTimeMs?.bind(clock);
  let seq = 0;
  const ctx: RouteContext = {
    models,
    clock,
    nextId: () => `req-${++seq}`,
    created: () => Math.floor((wall ? wall() : clock.now()) / 1000),
  };

  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: opts.bodyLimitBytes ?? 8 * 1024 * 1024,
    ...timeoutOptions(opts),
    // Strict types: `max_tokens: "5"` is a 400, as on the OpenAI API; no silent coercion of the body.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    return503OnClosing: true,
    // A hung or stalled request never ends by itself: closing the app must not wait for it.
    forceCloseConnections: true,
  });

  const metrics = new ServerMetrics(opts.models);
  app.addHook('onClose', async () => metrics.close());

  app.setErrorHandler((err: FastifyError, _req, reply) => {
    if (err.validation) {
      const param = paramOf(err);
      return sendError(reply, badRequest(validationMessage(err, param), param));
    }
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      return reply.code(status).send(openAIError(`${err.message}`, 'invalid_request_error', null, err.code ?? null));
    }
    return sendError(reply, toHttpError(err));
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send(openAIError(`no route for ${req.method} ${req.url.split('?')[0]}`, 'not_found_error', null, 'not_found')),
  );

  app.post('/v1/chat/completions', { schema: { body: chatBodySchema } }, (req, reply) => handleGenerate(ctx, 'chat', req, reply));
  app.post('/v1/completions', { schema: { body: completionBodySchema } }, (req, reply) => handleGenerate(ctx, 'completion', req, reply));
  app.post('/v1/embeddings', { schema: { body: embeddingBodySchema } }, (req, reply) => handleEmbeddings(ctx, req, reply));

  app.get('/v1/models', async () => ({
    object: 'list',
    data: [...models.keys()].map((id) => ({ id, object: 'model', created: ctx.created(), owned_by: 'mock-gpu' })),
  }));

  // 200 when every selected model is ready; 503 (with the states) during cold start or after a crash.
  app.get('/health', { schema: { querystring: modelQuerySchema } }, async (req, reply) => {
    const q = req.query as ModelQuery;
    const selected = q.model === undefined ? [...models.values()] : [models.get(q.model)];
    if (selected[0] === undefined) return sendError(reply, modelNotFound(q.model ?? '', models.keys()));
    const states = Object.fromEntries(selected.map((m) => [m?.name, m?.health().state]));
    const ready = selected.every((m) => m?.health().ready === true);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ok' : 'unavailable', models: states });
  });

  app.get('/metrics', async (_req, reply) => {
    const { contentType, body } = await metrics.text();
    return reply.header('content-type', contentType).send(body);
  });

  registerControl(app, ctx, opts.controlToken);
  return app;
}
