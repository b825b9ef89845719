/**
 * The push path of a stream across the engine→model hop (harness/run/transport.ts `streamAcross`): the same
 * request delay, the same per-event response delays through a DelayLine, the same ends, with the consumer's sink
 * (src/upstream/model-client.ts StreamSink) in place of the generator's loop. Without it a stream through the hop
 * fell back to iteration, a promise and several async-generator hops per event, even when both ends push.
 */
import { abortReason } from '../../src/errors.js';
import { pushFrom } from '../../src/fleet/push.js';
import { StreamInterruptedError } from '../../src/upstream/errors.js';
import type { ModelClient, ModelRequest, StreamOptions, StreamSink } from '../../src/upstream/model-client.js';
import { DelayLine, hopWait, type Arrival, type HopDelays } from './transport.js';

/**
 * Pushes `client`'s stream to `sink` across the hop. The far side is read as fast as it produces (pushed when it
 * can push, else iterated); each event reaches the sink after its response delay, in order. Aborting the signal
 * fails the sink at once; `cancel()` ends the far side as leaving the loop does.
 */
export function pushAcross(
  client: ModelClient,
  request: ModelRequest,
  options: StreamOptions,
  hop: HopDelays,
  sink: StreamSink,
): { cancel(): void } {
  const outer = options.signal;
  /** The sink got its last call, or the consumer went away. */
  let over = false;
  /** The far side ended on its own (done, an error, its end): nothing to abort there. */
  let finished = false;
  let ctl: AbortController | undefined;
  let line: DelayLine<Arrival> | undefined;
  let far: { cancel(): void } | undefined;
  // What the iterating generator's `finally` does.
  const close = (): void => {
    outer?.removeEventListener('abort', onAbort);
    line?.close();
    if (!finished) ctl?.abort(outer?.aborted === true ? outer.reason : new Error('stream consumer stopped'));
    far?.cancel();
  };
  const fail = (error: unknown): void => {
    if (over) return;
    over = true;
    close();
    sink.fail(error);
  };
  const onAbort = (): void => {
    ctl?.abort(outer?.reason);
    fail(abortReason(outer as AbortSignal));
  };
  const arrive = (a: Arrival): void => {
    if (over) return;
    if (outer?.aborted === true) return fail(abortReason(outer));
    if ('error' in a) {
      finished = true;
      return fail(a.error);
    }
    if ('end' in a) {
      finished = true;
      over = true;
      close();
      if (sink.ended !== undefined) sink.ended();
      else sink.fail(new StreamInterruptedError(0, 'stream ended without a done event'));
      return;
    }
    const ev = a.event;
    if (ev.type === 'tokens') return sink.tokens(ev.index, ev.count, ev.text);
    if (ev.type === 'done') {
      finished = true;
      over = true;
      close();
    }
    sink.event(ev);
  };
  const start = (): void => {
    if (over) return;
    const c = new AbortController();
    ctl = c;
    outer?.addEventListener('abort', onAbort, { once: true });
    const l = new DelayLine<Arrival>(hop.clock, hop.responseMs, arrive);
    line = l;
    far = pushFrom(client.stream(request, { ...options, signal: c.signal }), {
      tokens: (index, count, text) => l.push({ event: { type: 'tokens', index, count, text } }),
      event: (ev) => l.push({ event: ev }),
      fail: (error) => l.push({ error }),
      ended: () => l.push({ end: true }),
    });
  };
  hopWait(hop.clock, hop.requestMs(), outer).then(start, fail);
  return {
    cancel: () => {
      if (over) {
        far?.cancel();
        return;
      }
      over = true;
      close();
    },
  };
}
