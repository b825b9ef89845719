import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { estimatePromptTokens, estimateTextTokens, KeyedRandom, requestKey, tokensText, tokenText, tokenTextByKey } from './tokens.js';

describe('tokens', () => {
  it('token text is a pure function of (seed, id, index)', () => {
    expect(tokenText(1, 'req-1', 5)).toBe(tokenText(1, 'req-1', 5));
    const a = Array.from({ length: 50 }, (_, i) => tokenText(1, 'req-1', i)).join('');
    const b = Array.from({ length: 50 }, (_, i) => tokenText(2, 'req-1', i)).join('');
    const c = Array.from({ length: 50 }, (_, i) => tokenText(1, 'req-2', i)).join('');
    expect(a).not.toBe(b);
    expect(a).not.toBe(c);
    expect(tokenText(1, 'req-1', 0)).toMatch(/^ [a-z]+$/);
  });

  it('resuming at any N continues byte for byte (property)', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 300 }), (id, n, rest) => {
        const key = requestKey(42, id);
        expect(tokensText(key, 0, n) + tokensText(key, n, rest)).toBe(tokensText(key, 0, n + rest));
      }),
    );
  });

  it('a run of tokens is its tokens one by one, short or long (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 0, max: 500 }), fc.integer({ min: 0, max: 100 }), (key, start, count) => {
        let oneByOne = '';
        for (let i = start; i < start + count; i++) oneByOne += tokenTextByKey(key, i);
        expect(tokensText(key, start, count)).toBe(oneByOne);
      }),
    );
  });

  it('estimates about 4 characters a token, plus chat overhead', () => {
    expect(estimateTextTokens('')).toBe(0);
    expect(estimateTextTokens('abc')).toBe(1);
    expect(estimateTextTokens('a'.repeat(400))).toBe(100);
    expect(estimatePromptTokens({ prompt: 'a'.repeat(40) })).toBe(10);
    expect(estimatePromptTokens({ messages: [{ role: 'user', content: 'a'.repeat(40) }] })).toBe(3 + 4 + 10);
  });

  it('KeyedRandom is uniform on [0,1) and reproducible', () => {
    const r = new KeyedRandom(123);
    let sum = 0;
    let outside = 0;
    for (let i = 0; i < 100_000; i++) {
      const x = r.next();
      if (!(x >= 0 && x < 1)) outside++;
      sum += x;
    }
    expect(outside).toBe(0);
    expect(sum / 100_000).toBeCloseTo(0.5, 2);
    expect(new KeyedRandom(5).next()).toBe(new KeyedRandom(5).next());
  });
});
