import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../src/time/virtual-clock.js';
import { GenerationStream, type DeliveryOptions, type GenerationEnd } from './generation.js';
import { tokensText } from './tokens.js';
import type { GenerationEvent, GenerationListener } from './types.js';

const OPTIONS: DeliveryOptions = {
  key: 42,
  startIndex: 0,
  endIndex: 6,
  promptTokens: 10,
  finishReason: 'stop',
  ttftDelayMs: 0,
  jitterMs: undefined,
  disconnect: undefined,
  stall: undefined,
  recordItl: false,
};

type Pushed = { tokens: [string, number, number][]; end?: { terminal: GenerationEvent | undefined; error: Error | undefined } };

function pushed(accept: (n: number) => boolean = () => true): { listener: GenerationListener; out: Pushed } {
  const out: Pushed = { tokens: [] };
  return {
    out,
    listener: {
      tokens(text, index, count) {
        out.tokens.push([text, index, count]);
        return accept(out.tokens.length);
      },
      end(terminal, error) {
        expect(out.end).toBeUndefined(); // exactly once
        out.end = { terminal, error };
      },
    },
  };
}

function stream(ac = new AbortController()): { s: GenerationStream; ends: GenerationEnd[]; ac: AbortController } {
  const ends: GenerationEnd[] = [];
  return { s: new GenerationStream(new VirtualClock(), OPTIONS, ac.signal, (e) => ends.push(e)), ends, ac };
}

describe('GenerationStream push mode', () => {
  it('hands each token over as the GPU makes it visible, then the done event', () => {
    const { s, ends } = stream();
    const { listener, out } = pushed();
    s.listen(listener);
    for (let i = 0; i < 6; i++) s.onToken(i);
    s.onFinish();
    expect(out.tokens).toEqual([0, 1, 2, 3, 4, 5].map((i) => [tokensText(42, i, 1), i, 1]));
    expect(out.end).toEqual({ terminal: { type: 'done', promptTokens: 10, completionTokens: 6, cachedTokens: 0, finishReason: 'stop' }, error: undefined });
    expect(ends.map((e) => e.outcome)).toEqual(['stop']);
  });

  it('a consumer that says it is full gets what came meanwhile as one chunk on resume, then the end', () => {
    const { s } = stream();
    const { listener, out } = pushed((n) => n !== 2); // the second chunk fills the socket
    s.listen(listener);
    for (let i = 0; i < 6; i++) s.onToken(i);
    s.onFinish();
    expect(out.tokens.map(([, i, c]) => [i, c])).toEqual([[0, 1], [1, 1]]);
    expect(out.end).toBeUndefined(); // the end waits behind the held tokens
    s.resume();
    expect(out.tokens.map(([, i, c]) => [i, c])).toEqual([[0, 1], [1, 1], [2, 4]]);
    expect(out.tokens.map(([t]) => t).join('')).toBe(tokensText(42, 0, 6)); // nothing lost or repeated
    expect(out.end?.terminal).toMatchObject({ type: 'done' });
  });

  it('an abort ends a paused stream at once with the abort error; tokens already visible are listened to on listen()', () => {
    const { s, ac, ends } = stream();
    s.onToken(0);
    s.onToken(1);
    const { listener, out } = pushed(() => false);
    s.listen(listener);
    expect(out.tokens).toEqual([[tokensText(42, 0, 2), 0, 2]]);
    s.onToken(2);
    ac.abort(new Error('client left'));
    expect(out.end?.terminal).toBeUndefined();
    expect(out.end?.error?.message).toBe('client left');
    expect(ends.map((e) => [e.outcome, e.deliveredTo, e.undelivered])).toEqual([['aborted', 3, 0]]);
  });
});
