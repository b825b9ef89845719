/**
 * `GET /v1/jobs/:id/events`: the job's tokens as server-sent events, resumable. Each token event has
 * `id: <index of its last token>` (`<cycle>-<index>` after a requeue), so a client that reconnects with
 * `Last-Event-ID` gets exactly the tokens it is missing (replayed from the store's token log), then the live
 * ones, then one terminal `end` event carrying the job's final state.
 */
import type { FastifyInstance } from 'fastify';
import { describe } from '../errors.js';
import { badField, jobNotFound } from './api-errors.js';
import { header, tenantOf } from './http.js';
import { isTerminal, type JobRecord, type JobStoreEvent, type StoredChunk } from '../jobs/job-store.js';
import type { RouteContext } from './route-context.js';
import { idParamsSchema, type IdParams } from './schemas.js';
import { SseWriter } from './sse.js';

/** A parsed `Last-Event-ID`. */
export interface LastEventId {
  readonly cycle: number;
  readonly index: number;
}

/** The event id of a chunk: its last token's index, prefixed by the cycle after the first. */
export function eventId(c: StoredChunk): string {
  const last = c.index + c.count - 1;
  return c.cycle === 1 ? String(last) : `${c.cycle}-${last}`;
}

/** Parses `Last-Event-ID` (`N` or `C-N`); a 400 naming the header otherwise. */
export function parseLastEventId(v: string | undefined): LastEventId | undefined {
  if (v === undefined || v.trim() === '') return undefined;
  const m = /^(?:(\d{1,6})-)?(\d{1,9})$/.exec(v.trim());
  if (m === null) throw badField('Last-Event-ID', 'a token index like "41" (or "2-41" after a requeue)', describe(v));
  return { cycle: m[1] === undefined ? 1 : Number(m[1]), index: Number(m[2]) };
}

/** The terminal event's payload. */
function endData(j: JobRecord): string {
  return JSON.stringify({
    id: j.id,
    status: j.status,
    outcome: j.outcome ?? null,
    degraded: j.degraded ?? null,
    error: j.error ?? null,
    tokens: j.tokens,
    attempts: j.attempts,
    cycle: j.cycle,
  });
}

export function registerJobEvents(app: FastifyInstance, ctx: RouteContext): void {
  app.get<{ Params: IdParams }>('/v1/jobs/:id/events', { schema: { params: idParamsSchema } }, async (req, reply) => {
    const tenant = tenantOf(req);
    const last = parseLastEventId(header(req, 'last-event-id'));
    const { id } = req.params;
    const job = await ctx.jobs.get(tenant, id);
    if (job === undefined) throw jobNotFound(id);

    reply.hijack();
    const sse = new SseWriter(reply.raw, ctx.clock, ctx.sseKeepAliveMs);
    sse.open(200, { 'x-job-id': id });
    const cycle = job.cycle;
    // Replay from the log, then live: events that arrive while replaying wait here, and nothing is sent twice.
    let sentThrough = last !== undefined && last.cycle === cycle ? last.index : -1;
    let live = false;
    const buffered: JobStoreEvent[] = [];
    const send = (c: StoredChunk): void => {
      if (c.cycle !== cycle || c.index + c.count - 1 <= sentThrough) return;
      sentThrough = c.index + c.count - 1;
      sse.event({ id: eventId(c), event: 'token', data: JSON.stringify({ index: c.index, count: c.count, text: c.text }) });
    };
    const end = (j: JobRecord): void => {
      if (sse.closed) return;
      sse.event({ event: 'end', data: endData(j) });
      sse.end();
    };
    const handle = (e: JobStoreEvent): void => {
      if (e.type === 'tokens') send(e.chunk);
      else if (e.job.cycle !== cycle || isTerminal(e.job.status)) end(e.job);
    };
    const unwatch = ctx.store.watch(id, (e) => (live ? handle(e) : buffered.push(e)));
    const offClosing = ctx.onClosing(() => sse.end());
    sse.onClose(() => {
      unwatch();
      offClosing();
    });
    try {
      for (const c of await ctx.store.readTokens(id, sentThrough)) send(c);
      const now = await ctx.store.get(id);
      live = true;
      for (const e of buffered.splice(0)) handle(e);
      if (now === undefined) sse.end();
      else if (isTerminal(now.status) && now.cycle === cycle) end(now);
    } catch (error) {
      req.log.error({ err: error }, 'job events stream failed');
      sse.event({ event: 'error', data: JSON.stringify({ message: 'the job store failed while streaming' }) });
      sse.end();
    }
  });
}
