/**
 * A ModelClient that calls MockModels directly: no sockets, same Clock. Behaviour and typed errors match the HTTP
 * path: admission failures are thrown by `stream()`'s iteration before the first event, a mid-stream disconnect
 * (any of the four wire forms) throws StreamInterruptedError(tokensReceived), and aborting the signal (or breaking
 * out of the loop) frees the GPU slot. Virtual-time scenarios run on this, so it adds no timer and no per-token
 * allocation beyond the chunk event itself: tokens arrive one chunk per GPU step (coalesced if the consumer lags).
 */
import { setMaxListeners } from 'node:events';
import { abortReason } from '../src/errors.js';
import { BadRequestError, StreamInterruptedError } from '../src/upstream/errors.js';
import {
  dialectCapabilities,
  type CallOptions,
  type EmbeddingRequest,
  type EmbeddingResult,
  type ModelClient,
  type ModelRequest,
  type StreamEvent,
  type StreamOptions,
} from '../src/upstream/model-client.js';
import type { MockModel } from './mock-model.js';
import type { GenerateRequest } from './types.js';

/** The disconnect forms as the HTTP client would describe them. */
const REASONS = {
  reset: 'connection reset (injected disconnect)',
  'clean-close': 'stream closed without [DONE] (injected disconnect)',
  'error-event': 'error event in stream (injected disconnect)',
  'truncated-chunk': 'truncated chunk (injected disconnect)',
} as const;

const NEVER_ABORTED = new AbortController().signal;
// Shared by every call made without a signal; each adds (and later removes) one listener.
setMaxListeners(0, NEVER_ABORTED);

/** A ModelClient over in-process MockModels, chosen by `request.model`. */
export class InProcessModelClient implements ModelClient {
  private readonly models = new Map<string, MockModel>();
  /** The mock continues a prefix (a vLLM-like upstream) and regenerates the same text for the same request id. */
  readonly capabilities = dialectCapabilities('mock');

  constructor(models: MockModel | readonly MockModel[]) {
    for (const m of Array.isArray(models) ? (models as readonly MockModel[]) : [models as MockModel]) this.models.set(m.name, m);
  }

  /** The model serving `name`; a 404-like BadRequestError naming the known models otherwise. */
  model(name: string): MockModel {
    const m = this.models.get(name);
    if (m === undefined) {
      throw new BadRequestError(`model: expected one of ${[...this.models.keys()].join(', ')}, got ${JSON.stringify(name)}`, 404);
    }
    return m;
  }

  stream(request: ModelRequest, options: StreamOptions = {}): AsyncIterable<StreamEvent> {
    return this.run(request, options);
  }

  private async *run(request: ModelRequest, options: StreamOptions): AsyncGenerator<StreamEvent> {
    const model = this.model(request.model);
    // Our own controller, so leaving the loop early (break, throw) frees the GPU slot as an abort does.
    const ctl = new AbortController();
    const outer = options.signal;
    const onAbort = (): void => ctl.abort(outer?.reason);
    if (outer?.aborted) throw abortReason(outer);
    outer?.addEventListener('abort', onAbort, { once: true });
    const req: GenerateRequest = {
      id: request.id,
      model: request.model,
      kind: request.messages !== undefined ? 'chat' : 'completion',
      ...(request.messages !== undefined ? { messages: request.messages } : {}),
      ...(request.prompt !== undefined ? { prompt: request.prompt } : {}),
      ...(request.promptTokens !== undefined ? { promptTokens: request.promptTokens } : {}),
      ...(request.maxTokens !== undefined ? { maxTokens: request.maxTokens } : {}),
      ...(request.outputTokens !== undefined ? { outputTokens: request.outputTokens } : {}),
      ...(options.resumeFrom !== undefined ? { resumeFrom: options.resumeFrom } : {}),
      ...(request.apiKey !== undefined ? { apiKey: request.apiKey } : {}),
      ...(request.fault !== undefined ? { fault: request.fault } : {}),
      ...(request.prefix !== undefined ? { prefix: request.prefix } : {}),
    };
    let finished = false;
    try {
      const generation = await model.generate(req, ctl.signal);
      for await (const ev of generation.events) {
        if (ev.type === 'tokens') {
          yield ev; // same shape as StreamEvent's tokens: passed through without copying
        } else if (ev.type === 'done') {
          finished = true;
          yield {
            type: 'done',
            usage: { promptTokens: ev.promptTokens, completionTokens: ev.completionTokens, cachedPromptTokens: ev.cachedTokens },
            finishReason: ev.finishReason,
          };
          return;
        } else {
          finished = true;
          throw new StreamInterruptedError(ev.tokensSent, REASONS[ev.form]);
        }
      }
      finished = true;
      // The events ended without a terminal event: only an abort does that.
      if (ctl.signal.aborted) throw abortReason(ctl.signal);
      throw new StreamInterruptedError(req.resumeFrom ?? 0, 'stream ended without a terminal event');
    } finally {
      outer?.removeEventListener('abort', onAbort);
      if (!finished) ctl.abort(new Error('stream consumer stopped'));
    }
  }

  /** The models it serves, as the mock server lists them. */
  async listModels(): Promise<Array<{ id: string; object: 'model'; owned_by: string }>> {
    return [...this.models.keys()].map((id) => ({ id, object: 'model', owned_by: 'mock' }));
  }

  async embed(request: EmbeddingRequest, options: CallOptions = {}): Promise<EmbeddingResult> {
    return this.model(request.model).embed(request, options.signal ?? NEVER_ABORTED);
  }
}
