import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { embeddingItems, estimateTokens, splitProportionally } from './http-embeddings.js';

const req = (inputs: string[], inputTokens?: number[]) => ({ id: 'e', model: 'm', inputs, ...(inputTokens ? { inputTokens } : {}) });
const body = (vectors: number[][], promptTokens?: number, order?: number[]): string =>
  JSON.stringify({
    object: 'list',
    data: (order ?? vectors.map((_, i) => i)).map((index) => ({ object: 'embedding', index, embedding: vectors[index] })),
    ...(promptTokens !== undefined ? { usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } } : {}),
  });

describe('splitProportionally', () => {
  it('property: integer shares that sum to the total, each within 1 of its exact share', () => {
    fc.assert(
      fc.property(fc.nat(100_000), fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 20 }), (total, weights) => {
        const shares = splitProportionally(total, weights);
        const sum = weights.reduce((a, b) => a + b, 0);
        expect(shares.reduce((a, b) => a + b, 0)).toBe(total);
        shares.forEach((s, i) => {
          expect(Number.isInteger(s)).toBe(true);
          expect(Math.abs(s - ((weights[i] as number) / sum) * total)).toBeLessThan(1);
        });
      }),
    );
  });

  it('returns the weights themselves when the total is their sum', () => {
    expect(splitProportionally(10, [3, 5, 2])).toEqual([3, 5, 2]);
    expect(splitProportionally(5, [0, 0])).toEqual([5, 0]);
  });
});

describe('embeddingItems', () => {
  it('orders by index and splits the usage by estimated length', () => {
    const r = embeddingItems(body([[1, 0], [0, 1]], 3, [1, 0]), req(['abcdefgh', 'abcd']));
    expect(typeof r).toBe('object');
    if (typeof r === 'string') return;
    expect(r.items).toEqual([
      { ok: true, embedding: [1, 0], tokens: estimateTokens('abcdefgh') },
      { ok: true, embedding: [0, 1], tokens: estimateTokens('abcd') },
    ]);
    expect(r.usage).toEqual({ promptTokens: 3 });
    // A server that counts otherwise: its total is split 2:1, and the shares still add up to it.
    const other = embeddingItems(body([[1, 0], [0, 1]], 6), req(['abcdefgh', 'abcd']));
    expect(typeof other !== 'string' && other.items.map((i) => (i.ok ? i.tokens : -1))).toEqual([4, 2]);
  });

  it("uses the request's own token counts when it gives them", () => {
    const r = embeddingItems(body([[1], [2]], 9), req(['a', 'b'], [4, 5]));
    expect(typeof r !== 'string' && r.items.map((i) => (i.ok ? i.tokens : -1))).toEqual([4, 5]);
  });

  it('says what is malformed', () => {
    expect(embeddingItems('nope', req(['a']))).toBe('expected JSON, got "nope"');
    expect(embeddingItems('{}', req(['a']))).toBe('expected a data array');
    expect(embeddingItems(body([[1]]), req(['a', 'b']))).toBe('expected 2 embeddings, input 1 has none');
    expect(embeddingItems(JSON.stringify({ data: [{ index: 3, embedding: [1] }] }), req(['a']))).toBe('expected data[].index from 0 to 0, got 3');
    expect(embeddingItems(JSON.stringify({ data: [{ index: 0, embedding: 'AAAA' }] }), req(['a']))).toBe(
      'expected data[0].embedding to be an array of numbers',
    );
  });
});
