/**
 * One admitted generation's event stream: tokens arrive from the GPU at step ends, pass through the request's
 * delivery faults (TTFT delay, per-chunk jitter, stall, disconnect) and are pulled by a transport as
 * `GenerationEvent`s, or pushed to it (`listen`, the HTTP server's hot path: no promise per chunk). Tokens that
 * became visible since the last pull (or while a pushed-to consumer was full) are coalesced into one chunk, so a
 * slow consumer gets bigger chunks, never a backlog of events. No timer is used unless a delivery fault needs one.
 */
import { abortReason } from '../src/errors.js';
import type { Clock, Timer } from '../src/time/clock.js';
import { DeliverySchedule } from './generation-delivery.js';
import type { SeqSink } from './gpu-seq.js';
import { tokensText } from './tokens.js';
import type { DisconnectForm, GenerationEvent, GenerationEvents, GenerationListener } from './types.js';

/** How a generation ended. */
export type GenerationOutcome = 'stop' | 'length' | 'disconnect' | 'aborted' | 'crashed';

/** Delivery faults of one generation. */
export interface DeliveryOptions {
  /** Request key of the token text (sim/tokens.ts `requestKey`). */
  readonly key: number;
  readonly startIndex: number;
  readonly endIndex: number;
  readonly promptTokens: number;
  readonly finishReason: 'stop' | 'length';
  readonly ttftDelayMs: number;
  readonly jitterMs: (() => number) | undefined;
  readonly disconnect: { readonly afterTokens?: number; readonly afterMs?: number; readonly form: DisconnectForm } | undefined;
  readonly stall: { readonly afterTokens: number; readonly forMs?: number } | undefined;
  /** Record per-token gaps for the `request-done` event. */
  readonly recordItl: boolean;
  /** Prompt tokens the GPU found in its prefix cache (known once the sequence is scheduled). */
  readonly cachedTokens?: () => number;
}

/** What the owner learns when the generation ends. */
export interface GenerationEnd {
  readonly outcome: GenerationOutcome;
  /** Tokens made visible to the client (absolute index after the last one). */
  readonly deliveredTo: number;
  /** Output tokens the GPU computed for this generation and never delivered. */
  readonly undelivered: number;
  /** Tokens computed (absolute index after the last one): what this generation bills as output from its start. */
  readonly computedTo: number;
  readonly firstTokenMs: number | undefined;
  readonly endMs: number;
  readonly itlMs: number[] | undefined;
}

const DONE: IteratorResult<GenerationEvent> = { value: undefined, done: true };

/** The stream of one generation; it is the GPU's sink for the sequence. */
export class GenerationStream implements SeqSink, GenerationEvents {
  /** Tokens computed by the GPU (absolute index after the last). */
  private computedTo: number;
  /** Tokens visible to the consumer. */
  private visibleTo: number;
  /** Tokens already handed out in an event. */
  private pulledTo: number;
  /** Visibility cap from a stall or a disconnect (absolute). */
  private stallAt: number;
  private disconnectAt: number;
  /** The disconnect in force: from admission, or injected mid-stream by a fault phase. */
  private disconnectSpec: DeliveryOptions['disconnect'];
  private stallForMs: number | undefined;
  private terminal: GenerationEvent | undefined;
  private error: Error | undefined;
  private finished = false;
  private ended = false;
  private waiter: ((r: IteratorResult<GenerationEvent>) => void) | undefined;
  private failWaiter: ((e: Error) => void) | undefined;
  /** The push-mode consumer, when there is one (then the iterator is not used). */
  private listener: GenerationListener | undefined;
  /** Push mode: the consumer said it cannot take more until `resume()`. */
  private paused = false;
  private listenerEnded = false;
  private readonly timers: Timer[] = [];
  /** Pending timed deliveries (sim/generation-delivery.ts). */
  private readonly delivery: DeliverySchedule;
  private firstTokenMs: number | undefined;
  private lastTokenMs = 0;
  private readonly itl: number[] | undefined;
  private readonly delayed: boolean;
  private stallArmed = false;
  /** Tokens whose delivery is due (visible but for the caps). */
  private dueTo: number;
  /**
   * Push mode, chunks held back while the listener says `hold`: tokens [heldFrom, heldTo) (none when equal), the
   * last chunk made visible at `heldLastMs` with `heldLastCount` tokens.
   */
  private heldFrom = 0;
  private heldTo = 0;
  private heldLastMs = 0;
  private heldLastCount = 0;

  constructor(
    private readonly clock: Clock,
    private readonly o: DeliveryOptions,
    private readonly signal: AbortSignal,
    /** Called once when the stream ends; the owner releases the GPU sequence and counts waste. */
    private readonly onEnd: (end: GenerationEnd) => void,
  ) {
    this.computedTo = this.visibleTo = this.pulledTo = this.dueTo = o.startIndex;
    this.stallAt = o.stall === undefined ? Infinity : o.startIndex + o.stall.afterTokens;
    this.disconnectAt = o.disconnect?.afterTokens === undefined ? Infinity : o.startIndex + o.disconnect.afterTokens;
    this.disconnectSpec = o.disconnect;
    this.stallForMs = o.stall?.forMs;
    this.delayed = o.ttftDelayMs > 0 || o.jitterMs !== undefined;
    this.itl = o.recordItl ? [] : undefined;
    this.delivery = new DeliverySchedule(clock, o.ttftDelayMs, o.jitterMs, (upTo) => this.reveal(upTo ?? this.visibleTo));
    if (o.disconnect?.afterMs !== undefined) {
      this.timers.push(clock.setTimer(o.disconnect.afterMs, () => this.disconnect(), 'mock-disconnect'));
    }
    signal.addEventListener('abort', this.onAbort, { once: true });
    // A cap of zero tokens takes effect at once: the stream breaks (or stalls) before the first token; and a
    // generation with no token to make (finished as the GPU takes it) ends. Otherwise the caps and the end are
    // checked as tokens become visible, and this check would find nothing to do.
    if (this.stallAt <= o.startIndex || this.disconnectAt <= o.startIndex || o.endIndex <= o.startIndex) queueMicrotask(() => this.checkCaps());
  }

  /**
   * Applies faults drawn while the stream is already open (a fault phase starting mid-stream): the disconnect or
   * stall counts its `afterTokens`/`afterMs` from now. Returns the kinds applied.
   */
  injectMidStream(f: { readonly disconnect: DeliveryOptions['disconnect']; readonly stall: DeliveryOptions['stall'] }): string[] {
    if (this.ended) return [];
    const applied: string[] = [];
    if (f.disconnect !== undefined && this.disconnectAt === Infinity && this.disconnectSpec?.afterMs === undefined) {
      this.disconnectSpec = f.disconnect;
      if (f.disconnect.afterTokens !== undefined) this.disconnectAt = this.visibleTo + f.disconnect.afterTokens;
      if (f.disconnect.afterMs !== undefined) this.timers.push(this.clock.setTimer(f.disconnect.afterMs, () => this.disconnect(), 'mock-disconnect'));
      applied.push('disconnect');
    }
    if (f.stall !== undefined && this.stallAt === Infinity && !this.stallArmed) {
      this.stallAt = this.visibleTo + f.stall.afterTokens;
      this.stallForMs = f.stall.forMs;
      applied.push('stall');
    }
    if (applied.length > 0) this.checkCaps();
    return applied;
  }

  // ---- GPU side (SeqSink) ----

  onToken(index: number): void {
    if (this.ended) return;
    const to = index + 1;
    this.computedTo = to;
    if (this.delayed) this.delivery.schedule(to);
    else if (!this.holdNext(to)) this.reveal(to);
  }

  /**
   * The GPU step's common case in one place: a listener that holds (a virtual run's engine) takes one more token,
   * within the caps, after the first. Does what reveal → checkCaps → push would do then (nothing but hold the
   * chunk); false, doing nothing, in any other case.
   */
  private holdNext(to: number): boolean {
    const l = this.listener;
    const visible = this.visibleTo;
    if (l === undefined || this.listenerEnded || this.paused || this.finished || this.itl !== undefined || this.firstTokenMs === undefined) return false;
    if (to !== visible + 1 || this.pulledTo !== visible || this.dueTo !== visible || to >= this.stallAt || to >= this.disconnectAt) return false;
    const hold = l.hold;
    if (hold === undefined) return false;
    const now = this.clock.now();
    this.dueTo = this.visibleTo = this.pulledTo = to;
    this.lastTokenMs = now;
    if (this.heldTo === this.heldFrom) this.heldFrom = visible;
    this.heldTo = to;
    this.heldLastMs = now;
    this.heldLastCount = 1;
    hold(now, 1);
    return true;
  }

  onFinish(): void {
    if (this.ended) return;
    this.finished = true;
    if (!this.delayed) this.checkCaps();
    // With delays, the done event follows the last timed delivery (see reveal).
  }

  onDrop(): void {
    this.end('crashed', { type: 'disconnect', form: 'reset', tokensSent: this.visibleTo });
  }

  // ---- consumer side ----

  [Symbol.asyncIterator](): AsyncIterator<GenerationEvent> {
    return {
      next: () => this.next(),
      return: () => {
        // The consumer walked away (a closed socket, a broken loop): free the GPU as an abort would.
        if (!this.ended) this.end('aborted', undefined);
        this.terminal = undefined;
        return Promise.resolve(DONE);
      },
    };
  }

  listen(listener: GenerationListener): void {
    this.listener = listener;
    this.push();
  }

  resume(): void {
    this.paused = false;
    this.push();
  }

  flush(): void {
    const l = this.listener;
    if (l !== undefined && !this.listenerEnded) this.flushHeld(l);
  }

  /**
   * Push mode: hands over the newly visible tokens as one chunk (or holds it back, while the listener says `hold`),
   * then the end once it is reached, after whatever is held.
   */
  private push(): void {
    const l = this.listener;
    if (l === undefined || this.listenerEnded) return;
    if (this.error !== undefined) {
      this.flushHeld(l);
      if (this.listenerEnded) return;
      this.listenerEnded = true;
      this.listener = undefined;
      l.end(undefined, this.error);
      return;
    }
    if (this.paused) return;
    if (this.pulledTo < this.visibleTo) {
      const index = this.pulledTo;
      const count = this.visibleTo - index;
      this.pulledTo = this.visibleTo;
      const hold = l.hold;
      if (hold !== undefined) {
        // Held: the listener learns when it arrived now, and gets the tokens at the next flush.
        const now = this.clock.now();
        if (this.heldTo === this.heldFrom) this.heldFrom = index;
        this.heldTo = index + count;
        this.heldLastMs = now;
        this.heldLastCount = count;
        hold(now, count);
      } else {
        this.flushHeld(l);
        if (this.listenerEnded) return;
        if (!l.tokens(tokensText(this.o.key, index, count), index, count)) {
          this.paused = true;
          return;
        }
      }
      // The consumer may have ended the stream from inside `tokens` (an abort): that pushed the end already.
      if (this.listenerEnded) return;
    }
    if (this.ended) {
      this.flushHeld(l);
      if (this.listenerEnded) return;
      this.listenerEnded = true;
      const terminal = this.terminal as Exclude<GenerationEvent, { type: 'tokens' }> | undefined;
      this.terminal = undefined;
      this.listener = undefined; // the consumer (a response, its socket) need not live as long as this stream
      l.end(terminal, undefined);
    }
  }

  /** Hands the held chunks to the listener (nothing if none). */
  private flushHeld(l: GenerationListener): void {
    const from = this.heldFrom;
    const count = this.heldTo - from;
    if (count === 0) return;
    // Cleared first: the listener may look at this stream again from inside the call.
    this.heldFrom = this.heldTo;
    const text = tokensText(this.o.key, from, count);
    // A listener that holds without taking held chunks gets them as one coalesced chunk.
    if (l.held !== undefined) l.held(from, count, text, this.heldLastMs, this.heldLastCount);
    else l.tokens(text, from, count);
  }

  private next(): Promise<IteratorResult<GenerationEvent>> {
    if (this.error !== undefined) return Promise.reject(this.error);
    const ready = this.take();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      this.waiter = resolve;
      this.failWaiter = reject;
    });
  }

  /** The next result if one is ready: a chunk of newly visible tokens, then the terminal event, then done. */
  private take(): IteratorResult<GenerationEvent> | undefined {
    if (this.pulledTo < this.visibleTo) {
      const index = this.pulledTo;
      const count = this.visibleTo - index;
      this.pulledTo = this.visibleTo;
      return { value: { type: 'tokens', index, count, text: tokensText(this.o.key, index, count) }, done: false };
    }
    if (this.terminal !== undefined) {
      const value = this.terminal;
      this.terminal = undefined;
      return { value, done: false };
    }
    if (this.ended && this.error === undefined) return DONE;
    return undefined;
  }

  private wake(): void {
    if (this.listener !== undefined) {
      this.push();
      return;
    }
    const w = this.waiter;
    if (w === undefined) return;
    if (this.error !== undefined) {
      const f = this.failWaiter as (e: Error) => void;
      this.waiter = this.failWaiter = undefined;
      f(this.error);
      return;
    }
    const r = this.take();
    if (r === undefined) return;
    this.waiter = this.failWaiter = undefined;
    w(r);
  }

  // ---- delivery ----

  /** Makes tokens up to `upTo` visible, within the stall and disconnect caps. */
  private reveal(upTo: number): void {
    if (this.ended) return;
    if (upTo > this.dueTo) this.dueTo = upTo;
    const to = Math.min(upTo, this.stallAt, this.disconnectAt);
    if (to > this.visibleTo) {
      const now = this.clock.now();
      if (this.firstTokenMs === undefined) this.firstTokenMs = now;
      else if (this.itl !== undefined) {
        const gap = (now - this.lastTokenMs) / (to - this.visibleTo);
        for (let i = this.visibleTo; i < to; i++) this.itl.push(gap);
      }
      this.lastTokenMs = now;
      this.visibleTo = to;
    }
    this.checkCaps();
    this.wake();
  }

  private checkCaps(): void {
    if (this.ended) return;
    if (this.visibleTo >= this.disconnectAt) {
      this.disconnect();
      return;
    }
    if (this.visibleTo >= this.stallAt && this.stallAt < this.o.endIndex) {
      // Stalled: the connection stays open and nothing more is sent, until `forMs` passes (if given) or an abort.
      const forMs = this.stallForMs;
      if (forMs !== undefined && !this.stallArmed) {
        this.stallArmed = true;
        this.timers.push(
          this.clock.setTimer(forMs, () => {
            this.stallAt = Infinity;
            this.reveal(this.dueTo);
          }, 'mock-stall'),
        );
      }
      return;
    }
    if (this.finished && this.visibleTo >= this.o.endIndex && this.delivery.empty) {
      this.end(this.o.finishReason, {
        type: 'done',
        // A continuation's prompt includes the prefix it continues (as vLLM counts it, and as the call is billed).
        promptTokens: this.o.promptTokens + this.o.startIndex,
        completionTokens: this.o.endIndex - this.o.startIndex,
        cachedTokens: this.o.cachedTokens?.() ?? 0,
        finishReason: this.o.finishReason,
      });
    }
  }

  private disconnect(): void {
    if (this.ended) return;
    this.end('disconnect', { type: 'disconnect', form: this.disconnectSpec?.form ?? 'reset', tokensSent: this.visibleTo });
  }

  private readonly onAbort = (): void => {
    if (this.ended) return;
    this.error = abortReason(this.signal);
    this.end('aborted', undefined);
  };

  private end(outcome: GenerationOutcome, terminal: GenerationEvent | undefined): void {
    if (this.ended) return;
    this.ended = true;
    this.terminal = terminal;
    for (const t of this.timers) t.cancel();
    this.delivery.cancel();
    this.signal.removeEventListener('abort', this.onAbort);
    this.onEnd({
      outcome,
      deliveredTo: this.visibleTo,
      undelivered: outcome === 'stop' || outcome === 'length' ? 0 : this.computedTo - this.visibleTo,
      computedTo: this.computedTo,
      firstTokenMs: this.firstTokenMs,
      endMs: this.clock.now(),
      itlMs: this.itl,
    });
    this.wake();
  }
}
