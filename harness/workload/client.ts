/**
 * A client with a timeout that resends (the workload spec's `client`): every request a session sends carries the
 * client's timeout; when the runner reports that it timed out before any token arrived, the client sends it again
 * at once, as a new request (`<id>/r1`, `<id>/r2`, ...; the same content and idempotency key), up to `resends`
 * times. What the server already computed for the abandoned request is wasted, and the resend queues again behind
 * the backlog that made it time out: load multiplies exactly when there is least room for it, which is how a brief
 * slowdown turns into a retry storm that outlives it.
 */
import type { Session, SessionContext } from './types.js';

/** The client's timeout and resends, as the workload spec gives them. */
export interface ClientPatience {
  readonly timeoutMs: number;
  /** @default 0 */
  readonly resends?: number;
}

/** The session played by a client with this timeout and these resends. */
export function withClientPatience(session: Session, client: ClientPatience): Session {
  const resends = client.resends ?? 0;
  return {
    ...session,
    run: (ctx: SessionContext) =>
      session.run({
        now: () => ctx.now(),
        sleep: (ms) => ctx.sleep(ms),
        send: async (req, intendedStartMs) => {
          let reply = await ctx.send({ ...req, clientTimeoutMs: client.timeoutMs }, intendedStartMs);
          for (let n = 1; n <= resends && reply.clientTimedOut === true; n++) {
            reply = await ctx.send({ ...req, id: `${req.id}/r${n}`, clientTimeoutMs: client.timeoutMs }, ctx.now());
          }
          return reply;
        },
      }),
  };
}
