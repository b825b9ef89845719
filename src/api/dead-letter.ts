/**
 * The dead-letter list: jobs that ended `failed` (their attempts used up, or shed after acceptance). A requeue
 * starts a new attempt cycle on the same job id.
 */
import type { FastifyInstance } from 'fastify';
import { ApiError, jobNotFound } from './api-errors.js';
import { sendError, tenantOf } from './http.js';
import { jobView } from '../jobs/job-view.js';
import type { RouteContext } from './route-context.js';
import { deadLetterQuerySchema, idParamsSchema, type DeadLetterQuery, type IdParams } from './schemas.js';

export function registerDeadLetter(app: FastifyInstance, ctx: RouteContext): void {
  app.get<{ Querystring: DeadLetterQuery }>('/v1/dead-letter', { schema: { querystring: deadLetterQuerySchema } }, async (req) => {
    const limit = req.query.limit === undefined ? 1000 : Math.min(10_000, Number(req.query.limit));
    const jobs = await ctx.jobs.deadLetter(tenantOf(req), limit);
    return { object: 'list', data: jobs.map((j) => jobView(j, ctx.store.retention)) };
  });

  app.post<{ Params: IdParams }>('/v1/dead-letter/:id/requeue', { schema: { params: idParamsSchema } }, async (req, reply) => {
    const r = await ctx.jobs.requeue(tenantOf(req), req.params.id);
    if (r === undefined) throw jobNotFound(req.params.id);
    if (r.kind === 'not-dead-letter') {
      throw new ApiError(409, 'job_not_dead_lettered', `job: expected a dead-lettered job, got status ${r.job.status}`, { param: 'id' });
    }
    if (r.kind === 'shed') return sendError(reply, new ApiError(429, 'rate_limit_exceeded', r.error.message, r.retryAfterMs !== undefined ? { retryAfterMs: r.retryAfterMs } : {}));
    return reply.code(202).send(jobView(r.job, ctx.store.retention));
  });
}
