import { encode as o200k } from 'gpt-tokenizer/encoding/o200k_base';
import { encode as cl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import llama3 from 'llama3-tokenizer-js';
import { describe, expect, it } from 'vitest';
import { Engine } from '../engine/engine.js';
import { FakeModel } from '../engine/testing/fake-model.js';
import { resolvePolicy } from '../policy.js';
import { Random } from '../random.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { charsEstimate, familyOf, loadTokenCounter } from './tokenizer.js';

// Text where the families and the 4-characters rule all disagree.
const TEXT = 'Tokenizers disagree: naïve café, 12345678, ```ts\nconst x = 1;```, and 🙂🙂.';

describe('tokenizer', () => {
  it('auto picks the family by model name', () => {
    expect(familyOf('meta-llama/Llama-3.1-8B-Instruct')).toBe('llama3');
    expect(familyOf('gpt-4-turbo')).toBe('cl100k');
    expect(familyOf('gpt-3.5-turbo')).toBe('cl100k');
    expect(familyOf('gpt-4o-mini')).toBe('o200k');
    expect(familyOf('gpt-4.1')).toBe('o200k');
    expect(familyOf('o3-mini')).toBe('o200k');
  });

  it('counts a prompt with the real encodings, which differ from each other and from characters / 4', async () => {
    const counts = {
      o200k: (await loadTokenCounter('o200k'))({ id: 'a', model: 'x', prompt: TEXT }),
      cl100k: (await loadTokenCounter('cl100k'))({ id: 'a', model: 'x', prompt: TEXT }),
      llama3: (await loadTokenCounter('llama3'))({ id: 'a', model: 'x', prompt: TEXT }),
      chars: (await loadTokenCounter('chars'))({ id: 'a', model: 'x', prompt: TEXT }),
    };
    expect(counts).toEqual({
      o200k: o200k(TEXT).length,
      cl100k: cl100k(TEXT).length,
      llama3: llama3.encode(TEXT, { bos: false, eos: false }).length,
      chars: charsEstimate(TEXT),
    });
    expect(new Set(Object.values(counts)).size).toBeGreaterThan(1);
  });

  it('chat: each message costs its content plus 4, the reply 3 more, tool calls their JSON', async () => {
    const count = await loadTokenCounter('auto');
    const calls = [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }];
    const n = count({
      id: 'a',
      model: 'meta-llama/Llama-3.1-8B-Instruct',
      messages: [
        { role: 'user', content: TEXT },
        { role: 'assistant', content: '', wire: { role: 'assistant', content: null, tool_calls: calls } },
      ],
    });
    const l = (s: string): number => llama3.encode(s, { bos: false, eos: false }).length;
    expect(n).toBe(3 + 4 + l(TEXT) + 4 + l(JSON.stringify(calls)));
  });

  it('an unknown family is refused, naming the field', async () => {
    await expect(loadTokenCounter('bpe9' as never)).rejects.toThrow('tokenizer: expected "auto" | "o200k" | "cl100k" | "llama3" | "chars", got "bpe9"');
  });

  it('the engine counts prompts for its TPM limit with the counter it is given', async () => {
    const clock = new VirtualClock();
    const policy = resolvePolicy('resilient', { rateLimit: { enabled: true, tokensPerMinute: 100 } });
    const engine = new Engine({ clock, random: new Random(1), policy, primary: new FakeModel(clock), countPromptTokens: () => 150 });
    // 150 counted tokens exceed a 100-token minute at once; by characters (a few tokens) it would pass.
    const r = await engine.submit({ id: 'r', kind: 'chat', request: { id: 'r', model: 'm', prompt: 'hi' } });
    expect(r.outcome).toBe('shed');
    expect(r.error?.code).toBe('RATE_LIMITED');
    const byChars = new Engine({ clock, random: new Random(1), policy, primary: new FakeModel(clock) });
    const p = byChars.submit({ id: 'r', kind: 'chat', request: { id: 'r', model: 'm', prompt: 'hi' } });
    expect((await clock.run(p)).outcome).toBe('ok');
  });
});
