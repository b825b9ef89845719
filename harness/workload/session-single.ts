/** A session of one request: open-loop chat, long generations, batch jobs, and repeats of those. */
import type { Random } from '../../src/random.js';
import { sampleInt } from './dist.js';
import { SYSTEM_MESSAGE, sendSafely, sleepUntil, tenantSystem, userMessage } from './session-common.js';
import type { MixEntry } from './spec.js';
import { pooledRequest } from './prompt-pool.js';
import type { PlannedRequest, Session, SessionContext, SessionSummary } from './types.js';

type SingleEntry = Extract<MixEntry, { kind: 'single' }>;

/** Where a session starts and whom it belongs to. */
export interface SessionSeat {
  readonly id: string;
  readonly startAtMs: number;
  readonly tenant: string;
  /** Tokens of the tenant's shared system prompt, counted into every chat prompt. @default 0 */
  readonly tenantSystemTokens?: number;
}

/** Draws a single-request session of class `entry` (prompt, then output length, from `random`). */
export function singleSession(entry: SingleEntry, seat: SessionSeat, random: Random): Session {
  const own = sampleInt(entry.promptTokens, random, 1);
  const outputTokens = sampleInt(entry.outputTokens, random, 1);
  const priority = entry.priority ?? 'interactive';
  const system = tenantSystem(seat.tenant, seat.tenantSystemTokens);
  const promptTokens = own + (seat.tenantSystemTokens ?? 0);
  const request: PlannedRequest = {
    id: `${seat.id}/t0`,
    class: entry.name,
    kind: 'chat',
    tenant: seat.tenant,
    priority,
    idempotencyKey: `idem-${seat.id}`,
    promptTokens,
    // The prompt's own text is named by the session, so a repeat of it (same content) is the same prefix.
    prefix: [...system, { id: `${seat.id}/p`, tokens: own }],
    outputTokens,
    messages: [SYSTEM_MESSAGE, userMessage(seat.id, 't0', promptTokens)],
    batchable: entry.batchable ?? priority === 'batch',
    ...(entry.deadlineMs !== undefined ? { deadlineMs: entry.deadlineMs } : {}),
    ...(entry.temperature !== undefined ? { temperature: entry.temperature } : {}),
  };
  return oneShot(seat, entry.name, request);
}

/** A single-request session that asks pool prompt `rank` of class `entry` (see harness/workload/prompt-pool.ts). */
export function pooledSession(entry: SingleEntry, seat: SessionSeat, rank: number, promptRandom: Random): Session {
  return oneShot(seat, entry.name, pooledRequest(entry, rank, promptRandom, seat), undefined, rank);
}

/**
 * A repeat of `original`'s request: same idempotency key, content and tenant, its own request id. Models a double
 * submit or a client-side retry, which the engine's dedup should join or answer from its store.
 */
export function repeatSession(original: Session, id: string, startAtMs: number): Session {
  if (original.plan.kind !== 'single') throw new TypeError(`repeatSession: expected a single session, got ${original.plan.kind}`);
  const request: PlannedRequest = { ...original.plan.request, id: `${id}/t0` };
  return oneShot({ id, startAtMs, tenant: original.tenant }, original.class, request, original.id);
}

function oneShot(seat: SessionSeat, cls: string, request: PlannedRequest, repeatOf?: string, poolRank?: number): Session {
  return {
    id: seat.id,
    kind: 'single',
    class: cls,
    tenant: seat.tenant,
    startAtMs: seat.startAtMs,
    plan: { kind: 'single', request, ...(repeatOf !== undefined ? { repeatOf } : {}), ...(poolRank !== undefined ? { poolRank } : {}) },
    async run(ctx: SessionContext): Promise<SessionSummary> {
      await sleepUntil(ctx, seat.startAtMs);
      const reply = await sendSafely(ctx, request, seat.startAtMs);
      return { sent: 1, failed: reply.ok ? 0 : 1, degraded: reply.outcome === 'degraded', abandoned: false };
    },
  };
}
