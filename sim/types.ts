/**
 * The contract between the mock GPU's core (gpu, faults, rate limits, token text: `sim/mock-model.ts`) and
 * its two transports: the fastify server (`sim/server.ts`) and the in-process ModelClient (`sim/in-process.ts`).
 * Both transports drive the same MockModel, so they behave the same, minus sockets.
 */
import type { ChatMessage, PrefixSegment } from '../src/upstream/model-client.js';

/** How a mid-stream disconnect looks on the wire. In-process, every form surfaces as StreamInterruptedError. */
export const DISCONNECT_FORMS = ['reset', 'clean-close', 'error-event', 'truncated-chunk'] as const;
export type DisconnectForm = (typeof DISCONNECT_FORMS)[number];

/** A generation request after transport parsing (HTTP body and headers, or a ModelRequest). */
export interface GenerateRequest {
  /** Request id; token text is a pure function of (model seed, id, token index). */
  readonly id: string;
  /** The served model name (e.g. `primary`, `fallback`). */
  readonly model: string;
  readonly kind: 'chat' | 'completion';
  readonly messages?: readonly ChatMessage[];
  readonly prompt?: string;
  /** From `x-mock-prompt-tokens`; otherwise the core estimates from the text (about 4 characters a token). */
  readonly promptTokens?: number;
  /** `max_tokens`. */
  readonly maxTokens?: number;
  /** From `x-mock-output-tokens`; otherwise min(maxTokens, a draw from the profile's length distribution). */
  readonly outputTokens?: number;
  /** Continue after this many tokens; the first chunk's index equals it, and the bytes match an uninterrupted run. */
  readonly resumeFrom?: number;
  /**
   * A continuation's prefix (a chat request's final assistant message with `continue_final_message`): continue
   * after the tokens it holds; `maxTokens` then counts what is left (sim/continuation.ts).
   */
  readonly resumeText?: string;
  /** The API key, for per-key RPM/TPM limits. */
  readonly apiKey?: string;
  /** The raw `x-mock-fault` header value. */
  readonly fault?: string;
  /**
   * From `x-mock-prefix`: the identity of the prompt's leading tokens, for the prefix cache. Without it, a prompt
   * sized from its text is identified by its messages; one sized by `promptTokens` is taken as unique.
   */
  readonly prefix?: readonly PrefixSegment[];
}

/**
 * Where a request's AbortSignal comes from, read only when needed (a getter may make it then), so a request refused
 * at admission never pays for an AbortController.
 */
export interface SignalSource {
  readonly signal: AbortSignal;
}

/** What a generation yields, in order: token chunks, then exactly one terminal event. */
export type GenerationEvent =
  | { readonly type: 'tokens'; readonly index: number; readonly count: number; readonly text: string }
  | {
      readonly type: 'done';
      readonly promptTokens: number;
      readonly completionTokens: number;
      /** Prompt tokens served from the prefix cache (`usage.prompt_tokens_details.cached_tokens`). */
      readonly cachedTokens: number;
      readonly finishReason: 'stop' | 'length';
    }
  /** The transport must break the stream this way; `tokensSent` tokens were delivered before it. */
  | { readonly type: 'disconnect'; readonly form: DisconnectForm; readonly tokensSent: number };

/**
 * An admitted generation. Admission failures (429, 503, 500, 400 context_length_exceeded, cold start) are thrown
 * by `MockModel.generate` as the typed errors of `src/upstream/errors.ts` before any Generation exists.
 * A stall is simply a generation whose events stop arriving while it stays open; a hang is a `generate` call
 * that never resolves. Both end only when the caller's signal aborts.
 */
export interface Generation {
  /** Headers a provider would send with the response: `x-ratelimit-*` among them. */
  readonly headers: Readonly<Record<string, string>>;
  readonly events: GenerationEvents;
}

/**
 * The events of a generation, pulled (`for await`) or pushed (`listen`): one consumer, one way. Pushing hands
 * each chunk over synchronously as the GPU step that made it visible ends, with no promise per chunk; it is the
 * HTTP server's hot path. Pulling is what the in-process client does.
 */
export interface GenerationEvents extends AsyncIterable<GenerationEvent> {
  /** Switches to push mode (call before any pull); chunks already visible are pushed at once. */
  listen(listener: GenerationListener): void;
  /** After `tokens` returned false: the consumer can take more; what became visible meanwhile comes as one chunk. */
  resume(): void;
  /** Push mode: hands the chunks held back for the listener (GenerationListener.hold) over at once. */
  flush(): void;
}

/** The push-mode consumer of a generation's events. */
export interface GenerationListener {
  /**
   * Tokens [index, index + count) became visible, `text` their concatenation. Return false when the consumer cannot
   * take more now (its socket is backed up): nothing more is pushed until `resume()`, and the tokens that become
   * visible meanwhile arrive as one chunk, as a pulling consumer that falls behind gets them.
   */
  tokens(text: string, index: number, count: number): boolean;
  /** Called once, last: the terminal event (`done` or `disconnect`), or the error that ended the stream (an abort). */
  end(terminal: Exclude<GenerationEvent, { type: 'tokens' }> | undefined, error: Error | undefined): void;
  /**
   * Read before each chunk: while it is a function the generation holds the chunk back instead of calling `tokens`,
   * calling `hold(atMs, count)` as it becomes visible, and hands the chunks it holds to `held` on `flush()`, before
   * any other call, and at its end (as StreamSink.hold in src/upstream/model-client.ts).
   * @default undefined (every chunk goes to `tokens` as it becomes visible)
   */
  readonly hold?: ((atMs: number, count: number) => void) | undefined;
  /** The held chunks, in order (see StreamSink.held in src/upstream/model-client.ts: same arguments). */
  held?(index: number, count: number, text: string, lastAtMs: number, lastCount: number): void;
}
