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

/** Text merged into one event when catching up a reader from the token log. */
const CATCH_UP_EVENT_CHARS = 16 * 1024;

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
    const sse = new SseWriter(reply.raw, ctx.clock, ctx.sseKeepAliveMs, ctx.sseLimits, ctx.sseStats);
    sse.open(200, { 'x-job-id': id });
    const cycle = job.cycle;
    // Everything sent comes in index order with no gap: `sentThrough` is the last token index sent. A live chunk
    // is written at once only when it follows on and the socket has room; otherwise the pump catches up from the
    // store's token log once the socket drains (merging chunks for a reader that filled its socket, as the mock
    // does for slow readers). A slow reader thus costs a position in the log, not a growing buffer.
    let sentThrough = last !== undefined && last.cycle === cycle ? last.index : -1;
    let pumping = false;
    let waitingDrain = false;
    /** The reader filled its socket at least once: from then on, catch-up events merge chunks. */
    let slow = false;
    let pendingEnd: JobRecord | undefined;
    const writeChunk = (c: { cycle: number; index: number; count: number; text: string }): void => {
      sentThrough = c.index + c.count - 1;
      sse.event({ id: eventId(c), event: 'token', data: JSON.stringify({ index: c.index, count: c.count, text: c.text }) });
    };
    const end = (j: JobRecord): void => {
      if (sse.closed) return;
      sse.event({ event: 'end', data: endData(j) });
      sse.end();
    };
    const fail = (error: unknown): void => {
      req.log.error({ err: error }, 'job events stream failed');
      sse.event({ event: 'error', data: JSON.stringify({ message: 'the job store failed while streaming' }) });
      sse.end();
    };
    /** Sends what the log holds after `sentThrough`, in merged events, until caught up or the socket is full. */
    const pump = async (): Promise<void> => {
      if (pumping || sse.closed) return;
      pumping = true;
      try {
        for (;;) {
          if (sse.closed) return;
          if (sse.full) {
            slow = true;
            if (!waitingDrain) {
              waitingDrain = true;
              sse.onDrain(() => {
                waitingDrain = false;
                void pump();
              });
            }
            return;
          }
          const chunks = (await ctx.store.readTokens(id, sentThrough)).filter((c) => c.cycle === cycle && c.index + c.count - 1 > sentThrough);
          if (chunks.length === 0) break;
          let i = 0;
          while (i < chunks.length && !sse.full && !sse.closed) {
            // A chunk that straddles `sentThrough` (a Last-Event-ID inside it) is sent whole, as before.
            const first = chunks[i] as StoredChunk;
            const index = first.index;
            let text = first.text;
            let count = first.count;
            i++;
            while (slow && i < chunks.length && text.length < CATCH_UP_EVENT_CHARS) {
              const c = chunks[i] as StoredChunk;
              text += c.text;
              count += c.count;
              i++;
            }
            writeChunk({ cycle, index, count, text });
          }
        }
        if (pendingEnd !== undefined) end(pendingEnd);
      } catch (error) {
        fail(error);
      } finally {
        pumping = false;
      }
    };
    const handle = (e: JobStoreEvent): void => {
      if (e.type === 'tokens') {
        const c = e.chunk;
        if (c.cycle !== cycle || c.index + c.count - 1 <= sentThrough) return;
        if (!pumping && !sse.full && c.index === sentThrough + 1) writeChunk(c);
        else void pump();
      } else if (e.job.cycle !== cycle || isTerminal(e.job.status)) {
        // The end goes after every token: through the pump, which first sends what is left in the log.
        pendingEnd ??= e.job;
        void pump();
      }
    };
    // Registered before the first read: an event that lands meanwhile is either in what the pump reads or
    // triggers another pump; nothing is sent twice (`sentThrough`) and nothing is skipped (no gaps are written).
    pumping = true;
    const unwatch = ctx.store.watch(id, handle);
    const offClosing = ctx.onClosing(() => sse.end());
    sse.onClose(() => {
      unwatch();
      offClosing();
    });
    try {
      const now = await ctx.store.get(id);
      pumping = false;
      if (now === undefined) {
        sse.end();
        return;
      }
      if (isTerminal(now.status) || now.cycle !== cycle) pendingEnd ??= now;
      await pump();
    } catch (error) {
      pumping = false;
      fail(error);
    }
  });
}
