/**
 * Helpers shared by the session kinds: synthetic message text, waiting until an intended moment, and a send
 * that never rejects.
 */
import type { PlannedMessage, PrefixSegment, RequestReply, SessionContext, PlannedRequest } from './types.js';

/** The shared system prompt of a tenant (`tenants[].systemPromptTokens`): the first segment of its chat prompts. */
export function tenantSystem(tenant: string, tokens: number | undefined): PrefixSegment[] {
  return tokens === undefined || tokens <= 0 ? [] : [{ id: `tenant/${safeId(tenant)}/sys`, tokens }];
}

/** A name made safe for a prefix segment id (`[A-Za-z0-9_.:/@-]`). */
export function safeId(name: string): string {
  return name.replace(/[^A-Za-z0-9_.:/@-]/g, '_').slice(0, 120);
}

/** Total tokens of some segments. */
export function segmentTokens(segments: readonly PrefixSegment[]): number {
  let n = 0;
  for (const s of segments) n += s.tokens;
  return n;
}

/** System prompt used by every synthetic chat. */
export const SYSTEM_MESSAGE: PlannedMessage = { role: 'system', content: 'You are a helpful assistant.' };

/** Longest excerpt of a reply kept in the next turn's messages (token counts stay authoritative). */
export const EXCERPT_CHARS = 80;

/** A short, deterministic user message that names what it stands for. */
export function userMessage(sessionId: string, label: string, tokens: number): PlannedMessage {
  return { role: 'user', content: `[${sessionId} ${label}] synthetic prompt of ${tokens} tokens` };
}

/** The reply's text, cut to a short excerpt. */
export function assistantMessage(reply: RequestReply): PlannedMessage {
  return { role: 'assistant', content: reply.text.length > EXCERPT_CHARS ? reply.text.slice(0, EXCERPT_CHARS) : reply.text };
}

/** Sleeps until `atMs` on the context's clock (no-op when already there). */
export async function sleepUntil(ctx: SessionContext, atMs: number): Promise<void> {
  const wait = atMs - ctx.now();
  if (wait > 0) await ctx.sleep(wait);
}

/** `ctx.send`, with a rejection turned into a failed reply so one broken request cannot break a session. */
export async function sendSafely(ctx: SessionContext, req: PlannedRequest, intendedStartMs: number): Promise<RequestReply> {
  try {
    return await ctx.send(req, intendedStartMs);
  } catch (error) {
    return { ok: false, outcome: 'failed', tokens: 0, text: error instanceof Error ? error.message : String(error) };
  }
}
