import type { ModelRequest, StreamEvent, Usage } from '../upstream/model-client.js';
import type { BilledCall } from './billed-usage.js';
import type { EngineRequest, EngineResult, Outcome, TokenChunk } from './engine-types.js';
import type { Priority } from './queue.js';

/** Chunks of text a job keeps apart before joining them into one string (see Job.text). */
const RUN = 64;

/**
 * One request's progress through the engine: what the caller has been given (tokens are delivered exactly
 * once, in order, whatever the upstream repeats), the counts that end up in its result, and its fan-out to
 * dedup joiners.
 */
export class Job {
  readonly priority: Priority;
  /** The chat request as it will next be sent (trimmed after a context-length rejection). */
  request: ModelRequest | undefined;
  #delivered = 0;
  #deliveredChars = 0;
  /**
   * The stream attempt whose upstream holds delivered tokens back (StreamSink.hold, in src/upstream/model-client.ts):
   * anything that reads this job's progress flushes it first, so what it reads is what per-chunk delivery would show.
   */
  holder: { flush(): void; stop(): void } | undefined;
  /**
   * The text delivered, as a two-level rope: up to {@link RUN} recent chunks in a fixed array, then each full run
   * joined into one string. A stream delivers one chunk per GPU step for as long as the request runs: a list of
   * them, grown by one each time, is what the garbage collector would keep copying.
   */
  private recent: string[] | undefined;
  private recentCount = 0;
  private runs: string[] | undefined;
  /** The model that produced the delivered tokens (a stream cannot switch models midway). */
  model: 'primary' | 'fallback' = 'primary';
  attempts = 0;
  upstreamCalls = 0;
  resumes = 0;
  queuedMs = 0;
  backoffMs = 0;
  firstTokenAtMs: number | undefined;
  /** Served by the fallback because the primary's breaker refused. */
  viaFallback = false;
  contextTrimmed = false;
  /** Sent to the fallback for its size: over the token budget threshold, or too long for the primary's context. */
  sizeRoute: 'smaller-model' | 'context-fallback' | undefined;
  /** A restart was spliced onto delivered tokens (policy `resume.splice`): the answer mixes two generations. */
  spliced = false;
  /**
   * Deltas that are not text reached the caller (tool calls, refusal, another choice): no continuation request can
   * carry them, so a break after this ends the answer partial.
   */
  passedThrough = false;
  /** The usage and finish reason of the last call that completed. */
  usage: Usage | undefined;
  finishReason: string | undefined;
  embeddings: ReadonlyArray<readonly number[]> | undefined;
  /** What each upstream call that ran was billed (src/engine/billed-usage.ts), in order. */
  readonly bills: BilledCall[] = [];
  /** Some call may have been billed without the engine knowing how much (it failed before any event). */
  billsUnknown = false;
  /** Extra token listeners (dedup joiners). */
  private listeners: Array<(c: TokenChunk, charsBefore: number) => void> | undefined;

  constructor(readonly req: EngineRequest, readonly submitMs: number) {
    this.priority = req.priority ?? 'interactive';
    this.request = req.request;
  }

  /** Tokens delivered to the caller: the next expected index. */
  get delivered(): number {
    this.holder?.flush();
    return this.#delivered;
  }

  /** Characters delivered (aligns a restarted stream with what was already delivered). */
  get deliveredChars(): number {
    this.holder?.flush();
    return this.#deliveredChars;
  }

  /** @internal `delivered` as the stream attempt that may hold tokens back sees it (no flush). */
  get deliveredHere(): number {
    return this.#delivered;
  }

  /** @internal `deliveredChars` without a flush (see deliveredHere). */
  get deliveredCharsHere(): number {
    return this.#deliveredChars;
  }

  /** Hands over whatever the upstream holds back (see `holder`). */
  flushHeld(): void {
    this.holder?.flush();
  }

  /** Something reached the caller: tokens, or deltas passed through. */
  get started(): boolean {
    return this.delivered > 0 || this.passedThrough;
  }

  /** Tokens are locked to a model once any were delivered. */
  get lockedTo(): 'primary' | 'fallback' | undefined {
    return this.started ? this.model : undefined;
  }

  get text(): string {
    this.holder?.flush();
    let s = this.runs === undefined ? '' : this.runs.join('');
    const recent = this.recent;
    if (recent !== undefined) for (let i = 0; i < this.recentCount; i++) s += recent[i] as string;
    return s;
  }

  private appendText(text: string): void {
    const recent = (this.recent ??= new Array<string>(RUN).fill(''));
    if (this.recentCount === RUN) {
      (this.runs ??= []).push(recent.join(''));
      this.recentCount = 0;
    }
    recent[this.recentCount++] = text;
  }

  private clearText(): void {
    this.recent?.fill('', 0, this.recentCount);
    this.recentCount = 0;
    this.runs = undefined;
  }

  /** Gives new tokens to the caller and any joiners. */
  deliver(index: number, count: number, text: string, atMs: number): void {
    this.#delivered = index + count;
    this.#deliveredChars += text.length;
    this.appendText(text);
    this.firstTokenAtMs ??= atMs;
    this.req.onTokenTimes?.(atMs, count);
    const on = this.req.onTokens;
    if (on === undefined && this.listeners === undefined) return;
    const chunk: TokenChunk = { index, count, text, atMs };
    on?.(chunk);
    if (this.listeners !== undefined) for (const l of this.listeners) l(chunk, this.#deliveredChars - text.length);
  }

  /**
   * Tokens [index, index + count) handed over late by an upstream that held them (see `holder`), right after what was
   * delivered; `onTokenTimes` had each chunk's time as it arrived. Only while nothing needs the tokens themselves as
   * they arrive (`mayHold`: no `onTokens`, no joiners) and after the first chunk (`firstTokenAtMs` is set).
   */
  deliverHeld(index: number, count: number, text: string): void {
    this.#delivered = index + count;
    this.#deliveredChars += text.length;
    this.appendText(text);
  }

  /** Whether tokens may be handed over late (see deliverHeld): nobody needs them as they arrive. */
  get mayHold(): boolean {
    return this.req.onTokens === undefined && this.listeners === undefined && this.firstTokenAtMs !== undefined;
  }

  /** Dedup twins follow this job's output (it cannot be taken back). */
  get followed(): boolean {
    return this.listeners !== undefined && this.listeners.length > 0;
  }

  /** Drops the output so far (a buffered caller saw none of it), to start again from scratch. Returns the tokens dropped. */
  discard(): number {
    const n = this.delivered;
    this.#delivered = 0;
    this.#deliveredChars = 0;
    this.clearText();
    this.passedThrough = false;
    this.spliced = false;
    this.firstTokenAtMs = undefined;
    this.req.onRestart?.();
    return n;
  }

  /** Passes a delta the engine does not read to the caller. */
  extra(e: Extract<StreamEvent, { type: 'extra' }>): void {
    if (e.delta !== undefined || e.choice !== 0) this.passedThrough = true;
    const on = this.req.onExtra;
    if (on === undefined) return;
    const { type: _type, ...rest } = e;
    on(rest);
  }

  /** Records tokens the caller already received elsewhere (from a dedup twin), without delivering them again. */
  seed(count: number, text: string, model: 'primary' | 'fallback', firstTokenAtMs: number | undefined, request?: ModelRequest): void {
    if (request !== undefined) this.request = request;
    this.holder?.flush();
    this.#delivered = count;
    this.#deliveredChars = text.length;
    this.clearText();
    this.appendText(text);
    this.model = model;
    this.firstTokenAtMs = firstTokenAtMs;
  }

  /**
   * Follows this job's tokens from the start: replays what was delivered, then streams the rest. The listener
   * also gets the character offset of the chunk in the whole text, so it can skip what it already has.
   */
  follow(listener: (c: TokenChunk, charsBefore: number) => void, atMs: number): () => void {
    // A joiner follows live from here: nothing may be held back any more.
    this.holder?.stop();
    if (this.delivered > 0) listener({ index: 0, count: this.delivered, text: this.text, atMs }, 0);
    (this.listeners ??= []).push(listener);
    return () => {
      const i = this.listeners?.indexOf(listener) ?? -1;
      if (i >= 0) this.listeners?.splice(i, 1);
    };
  }

  /** The final result. */
  result(outcome: Outcome, endAtMs: number, extra?: Partial<EngineResult>): EngineResult {
    const r: { -readonly [K in keyof EngineResult]: EngineResult[K] } = {
      id: this.req.id,
      outcome,
      text: this.text,
      tokens: this.delivered,
      model: this.model,
      attempts: this.attempts,
      upstreamCalls: this.upstreamCalls,
      resumes: this.resumes,
      queuedMs: this.queuedMs,
      backoffMs: this.backoffMs,
      endAtMs,
    };
    if (this.firstTokenAtMs !== undefined) r.firstTokenAtMs = this.firstTokenAtMs;
    if (this.embeddings !== undefined) r.embeddings = this.embeddings;
    if (this.usage !== undefined) r.usage = this.usage;
    if (this.finishReason !== undefined) r.finishReason = this.finishReason;
    if (this.bills.length > 0 || this.billsUnknown) r.billed = { calls: [...this.bills], unknown: this.billsUnknown };
    return extra === undefined ? r : Object.assign(r, extra);
  }
}
