/**
 * An agent session: a planner chat call, then N retriever branches in parallel (batchable embedding calls), then
 * a summarizer chat call over whatever came back. A failed retriever degrades the answer but does not block it;
 * a failed planner ends the session (there is nothing to retrieve for).
 */
import type { Random } from '../../src/random.js';
import { sampleInt } from './dist.js';
import { SYSTEM_MESSAGE, assistantMessage, safeId, sendSafely, sleepUntil, tenantSystem, userMessage } from './session-common.js';
import type { SessionSeat } from './session-single.js';
import type { MixEntry } from './spec.js';
import type { PlannedRequest, Session, SessionContext, SessionSummary } from './types.js';

type AgentEntry = Extract<MixEntry, { kind: 'agent' }>;

/** Hard cap on retriever branches per agent session. */
export const MAX_RETRIEVERS = 256;

/**
 * Draws an agent session. Request classes are `${name}-planner`, `${name}-retriever` and `${name}-summarizer`
 * (`agent-planner`, ... for a mix entry named `agent`).
 */
export function agentSession(entry: AgentEntry, seat: SessionSeat, random: Random): Session {
  const priority = entry.priority ?? 'interactive';
  const deadline = entry.deadlineMs !== undefined ? { deadlineMs: entry.deadlineMs } : {};
  const base = { tenant: seat.tenant, priority, ...deadline };
  const plannerPrompt = sampleInt(entry.planner.promptTokens, random, 1);
  // The agent's shared context (tenant system prompt, the class's tools and instructions) heads both chat calls.
  const shared = [
    ...tenantSystem(seat.tenant, seat.tenantSystemTokens),
    ...((entry.sharedContextTokens ?? 0) > 0 ? [{ id: `class/${safeId(entry.name)}/context`, tokens: entry.sharedContextTokens ?? 0 }] : []),
  ];
  const sharedTokens = (seat.tenantSystemTokens ?? 0) + (entry.sharedContextTokens ?? 0);
  const planner: PlannedRequest = {
    ...base,
    id: `${seat.id}/plan`,
    class: `${entry.name}-planner`,
    kind: 'chat',
    promptTokens: sharedTokens + plannerPrompt,
    prefix: [...shared, { id: `${seat.id}/plan`, tokens: plannerPrompt }],
    outputTokens: sampleInt(entry.planner.outputTokens, random, 1),
    messages: [SYSTEM_MESSAGE, userMessage(seat.id, 'plan', plannerPrompt)],
    batchable: false,
  };
  const n = Math.min(MAX_RETRIEVERS, sampleInt(entry.retrievers, random, 0));
  const retrievers: PlannedRequest[] = [];
  const retrievedTokens: number[] = [];
  for (let i = 0; i < n; i++) {
    const count = entry.retriever.inputs === undefined ? 1 : sampleInt(entry.retriever.inputs, random, 1);
    const inputTokens = Array.from({ length: count }, () => sampleInt(entry.retriever.inputTokens, random, 1));
    retrievers.push({
      ...base,
      id: `${seat.id}/ret${i}`,
      class: `${entry.name}-retriever`,
      kind: 'embedding',
      promptTokens: inputTokens.reduce((a, b) => a + b, 0),
      outputTokens: 0,
      messages: [],
      inputs: inputTokens.map((t, j) => `[${seat.id} ret${i}.${j}] synthetic passage of ${t} tokens`),
      inputTokens,
      batchable: true,
    });
    retrievedTokens.push(sampleInt(entry.retriever.retrievedTokens, random, 0));
  }
  const summarizerPromptTokens = sampleInt(entry.summarizer.promptTokens, random, 1);
  const summarizerOutputTokens = sampleInt(entry.summarizer.outputTokens, random, 1);

  return {
    id: seat.id,
    kind: 'agent',
    class: entry.name,
    tenant: seat.tenant,
    startAtMs: seat.startAtMs,
    plan: { kind: 'agent', planner, retrievers, retrievedTokens, summarizerPromptTokens, summarizerOutputTokens },
    async run(ctx: SessionContext): Promise<SessionSummary> {
      await sleepUntil(ctx, seat.startAtMs);
      const plan = await sendSafely(ctx, planner, seat.startAtMs);
      if (!plan.ok) return { sent: 1, failed: 1, degraded: false, abandoned: true };
      // Every branch is due the moment the plan arrived; they are sent together so the engine can batch them.
      const fanOutAt = ctx.now();
      const replies = await Promise.all(retrievers.map((r) => sendSafely(ctx, r, fanOutAt)));
      let failedBranches = 0;
      let context = sharedTokens + summarizerPromptTokens + plan.tokens;
      replies.forEach((reply, i) => {
        if (reply.ok) context += retrievedTokens[i] as number;
        else failedBranches++;
      });
      const summarizer: PlannedRequest = {
        ...base,
        id: `${seat.id}/sum`,
        class: `${entry.name}-summarizer`,
        kind: 'chat',
        promptTokens: context,
        ...(shared.length > 0 ? { prefix: shared } : {}),
        outputTokens: summarizerOutputTokens,
        messages: [
          SYSTEM_MESSAGE,
          userMessage(seat.id, 'plan', plannerPrompt),
          assistantMessage(plan),
          userMessage(seat.id, `sum over ${n - failedBranches}/${n} retrievals`, summarizerPromptTokens),
        ],
        batchable: false,
        ...(failedBranches > 0 ? { partialInputs: { failed: failedBranches, total: n } } : {}),
      };
      const answer = await sendSafely(ctx, summarizer, ctx.now());
      return {
        sent: 2 + n,
        failed: failedBranches + (answer.ok ? 0 : 1),
        degraded: answer.ok && (failedBranches > 0 || answer.outcome === 'degraded'),
        abandoned: false,
      };
    },
  };
}
