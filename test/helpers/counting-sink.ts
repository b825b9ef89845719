import type { StreamSink } from '../../src/upstream/model-client.js';

/** Wraps a stream sink to count the held batches handed over to it (`onHeld` per batch); forwards everything. */
export function countingSink(sink: StreamSink, onHeld: () => void): StreamSink {
  return {
    tokens: (index, count, text) => sink.tokens(index, count, text),
    event: (ev) => sink.event(ev),
    fail: (error) => sink.fail(error),
    get hold() {
      return sink.hold;
    },
    held: (index, count, text, lastAtMs, lastCount) => {
      onHeld();
      sink.held?.(index, count, text, lastAtMs, lastCount);
    },
  };
}
