import { describe, expect, it } from 'vitest';
import type { EngineRequest } from './engine-types.js';
import { cacheability, cacheKeyOf, canonicalJson } from './cache-key.js';

function chat(params: Record<string, unknown>, extra: Partial<EngineRequest> = {}, messages = [{ role: 'user' as const, content: 'hi' }]): EngineRequest {
  return { id: 'r1', kind: 'chat', tenant: 't1', request: { id: 'r1', model: 'm', messages, maxTokens: 20, params }, ...extra };
}

describe('cache key', () => {
  it('is the same whatever the order of the request fields and the request id', () => {
    const a = cacheKeyOf(chat({ temperature: 0, top_p: 1, stop: ['x'], response_format: { type: 'json_object', schema: { b: 1, a: 2 } } }));
    const b = cacheKeyOf({ ...chat({ response_format: { schema: { a: 2, b: 1 }, type: 'json_object' }, stop: ['x'], top_p: 1, temperature: 0 }), id: 'r2' });
    expect(a).toMatch(/^resp:[0-9a-f]{64}$/);
    expect(b).toBe(a);
  });

  it('differs by tenant, model, message, parameter and output cap', () => {
    const base = cacheKeyOf(chat({ temperature: 0 }));
    expect(cacheKeyOf(chat({ temperature: 0 }, { tenant: 't2' }))).not.toBe(base);
    expect(cacheKeyOf(chat({ temperature: 0, top_p: 0.5 }))).not.toBe(base);
    expect(cacheKeyOf(chat({ temperature: 0 }, {}, [{ role: 'user', content: 'hi!' }]))).not.toBe(base);
    const r = chat({ temperature: 0 });
    expect(cacheKeyOf({ ...r, request: { ...r.request!, model: 'other' } })).not.toBe(base);
    expect(cacheKeyOf({ ...r, request: { ...r.request!, maxTokens: 21 } })).not.toBe(base);
  });

  it('ignores how the answer is delivered (stream, stream_options, user)', () => {
    expect(cacheKeyOf(chat({ temperature: 0, stream: true, stream_options: { include_usage: true }, user: 'u' }))).toBe(cacheKeyOf(chat({ temperature: 0 })));
  });

  it('caches only repeatable requests without side effects', () => {
    expect(cacheability(chat({ temperature: 0 }))).toBe(true);
    expect(cacheability(chat({ temperature: 0.7, seed: 42 }))).toBe(true);
    expect(cacheability(chat({ temperature: 0.7 }))).toBe('sampled');
    expect(cacheability(chat({}))).toBe('sampled');
    expect(cacheability(chat({ temperature: 0, seed: 1.5 }))).toBe(true);
    expect(cacheability(chat({ temperature: 1, seed: 1.5 }))).toBe('sampled');
    expect(cacheability(chat({ temperature: 0, tools: [{ type: 'function' }] }))).toBe('side-effects');
    expect(cacheability(chat({ temperature: 0, tool_choice: 'auto' }))).toBe('side-effects');
    expect(cacheability(chat({ temperature: 0, n: 2 }))).toBe('several-choices');
    expect(cacheability(chat({ temperature: 0 }, { cacheable: false }))).toBe('opted-out');
    expect(cacheability(chat({ temperature: 1, tools: [] }, { cacheable: true }))).toBe(true);
    expect(cacheability({ id: 'e', kind: 'embedding', embedding: { id: 'e', model: 'm', inputs: ['x'] } })).toBe('not-chat');
    expect(cacheKeyOf(chat({ temperature: 0.7 }))).toBeUndefined();
  });

  it('canonical JSON sorts keys at every depth and keeps array order', () => {
    expect(canonicalJson({ b: [2, { d: 1, c: 2 }], a: undefined, e: null })).toBe('{"b":[2,{"c":2,"d":1}],"e":null}');
  });
});
