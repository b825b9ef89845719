import { abortReason, HarnessError, ValidationError } from '../errors.js';
import type { Clock, Timer } from '../time/clock.js';

/** One item's outcome in a batch, in the order the items were given to `flush`. */
export type BatchItemResult<O> = { ok: true; value: O } | { ok: false; error: Error };

/** Options for {@link Batcher}. */
export interface BatcherOptions<I> {
  /**
   * `size`: flush when a batch is full (no timer; use `flushNow` to force). `time`: flush `maxWaitMs` after a
   * batch's first item, whatever its size. `hybrid`: whichever comes first.
   */
  mode: 'size' | 'time' | 'hybrid';
  /** Items per flush call at most, in every mode (a time-window batch larger than this goes out in chunks). */
  maxSize: number;
  /** The window, from the first item of a batch (time and hybrid modes). */
  maxWaitMs: number;
  /** Tokens per flush call at most, counted with `tokensOf`; an item larger than this goes alone. @default no limit */
  maxTokens?: number;
  /** An item's token cost (e.g. prompt plus max output). Required with `maxTokens`. */
  tokensOf?: (item: I) => number;
}

export interface BatcherCounters {
  /** Flush calls made. */
  batches: number;
  /** Items handed to flush calls. */
  items: number;
  meanBatchSize: number;
}

/** The flush function returned something other than one result per item. */
export class BatchResultMismatchError extends HarnessError {
  constructor(expected: number, received: unknown) {
    const got = Array.isArray(received) ? `${received.length} results` : typeof received;
    super('BATCH_RESULT_MISMATCH', `batch flush: expected ${expected} results (one per item), got ${got}`);
  }
}

interface Pending<I, O> {
  readonly item: I;
  readonly tokens: number;
  readonly resolve: (value: O) => void;
  readonly reject: (error: Error) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** 0 waiting in the open batch, 1 handed to flush, 2 settled (answered or aborted). */
  state: number;
}

const OPEN = 0;
const FLUSHED = 1;
const SETTLED = 2;

/**
 * Collects single requests into batches for one upstream call each, then splits the results back to their
 * callers in order. Per-item errors stay per item; a rejected flush fails every item of that batch with its error.
 * A caller that aborts before its batch goes out is removed from it; after that, it is answered with the abort
 * reason at once and its result is dropped.
 */
export class Batcher<I, O> {
  readonly #clock: Clock;
  readonly #mode: 'size' | 'time' | 'hybrid';
  readonly #maxSize: number;
  readonly #maxWaitMs: number;
  readonly #maxTokens: number;
  readonly #tokensOf: ((item: I) => number) | undefined;
  readonly #flush: (items: I[]) => Promise<Array<BatchItemResult<O>>>;
  #open: Array<Pending<I, O>> = [];
  #openTokens = 0;
  #timer: Timer | undefined;
  readonly #c = { batches: 0, items: 0 };

  constructor(clock: Clock, options: BatcherOptions<I>, flush: (items: I[]) => Promise<Array<BatchItemResult<O>>>) {
    const { mode, maxSize, maxWaitMs, maxTokens, tokensOf } = options;
    if (mode !== 'size' && mode !== 'time' && mode !== 'hybrid') throw new ValidationError('mode', "'size', 'time' or 'hybrid'", mode);
    if (!(Number.isInteger(maxSize) && maxSize >= 1)) throw new ValidationError('maxSize', 'an integer >= 1', maxSize);
    if (!(Number.isFinite(maxWaitMs) && maxWaitMs >= 0)) throw new ValidationError('maxWaitMs', 'a finite number >= 0', maxWaitMs);
    if (maxTokens !== undefined) {
      if (!(maxTokens > 0)) throw new ValidationError('maxTokens', 'a number > 0', maxTokens);
      if (typeof tokensOf !== 'function') throw new ValidationError('tokensOf', 'a function when maxTokens is set', tokensOf);
    }
    this.#clock = clock;
    this.#mode = mode;
    this.#maxSize = maxSize;
    this.#maxWaitMs = maxWaitMs;
    this.#maxTokens = maxTokens ?? Number.POSITIVE_INFINITY;
    this.#tokensOf = maxTokens === undefined ? undefined : tokensOf;
    this.#flush = flush;
  }

  /** Items waiting in the open batch. */
  get pending(): number {
    return this.#open.length;
  }

  get counters(): BatcherCounters {
    const { batches, items } = this.#c;
    return { batches, items, meanBatchSize: batches === 0 ? 0 : items / batches };
  }

  /** Adds `item` to the open batch; resolves with its own result once its batch is flushed. */
  submit(item: I, signal?: AbortSignal): Promise<O> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const tokens = this.#tokensOf === undefined ? 0 : this.#tokensOf(item);
    if (!(Number.isFinite(tokens) && tokens >= 0)) throw new ValidationError('tokensOf(item)', 'a finite number >= 0', tokens);
    return new Promise<O>((resolve, reject) => {
      const p: Pending<I, O> = { item, tokens, resolve, reject, signal, onAbort: undefined, state: OPEN };
      if (signal !== undefined) {
        p.onAbort = () => this.#abandon(p);
        signal.addEventListener('abort', p.onAbort, { once: true });
      }
      const counting = this.#mode !== 'time';
      // Close the open batch first if this item would push it over the token budget.
      if (counting && this.#open.length > 0 && this.#openTokens + tokens > this.#maxTokens) this.flushNow();
      this.#open.push(p);
      this.#openTokens += tokens;
      if (this.#open.length === 1 && this.#mode !== 'size') {
        this.#timer = this.#clock.setTimer(this.#maxWaitMs, () => {
          this.#timer = undefined;
          this.flushNow();
        }, 'batcher window');
      }
      if (counting && (this.#open.length >= this.#maxSize || this.#openTokens >= this.#maxTokens)) this.flushNow();
    });
  }

  /** Sends the open batch now (in chunks that respect maxSize and maxTokens). */
  flushNow(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    const open = this.#open;
    this.#open = [];
    this.#openTokens = 0;
    let chunk: Array<Pending<I, O>> = [];
    let tokens = 0;
    for (const p of open) {
      if (chunk.length > 0 && (chunk.length >= this.#maxSize || tokens + p.tokens > this.#maxTokens)) {
        this.#send(chunk);
        chunk = [];
        tokens = 0;
      }
      chunk.push(p);
      tokens += p.tokens;
    }
    if (chunk.length > 0) this.#send(chunk);
  }

  #send(batch: Array<Pending<I, O>>): void {
    this.#c.batches++;
    this.#c.items += batch.length;
    for (const p of batch) p.state = FLUSHED;
    let call: Promise<Array<BatchItemResult<O>>>;
    try {
      call = this.#flush(batch.map((p) => p.item));
    } catch (error) {
      call = Promise.reject(error);
    }
    Promise.resolve(call).then(
      (results) => {
        if (!Array.isArray(results) || results.length !== batch.length) {
          const err = new BatchResultMismatchError(batch.length, results);
          for (const p of batch) this.#settle(p, undefined, err);
          return;
        }
        batch.forEach((p, i) => {
          const r = results[i];
          if (r === undefined || typeof r !== 'object') this.#settle(p, undefined, new BatchResultMismatchError(batch.length, results));
          else if (r.ok) this.#settle(p, r.value, undefined);
          else this.#settle(p, undefined, r.error);
        });
      },
      (error: unknown) => {
        const err = error instanceof Error ? error : new HarnessError('BATCH_FLUSH_FAILED', `batch flush rejected with ${String(error)}`);
        for (const p of batch) this.#settle(p, undefined, err);
      },
    );
  }

  #settle(p: Pending<I, O>, value: O | undefined, error: Error | undefined): void {
    if (p.state === SETTLED) return;
    p.state = SETTLED;
    if (p.onAbort !== undefined) p.signal?.removeEventListener('abort', p.onAbort);
    if (error !== undefined) p.reject(error);
    else p.resolve(value as O);
  }

  #abandon(p: Pending<I, O>): void {
    if (p.state === OPEN) {
      const i = this.#open.indexOf(p);
      if (i >= 0) this.#open.splice(i, 1);
      this.#openTokens -= p.tokens;
      if (this.#open.length === 0) {
        this.#timer?.cancel();
        this.#timer = undefined;
      }
    }
    if (p.state === SETTLED) return;
    p.state = SETTLED;
    p.reject(abortReason(p.signal as AbortSignal));
  }
}
