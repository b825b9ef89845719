import { createParser } from 'eventsource-parser';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkWriter, SSE_DONE, sseError } from './sse.js';

function events(s: string): string[] {
  const out: string[] = [];
  const p = createParser({ onEvent: (e) => out.push(e.data) });
  p.feed(s);
  return out;
}

describe('ChunkWriter', () => {
  it('writes OpenAI chat chunks: role first, tokens with x_mock index/count, finish, usage, [DONE]', () => {
    const w = new ChunkWriter('chat', 'chatcmpl-r1', 'primary', 1700000000);
    const s = w.role() + w.tokens(0, ' he"llo\n', 0, 2) + w.finish(0, 'stop') + w.usage(10, 2) + SSE_DONE;
    const data = events(s);
    expect(data).toHaveLength(5);
    expect(data[4]).toBe('[DONE]');
    const [role, tok, fin, usage] = data.slice(0, 4).map((d) => JSON.parse(d));
    expect(role).toMatchObject({ id: 'chatcmpl-r1', object: 'chat.completion.chunk', created: 1700000000, model: 'primary' });
    expect(role.choices[0].delta).toEqual({ role: 'assistant', content: '' });
    expect(tok.choices[0]).toEqual({ index: 0, delta: { content: ' he"llo\n' }, logprobs: null, finish_reason: null });
    expect(tok.x_mock).toEqual({ index: 0, count: 2 });
    expect(fin.choices[0]).toMatchObject({ delta: {}, finish_reason: 'stop' });
    expect(usage).toMatchObject({ choices: [], usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 } });
  });

  it('writes completion chunks with text per choice index', () => {
    const w = new ChunkWriter('completion', 'cmpl-x', 'm', 1);
    const c = JSON.parse(events(w.tokens(3, 'abc', 7, 1))[0] as string);
    expect(c).toMatchObject({ object: 'text_completion', choices: [{ index: 3, text: 'abc', finish_reason: null }], x_mock: { index: 7, count: 1 } });
  });

  it('round-trips any token text and any model name through JSON (property)', () => {
    fc.assert(
      fc.property(fc.string(), fc.string({ minLength: 1 }), fc.nat(), (text, model, index) => {
        const w = new ChunkWriter('chat', `chatcmpl-${model}`, model, 0);
        const parsed = JSON.parse(events(w.tokens(0, text, index, 1))[0] as string);
        expect(parsed.choices[0].delta.content).toBe(text);
        expect(parsed.model).toBe(model);
      }),
      { numRuns: 300 },
    );
  });

  it('frames an in-stream error as one data event', () => {
    const d = events(sseError({ error: { message: 'x', type: 'server_error', param: null, code: 'stream_interrupted' } }));
    expect(JSON.parse(d[0] as string)).toEqual({ error: { message: 'x', type: 'server_error', param: null, code: 'stream_interrupted' } });
  });
});
