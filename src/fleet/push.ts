import { StreamInterruptedError } from '../upstream/errors.js';
import { asPushable, type StreamEvent, type StreamSink } from '../upstream/model-client.js';

/** A call that has nothing to cancel. */
export const NOTHING_TO_CANCEL: { cancel(): void } = { cancel: () => undefined };

const NOOP = (): void => undefined;

/**
 * Runs `fn` four promise reactions from now: where an async generator parked at a `yield` inside a `for await`
 * loop over another generator reaches its `finally` after its consumer's `return()` (the generator resumes, awaits,
 * closes the inner generator and awaits that). A wrapper that pushes does its end-of-call bookkeeping there, so
 * whatever else happens in the same instant sees the same state as with the iterating path.
 */
export function afterReactions(fn: () => void): void {
  void Promise.resolve().then(NOOP).then(NOOP).then(NOOP).then(fn);
}

/**
 * Pushes `stream`'s events to `sink`: through its own `pushTo` when it offers one (no promise per event), else by
 * iterating it (a wrapper that pushes must still take a replica whose client only iterates). `cancel()` ends the
 * call as leaving a loop does, after `done` too (a generator parked at its last yield still holds its resources),
 * and `closed` is called once the call is closed: at once, or, for an iterated stream with a read under way, once
 * that read settles, as a generator's `return()` waits for it. What that read brings still goes to `sink` (an error,
 * an event, the end), so a wrapper can judge the call as a loop would; a consumer that cancelled ignores it.
 */
export function pushFrom(stream: AsyncIterable<StreamEvent>, sink: StreamSink, closed?: () => void): { cancel(): void; flush?(): void } {
  const pushable = asPushable(stream);
  if (pushable !== undefined) {
    const call = pushable.pushTo(sink);
    return {
      cancel: () => {
        call.cancel();
        closed?.();
      },
      // A sink that lets the stream hold chunks back (StreamSink.hold) flushes through here.
      flush: () => call.flush?.(),
    };
  }
  const it = stream[Symbol.asyncIterator]();
  let over = false;
  let reading = false;
  let cancelled = false;
  let returned = false;
  const close = (): void => {
    if (returned) return;
    returned = true;
    it.return?.()?.catch(() => undefined);
    closed?.();
  };
  const pump = async (): Promise<void> => {
    try {
      for (;;) {
        reading = true;
        const r = await it.next();
        reading = false;
        if (r.done === true) {
          over = true;
          if (sink.ended !== undefined) sink.ended();
          else sink.fail(new StreamInterruptedError(0, 'stream ended without a done event'));
          break;
        }
        const ev = r.value;
        if (ev.type === 'tokens') sink.tokens(ev.index, ev.count, ev.text);
        else {
          if (ev.type === 'done') over = true;
          sink.event(ev);
        }
        if (over || cancelled) break;
      }
    } catch (error) {
      reading = false;
      over = true;
      sink.fail(error);
    }
    if (cancelled) close();
  };
  void pump();
  return {
    cancel: () => {
      if (cancelled) return;
      cancelled = true;
      // A read under way settles first (the pump closes the call then).
      if (!reading) close();
    },
  };
}
