/**
 * The wire shapes of the OpenAI-compatible proxy (./proxy.ts) for chat and completions: token chunks framed with
 * their head serialized once, pass-through chunks for deltas the engine does not read, the finish reason, the
 * usage (the upstream's own, or an estimate that says so) and the non-streamed answer.
 */
import type { EngineResult, ExtraDelta, TokenChunk } from '../engine/engine-types.js';
import type { ChoiceAccumulator } from './choice-accumulator.js';

export type ProxyKind = 'chat' | 'completion';

/** The head of every streamed chunk of one response. */
export interface ChunkHead {
  readonly id: string;
  readonly object: 'chat.completion.chunk' | 'text_completion';
  readonly created: number;
  readonly model: string;
}

/**
 * The SSE event of one token chunk: the same bytes as `data: ${JSON.stringify({ ...head, choices: [{ index: 0,
 * delta: { content: c.text }, logprobs: null, finish_reason: null }], x_engine: { index: c.index, count: c.count }
 * })}\n\n` (completions: `text: c.text` instead of the delta), with the head serialized once per response, so a
 * token costs one JSON.stringify of its text. `x_engine` says which tokens the chunk carries, as the mock's
 * `x_mock` does.
 */
export function tokenChunkFramer(head: ChunkHead): (c: Pick<TokenChunk, 'text' | 'index' | 'count'>) => string {
  const chat = head.object === 'chat.completion.chunk';
  const prefix = `data: ${JSON.stringify(head).slice(0, -1)},"choices":[{"index":0,${chat ? '"delta":{"content":' : '"text":'}`;
  const close = chat ? '}' : '';
  return (c) => `${prefix}${JSON.stringify(c.text)}${close},"logprobs":null,"finish_reason":null}],"x_engine":{"index":${c.index},"count":${c.count}}}\n\n`;
}

/** The SSE event of a passed-through delta, as the upstream sent it (its choice, delta, logprobs, finish reason). */
export function extraChunk(head: ChunkHead, e: ExtraDelta): string {
  const fields =
    head.object === 'chat.completion.chunk'
      ? { delta: e.delta ?? {} }
      : { text: typeof e.delta?.['text'] === 'string' ? e.delta['text'] : '' };
  return `data: ${JSON.stringify({ ...head, choices: [{ index: e.choice, ...fields, logprobs: e.logprobs ?? null, finish_reason: e.finishReason ?? null }] })}\n\n`;
}

/** Never `stop` for an answer that did not end: `error` for a partial or timed-out one; else the upstream's reason. */
export function finishReason(r: EngineResult, maxTokens: number | undefined): string {
  if (r.degraded === 'partial' || r.outcome === 'timeout') return 'error';
  if (r.finishReason !== undefined) return r.finishReason;
  return maxTokens !== undefined && r.tokens >= maxTokens ? 'length' : 'stop';
}

/** OpenAI's usage object. */
export function usageBody(prompt: number, completion: number): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/**
 * The usage to report: the upstream's own (as it sent it, details included) for the call that completed the
 * answer; when it sent none (or the answer never completed), an estimate, flagged `estimated`.
 */
export function reportedUsage(r: EngineResult, estimatePromptTokens: () => number): { body: Readonly<Record<string, unknown>>; estimated: boolean } {
  const u = r.usage;
  if (u !== undefined && u.estimated !== true && r.outcome !== 'timeout' && r.degraded !== 'partial') {
    return { body: u.wire ?? usageBody(u.promptTokens, u.completionTokens), estimated: false };
  }
  return { body: usageBody(estimatePromptTokens(), r.tokens), estimated: true };
}

/** The choices of a non-streamed answer: choice 0's text from the engine plus what was passed through. */
export function wholeChoices(kind: ProxyKind, r: EngineResult, reason: string, acc: ChoiceAccumulator): unknown[] {
  const first = acc.get(0);
  const choices: unknown[] = [];
  if (kind === 'chat') {
    const extra = first?.message ?? {};
    // A message that only calls tools has `content: null`, as OpenAI sends it.
    const content = r.text === '' && extra['tool_calls'] !== undefined ? null : r.text;
    choices.push({ index: 0, message: { role: 'assistant', content, refusal: null, ...extra }, logprobs: first?.logprobs ?? null, finish_reason: reason });
  } else {
    choices.push({ index: 0, text: r.text, logprobs: first?.logprobs ?? null, finish_reason: reason });
  }
  for (const i of acc.others()) {
    const c = acc.get(i);
    if (c === undefined) continue;
    const { text, ...message } = c.message;
    choices.push(
      kind === 'chat'
        ? { index: i, message: { role: 'assistant', content: null, refusal: null, ...message }, logprobs: c.logprobs ?? null, finish_reason: c.finishReason ?? reason }
        : { index: i, text: typeof text === 'string' ? text : '', logprobs: c.logprobs ?? null, finish_reason: c.finishReason ?? reason },
    );
  }
  return choices;
}
