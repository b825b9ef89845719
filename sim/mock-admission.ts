/**
 * Admission pieces of a mock model before the GPU: a request's size (prompt, context window, output length),
 * injected refusals and hangs. The order of checks and of random draws is the model's (sim/mock-model.ts).
 */
import { abortReason } from '../src/errors.js';
import { BadRequestError, ContextLengthExceededError } from '../src/upstream/errors.js';
import { sampler, type RandomSource } from './distributions.js';
import type { RequestFaults } from './faults.js';
import { injectedError } from './mock-errors.js';
import type { ModelEvents } from './mock-model-events.js';
import type { GpuProfile } from './profiles.js';
import { estimatePromptTokens, KeyedRandom, mix32, requestKey } from './tokens.js';
import type { GenerateRequest } from './types.js';
import type { PrefixSegment } from '../src/upstream/model-client.js';
import { messagesPrefix } from './prefix-segments.js';

/** What a generation request asks of the GPU, once its prompt fits the context window. */
export interface SizedRequest {
  readonly promptTokens: number;
  /** The request's key: token text and output length come from it. */
  readonly key: number;
  /** Tokens to generate in all (the output length, capped by `maxTokens` and the context window). */
  readonly endIndex: number;
  readonly finishReason: 'stop' | 'length';
  /** Identity of the prompt's leading tokens for the prefix cache; undefined: all unique. */
  readonly prefix: readonly PrefixSegment[] | undefined;
}

/** Sizes generation requests for one model: prompt checks, then the output length drawn per request. */
export class RequestSizer {
  private readonly lengthSource = { current: new KeyedRandom(0) };
  private readonly drawLength: () => number;

  constructor(
    private readonly profile: GpuProfile,
    private readonly seed: string,
  ) {
    const src: RandomSource = { next: () => this.lengthSource.current.next() };
    this.drawLength = sampler(profile.outputTokens, src);
  }

  /** Throws BadRequestError (empty prompt) or ContextLengthExceededError; else the request's size. */
  size(req: GenerateRequest): SizedRequest {
    const promptTokens = req.promptTokens ?? estimatePromptTokens(req);
    // vLLM refuses an empty prompt; a zero-token sequence would never be scheduled.
    if (promptTokens < 1) throw new BadRequestError(`prompt: expected at least 1 token, got ${promptTokens}`);
    const window = this.profile.contextWindow;
    if (promptTokens + (req.maxTokens ?? 0) > window || promptTokens >= window) {
      throw new ContextLengthExceededError(promptTokens + (req.maxTokens ?? 1), window);
    }
    const key = requestKey(this.seed, req.id);
    const cap = Math.min(req.maxTokens ?? Infinity, window - promptTokens);
    const wanted = req.outputTokens ?? this.outputLength(key);
    const endIndex = Math.min(wanted, cap);
    const finishReason = wanted > cap ? 'length' : 'stop';
    // Sized from its text, a prompt is identified by its messages; sized by a count, it is unique unless it says.
    const prefix = req.prefix ?? (req.promptTokens === undefined ? messagesPrefix(req) : undefined);
    return { promptTokens, key, endIndex, finishReason, prefix };
  }

  private outputLength(key: number): number {
    // Drawn from the request's own stream: every attempt of a request gets the same length, so resumes line up.
    this.lengthSource.current = new KeyedRandom(mix32(key ^ 0x5bd1e995));
    return Math.max(1, Math.round(this.drawLength()));
  }
}

/** Throws the injected status of this request, if it drew one. */
export function rejectInjected(events: ModelEvents, id: string, f: RequestFaults): void {
  if (f.reject !== undefined) {
    events.count(`status-${f.reject.status}`, id);
    throw injectedError(f.reject.status, f.reject.retryAfterMs, `injected ${f.reject.kind} fault`);
  }
}

/** Requests that hang: accepted and never answered until their signal aborts or the model crashes. */
export class Hangs {
  private readonly hanging = new Set<(e: Error) => void>();

  /** Never resolves; rejects when the signal aborts or on {@link failAll}. */
  until(signal: AbortSignal): Promise<never> {
    return new Promise<never>((_, reject) => {
      const fail = (e: Error): void => {
        this.hanging.delete(fail);
        signal.removeEventListener('abort', onAbort);
        reject(e);
      };
      const onAbort = (): void => fail(abortReason(signal));
      this.hanging.add(fail);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Ends every hanging request with its own `error()`. */
  failAll(error: () => Error): void {
    for (const fail of [...this.hanging]) fail(error());
  }
}
