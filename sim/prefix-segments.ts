/**
 * Prefix identity of a request, for the mock's prefix cache (sim/prefix-cache.ts): the `x-mock-prefix` header
 * (`ID=TOKENS,ID=TOKENS,...`) and, for prompts sized from their text, segments made from the messages themselves
 * (each message's content and role stand for its tokens, as a real server's tokenizer output would).
 */
import type { PrefixSegment } from '../src/upstream/model-client.js';
import { CHAT_MESSAGE_OVERHEAD_TOKENS, estimateTextTokens, hashString } from './tokens.js';
import type { GenerateRequest } from './types.js';

/** Characters a segment id may use (safe in a header, and free of the `=` and `,` separators). */
export const SEGMENT_ID = /^[A-Za-z0-9_.:/@-]{1,200}$/;
/** Most segments one request may name. */
export const MAX_SEGMENTS = 4096;

/** The `x-mock-prefix` value of some segments. */
export function formatPrefixHeader(segments: readonly PrefixSegment[]): string {
  return segments.map((s) => `${s.id}=${s.tokens}`).join(',');
}

/**
 * Parses an `x-mock-prefix` value; a string is the error (what was expected, the offending part cut short).
 */
export function parsePrefixHeader(raw: string): PrefixSegment[] | string {
  const parts = raw.split(',');
  if (parts.length > MAX_SEGMENTS) return `at most ${MAX_SEGMENTS} segments, got ${parts.length}`;
  const out: PrefixSegment[] = [];
  for (const part of parts) {
    const p = part.trim();
    const eq = p.lastIndexOf('=');
    const id = eq < 0 ? '' : p.slice(0, eq);
    const n = eq < 0 ? NaN : Number(p.slice(eq + 1));
    if (!SEGMENT_ID.test(id) || !Number.isSafeInteger(n) || n < 1) {
      return `ID=TOKENS (id of [A-Za-z0-9_.:/@-], tokens a positive integer), got ${JSON.stringify(p.slice(0, 60))}`;
    }
    out.push({ id, tokens: n });
  }
  return out;
}

/** Segments of a chat request sized from its text: one per message (content plus formatting), by content. */
export function messagesPrefix(req: Pick<GenerateRequest, 'messages' | 'prompt'>): PrefixSegment[] | undefined {
  if (req.messages !== undefined) {
    return req.messages.map((m) => ({
      id: `msg:${hashString(m.role + '\u0000' + m.content).toString(36)}.${hashString(m.content, 0x9747b28c).toString(36)}`,
      tokens: CHAT_MESSAGE_OVERHEAD_TOKENS + estimateTextTokens(m.content),
    }));
  }
  if (req.prompt !== undefined && req.prompt.length > 0) {
    return [{ id: `txt:${hashString(req.prompt).toString(36)}.${hashString(req.prompt, 0x9747b28c).toString(36)}`, tokens: estimateTextTokens(req.prompt) }];
  }
  return undefined;
}
