/**
 * The HTTP plumbing shared by the routes: Bearer authentication (tenant per request), the error handler that
 * turns every failure into an OpenAI-shaped 4xx (or an honest 5xx for our own bugs), and header parsing that
 * names the header in its 400.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { describe } from '../errors.js';
import { ApiError, badField, retryAfterHeaders, type FieldError } from './api-errors.js';
import type { TenantAuth } from './tenants.js';

const tenants = new WeakMap<FastifyRequest, string>();

/** The authenticated tenant of a request under `/v1/`. */
export function tenantOf(req: FastifyRequest): string {
  const t = tenants.get(req);
  if (t === undefined) throw new ApiError(401, 'missing_api_key', 'authorization: expected "Bearer <api key>", got none');
  return t;
}

/** Sends an ApiError (with Retry-After on 429 and 503 when known); `extra` adds top-level fields (e.g. `x_engine`). */
export function sendError(reply: FastifyReply, e: ApiError, extra?: Readonly<Record<string, unknown>>): FastifyReply {
  if (e.status === 429 || (e.status === 503 && e.details.retryAfterMs !== undefined)) reply.headers(retryAfterHeaders(e.details.retryAfterMs));
  if (e.status === 401) reply.header('www-authenticate', 'Bearer');
  if (e.details.headers !== undefined) reply.headers(e.details.headers);
  return reply.code(e.status).send(extra === undefined ? e.body() : { ...e.body(), ...extra });
}

/** Turns an ajv path (`/messages/0/role`) plus a missing property into `messages[0].role`. */
function fieldOf(instancePath: string, params: Record<string, unknown>, context: string | undefined): string {
  const parts = instancePath.split('/').filter((p) => p !== '');
  if (typeof params['missingProperty'] === 'string') parts.push(params['missingProperty']);
  if (typeof params['additionalProperty'] === 'string') parts.push(params['additionalProperty']);
  let out = '';
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out === '' ? p : `.${p}`;
  return out === '' ? (context ?? 'body') : out;
}

function fieldErrors(err: FastifyError): FieldError[] {
  const seen = new Set<string>();
  const out: FieldError[] = [];
  for (const v of err.validation ?? []) {
    const params = (v.params ?? {}) as Record<string, unknown>;
    const field = fieldOf(v.instancePath, params, err.validationContext);
    if (seen.has(field)) continue; // anyOf reports each branch: the first says enough
    seen.add(field);
    let message: string;
    if (typeof params['additionalProperty'] === 'string') message = `${field}: no such field`;
    else if (typeof params['missingProperty'] === 'string') message = `${field}: expected a value, got none`;
    else {
      const allowed = Array.isArray(params['allowedValues']) ? ` (${(params['allowedValues'] as unknown[]).map((a) => JSON.stringify(a)).join(', ')})` : '';
      const expected = (v.message ?? 'a valid value').replace(/^must (be |match )?/, '');
      message = `${field}: expected ${expected}${allowed}, got ${describe((v as { data?: unknown }).data)}`;
    }
    out.push({ field, message });
  }
  return out;
}

/** Maps any error a route or fastify raises to an answer. Client mistakes are 4xx; only our bugs are 500. */
export function errorHandler(err: FastifyError | ApiError | Error, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (err instanceof ApiError) return sendError(reply, err);
  const fe = err as FastifyError;
  if (fe.validation !== undefined) {
    const fields = fieldErrors(fe);
    const first = fields[0];
    return sendError(reply, new ApiError(400, 'invalid_value', fields.map((f) => f.message).join('; ') || fe.message, { ...(first ? { param: first.field } : {}), fields }));
  }
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  if (status === 413) return sendError(reply, new ApiError(413, 'body_too_large', `body: expected at most the size limit, got more (${fe.message})`, { param: 'body' }));
  if (status >= 400 && status < 500) {
    const code = fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'unsupported_media_type' : fe.code?.startsWith('FST_ERR_CTP') || err instanceof SyntaxError ? 'invalid_body' : 'bad_request';
    return sendError(reply, new ApiError(status, code, `body: ${fe.message}`, { param: 'body' }));
  }
  req.log.error({ err }, 'unhandled error');
  return sendError(reply, new ApiError(500, 'internal_error', 'internal error: the service failed to handle this request'));
}

/** Authenticates every `/v1/` request; 401 without a key or with an unknown one. */
export function installAuth(app: FastifyInstance, auth: TenantAuth): void {
  app.addHook('onRequest', async (req, reply) => {
    if (!req.url.startsWith('/v1/')) return;
    const raw = req.headers.authorization;
    const r = auth.authenticate(typeof raw === 'string' ? raw : undefined);
    if ('tenant' in r) {
      tenants.set(req, r.tenant);
      return;
    }
    const message =
      r.error === 'missing'
        ? 'authorization: expected "Bearer <api key>", got none'
        : r.error === 'malformed'
          ? 'authorization: expected "Bearer <api key>", got another scheme or format'
          : 'authorization: expected a known API key, got an unknown one';
    await sendError(reply, new ApiError(401, r.error === 'unknown' ? 'invalid_api_key' : 'missing_api_key', message, { param: 'authorization' }));
  });
}

/** A single-valued header, or undefined. Repeated headers are a 400. */
export function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  if (Array.isArray(v)) throw badField(name, 'one value', `${v.length} values`);
  return v;
}

/** `Idempotency-Key`: 1 to 255 visible ASCII characters. */
export function idempotencyKey(req: FastifyRequest): string | undefined {
  const v = header(req, 'idempotency-key');
  if (v === undefined) return undefined;
  if (!/^[\x21-\x7e]{1,255}$/.test(v)) throw badField('Idempotency-Key', '1 to 255 visible ASCII characters', describe(v));
  return v;
}

/** An integer header within [min, max]. */
export function intHeader(req: FastifyRequest, name: string, min: number, max: number): number | undefined {
  const v = header(req, name);
  if (v === undefined) return undefined;
  const t = v.trim();
  if (!/^\d{1,9}$/.test(t) || Number(t) < min || Number(t) > max) throw badField(name, `an integer from ${min} to ${max}`, describe(v));
  return Number(t);
}

/** `x-mock-prefix`: `ID=TOKENS,...`, the prompt's leading segments for the mock's prefix cache. */
const PREFIX_PART = /^[A-Za-z0-9_.:/@-]{1,200}=[1-9]\d{0,8}$/;

/** The mock server's per-request controls (`x-mock-output-tokens`, `x-mock-prompt-tokens`, `x-mock-fault`, `x-mock-prefix`). */
export function mockHeaders(
  req: FastifyRequest,
): { outputTokens?: number; promptTokens?: number; fault?: string; prefix?: Array<{ id: string; tokens: number }> } | undefined {
  const outputTokens = intHeader(req, 'x-mock-output-tokens', 0, 1_000_000);
  // At least 1: a prompt of no tokens is meaningless (and the mock GPU never schedules one).
  const promptTokens = intHeader(req, 'x-mock-prompt-tokens', 1, 10_000_000);
  const fault = header(req, 'x-mock-fault');
  if (fault !== undefined && fault.length > 1000) throw badField('x-mock-fault', 'at most 1000 characters', `${fault.length}`);
  const rawPrefix = header(req, 'x-mock-prefix');
  let prefix: Array<{ id: string; tokens: number }> | undefined;
  if (rawPrefix !== undefined && rawPrefix.trim() !== '') {
    const parts = rawPrefix.split(',').map((p) => p.trim());
    const bad = parts.length > 4096 ? `${parts.length} segments` : parts.find((p) => !PREFIX_PART.test(p));
    if (bad !== undefined) throw badField('x-mock-prefix', 'ID=TOKENS[,ID=TOKENS]... (at most 4096)', describe(bad.slice(0, 60)));
    prefix = parts.map((p) => ({ id: p.slice(0, p.lastIndexOf('=')), tokens: Number(p.slice(p.lastIndexOf('=') + 1)) }));
  }
  if (outputTokens === undefined && promptTokens === undefined && fault === undefined && prefix === undefined) return undefined;
  return {
    ...(prefix !== undefined ? { prefix } : {}),
    ...(outputTokens !== undefined ? { outputTokens } : {}),
    ...(promptTokens !== undefined ? { promptTokens } : {}),
    ...(fault !== undefined ? { fault } : {}),
  };
}

/**
 * The per-request controls both OpenAI-compatible proxies read from headers: `x-priority`, `x-request-id`
 * (the upstream request id) and `x-deadline-ms`, each validated with a 400 naming the header.
 */
export function requestControls(req: FastifyRequest): { priority: 'interactive' | 'batch' | undefined; requestId: string | undefined; deadlineMs: number | undefined } {
  const priority = header(req, 'x-priority');
  if (priority !== undefined && priority !== 'interactive' && priority !== 'batch') throw badField('x-priority', '"interactive" or "batch"', JSON.stringify(priority.slice(0, 40)));
  const requestId = header(req, 'x-request-id');
  if (requestId !== undefined && !/^[\x21-\x7e]{1,128}$/.test(requestId)) throw badField('x-request-id', '1 to 128 visible ASCII characters', JSON.stringify(requestId.slice(0, 40)));
  return { priority, requestId, deadlineMs: intHeader(req, 'x-deadline-ms', 1, 86_400_000) };
}

/**
 * Refuses a body declared in a charset other than UTF-8 (415 naming content-type): JSON is UTF-8, and
 * parsing latin-1 or UTF-16 bytes as UTF-8 would silently change the text.
 */
export function installCharsetCheck(app: FastifyInstance): void {
  app.addHook('onRequest', async (req, reply) => {
    const ct = req.headers['content-type'];
    if (typeof ct !== 'string') return;
    const m = /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(ct);
    if (m === null) return;
    const charset = (m[1] ?? '').toLowerCase();
    if (charset === 'utf-8' || charset === 'utf8') return;
    await sendError(reply, new ApiError(415, 'unsupported_media_type', `content-type: expected charset=utf-8 (or none), got charset=${JSON.stringify(charset.slice(0, 40))}`, { param: 'content-type' }));
  });
}
