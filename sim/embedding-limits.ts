/**
 * What a provider refuses in one embeddings call, checked before any work: OpenAI's limits (an `input` array
 * of at most 2048 items, each at most 8192 tokens, at most 300,000 tokens in all). A refusal is a 400 naming the
 * field, as the OpenAI API answers, so a huge request can never make a huge response.
 */
import { badRequest, type HttpErrorReply } from './http-errors.js';
import type { NormalizedText } from './schemas.js';
import { estimateTextTokens } from './tokens.js';

export const EMBEDDING_LIMITS = {
  /** Items in one `input` array. */
  maxInputs: 2048,
  /** Tokens in one input. */
  maxTokensPerInput: 8192,
  /** Tokens over all inputs of one call. */
  maxTotalTokens: 300_000,
} as const;

/** The 400 for the first limit `items` break, or undefined when they are within all of them. */
export function embeddingLimitError(items: readonly NormalizedText[], limits = EMBEDDING_LIMITS): HttpErrorReply | undefined {
  if (items.length > limits.maxInputs) {
    return badRequest(`input: expected at most ${limits.maxInputs} inputs per request, got ${items.length}`, 'input', 'invalid_value');
  }
  let total = 0;
  for (let i = 0; i < items.length; i++) {
    const item = items[i] as NormalizedText;
    const n = item.tokens ?? estimateTextTokens(item.text);
    if (n > limits.maxTokensPerInput) {
      const field = items.length === 1 ? 'input' : `input[${i}]`;
      return badRequest(`${field}: expected at most ${limits.maxTokensPerInput} tokens per input, got ${n}`, field, 'context_length_exceeded');
    }
    total += n;
  }
  if (total > limits.maxTotalTokens) {
    return badRequest(`input: expected at most ${limits.maxTotalTokens} tokens per request in all, got ${total}`, 'input', 'max_tokens_per_request');
  }
  return undefined;
}
