/**
 * The cancellation of one proxied request: its client going away before the answer was complete, or the server
 * shutting down. Both abort the engine call (and through it the upstream call).
 */
import type { FastifyReply } from 'fastify';
import { AbortError } from '../errors.js';
import type { RouteContext } from './route-context.js';

/** The signal to hand the engine, and `release()` to call once the engine call has ended. */
export interface RequestAbort {
  readonly signal: AbortSignal;
  release(): void;
  /** Aborts now (the service ended the response itself, e.g. a reader too slow or gone). */
  abort(why: string): void;
}

export function requestAbort(reply: FastifyReply, ctx: Pick<RouteContext, 'onClosing'>): RequestAbort {
  const ctl = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) ctl.abort(new AbortError(new Error('the client closed the connection')));
  });
  const release = ctx.onClosing(() => ctl.abort(new AbortError(new Error('the server is shutting down'))));
  return { signal: ctl.signal, release, abort: (why) => ctl.abort(new AbortError(new Error(why))) };
}
