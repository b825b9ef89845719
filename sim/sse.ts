/**
 * Server-sent event framing for streamed completions, on the hot path. Each stream pre-serializes the parts of
 * its chunks that never change (id, model, created), so a token costs one JSON.stringify of its text and a
 * string concatenation. Every token chunk carries a non-standard `x_mock: { index, count }` so clients can count
 * tokens exactly (a chunk may hold several tokens) and resume with `x-mock-resume-from`; OpenAI clients ignore it.
 */
import type { OpenAIErrorBody } from './http-errors.js';
import { inJsonString, toolCallId } from './tool-calls.js';

export type StreamKind = 'chat' | 'completion';

/** `data: [DONE]`, the OpenAI end-of-stream marker. */
export const SSE_DONE = 'data: [DONE]\n\n';

/**
 * Response headers of an SSE stream. No `connection` header: HTTP/1.1 keeps the connection alive by default, and
 * Node sends its `Keep-Alive: timeout=N` hint only when the app sets no Connection header itself. Without that
 * hint undici keeps an idle socket only 4 s, so clients with a lull between requests would reconnect.
 */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
};

/** Token usage as the OpenAI API reports it. */
export interface UsageBody {
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
  readonly total_tokens: number;
  /** Prompt tokens served from the prefix cache, as vLLM and OpenAI report them. */
  readonly prompt_tokens_details: { readonly cached_tokens: number };
}

export function usageBody(promptTokens: number, completionTokens: number, cachedTokens = 0): UsageBody {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: cachedTokens },
  };
}

/** Pre-serialized chunk templates of one stream. */
export class ChunkWriter {
  private readonly head: string;
  private readonly object: string;

  /**
   * @param kind chat chunks carry `delta.content`; completion chunks carry `text`.
   * @param id the response id (`chatcmpl-…` or `cmpl-…`).
   * @param created seconds, as in the API's `created` field.
   * @param tool a function the request forces a call to (chat): the text becomes its arguments (sim/tool-calls.ts).
   */
  constructor(
    readonly kind: StreamKind,
    readonly responseId: string,
    readonly model: string,
    readonly created: number,
    readonly tool?: string,
  ) {
    this.object = kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
    this.head = `data: {"id":${JSON.stringify(responseId)},"object":"${this.object}","created":${created},"model":${JSON.stringify(model)},"choices":[`;
  }

  /** The first chat chunk: `delta.role = assistant` with empty content (as OpenAI and vLLM send). */
  role(choice = 0): string {
    const role = `${this.head}{"index":${choice},"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n`;
    if (this.tool === undefined) return role;
    const call = { index: 0, id: toolCallId(this.responseId), type: 'function', function: { name: this.tool, arguments: '{"input":"' } };
    return `${role}${this.head}{"index":${choice},"delta":{"tool_calls":[${JSON.stringify(call)}]},"logprobs":null,"finish_reason":null}]}\n\n`;
  }

  /** A piece of the forced call's arguments. No `x_mock`: these are not text tokens. */
  private toolArguments(choice: number, piece: string): string {
    return `${this.head}{"index":${choice},"delta":{"tool_calls":[{"index":0,"function":{"arguments":${JSON.stringify(piece)}}}]},"logprobs":null,"finish_reason":null}]}\n\n`;
  }

  /** A chunk of `count` tokens starting at token `index`. */
  tokens(choice: number, text: string, index: number, count: number): string {
    if (this.tool !== undefined) return this.toolArguments(choice, inJsonString(text));
    const t = JSON.stringify(text);
    const body =
      this.kind === 'chat'
        ? `{"index":${choice},"delta":{"content":${t}},"logprobs":null,"finish_reason":null}`
        : `{"index":${choice},"text":${t},"logprobs":null,"finish_reason":null}`;
    return `${this.head}${body}],"x_mock":{"index":${index},"count":${count}}}\n\n`;
  }

  /** The last chunk of a choice, carrying its finish reason. */
  finish(choice: number, reason: 'stop' | 'length'): string {
    if (this.tool !== undefined) return `${this.toolArguments(choice, '"}')}${this.head}{"index":${choice},"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]}\n\n`;
    const body =
      this.kind === 'chat'
        ? `{"index":${choice},"delta":{},"logprobs":null,"finish_reason":"${reason}"}`
        : `{"index":${choice},"text":"","logprobs":null,"finish_reason":"${reason}"}`;
    return `${this.head}${body}]}\n\n`;
  }

  /** The usage chunk sent when `stream_options.include_usage` is true: empty `choices`, then `usage`. */
  usage(promptTokens: number, completionTokens: number, cachedTokens = 0): string {
    return `${this.head}],"usage":${JSON.stringify(usageBody(promptTokens, completionTokens, cachedTokens))}}\n\n`;
  }
}

/** An in-stream error event (the `error-event` disconnect form, and errors after the headers went out). */
export function sseError(body: OpenAIErrorBody): string {
  return `data: ${JSON.stringify(body)}\n\n`;
}
