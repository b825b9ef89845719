/**
 * The jobs API: `POST /v1/jobs` (202, or 200 for an idempotent replay), `GET /v1/jobs/:id`,
 * `DELETE /v1/jobs/:id` (cancels and aborts the upstream call). Another tenant's job is a 404, never a 403:
 * its existence is not revealed.
 */
import type { FastifyInstance } from 'fastify';
import { ApiError, badField, jobNotFound } from './api-errors.js';
import { checkCallbackUrl } from './callbacks.js';
import { idempotencyKey, mockHeaders, sendError, tenantOf } from './http.js';
import type { JobSpec } from '../jobs/job-store.js';
import { jobView } from '../jobs/job-view.js';
import { externalizePayload } from '../jobs/payload-store.js';
import type { RouteContext } from './route-context.js';
import { idParamsSchema, jobBodySchema, toChatMessages, type IdParams, type JobBody } from './schemas.js';

/** Priorities 1–10: this level and above run as `interactive`, below it as `batch`. */
export const PRIORITY_LEVEL_INTERACTIVE_MIN = 6;

/** Largest `metadata`, as JSON. */
export const METADATA_MAX_BYTES = 4096;

/** The queue class of a body's `priority` (a class name, or 1–10), and the level when one was given. */
export function priorityOf(p: JobBody['priority']): { priority: JobSpec['priority']; level?: number } {
  if (p === undefined) return { priority: 'interactive' };
  if (typeof p === 'number') return { priority: p >= PRIORITY_LEVEL_INTERACTIVE_MIN ? 'interactive' : 'batch', level: p };
  return { priority: p };
}

/** The new fields of the job contract: priority 1–10, maxAttempts, metadata, modelHint by deployment name. */
function contractFields(b: JobBody, ctx: RouteContext): Partial<JobSpec> & Pick<JobSpec, 'priority'> {
  const { priority, level } = priorityOf(b.priority);
  const policyMax = ctx.engine.policy.retry.maxAttempts;
  if (b.maxAttempts !== undefined && b.maxAttempts > policyMax) {
    throw badField('maxAttempts', `an integer from 1 to ${policyMax} (the policy's retry.maxAttempts)`, String(b.maxAttempts));
  }
  if (b.metadata !== undefined) {
    const bytes = Buffer.byteLength(JSON.stringify(b.metadata));
    if (bytes > METADATA_MAX_BYTES) throw badField('metadata', `an object of at most ${METADATA_MAX_BYTES} bytes as JSON`, `${bytes} bytes`);
  }
  let route: JobSpec['modelHint'];
  if (b.modelHint !== undefined) {
    route = ctx.deployments.get(b.modelHint);
    if (route === undefined) throw badField('modelHint', `a configured deployment (${[...ctx.deployments.keys()].map((d) => JSON.stringify(d)).join(', ')})`, JSON.stringify(b.modelHint));
  }
  return {
    priority,
    ...(level !== undefined ? { priorityLevel: level } : {}),
    ...(route !== undefined ? { modelHint: route } : {}),
    ...(b.modelHint !== undefined && b.modelHint !== route ? { deployment: b.modelHint } : {}),
    ...(b.maxAttempts !== undefined ? { maxAttempts: b.maxAttempts } : {}),
    ...(b.metadata !== undefined ? { metadata: b.metadata } : {}),
  };
}

/** Builds the stored spec from a validated body; 400 naming the field for what the schema cannot say. */
export function jobSpec(b: JobBody, ctx: RouteContext, mock: JobSpec['mock']): JobSpec {
  if ((b.messages === undefined) === (b.prompt === undefined)) {
    throw badField('messages', 'exactly one of messages or prompt', b.messages === undefined ? 'neither' : 'both');
  }
  if (b.callbackUrl !== undefined) {
    const refusal = checkCallbackUrl(b.callbackUrl, ctx.callbackAllowlist);
    if (refusal !== undefined) throw refusal;
  }
  return {
    model: b.model ?? ctx.defaultModel,
    ...(b.messages !== undefined ? { messages: toChatMessages(b.messages) } : {}),
    ...(b.prompt !== undefined ? { prompt: b.prompt } : {}),
    ...(b.max_tokens !== undefined ? { maxTokens: b.max_tokens } : {}),
    ...contractFields(b, ctx),
    ...(b.batchable !== undefined ? { batchable: b.batchable } : {}),
    ...(b.deadlineMs !== undefined ? { deadlineMs: b.deadlineMs } : {}),
    ...(b.callbackUrl !== undefined ? { callbackUrl: b.callbackUrl } : {}),
    ...(mock !== undefined ? { mock } : {}),
  };
}

export function registerJobRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.post<{ Body: JobBody }>('/v1/jobs', { schema: { body: jobBodySchema } }, async (req, reply) => {
    const tenant = tenantOf(req);
    const key = idempotencyKey(req);
    let spec = jobSpec(req.body, ctx, ctx.forwardMockHeaders ? mockHeaders(req) : undefined);
    if (ctx.payloads !== undefined && ctx.jobs.queue.kind !== 'memory') spec = await externalizePayload(spec, ctx.payloads);
    const r = await ctx.jobs.submit(tenant, spec, key);
    switch (r.kind) {
      case 'created':
        return reply.code(202).header('location', `/v1/jobs/${r.job.id}`).send({ id: r.job.id, object: 'job', status: 'queued' });
      case 'existing':
        return reply.code(200).header('location', `/v1/jobs/${r.job.id}`).header('idempotent-replayed', 'true').send(jobView(r.job, ctx.store.retention));
      case 'conflict':
        throw new ApiError(422, 'idempotency_key_reused', 'Idempotency-Key: expected the same payload as the job it first created, got a different one', {
          param: 'Idempotency-Key',
        });
      case 'shed':
        return sendError(reply, new ApiError(429, 'rate_limit_exceeded', `${r.error.message}`, r.retryAfterMs !== undefined ? { retryAfterMs: r.retryAfterMs } : {}));
    }
  });

  app.get<{ Params: IdParams }>('/v1/jobs/:id', { schema: { params: idParamsSchema } }, async (req) => {
    const job = await ctx.jobs.get(tenantOf(req), req.params.id);
    if (job === undefined) throw jobNotFound(req.params.id);
    return jobView(job, ctx.store.retention);
  });

  app.delete<{ Params: IdParams }>('/v1/jobs/:id', { schema: { params: idParamsSchema } }, async (req) => {
    const r = await ctx.jobs.cancel(tenantOf(req), req.params.id);
    if (r === undefined) throw jobNotFound(req.params.id);
    if (!r.cancelled && r.job.status !== 'cancelled') {
      throw new ApiError(409, 'job_not_cancellable', `job: expected a queued or running job, got status ${r.job.status}`, { param: 'id' });
    }
    return jobView(r.job, ctx.store.retention);
  });
}
