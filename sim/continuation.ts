/**
 * The standard continuation request, as vLLM and SGLang serve it, read by the mock: the text so far comes back as
 * the prefix to continue (on chat, a final assistant message with `continue_final_message: true`; on completions,
 * appended to the prompt, which `x-mock-resume-from: N` says holds the mock's own first N tokens). The mock
 * continues the same request id byte for byte: the prefix is counted in the request's own token texts, and the
 * token limit sent (what is left of it) is counted from there, so one resume path serves the mock and vLLM.
 */
import { requestKey, tokensText, tokenTextByKey } from './tokens.js';
import type { GenerateRequest } from './types.js';

/** More tokens than any context window: a bound on counting a prefix that is not the mock's own text. */
const MAX_PREFIX_TOKENS = 2_000_000;

/** How many of the request's tokens (key `key`) the prefix `text` holds: its own text counts exactly. */
export function prefixTokens(key: number, text: string): number {
  let chars = 0;
  let i = 0;
  while (chars < text.length && i < MAX_PREFIX_TOKENS) chars += tokenTextByKey(key, i++).length;
  return i;
}

/**
 * The request as the mock serves it: a continuation becomes a resume after the prefix's tokens (the prefix left
 * out of the prompt, as an uninterrupted run never had it there), with the token limit counted from the start.
 * Anything else is returned as is.
 */
export function continued(req: GenerateRequest, seed: string): GenerateRequest {
  if (req.resumeText !== undefined) {
    const from = prefixTokens(requestKey(seed, req.id), req.resumeText);
    return { ...req, resumeText: undefined, resumeFrom: from, maxTokens: req.maxTokens === undefined ? undefined : req.maxTokens + from };
  }
  if (req.kind !== 'completion' || req.resumeFrom === undefined || req.resumeFrom <= 0 || req.prompt === undefined) return req;
  const own = tokensText(requestKey(seed, req.id), 0, req.resumeFrom);
  // The header alone (the prompt does not end with the mock's own text) is the plain resume of sim/mock-headers.ts.
  if (!req.prompt.endsWith(own)) return req;
  return { ...req, prompt: req.prompt.slice(0, req.prompt.length - own.length), maxTokens: req.maxTokens === undefined ? undefined : req.maxTokens + req.resumeFrom };
}
