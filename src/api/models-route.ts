/**
 * `GET /v1/models`: what a client may ask for, so `client.models.list()` works through the engine: the primary
 * upstream's models, then the fallback's (each id once), as the upstreams list them. An upstream that cannot be
 * asked (no list, or it fails) is named in `x_engine.unavailable`; only when neither answers is it a 502.
 */
import type { FastifyInstance } from 'fastify';
import type { ModelClient } from '../upstream/model-client.js';
import { ApiError } from './api-errors.js';
import { requestAbort } from './request-abort.js';
import type { RouteContext } from './route-context.js';

type ModelEntry = Readonly<Record<string, unknown>> & { readonly id: string };

export function registerModels(app: FastifyInstance, ctx: RouteContext, upstream: { readonly primary: ModelClient; readonly fallback?: ModelClient } | undefined): void {
  app.get('/v1/models', async (_req, reply) => {
    const abort = requestAbort(reply, ctx);
    const sources = [
      { name: 'primary', client: upstream?.primary },
      ...(upstream?.fallback !== undefined ? [{ name: 'fallback', client: upstream.fallback }] : []),
    ];
    let lists: Array<PromiseSettledResult<readonly ModelEntry[] | undefined>>;
    try {
      lists = await Promise.allSettled(sources.map(async (s) => s.client?.listModels?.({ signal: abort.signal })));
    } finally {
      abort.release();
    }
    const data: ModelEntry[] = [];
    const seen = new Set<string>();
    const unavailable: string[] = [];
    lists.forEach((r, i) => {
      const entries = r.status === 'fulfilled' ? r.value : undefined;
      if (entries === undefined) {
        unavailable.push(sources[i]?.name ?? 'primary');
        return;
      }
      for (const m of entries) {
        if (seen.has(m.id)) continue;
        seen.add(m.id);
        data.push(m);
      }
    });
    if (data.length === 0 && unavailable.length === sources.length) {
      // Nobody could be asked: the model jobs use by default is still one a client may name.
      const why = lists.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (why !== undefined) throw new ApiError(502, 'upstream_error', `the upstreams could not list their models: ${why.reason instanceof Error ? why.reason.message : String(why.reason)}`);
      data.push({ id: ctx.defaultModel, object: 'model', created: 0, owned_by: 'engine' });
    }
    return { object: 'list', data, ...(unavailable.length > 0 ? { x_engine: { unavailable } } : {}) };
  });
}
