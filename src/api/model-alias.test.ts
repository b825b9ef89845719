import { describe, expect, it } from 'vitest';
import type { CompletionBatchRequest, ModelClient } from '../upstream/model-client.js';
import { withModel } from './model-alias.js';

describe('withModel', () => {
  it('keeps the multi-prompt call, under the aliased model name', async () => {
    const seen: CompletionBatchRequest[] = [];
    const client: ModelClient = {
      stream: () => ({ [Symbol.asyncIterator]: () => ({ next: async () => ({ done: true, value: undefined }) }) }),
      embed: async () => ({ items: [], usage: { promptTokens: 0 } }),
      completeBatch: async (request) => {
        seen.push(request);
        return { choices: request.prompts.map((_, index) => ({ index, text: 'x', finishReason: 'stop' })) };
      },
    };
    const aliased = withModel(client, 'small');
    const result = await aliased.completeBatch?.({ id: 'b1', model: 'primary', prompts: ['a', 'b'] });
    expect(result?.choices).toHaveLength(2);
    expect(seen.map((r) => r.model)).toEqual(['small']);
  });

  it('has no multi-prompt call when the upstream has none', () => {
    const client: ModelClient = { stream: () => ({ [Symbol.asyncIterator]: () => ({ next: async () => ({ done: true, value: undefined }) }) }), embed: async () => ({ items: [], usage: { promptTokens: 0 } }) };
    expect(withModel(client, 'small').completeBatch).toBeUndefined();
  });
});
