/**
 * A closed-loop chat: turn k+1 is sent only after turn k's reply plus a think time, and its prompt carries the
 * whole conversation so far (system prompt, earlier user messages and the assistant's actual replies).
 */
import type { Random } from '../../src/random.js';
import { sample, sampleInt } from './dist.js';
import { SYSTEM_MESSAGE, assistantMessage, safeId, segmentTokens, sendSafely, sleepUntil, tenantSystem, userMessage } from './session-common.js';
import type { SessionSeat } from './session-single.js';
import type { MixEntry } from './spec.js';
import type { PlannedMessage, PlannedRequest, PrefixSegment, Priority, Session, SessionContext, SessionPlan, SessionSummary } from './types.js';

type MultiTurnEntry = Extract<MixEntry, { kind: 'multi-turn' }>;

/** Hard cap on turns per session, so a heavy-tailed `turns` distribution cannot make one session endless. */
export const MAX_TURNS = 1000;

/** Draws a multi-turn session: the turn count, then per turn the user tokens, output tokens and think time. */
export function multiTurnSession(entry: MultiTurnEntry, seat: SessionSeat, random: Random): Session {
  const turns = Math.min(MAX_TURNS, sampleInt(entry.turns, random, 1));
  const userTokens: number[] = [];
  const outputTokens: number[] = [];
  const thinkTimesMs: number[] = [];
  for (let k = 0; k < turns; k++) {
    userTokens.push(sampleInt(k === 0 && entry.firstTurnUserTokens !== undefined ? entry.firstTurnUserTokens : entry.userTokens, random, 1));
    outputTokens.push(sampleInt(entry.outputTokens, random, 1));
    if (k < turns - 1) thinkTimesMs.push(Math.max(0, sample(entry.thinkTimeMs, random)));
  }
  const plan = { kind: 'multi-turn', userTokens, outputTokens, thinkTimesMs } as const;
  const classSystem = entry.systemPromptTokens ?? 0;
  return conversationSession(seat, plan, {
    class: entry.name,
    priority: entry.priority ?? 'interactive',
    // The class's system prompt is the same text for every session of the class.
    system: classSystem > 0 ? [{ id: `class/${safeId(entry.name)}/sys`, tokens: classSystem }] : [],
    ...(entry.maxContextTokens !== undefined ? { maxContextTokens: entry.maxContextTokens } : {}),
    abandonOnFailure: (entry.onFailure ?? 'abandon') === 'abandon',
    ...(entry.deadlineMs !== undefined ? { deadlineMs: entry.deadlineMs } : {}),
  });
}

/** How a planned conversation is played. */
export interface ConversationOptions {
  readonly class: string;
  readonly priority: Priority;
  /** System prompt segments after the tenant's (a class's shared prompt, or a conversation's own). */
  readonly system: readonly PrefixSegment[];
  readonly maxContextTokens?: number;
  readonly abandonOnFailure: boolean;
  readonly deadlineMs?: number;
}

/** A conversation of planned turns (drawn, or read from a trace): each turn resends the whole history. */
export function conversationSession(seat: SessionSeat, plan: Extract<SessionPlan, { kind: 'multi-turn' }>, o: ConversationOptions): Session {
  const entry = { name: o.class, ...(o.deadlineMs !== undefined ? { deadlineMs: o.deadlineMs } : {}) };
  const { userTokens, outputTokens, thinkTimesMs } = plan;
  const turns = userTokens.length;
  const priority = o.priority;
  const tenantTokens = seat.tenantSystemTokens ?? 0;
  // The prompt as segments: the tenant's and the class's system prompts (shared by every session), then the turns.
  const system: PrefixSegment[] = [...tenantSystem(seat.tenant, tenantTokens), ...o.system];
  const systemTokens = segmentTokens(system);
  const maxContext = o.maxContextTokens ?? Number.POSITIVE_INFINITY;
  const abandonOnFailure = o.abandonOnFailure;

  return {
    id: seat.id,
    kind: 'multi-turn',
    class: entry.name,
    tenant: seat.tenant,
    startAtMs: seat.startAtMs,
    plan,
    async run(ctx: SessionContext): Promise<SessionSummary> {
      const messages: PlannedMessage[] = [SYSTEM_MESSAGE];
      const history: PrefixSegment[] = [];
      let context = systemTokens;
      let intended = seat.startAtMs;
      let failed = 0;
      let degraded = false;
      for (let k = 0; k < turns; k++) {
        await sleepUntil(ctx, intended);
        const user = userTokens[k] as number;
        messages.push(userMessage(seat.id, `t${k}`, user));
        history.push({ id: `${seat.id}/u${k}`, tokens: user });
        context += user;
        const promptTokens = Math.min(context, maxContext);
        const request: PlannedRequest = {
          id: `${seat.id}/t${k}`,
          class: entry.name,
          kind: 'chat',
          tenant: seat.tenant,
          priority,
          promptTokens,
          prefix: promptPrefix(system, history, promptTokens),
          outputTokens: outputTokens[k] as number,
          messages: [...messages],
          batchable: false,
          ...(entry.deadlineMs !== undefined ? { deadlineMs: entry.deadlineMs } : {}),
        };
        const reply = await sendSafely(ctx, request, intended);
        if (reply.outcome === 'degraded') degraded = true;
        if (!reply.ok) {
          failed++;
          if (abandonOnFailure) return { sent: k + 1, failed, degraded, abandoned: k < turns - 1 };
        } else {
          // The conversation grows by what the user actually saw, which may be less than planned.
          context += reply.tokens;
          messages.push(assistantMessage(reply));
          // The reply resent next turn is this request's output: the server may still hold its blocks.
          if (reply.tokens > 0) history.push({ id: `out:${seat.id}/t${k}`, tokens: reply.tokens });
        }
        // The next turn is due a think time after the reply arrived, measured on the context's clock.
        if (k < turns - 1) intended = ctx.now() + (thinkTimesMs[k] as number);
      }
      return { sent: turns, failed, degraded, abandoned: false };
    },
  };
}

/**
 * The segments of a turn's prompt: the system prompts, then the conversation. A prompt truncated to
 * `maxContextTokens` drops its oldest turns (whole messages), so only the system prompts stay a shared prefix.
 */
export function promptPrefix(system: readonly PrefixSegment[], history: readonly PrefixSegment[], promptTokens: number): PrefixSegment[] {
  const budget = promptTokens - segmentTokens(system);
  let start = 0;
  let total = segmentTokens(history);
  while (start < history.length && total > budget) total -= (history[start++] as PrefixSegment).tokens;
  return [...system, ...history.slice(start)];
}
