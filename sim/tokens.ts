/**
 * Synthetic, deterministic token text and prompt-size estimates. Token i of request `id` under seed `seed` is a
 * pure function of the three, so a stream resumed at token N continues with exactly the bytes an uninterrupted
 * stream would have sent, and tests can prove that nothing was lost or duplicated.
 */
import type { ChatMessage } from '../src/upstream/model-client.js';
import type { RandomSource } from './distributions.js';

// The string hash and mix live in src/random.ts, shared with the engine's affinity ring.
export { hashString, mix32 } from '../src/random.js';
import { hashString, mix32 } from '../src/random.js';

/** The per-request key from which every token of the request is derived. */
export function requestKey(seed: number | string, id: string): number {
  return mix32(hashString(id, hashString(String(seed))));
}

const ONSETS = ['b', 'd', 'f', 'g', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'z', 'br', 'st', 'tr', 'ch'];
const VOWELS = ['a', 'e', 'i', 'o', 'u', 'ai', 'ou'];
const CODAS = ['', '', 'n', 'r', 's', 'l', 'x'];
const WORD_COUNT = 2048;

/** A fixed table of pronounceable pseudo-words, each with a leading space like a BPE token. Built once. */
const WORDS: readonly string[] = (() => {
  const out: string[] = [];
  for (let i = 0; i < WORD_COUNT; i++) {
    let h = mix32(i + 0x9e3779b9);
    const syllables = 1 + (h % 3);
    let w = ' ';
    for (let s = 0; s < syllables; s++) {
      h = mix32(h + s);
      w += (ONSETS[h % ONSETS.length] as string) + (VOWELS[(h >>> 8) % VOWELS.length] as string);
      if (s === syllables - 1) w += CODAS[(h >>> 16) % CODAS.length] as string;
    }
    out.push(w);
  }
  return out;
})();

/** The text of token `index` of the request with key `key` (see {@link requestKey}). */
export function tokenTextByKey(key: number, index: number): string {
  return WORDS[mix32(key ^ Math.imul(index + 1, 0x9e3779b1)) & (WORD_COUNT - 1)] as string;
}

/** The text of token `index` (from 0) of request `id` under model seed `seed`. */
export function tokenText(seed: number | string, id: string, index: number): string {
  return tokenTextByKey(requestKey(seed, id), index);
}

/** Tokens from which {@link tokensText} joins an array instead of concatenating one by one. */
const JOIN_FROM = 16;

/** The concatenated text of tokens [start, start + count) of the request with key `key`. */
export function tokensText(key: number, start: number, count: number): string {
  if (count >= JOIN_FROM) {
    // One flat string (an array of words joined) instead of a chain of `count` cons strings: a long batch of held
    // tokens (sim/generation.ts) would otherwise leave a string object per token for the collector.
    const words = new Array<string>(count);
    for (let j = 0; j < count; j++) words[j] = WORDS[mix32(key ^ Math.imul(start + j + 1, 0x9e3779b1)) & (WORD_COUNT - 1)] as string;
    return words.join('');
  }
  let s = '';
  for (let i = start; i < start + count; i++) s += WORDS[mix32(key ^ Math.imul(i + 1, 0x9e3779b1)) & (WORD_COUNT - 1)] as string;
  return s;
}

/** Estimated tokens of a text: about 4 characters a token (OpenAI's rule of thumb), at least 1 if non-empty. */
export function estimateTextTokens(text: string): number {
  return text.length === 0 ? 0 : Math.max(1, Math.ceil(text.length / 4));
}

/** Tokens of chat formatting: each message costs its content plus 4 (role and separators), plus 3 to prime the reply. */
export const CHAT_MESSAGE_OVERHEAD_TOKENS = 4;
export const CHAT_REPLY_PRIMING_TOKENS = 3;

/** Estimated prompt tokens of a chat request or a completion prompt. */
export function estimatePromptTokens(input: { readonly messages?: readonly ChatMessage[]; readonly prompt?: string }): number {
  if (input.messages !== undefined) {
    let n = CHAT_REPLY_PRIMING_TOKENS;
    for (const m of input.messages) n += CHAT_MESSAGE_OVERHEAD_TOKENS + estimateTextTokens(m.content);
    return n;
  }
  return estimateTextTokens(input.prompt ?? '');
}

/**
 * A tiny seeded stream (mulberry32) keyed by a request: cheap to create per request, unlike a full `Random`.
 * Used for draws that must be the same on every attempt of a request (its output length), so that a retry or a
 * resume produces the same output.
 */
export class KeyedRandom implements RandomSource {
  private state: number;

  constructor(key: number) {
    this.state = key >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}
