import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CompletionStreamDecoder, type TokenBatch } from './sse.js';

const chatChunk = (content: string, x?: { index: number; count: number }, finish: string | null = null): string =>
  `data: ${JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    choices: [{ index: 0, delta: { content }, finish_reason: finish }],
    ...(x ? { x_mock: x } : {}),
  })}\n\n`;
const finishChunk = (reason: string): string =>
  `data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: reason }] })}\n\n`;
const usageChunk = (p: number, c: number): string =>
  `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: p, completion_tokens: c, total_tokens: p + c } })}\n\n`;
const DONE = 'data: [DONE]\n\n';

/** Feeds the pieces one by one, collecting every batch. */
function run(pieces: readonly string[], start = 0): { dec: CompletionStreamDecoder; batches: TokenBatch[] } {
  const dec = new CompletionStreamDecoder(start);
  const batches: TokenBatch[] = [];
  for (const p of pieces) {
    dec.feed(p);
    const b = dec.take();
    if (b && b.type === undefined) batches.push(b);
  }
  return { dec, batches };
}

describe('CompletionStreamDecoder', () => {
  it('uses the mock x_mock counts (several tokens a chunk), the finish reason, usage and [DONE]', () => {
    const role = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] })}\n\n`;
    const body = role + chatChunk(' a b', { index: 0, count: 2 }) + chatChunk(' c', { index: 2, count: 1 }) + finishChunk('length') + usageChunk(9, 3) + DONE;
    const { dec, batches } = run([body]);
    // One read, one coalesced chunk: the role chunk is not a token.
    expect(batches).toEqual([{ index: 0, count: 3, text: ' a b c' }]);
    expect(dec.done).toBe(true);
    expect(dec.finishReason).toBe('length');
    expect(dec.usage).toMatchObject({ promptTokens: 9, completionTokens: 3 });
    expect(dec.next).toBe(3);
    expect(dec.partial).toBe(false);
  });

  it('without x_mock (vLLM, OpenAI) counts one token per non-empty chunk from the start index', () => {
    const completion = (text: string): string => `data: ${JSON.stringify({ choices: [{ index: 0, text, finish_reason: null }] })}\n\n`;
    const { dec, batches } = run([completion('x'), completion(''), completion('yz'), finishChunk('stop')], 10);
    expect(batches).toEqual([
      { index: 10, count: 1, text: 'x' },
      { index: 11, count: 1, text: 'yz' },
    ]);
    expect(dec.next).toBe(12);
    expect(dec.finishReason).toBe('stop');
    expect(dec.done).toBe(false);
  });

  it('keeps the finish reason as sent; other choices and non-content deltas come out as extras, in order', () => {
    const other = `data: ${JSON.stringify({ choices: [{ index: 1, delta: { content: 'no' }, finish_reason: null }] })}\n\n`;
    const tool = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: 'c1', function: { name: 'f', arguments: '' } }] }, logprobs: null, finish_reason: null }] })}\n\n`;
    const dec = new CompletionStreamDecoder(0);
    const out: unknown[] = [];
    for (const p of [chatChunk(' a'), other, tool, chatChunk(' b'), finishChunk('content_filter')]) {
      dec.feed(p);
      for (let b = dec.take(); b !== undefined; b = dec.take()) out.push(b);
    }
    expect(out).toEqual([
      { index: 0, count: 1, text: ' a' },
      { type: 'extra', choice: 1, delta: { content: 'no' } },
      { type: 'extra', choice: 0, delta: { tool_calls: [{ index: 0, id: 'c1', function: { name: 'f', arguments: '' } }] } },
      { index: 1, count: 1, text: ' b' },
    ]);
    expect(dec.finishReason).toBe('content_filter');
  });

  it('an OpenAI or vLLM error event is a failure naming the server message; later events are ignored', () => {
    const openai = run([chatChunk('a'), `data: ${JSON.stringify({ error: { message: 'boom', type: 'server_error' } })}\n\n`, chatChunk('b'), DONE]);
    expect(openai.dec.failure).toBe('error event in stream: boom');
    expect(openai.dec.done).toBe(false);
    expect(openai.dec.next).toBe(1);
    const vllm = run([`data: ${JSON.stringify({ object: 'error', message: 'engine dead', code: 500 })}\n\n`]);
    expect(vllm.dec.failure).toBe('error event in stream: engine dead');
  });

  it('an unparseable complete event is a truncated-chunk failure', () => {
    const { dec } = run([chatChunk('a'), 'data: {"choices":[{"ind\n\n']);
    expect(dec.failure?.startsWith('truncated chunk')).toBe(true);
    expect(dec.next).toBe(1);
  });

  it('partial is true exactly when bytes arrived after the last complete event', () => {
    const dec = new CompletionStreamDecoder(0);
    expect(dec.partial).toBe(false);
    const c = chatChunk('hello', { index: 0, count: 1 });
    dec.feed(c.slice(0, 20));
    expect(dec.partial).toBe(true);
    dec.feed(c.slice(20, c.length - 1));
    expect(dec.partial).toBe(true);
    dec.feed(c.slice(c.length - 1));
    expect(dec.partial).toBe(false);
    dec.feed('data: {"choices":[{"index":0,"del');
    expect(dec.partial).toBe(true);
    expect(dec.take()).toEqual({ index: 0, count: 1, text: 'hello' });
  });

  it('property: any split of the byte stream decodes to the same tokens, text, usage and end', () => {
    const arb = fc.record({
      texts: fc.array(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 12 }),
      counts: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 12, maxLength: 12 }),
      cuts: fc.array(fc.nat(), { maxLength: 10 }),
      crlf: fc.boolean(),
    });
    fc.assert(
      fc.property(arb, ({ texts, counts, cuts, crlf }) => {
        let index = 0;
        let body = '';
        for (const [i, t] of texts.entries()) {
          const count = counts[i] as number;
          body += chatChunk(t, { index, count });
          index += count;
        }
        body += finishChunk('stop') + usageChunk(5, index) + DONE;
        if (crlf) body = body.replaceAll('\n', '\r\n');
        const points = [...new Set(cuts.map((c) => c % (body.length + 1)))].sort((a, b) => a - b);
        const pieces: string[] = [];
        let from = 0;
        for (const p of points) {
          pieces.push(body.slice(from, p));
          from = p;
        }
        pieces.push(body.slice(from));
        const { dec, batches } = run(pieces);
        expect(batches.map((b) => b.text).join('')).toBe(texts.join(''));
        expect(batches.reduce((n, b) => n + b.count, 0)).toBe(index);
        let next = 0;
        for (const b of batches) {
          expect(b.index).toBe(next);
          next += b.count;
        }
        expect(dec.done).toBe(true);
        expect(dec.usage).toMatchObject({ promptTokens: 5, completionTokens: index });
        expect(dec.partial).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  describe('the fast path for the common token chunk', () => {
    /** A token chunk exactly as the mock writes it (sim/sse.ts ChunkWriter): the shape the fast path matches. */
    const mockChunk = (o: { kind: 'chat' | 'completion'; id: string; model: string; created: number; text: string; x?: { index: number; count: number } }): string => {
      const choice = o.kind === 'chat' ? `{"index":0,"delta":{"content":${JSON.stringify(o.text)}},"logprobs":null,"finish_reason":null}` : `{"index":0,"text":${JSON.stringify(o.text)},"logprobs":null,"finish_reason":null}`;
      const object = o.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
      const x = o.x === undefined ? '' : `,"x_mock":{"index":${o.x.index},"count":${o.x.count}}`;
      return `data: {"id":${JSON.stringify(o.id)},"object":"${object}","created":${o.created},"model":${JSON.stringify(o.model)},"choices":[${choice}]${x}}\n\n`;
    };
    /** The same event, keys in another order and spaced: only JSON.parse reads it. */
    const reordered = (line: string): string => {
      const body = JSON.parse(line.slice('data: '.length)) as Record<string, unknown>;
      const flipped = Object.fromEntries(Object.entries(body).reverse());
      return `data: ${JSON.stringify(flipped, null, 1).replaceAll('\n', ' ')}\n\n`;
    };

    it('property: decodes any text, ids and counts exactly as JSON.parse does', () => {
      const arb = fc.record({
        kind: fc.constantFrom('chat' as const, 'completion' as const),
        id: fc.string({ unit: 'binary' }),
        model: fc.string(),
        created: fc.nat(),
        text: fc.string({ unit: 'binary', maxLength: 12 }),
        x: fc.option(fc.record({ index: fc.nat(), count: fc.nat({ max: 8 }) }), { nil: undefined }),
        start: fc.nat({ max: 50 }),
      });
      fc.assert(
        fc.property(arb, (o) => {
          const line = mockChunk(o);
          const fast = run([line], o.start);
          const slow = run([reordered(line)], o.start);
          expect(fast.batches).toEqual(slow.batches);
          expect([fast.dec.next, fast.dec.failure, fast.dec.finishReason]).toEqual([slow.dec.next, slow.dec.failure, slow.dec.finishReason]);
          const count = o.x !== undefined ? o.x.count : o.text.length > 0 ? 1 : 0;
          expect(fast.batches).toEqual(count === 0 ? [] : [{ index: o.x?.index ?? o.start, count, text: o.text }]);
        }),
        { numRuns: 300 },
      );
    });

    it('leaves anything off the exact shape to JSON.parse: finish reasons, usage, errors, bad JSON', () => {
      const base = '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"logprobs":null,"finish_reason":';
      const length = run([`data: ${base}"length"}]}\n\n`]);
      expect(length.batches).toEqual([{ index: 0, count: 1, text: 'hi' }]);
      expect(length.dec.finishReason).toBe('length');
      const usage = run([`data: ${base}null}],"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\n`]);
      expect(usage.dec.usage).toMatchObject({ promptTokens: 3, completionTokens: 1 });
      const error = run([`data: ${base}null}],"error":{"message":"boom"}}\n\n`]);
      expect(error.dec.failure).toBe('error event in stream: boom');
      // A leading zero and a raw control character are not JSON: a failure, as JSON.parse says, not a token.
      expect(run([`data: ${base}null}],"x_mock":{"index":01,"count":1}}\n\n`]).dec.failure).toMatch(/^truncated chunk/);
      expect(run([`data: ${base.replace('"hi"', '"h\u0001i"')}null}]}\n\n`]).dec.failure).toMatch(/^truncated chunk/);
      // x_mock figures that are not counts fall back to one token per non-empty text, as without x_mock.
      const huge = run([`data: ${base}null}],"x_mock":{"index":1${'0'.repeat(400)},"count":2}}\n\n`], 7);
      expect(huge.batches).toEqual([{ index: 7, count: 2, text: 'hi' }]);
    });
  });
});
