/**
 * Closed-loop users (k6's constant and ramping VUs, GuideLLM's concurrent profile, `vllm bench --max-concurrency`
 * with sessions instead of single requests): N users, started evenly over a ramp, each playing sessions from the
 * mix back to back with a think time between them, until the arrival window closes.
 *
 * A user's k-th session is drawn from its own stream, `users/<user>/<k>` (mix entry, tenant, the session's draws,
 * the think time after it), so what a user plays does not depend on how fast the system answered; only when it
 * plays it does. Session ids are `u<user>-s<k>` (user zero-padded).
 */
import { HarnessError } from '../../src/errors.js';
import type { Random } from '../../src/random.js';
import { sample } from './dist.js';
import { agentSession } from './session-agent.js';
import { multiTurnSession } from './session-multi-turn.js';
import { singleSession, type SessionSeat } from './session-single.js';
import { sleepUntil } from './session-common.js';
import { userStartMs, type ArrivalSpec } from './arrivals.js';
import type { MixEntry, SyntheticWorkload } from './spec.js';
import type { Session, SessionContext, SessionSummary } from './types.js';

/** Pause after a session whose every request failed, unless the spec says otherwise. */
export const DEFAULT_FAILURE_PAUSE_MS = 1000;

/** Most sessions one user may play in a run: a guard against a loop that never lets time pass. */
export const MAX_SESSIONS_PER_USER = 1_000_000;

/** Thrown when a user plays more than {@link MAX_SESSIONS_PER_USER} sessions (sessions that take no time). */
export class UserLoopError extends HarnessError {
  constructor(user: string) {
    super('USER_LOOP', `closed-loop user ${user}: expected sessions that take time, got ${MAX_SESSIONS_PER_USER} sessions (check thinkTimeMs)`);
  }
}

/** The closed-loop arrival spec. */
export type UsersArrivals = Extract<ArrivalSpec, { kind: 'users' }>;

/**
 * The users of a closed-loop workload (`arrivals.kind === 'users'`), as sessions of kind `user`, in user order;
 * `durationMs` is the arrival window. Users whose start falls after it are left out.
 */
export function userSessions(spec: SyntheticWorkload & { arrivals: UsersArrivals }, random: Random, durationMs: number): Session[] {
  const count = spec.arrivals.users;
  const rampUpMs = spec.arrivals.rampUpMs ?? 0;
  const think = spec.arrivals.thinkTimeMs ?? { kind: 'constant' as const, value: 0 };
  const weights = spec.mix.map((e) => e.weight);
  const tenants: ReadonlyArray<{ name: string; weight: number; systemPromptTokens?: number }> = spec.tenants ?? [{ name: 'default', weight: 1 }];
  const tenantWeights = tenants.map((t) => t.weight);
  const pad = String(Math.max(0, count - 1)).length;
  const streams = random.derive('users');
  const out: Session[] = [];
  for (let u = 0; u < count; u++) {
    const id = `u${String(u).padStart(pad, '0')}`;
    const perUser = streams.derive(String(u));
    const startAtMs = userStartMs(u, count, rampUpMs);
    if (startAtMs >= durationMs) break;
    const session = (k: number, at: number): Session => {
      const r = perUser.derive(String(k));
      const entry = spec.mix[r.derive('mix').weightedIndex(weights)] as MixEntry;
      const drawnTenant = (tenants[r.derive('tenant').weightedIndex(tenantWeights)] as { name: string }).name;
      const tenant = entry.tenant ?? drawnTenant;
      const systemPromptTokens = tenants.find((t) => t.name === tenant)?.systemPromptTokens;
      const seat: SessionSeat = { id: `${id}-s${k}`, startAtMs: at, tenant, ...(systemPromptTokens !== undefined ? { tenantSystemTokens: systemPromptTokens } : {}) };
      const sr = r.derive('session');
      return entry.kind === 'single' ? singleSession(entry, seat, sr) : entry.kind === 'multi-turn' ? multiTurnSession(entry, seat, sr) : agentSession(entry, seat, sr);
    };
    const thinkTimeMs = (k: number): number => Math.max(0, sample(think, perUser.derive(String(k)).derive('think')));
    out.push(userSession(id, startAtMs, durationMs, session, thinkTimeMs, spec.arrivals.failurePauseMs ?? DEFAULT_FAILURE_PAUSE_MS));
  }
  return out;
}

function userSession(
  id: string,
  startAtMs: number,
  untilMs: number,
  session: (k: number, at: number) => Session,
  thinkTimeMs: (k: number) => number,
  failurePauseMs: number,
): Session {
  const first = session(0, startAtMs);
  return {
    id,
    kind: 'user',
    class: 'user',
    tenant: first.tenant,
    startAtMs,
    plan: { kind: 'user', user: Number(id.slice(1)), session, thinkTimeMs, failurePauseMs, untilMs },
    async run(ctx: SessionContext): Promise<SessionSummary> {
      let sent = 0;
      let failed = 0;
      let degraded = false;
      let at = startAtMs;
      for (let k = 0; at < untilMs && ctx.signal?.aborted !== true; k++) {
        if (k >= MAX_SESSIONS_PER_USER) throw new UserLoopError(id);
        const s = k === 0 ? first : session(k, at);
        await sleepUntil(ctx, at);
        ctx.sessionStarted?.();
        const r = await s.run(ctx);
        ctx.sessionEnded?.();
        sent += r.sent;
        failed += r.failed;
        degraded ||= r.degraded;
        // The next session is due a think time after this one ended (the user's next intended start); after a
        // session whose every request failed, at least the failure pause: a user tries again after a moment, and
        // a loop of requests refused at once (a crashed server, a full queue) would never let virtual time move.
        const think = thinkTimeMs(k);
        at = ctx.now() + (r.sent > 0 && r.failed === r.sent ? Math.max(think, failurePauseMs) : think);
      }
      return { sent, failed, degraded, abandoned: false };
    },
  };
}
