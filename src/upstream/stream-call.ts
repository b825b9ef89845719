/**
 * One streamed completion over undici's dispatch API, as the AsyncIterator that `HttpModelClient.stream` returns.
 * The response bytes go from the socket straight into the SSE decoder: no Readable stream, no async-iterator
 * adapter over it, no generator. This is the per-token hot path of every proxied stream, so it allocates little:
 * the consumer pulls, and each pull takes every token decoded since the previous one as a single chunk (tokens
 * that arrive while the consumer is busy are coalesced, never queued one event each).
 *
 * Errors as the ModelClient contract wants them: a failure before the response is ConnectionRefusedError (or the
 * caller's/idle error); a non-200 answer is read whole and thrown as its typed error; a stream that breaks after
 * the headers (reset, clean close without `[DONE]`, an in-stream error event, a truncated or unparseable chunk)
 * throws StreamInterruptedError with the absolute count of tokens received. Tokens decoded before a failure are
 * delivered first. Leaving early (`return()`) aborts the request, so the server frees the GPU slot; after `[DONE]`
 * the rest of the response is read and dropped, so the connection goes back to the pool.
 */
import { StringDecoder } from 'node:string_decoder';
import type { Dispatcher } from 'undici';
import type { CallControl } from './call-control.js';
import { StreamInterruptedError } from './errors.js';
import { connectionError, errorFromResponse, timeoutError, type ResponseHeaders } from './http-errors.js';
import type { StreamEvent } from './model-client.js';
import { CompletionStreamDecoder } from './sse.js';

/** Decoded text waiting for the consumer beyond this pauses the socket until it pulls (backpressure). */
const HIGH_WATER_CHARS = 64 * 1024;

type Phase = 'connecting' | 'streaming' | 'error-body' | 'ended';

interface Waiter {
  resolve(r: IteratorResult<StreamEvent>): void;
  reject(e: unknown): void;
}

/** What a call needs from its client. */
export interface StreamCallContext {
  readonly origin: string;
  /** The wall clock, for an HTTP-date Retry-After when the response has no `date` header. */
  wallNow(): number | undefined;
  /** Called once when the call is over (for the client's in-flight set). */
  done(call: CallControl): void;
}

/** The dispatch handler and the iterator of one streamed call. Start it with `dispatcher.dispatch(opts, call)`. */
export class StreamCall implements AsyncIterator<StreamEvent>, AsyncIterable<StreamEvent>, Dispatcher.DispatchHandler {
  private readonly dec: CompletionStreamDecoder;
  private phase: Phase = 'connecting';
  private controller: Dispatcher.DispatchController | undefined;
  private utf8: StringDecoder | undefined;
  private waiter: Waiter | undefined;
  /** The error the consumer gets once the tokens before it are taken. */
  private error: unknown;
  private failed = false;
  /** `done` was handed to the consumer. */
  private finished = false;
  private closed = false;
  private released = false;
  private status = 0;
  private headers: ResponseHeaders = {};
  private errorBody: Buffer[] | undefined;

  /**
   * @param promptTokens reported in `done` when the server sends no usage.
   * @param resumeFrom the absolute index of the first token (0 for a new stream).
   */
  constructor(
    private readonly ctl: CallControl,
    private readonly ctx: StreamCallContext,
    private readonly resumeFrom: number,
    private readonly promptTokens: number,
  ) {
    this.dec = new CompletionStreamDecoder(resumeFrom);
    ctl.onAbort = () => {
      this.controller?.abort(ctl.failure() ?? new Error('aborted'));
      this.fail(ctl.failure());
    };
  }

  /** Absolute index of the next token: the tokens received so far (the idle timeout reports it). */
  get tokensReceived(): number {
    return this.dec.next;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  // ---- the consumer's side -------------------------------------------------------------------------------------

  next(): Promise<IteratorResult<StreamEvent>> {
    this.ctl.resume();
    let r: IteratorResult<StreamEvent> | undefined;
    try {
      r = this.take();
    } catch (error) {
      return Promise.reject(error);
    }
    if (r !== undefined) return Promise.resolve(r);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** The consumer left: abort unless the stream is complete (then the rest is dropped and the socket is kept). */
  return(): Promise<IteratorResult<StreamEvent>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** What the consumer gets now; undefined to wait. Throws the call's error once the tokens before it are taken. */
  private take(): IteratorResult<StreamEvent> | undefined {
    if (this.finished || this.closed) return { value: undefined, done: true };
    const batch = this.dec.take();
    if (batch !== undefined) {
      this.controller?.resume();
      this.ctl.suspend();
      if (batch.type === 'extra') {
        const { delta, logprobs, choice, finishReason } = batch;
        return { value: { type: 'extra', choice, ...(delta !== undefined ? { delta } : {}), ...(logprobs !== undefined ? { logprobs } : {}), ...(finishReason !== undefined ? { finishReason } : {}) }, done: false };
      }
      return { value: { type: 'tokens', index: batch.index, count: batch.count, text: batch.text }, done: false };
    }
    if (this.failed) {
      this.close();
      throw this.error;
    }
    if (this.dec.done) {
      this.finished = true;
      this.release();
      const usage = this.dec.usage ?? { promptTokens: this.promptTokens, completionTokens: this.dec.next - this.resumeFrom, estimated: true };
      return { value: { type: 'done', usage, finishReason: this.dec.finishReason ?? 'stop' }, done: false };
    }
    return undefined;
  }

  /** Hands the consumer what there is, if it waits. */
  private wake(): void {
    const w = this.waiter;
    if (w === undefined) return;
    let r: IteratorResult<StreamEvent> | undefined;
    try {
      r = this.take();
    } catch (error) {
      this.waiter = undefined;
      w.reject(error);
      return;
    }
    if (r === undefined) return;
    this.waiter = undefined;
    w.resolve(r);
  }

  private fail(error: unknown): void {
    if (this.failed || this.finished) return;
    this.failed = true;
    this.error = error;
    this.wake();
  }

  /** Ends the call: aborts the request unless the stream completed, and releases the controls. */
  private close(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.finished && this.phase !== 'ended') this.ctl.abort(new Error('stream consumer stopped'));
    this.release();
  }

  /** Once: stops the idle timer, unlinks the caller's signal, leaves the client's in-flight set. */
  private release(): void {
    if (this.released) return;
    this.released = true;
    this.ctl.onAbort = undefined;
    this.ctl.dispose();
    this.ctx.done(this.ctl);
    // Complete: the rest of the response (after [DONE]) is read and dropped, so the socket can be reused.
    if (this.finished) this.controller?.resume();
  }

  // ---- undici's side -------------------------------------------------------------------------------------------

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.ctl.aborted) controller.abort(this.ctl.failure() ?? new Error('aborted'));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    this.ctl.touch();
    if (statusCode < 200) return;
    this.status = statusCode;
    if (statusCode === 200) {
      this.phase = 'streaming';
    } else {
      this.phase = 'error-body';
      this.headers = headers;
      this.errorBody = [];
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.ctl.touch();
    if (this.phase === 'error-body') {
      this.errorBody?.push(chunk);
      return;
    }
    if (this.finished || this.failed || this.closed) return;
    // A chunk that ends on an ASCII byte cannot end inside a character: decode it alone (the common case). Once
    // a character was split, a StringDecoder holds the partial bytes from then on.
    const text = this.utf8 === undefined && chunk[chunk.length - 1]! < 0x80 ? chunk.toString('utf8') : (this.utf8 ??= new StringDecoder('utf8')).write(chunk);
    this.dec.feed(text);
    if (this.dec.failure !== undefined) {
      this.fail(new StreamInterruptedError(this.dec.next, this.dec.failure));
      return;
    }
    if (this.dec.pendingChars > HIGH_WATER_CHARS && this.waiter === undefined) controller.pause();
    this.wake();
  }

  onResponseEnd(): void {
    const phase = this.phase;
    this.phase = 'ended';
    if (phase === 'error-body') {
      const text = Buffer.concat(this.errorBody ?? []).toString('utf8');
      this.errorBody = undefined;
      this.fail(this.ctl.failure() ?? errorFromResponse(this.status, this.headers, text, this.ctx.wallNow()));
    } else if (!this.dec.done) {
      this.fail(this.ctl.failure() ?? new StreamInterruptedError(this.dec.next, this.dec.partial ? 'truncated chunk' : 'stream closed without [DONE]'));
    }
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    const phase = this.phase;
    this.phase = 'ended';
    if (phase === 'connecting') {
      this.fail(this.ctl.failure() ?? timeoutError(err, this.ctl.quietMs(), this.dec.next) ?? connectionError(err, this.ctx.origin) ?? err);
    } else if (phase === 'error-body') {
      // The status alone decides the class; the body only adds the message.
      const text = Buffer.concat(this.errorBody ?? []).toString('utf8');
      this.fail(this.ctl.failure() ?? errorFromResponse(this.status, this.headers, text, this.ctx.wallNow()));
    } else {
      const reason = this.dec.partial ? 'truncated chunk' : `connection reset (${err.message})`;
      this.fail(this.ctl.failure() ?? timeoutError(err, this.ctl.quietMs(), this.dec.next) ?? new StreamInterruptedError(this.dec.next, reason));
    }
  }
}
