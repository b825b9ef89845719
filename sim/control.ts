/**
 * The control plane: GET/PUT /mock/faults (the fault plan of one model, or of all), GET/PUT /mock/rate-limits (its
 * provider rate limits; `{}` removes them) and GET /mock/stats (the
 * models' snapshots and this process's event-loop delay, which the benchmark and the harness's
 * self-monitoring read). Allowed from loopback, or anywhere with `authorization: Bearer <controlToken>`.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ValidationError } from '../src/errors.js';
import { badRequest, openAIError, toHttpError } from './http-errors.js';
import { modelQuerySchema, type ModelQuery } from './schemas.js';
import type { ServedModel } from './served-model.js';
import { modelNotFound, sendError } from './wire.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/** True when the request may use the control plane. */
export function controlAllowed(req: FastifyRequest, controlToken: string | undefined): boolean {
  if (controlToken !== undefined && req.headers.authorization === `Bearer ${controlToken}`) return true;
  return LOOPBACK.has(req.socket.remoteAddress ?? '');
}

/** Event-loop delay (lag beyond the monitor's period) of this process, in ms. */
export interface LoopDelayStats {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
  readonly samples: number;
}

/** The monitor's timer period. Node records the time between its ticks, so the lag is that minus this. */
const LOOP_RESOLUTION_MS = 10;

function loopStats(h: IntervalHistogram): LoopDelayStats {
  const ms = (ns: number): number => Math.max(0, Math.round((ns / 1e6 - LOOP_RESOLUTION_MS) * 1000) / 1000);
  return {
    p50Ms: ms(h.percentile(50)),
    p99Ms: ms(h.percentile(99)),
    maxMs: ms(h.max),
    meanMs: Number.isNaN(h.mean) ? 0 : ms(h.mean),
    samples: h.count,
  };
}

/** What the control plane uses of a model: a mock model, or the chaos proxy's fault state (sim/proxy-faults.ts). */
export type ControlledModel = Pick<ServedModel, 'name' | 'setFaults' | 'getFaults' | 'health' | 'metrics'> &
  Partial<Pick<ServedModel, 'getRateLimits' | 'setRateLimits'>>;

/** What the control plane needs of the app: its models, by name. */
export interface ControlContext {
  readonly models: ReadonlyMap<string, ControlledModel>;
}

/** Registers the control routes; the event-loop monitor stops when the app closes. */
export function registerControl(app: FastifyInstance, ctx: ControlContext, controlToken: string | undefined): void {
  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  loop.enable();
  app.addHook('onClose', async () => loop.disable());

  const guard = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!controlAllowed(req, controlToken)) {
      await reply
        .code(403)
        .send(openAIError('the control plane answers loopback clients or `authorization: Bearer <control token>`', 'invalid_request_error', 'authorization', 'forbidden'));
    }
  };

  /** The models a `?model=` selects: that one, or all when absent. */
  const select = (q: ModelQuery, reply: FastifyReply): ControlledModel[] | undefined => {
    if (q.model === undefined) return [...ctx.models.values()];
    const m = ctx.models.get(q.model);
    if (!m) {
      sendError(reply, modelNotFound(q.model, ctx.models.keys()));
      return undefined;
    }
    return [m];
  };

  app.get('/mock/faults', { schema: { querystring: modelQuerySchema }, preHandler: guard }, async (req, reply) => {
    const models = select(req.query as ModelQuery, reply);
    if (!models) return reply;
    return { models: Object.fromEntries(models.map((m) => [m.name, m.getFaults()])) };
  });

  app.put('/mock/faults', { schema: { querystring: modelQuerySchema }, preHandler: guard }, async (req, reply) => {
    const models = select(req.query as ModelQuery, reply);
    if (!models) return reply;
    if (req.body === undefined || req.body === null || typeof req.body !== 'object' || Array.isArray(req.body)) {
      return sendError(reply, badRequest('body: expected a fault plan object', 'body'));
    }
    try {
      // Validate against every selected model first, so a bad plan changes nothing anywhere.
      const previous = models.map((m) => m.getFaults());
      try {
        for (const m of models) m.setFaults(req.body);
      } catch (err) {
        models.forEach((m, i) => m.setFaults(previous[i]));
        throw err;
      }
    } catch (err) {
      if (err instanceof ValidationError) return sendError(reply, badRequest(err.message, err.path, 'invalid_fault_plan'));
      return sendError(reply, toHttpError(err));
    }
    return { models: Object.fromEntries(models.map((m) => [m.name, m.getFaults()])) };
  });

  app.get('/mock/rate-limits', { schema: { querystring: modelQuerySchema }, preHandler: guard }, async (req, reply) => {
    const models = select(req.query as ModelQuery, reply);
    if (!models) return reply;
    return { models: Object.fromEntries(models.map((m) => [m.name, m.getRateLimits?.() ?? {}])) };
  });

  app.put('/mock/rate-limits', { schema: { querystring: modelQuerySchema }, preHandler: guard }, async (req, reply) => {
    const models = select(req.query as ModelQuery, reply);
    if (!models) return reply;
    const fixed = models.find((m) => m.setRateLimits === undefined);
    if (fixed !== undefined) return sendError(reply, badRequest(`${fixed.name}: rate limits cannot be set here (the chaos proxy relays the real model's own limits)`, 'model'));
    if (req.body === undefined || req.body === null || typeof req.body !== 'object' || Array.isArray(req.body)) {
      return sendError(reply, badRequest('body: expected a rate-limits object', 'body'));
    }
    try {
      const previous = models.map((m) => m.getRateLimits?.() ?? {});
      try {
        for (const m of models) m.setRateLimits?.(req.body);
      } catch (err) {
        models.forEach((m, i) => m.setRateLimits?.(previous[i]));
        throw err;
      }
    } catch (err) {
      if (err instanceof ValidationError) return sendError(reply, badRequest(err.message, err.path, 'invalid_rate_limits'));
      return sendError(reply, toHttpError(err));
    }
    return { models: Object.fromEntries(models.map((m) => [m.name, m.getRateLimits?.() ?? {}])) };
  });

  app.get('/mock/stats', { schema: { querystring: modelQuerySchema }, preHandler: guard }, async (req) => {
    const q = req.query as ModelQuery;
    const stats = {
      eventLoopDelay: loopStats(loop),
      models: Object.fromEntries([...ctx.models.values()].map((m) => [m.name, { ...m.metrics(), health: m.health() }])),
    };
    if (q.reset === '1' || q.reset === 'true') loop.reset();
    return stats;
  });
}
