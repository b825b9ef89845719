import type { Clock } from '../time/clock.js';
import { StreamInterruptedError } from '../upstream/errors.js';
import { asPushable, type ModelClient, type PushableStream, type RouteMeta, type StreamEvent, type StreamOptions, type StreamSink } from '../upstream/model-client.js';
import { IdleTimeout, type Abortable } from './deadline.js';
import type { Job } from './job.js';

/** Arrival times of held chunks nobody records (a caller without `onTokenTimes`). */
const IGNORE_TIMES = (): void => undefined;

/** What one stream attempt observed, for the adaptive limit and counters. */
export interface StreamAttemptInfo {
  /** Time from the call to its first event (or its failure): the RTT sample for an adaptive limit. */
  firstEventMs: number | undefined;
  /** An event (token, done) actually arrived; false when the attempt ended waiting for the first one. */
  gotEvent: boolean;
  /** Tokens received that the caller had already seen (a restart without resume). */
  discarded: number;
  /** The deployment a fleet upstream sent the call to (StreamOptions.onRouted); absent for a plain upstream. */
  deployment?: string;
}

interface AttemptOptions {
  controller: Abortable;
  resumeFrom: number | undefined;
  idleMs: number | undefined;
  onFirstEvent?: (() => void) | undefined;
  /** The request's metadata, for a fleet upstream's routing rules and balancer. */
  route?: RouteMeta | undefined;
  /** What a fleet upstream's hedges draw from; absent: no hedging. */
  hedgeBudget?: { tryAcquire(): boolean } | undefined;
}

/**
 * Runs one streamed attempt and delivers its new tokens to the job. Continues from `resumeFrom` (the tokens
 * delivered, sent with their text as the prefix to continue) when given; whatever the upstream sends again (a
 * restart from 0, or a resume from an earlier index) is skipped, and a chunk that straddles the boundary is cut
 * by characters, so the caller sees each token once. Deltas the engine does not read (tool calls, refusal,
 * logprobs) go to the job as they come, except those of a restart before it catches up with the caller.
 * An idle timeout (if `idleMs`) aborts the call when no event arrives in time. A caller whose client is full
 * (`backpressure`) pauses the reading, and the idle timeout with it. Resolves on `done`; throws the upstream's
 * typed error or the abort reason otherwise.
 *
 * A stream that can push its events (`PushableStream`, the in-process mock's) is read that way when the caller
 * has no backpressure: the same handling per event, without a promise per event.
 */
export async function streamAttempt(clock: Clock, client: ModelClient, job: Job, options: AttemptOptions, info: StreamAttemptInfo): Promise<void> {
  const request = job.request;
  if (request === undefined) throw new TypeError('a chat request needs `request`');
  const resumeFrom = options.resumeFrom;
  // The idle timeout aborts this attempt's controller: the upstream call ends, the request goes on.
  // Before it checks, an upstream that holds tokens back hands them over (they touch it with their own times).
  const idle = options.idleMs === undefined ? undefined : new IdleTimeout(clock, options.idleMs, options.controller, () => job.flushHeld());
  const startMs = clock.now();
  const control = options.controller;
  // A getter: the AbortController is made only if the client looks at its signal.
  const route = options.route;
  const hedgeBudget = options.hedgeBudget;
  // A fleet upstream names the deployment it picked: the attempt's bill says whose price it pays.
  const onRouted = route === undefined ? undefined : (deployment: string): void => void (info.deployment = deployment);
  const callOptions: StreamOptions = resumeFrom === undefined
    ? { get signal() { return control.signal; }, route, hedgeBudget, onRouted }
    : { get signal() { return control.signal; }, resumeFrom, resumeText: job.text, route, hedgeBudget, onRouted };
  const stream = client.stream(request, callOptions);
  const reader = new AttemptReader(clock, job, resumeFrom, info);
  const pushable = job.req.backpressure === undefined ? asPushable(stream) : undefined;
  if (pushable !== undefined) return pushAttempt(pushable, reader, idle, options, info, clock, startMs);
  const it = stream[Symbol.asyncIterator]();
  try {
    for (;;) {
      // The caller's client is full: read nothing more until it has room (see EngineRequest.backpressure).
      const full = job.req.backpressure?.();
      if (full !== undefined) {
        idle?.pause();
        try {
          await control.race(Promise.resolve(full));
        } finally {
          idle?.resume();
        }
      }
      let r: IteratorResult<StreamEvent>;
      try {
        // Raced with the abort, so an upstream that ignores its signal cannot hold the request past an abort.
        r = await control.race(it.next());
        if (!info.gotEvent) {
          info.gotEvent = true;
          options.onFirstEvent?.();
        }
      } finally {
        info.firstEventMs ??= clock.now() - startMs;
      }
      if (r.done === true) throw new StreamInterruptedError(job.delivered, 'stream ended without a done event');
      const ev = r.value;
      idle?.touch(job.delivered);
      if (ev.type === 'tokens') reader.tokens(ev.index, ev.count, ev.text);
      else if (reader.event(ev)) return;
    }
  } finally {
    idle?.dispose();
    // Closing the iterator ends the upstream call (after `done` too: a generator parked at its last yield still
    // holds its resources). Never wait on it: a hung upstream may not answer.
    it.return?.()?.catch(() => undefined);
  }
}

/** The push path of {@link streamAttempt}: the sink does per event what the loop does, and one promise waits for the end. */
async function pushAttempt(
  stream: PushableStream,
  reader: AttemptReader,
  idle: IdleTimeout | undefined,
  options: AttemptOptions,
  info: StreamAttemptInfo,
  clock: Clock,
  startMs: number,
): Promise<void> {
  const sink = new AttemptSink(reader, idle, options, info, clock, startMs);
  try {
    // Raced with the abort, so an upstream that ignores its signal cannot hold the request past an abort.
    await options.controller.race(sink.start(stream));
  } finally {
    info.firstEventMs ??= clock.now() - startMs;
    idle?.dispose();
    // What the upstream still holds back reaches the job now (a wrapper may end the call a few reactions later).
    sink.flush();
    // Ends the upstream call unless it ended (then a no-op); never waits on it.
    sink.call?.cancel();
    reader.job.holder = undefined;
  }
}

/**
 * The sink of a pushed attempt (and, while its upstream may hold tokens back, the job's holder): per event what the
 * loop does. A class, so that nothing but this object and its promise is made per attempt.
 */
class AttemptSink implements StreamSink {
  /**
   * Set once the caller has its first token and nothing needs the next ones as they arrive (Job.mayHold), if the
   * upstream can be flushed: it may then hold chunks back, telling the caller only when each arrived (its
   * onTokenTimes); whatever reads the job's progress flushes them first (Job.holder).
   */
  hold: ((atMs: number, count: number) => void) | undefined = undefined;
  call: { cancel(): void; flush?(): void } | undefined;
  /** The attempt's promise has settled: nothing more is taken. */
  private over = false;
  private resolve: (() => void) | undefined;
  private reject: ((error: unknown) => void) | undefined;

  constructor(
    private readonly reader: AttemptReader,
    private readonly idle: IdleTimeout | undefined,
    private readonly options: AttemptOptions,
    private readonly info: StreamAttemptInfo,
    private readonly clock: Clock,
    private readonly startMs: number,
  ) {}

  /** Starts the call; the promise settles on `done` (resolved) or the stream's failure. */
  start(stream: PushableStream): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      const call = stream.pushTo(this);
      this.call = call;
      if (call.flush !== undefined) this.reader.job.holder = this;
    });
  }

  tokens(index: number, count: number, text: string): void {
    if (this.over) return;
    this.arrived();
    const reader = this.reader;
    try {
      reader.tokens(index, count, text);
    } catch (error) {
      this.fail(error);
      return;
    }
    this.hold = this.call?.flush !== undefined && reader.mayHold() ? (reader.job.req.onTokenTimes ?? IGNORE_TIMES) : undefined;
  }

  held(index: number, count: number, text: string, lastAtMs: number, lastCount: number): void {
    if (this.over) return;
    // What `arrived` did for each chunk: the last one's touch is the one that counts.
    this.idle?.touch(index + count - lastCount, lastAtMs);
    try {
      this.reader.held(index, count, text);
    } catch (error) {
      this.fail(error);
    }
  }

  event(ev: Exclude<StreamEvent, { readonly type: 'tokens' }>): void {
    if (this.over) return;
    this.arrived();
    let done: boolean;
    try {
      done = this.reader.event(ev);
    } catch (error) {
      this.fail(error);
      return;
    }
    if (!done) return;
    this.over = true;
    this.resolve?.();
  }

  fail(error: unknown): void {
    if (this.over) return;
    this.over = true;
    this.info.firstEventMs ??= this.clock.now() - this.startMs;
    this.reject?.(error);
  }

  /** What the loop does when the iterator returns without `done`. */
  ended(): void {
    this.fail(new StreamInterruptedError(this.reader.job.delivered, 'stream ended without a done event'));
  }

  /** Job.holder: hands over what the upstream holds back. */
  flush(): void {
    this.call?.flush?.();
  }

  /** Job.holder: a joiner follows the job live from now on, so nothing more may be held back. */
  stop(): void {
    this.hold = undefined;
  }

  private arrived(): void {
    const info = this.info;
    if (!info.gotEvent) {
      info.gotEvent = true;
      info.firstEventMs ??= this.clock.now() - this.startMs;
      this.options.onFirstEvent?.();
    }
    // Nothing is held when a chunk comes as it arrives (the upstream hands over what it held first).
    this.idle?.touch(this.reader.job.deliveredHere);
  }
}

/** What an attempt does with each event: skip what the caller has, deliver the rest, note the end. */
class AttemptReader {
  /** A restart repeats what the caller has: its extras before that point are repeats too. */
  private readonly skipExtrasBefore: number;
  /**
   * Character offset, in the whole output, of the next token this attempt will send: known when the stream starts
   * at 0 or exactly where the caller is.
   */
  private offset: number | undefined;
  private expectIndex: number | undefined;

  constructor(
    private readonly clock: Clock,
    readonly job: Job,
    private readonly resumeFrom: number | undefined,
    private readonly info: StreamAttemptInfo,
  ) {
    this.skipExtrasBefore = resumeFrom === undefined ? job.delivered : 0;
  }

  tokens(index: number, count: number, text: string): void {
    const job = this.job;
    // The job's own counts, without a flush: this attempt's upstream is the one that may hold tokens back.
    const delivered = job.deliveredHere;
    if (this.expectIndex === undefined || index !== this.expectIndex) {
      this.offset = index === 0 ? 0 : index === delivered ? job.deliveredCharsHere : undefined;
    }
    const end = index + count;
    this.expectIndex = end;
    if (end <= delivered) {
      this.info.discarded += count;
    } else if (index >= delivered) {
      job.deliver(index, count, text, this.clock.now());
    } else if (this.offset !== undefined) {
      // Straddles what the caller has: deliver only the new tail (token text is deterministic per request).
      this.info.discarded += delivered - index;
      job.deliver(delivered, end - delivered, text.slice(job.deliveredCharsHere - this.offset), this.clock.now());
    } else {
      throw new StreamInterruptedError(delivered, `cannot align a chunk at index ${index} with ${delivered} delivered tokens`);
    }
    if (this.offset !== undefined) this.offset += text.length;
  }

  /**
   * True when the next chunks may be held back by the upstream (StreamSink.hold): the caller has tokens, this stream
   * is where the caller is (each next chunk is delivered whole, as `held` expects), and nobody needs them live.
   */
  mayHold(): boolean {
    const job = this.job;
    return this.expectIndex === job.deliveredHere && this.expectIndex > 0 && job.mayHold;
  }

  /** Chunks the upstream held back (StreamSink.held): delivered as `tokens` would have, one after another. */
  held(index: number, count: number, text: string): void {
    const job = this.job;
    if (index !== this.expectIndex || index !== job.deliveredHere) {
      throw new StreamInterruptedError(job.deliveredHere, `held chunks at index ${index} do not follow the ${job.deliveredHere} delivered tokens`);
    }
    this.expectIndex = index + count;
    job.deliverHeld(index, count, text);
    if (this.offset !== undefined) this.offset += text.length;
  }

  /** An event that is not tokens; true on `done`. */
  event(ev: Exclude<StreamEvent, { readonly type: 'tokens' }>): boolean {
    if (ev.type === 'done') {
      this.job.usage = ev.usage;
      this.job.finishReason = ev.finishReason;
      return true;
    }
    if ((this.expectIndex ?? this.resumeFrom ?? 0) >= this.skipExtrasBefore) this.job.extra(ev);
    return false;
  }
}
