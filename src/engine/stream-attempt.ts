import type { Clock } from '../time/clock.js';
import { StreamInterruptedError } from '../upstream/errors.js';
import type { ModelClient, RouteMeta, StreamEvent, StreamOptions } from '../upstream/model-client.js';
import { IdleTimeout, type Abortable } from './deadline.js';
import type { Job } from './job.js';

/** What one stream attempt observed, for the adaptive limit and counters. */
export interface StreamAttemptInfo {
  /** Time from the call to its first event (or its failure): the RTT sample for an adaptive limit. */
  firstEventMs: number | undefined;
  /** An event (token, done) actually arrived; false when the attempt ended waiting for the first one. */
  gotEvent: boolean;
  /** Tokens received that the caller had already seen (a restart without resume). */
  discarded: number;
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
 */
export async function streamAttempt(
  clock: Clock,
  client: ModelClient,
  job: Job,
  options: {
    controller: Abortable;
    resumeFrom: number | undefined;
    idleMs: number | undefined;
    onFirstEvent?: (() => void) | undefined;
    /** The request's metadata, for a fleet upstream's routing rules and balancer. */
    route?: RouteMeta | undefined;
    /** What a fleet upstream's hedges draw from; absent: no hedging. */
    hedgeBudget?: { tryAcquire(): boolean } | undefined;
  },
  info: StreamAttemptInfo,
): Promise<void> {
  const request = job.request;
  if (request === undefined) throw new TypeError('a chat request needs `request`');
  const resumeFrom = options.resumeFrom;
  // A restart repeats what the caller has: its extras before that point are repeats too.
  const skipExtrasBefore = resumeFrom === undefined ? job.delivered : 0;
  // The idle timeout aborts this attempt's controller: the upstream call ends, the request goes on.
  const idle = options.idleMs === undefined ? undefined : new IdleTimeout(clock, options.idleMs, options.controller);
  const startMs = clock.now();
  const control = options.controller;
  // A getter: the AbortController is made only if the client looks at its signal.
  const route = options.route;
  const hedgeBudget = options.hedgeBudget;
  const callOptions: StreamOptions = resumeFrom === undefined
    ? { get signal() { return control.signal; }, route, hedgeBudget }
    : { get signal() { return control.signal; }, resumeFrom, resumeText: job.text, route, hedgeBudget };
  const it = client.stream(request, callOptions)[Symbol.asyncIterator]();
  // Character offset, in the whole output, of the next token this attempt will send: known when the stream
  // starts at 0 or exactly where the caller is.
  let offset: number | undefined;
  let expectIndex: number | undefined;
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
      if (ev.type === 'done') {
        job.usage = ev.usage;
        job.finishReason = ev.finishReason;
        return;
      }
      if (ev.type === 'extra') {
        if ((expectIndex ?? resumeFrom ?? 0) >= skipExtrasBefore) job.extra(ev);
        continue;
      }
      if (expectIndex === undefined || ev.index !== expectIndex) {
        offset = ev.index === 0 ? 0 : ev.index === job.delivered ? job.deliveredChars : undefined;
      }
      expectIndex = ev.index + ev.count;
      const end = ev.index + ev.count;
      if (end <= job.delivered) {
        info.discarded += ev.count;
      } else if (ev.index >= job.delivered) {
        job.deliver(ev.index, ev.count, ev.text, clock.now());
      } else if (offset !== undefined) {
        // Straddles what the caller has: deliver only the new tail (token text is deterministic per request).
        info.discarded += job.delivered - ev.index;
        job.deliver(job.delivered, end - job.delivered, ev.text.slice(job.deliveredChars - offset), clock.now());
      } else {
        throw new StreamInterruptedError(job.delivered, `cannot align a chunk at index ${ev.index} with ${job.delivered} delivered tokens`);
      }
      if (offset !== undefined) offset += ev.text.length;
    }
  } finally {
    idle?.dispose();
    // Closing the iterator ends the upstream call (after `done` too: a generator parked at its last yield still
    // holds its resources). Never wait on it: a hung upstream may not answer.
    it.return?.()?.catch(() => undefined);
  }
}
