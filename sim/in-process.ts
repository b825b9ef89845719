/**
 * A ModelClient that calls MockModels directly: no sockets, same Clock. Behaviour and typed errors match the HTTP
 * path: admission failures are thrown by `stream()`'s iteration before the first event, a mid-stream disconnect
 * (any of the four wire forms) throws StreamInterruptedError(tokensReceived), and aborting the signal (or breaking
 * out of the loop) frees the GPU slot. Virtual-time scenarios run on this, so it adds no timer and no per-token
 * allocation beyond the chunk event itself: tokens arrive one chunk per GPU step (coalesced if the consumer lags).
 * Its streams can also be pushed (`PushableStream.pushTo`, which the engine uses): each GPU step's tokens go to
 * the sink as the step ends, a function call per chunk instead of the promises of an async iteration. A sink that
 * sets `hold` (StreamSink.hold: the engine's, in a virtual run, once nothing needs the tokens live) gets only each
 * chunk's time as it arrives; the tokens come in one `held` call on `flush()`, before any other event, or at the end.
 */
import { setMaxListeners } from 'node:events';
import { abortReason, withoutStack } from '../src/errors.js';
import { BadRequestError, StreamInterruptedError } from '../src/upstream/errors.js';
import {
  dialectCapabilities,
  type CallOptions,
  type CompletionBatchRequest,
  type CompletionBatchResult,
  type EmbeddingRequest,
  type EmbeddingResult,
  type ModelClient,
  type ModelRequest,
  type PushableStream,
  type StreamEvent,
  type StreamOptions,
  type StreamSink,
} from '../src/upstream/model-client.js';
import type { MockModel } from './mock-model.js';
import type { GenerateRequest, Generation, GenerationEvent, GenerationEvents, GenerationListener } from './types.js';

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

const NOTHING_TO_CANCEL = { cancel: (): void => undefined, flush: (): void => undefined };

/** The mock's form of a ModelClient request. */
function generateRequest(request: ModelRequest, options: StreamOptions): GenerateRequest {
  return {
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
}

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

  /**
   * The call's events, pulled (`for await`) or pushed (`pushTo`, see PushableStream): the same admission, events
   * and errors either way. Pushing hands each GPU step's tokens to the sink as the step ends, with no promise.
   */
  stream(request: ModelRequest, options: StreamOptions = {}): PushableStream {
    return {
      [Symbol.asyncIterator]: () => this.run(request, options),
      pushTo: (sink) => this.push(request, options, sink),
    };
  }

  private async *run(request: ModelRequest, options: StreamOptions): AsyncGenerator<StreamEvent> {
    const model = this.model(request.model);
    // Our own controller, so leaving the loop early (break, throw) frees the GPU slot as an abort does.
    const ctl = new AbortController();
    const outer = options.signal;
    const onAbort = (): void => ctl.abort(outer?.reason);
    if (outer?.aborted) throw abortReason(outer);
    outer?.addEventListener('abort', onAbort, { once: true });
    const req = generateRequest(request, options);
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
          throw withoutStack(() => new StreamInterruptedError(ev.tokensSent, REASONS[ev.form])); // an injected cut: no stack
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

  /** The push path of {@link stream}: what `run` does, with the generation's listener in place of the loop. */
  private push(request: ModelRequest, options: StreamOptions, sink: StreamSink): { cancel(): void; flush(): void } {
    let model: MockModel;
    try {
      model = this.model(request.model);
    } catch (error) {
      sink.fail(error);
      return NOTHING_TO_CANCEL;
    }
    const outer = options.signal;
    if (outer?.aborted) {
      sink.fail(abortReason(outer));
      return NOTHING_TO_CANCEL;
    }
    // The caller's signal is the generation's own (no controller of ours in between): cancel() ends the generation
    // as leaving a loop does.
    const call = new PushedCall(sink, outer ?? new AbortController().signal, generateRequest(request, options));
    model.generate(call.req, call.signal).then(call.admitted, call.refused);
    return call;
  }

  /** The models it serves, as the mock server lists them. */
  async listModels(): Promise<Array<{ id: string; object: 'model'; owned_by: string }>> {
    return [...this.models.keys()].map((id) => ({ id, object: 'model', owned_by: 'mock' }));
  }

  async embed(request: EmbeddingRequest, options: CallOptions = {}): Promise<EmbeddingResult> {
    return this.model(request.model).embed(request, options.signal ?? NEVER_ABORTED);
  }

  /**
   * One multi-prompt completions call, as the mock server serves `POST /v1/completions` with `prompt: [...]`
   * (sim/generate-route.ts): each prompt is a completion sequence of its own on the GPU (id `${id}-${i}`, or `id`
   * for a single prompt), all admitted together (one refused: the others are freed and the call throws that
   * typed error), run to their ends, and answered at once with one choice per prompt by index and the call's usage
   * summed. A disconnect in any choice breaks the whole (non-streamed) answer: StreamInterruptedError with nothing
   * received, after the other choices ran out, as the server writes its body only then. Each sequence bills itself.
   */
  async completeBatch(request: CompletionBatchRequest, options: CallOptions = {}): Promise<CompletionBatchResult> {
    const model = this.model(request.model);
    const outer = options.signal;
    if (outer?.aborted) throw abortReason(outer);
    const ctl = new AbortController();
    const onAbort = (): void => ctl.abort(outer?.reason);
    outer?.addEventListener('abort', onAbort, { once: true });
    const many = request.prompts.length > 1;
    const reqs: GenerateRequest[] = request.prompts.map((prompt, i) => ({
      id: many ? `${request.id}-${i}` : request.id,
      model: request.model,
      kind: 'completion',
      prompt,
      ...(request.maxTokens !== undefined ? { maxTokens: request.maxTokens } : {}),
      ...(request.apiKey !== undefined ? { apiKey: request.apiKey } : {}),
    }));
    let clean = false;
    try {
      const gens = await Promise.all(reqs.map((r) => model.generate(r, ctl.signal)));
      const runs = await Promise.all(
        gens.map(async (g) => {
          let text = '';
          for await (const ev of g.events) {
            if (ev.type === 'tokens') text += ev.text;
            else if (ev.type === 'done') return { text, done: ev };
            else return { text, broken: ev.form };
          }
          throw ctl.signal.aborted ? abortReason(ctl.signal) : new StreamInterruptedError(0, 'stream ended without a terminal event');
        }),
      );
      const broken = runs.find((r) => r.broken !== undefined)?.broken;
      if (broken !== undefined) throw new StreamInterruptedError(0, REASONS[broken]);
      clean = true;
      let promptTokens = 0;
      let completionTokens = 0;
      const choices = runs.map((r, index) => {
        promptTokens += r.done?.promptTokens ?? 0;
        completionTokens += r.done?.completionTokens ?? 0;
        return { index, text: r.text, finishReason: r.done?.finishReason ?? 'stop' };
      });
      return { choices, usage: { promptTokens, completionTokens } };
    } finally {
      outer?.removeEventListener('abort', onAbort);
      // Frees the prompts admitted before one was refused, or still running after another failed.
      if (!clean) ctl.abort(new Error('batched completions ended'));
    }
  }
}

/**
 * One pushed call (InProcessModelClient.stream's `pushTo`): the generation's listener, forwarding to the caller's
 * sink, and the handle the caller cancels or flushes. A class, so that the per-chunk calls (`tokens`, `hold`) are
 * monomorphic and nothing is allocated per call but this object.
 */
class PushedCall implements GenerationListener {
  /** The consumer is gone (cancelled) or the stream reached its end: nothing more goes to the sink. */
  private over = false;
  private events: GenerationEvents | undefined;

  constructor(
    private readonly sink: StreamSink,
    readonly signal: AbortSignal,
    readonly req: GenerateRequest,
  ) {}

  readonly admitted = (generation: Generation): void => {
    const events = generation.events;
    this.events = events;
    // Cancelled while being admitted: end the generation as leaving the loop would.
    if (this.over) endEvents(events);
    else events.listen(this);
  };

  readonly refused = (error: unknown): void => {
    if (this.over) return;
    this.over = true;
    this.sink.fail(error);
  };

  tokens(text: string, index: number, count: number): boolean {
    if (!this.over) this.sink.tokens(index, count, text);
    return true;
  }

  /** The sink may let the generation hold its chunks back (StreamSink.hold): they come later, in one call. */
  get hold(): ((atMs: number, count: number) => void) | undefined {
    return this.over ? undefined : this.sink.hold;
  }

  held(index: number, count: number, text: string, lastAtMs: number, lastCount: number): void {
    if (this.over) return;
    const sink = this.sink;
    if (sink.held !== undefined) sink.held(index, count, text, lastAtMs, lastCount);
    else sink.tokens(index, count, text);
  }

  end(terminal: Exclude<GenerationEvent, { type: 'tokens' }> | undefined, error: Error | undefined): void {
    if (this.over) return;
    this.over = true;
    const sink = this.sink;
    if (error !== undefined) sink.fail(error);
    else if (terminal === undefined) {
      // The events ended without a terminal event: only an abort does that.
      const signal = this.signal;
      sink.fail(signal.aborted ? abortReason(signal) : new StreamInterruptedError(this.req.resumeFrom ?? 0, 'stream ended without a terminal event'));
    } else if (terminal.type === 'done') {
      sink.event({
        type: 'done',
        usage: { promptTokens: terminal.promptTokens, completionTokens: terminal.completionTokens, cachedPromptTokens: terminal.cachedTokens },
        finishReason: terminal.finishReason,
      });
    } else sink.fail(withoutStack(() => new StreamInterruptedError(terminal.tokensSent, REASONS[terminal.form]))); // an injected cut: no stack
  }

  /** Ends the call as breaking out of a loop would; what the generation held back reaches the sink first. */
  cancel(): void {
    if (this.over) return;
    this.events?.flush();
    if (this.over) return;
    this.over = true;
    if (this.events !== undefined) endEvents(this.events);
  }

  /** Hands over what the generation holds back (StreamSink.hold). */
  flush(): void {
    if (!this.over) this.events?.flush();
  }
}

/** Ends a generation's events as a consumer leaving its loop does. */
function endEvents(e: GenerationEvents): void {
  void e[Symbol.asyncIterator]().return?.();
}
