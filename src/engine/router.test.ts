import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../time/virtual-clock.js';
import { ContextLengthExceededError } from '../upstream/errors.js';
import type { ModelRequest } from '../upstream/model-client.js';
import { CircuitBreaker } from './breaker.js';
import { Router, trimContext } from './router.js';

describe('Router', () => {
  const open = (): CircuitBreaker => {
    const b = new CircuitBreaker(new VirtualClock(), { rule: { kind: 'consecutive', failures: 1 }, openMs: 1000 });
    b.tryAcquire()?.failure();
    return b;
  };

  it('primary with a breaker ticket while closed', () => {
    const r = new Router({ breaker: new CircuitBreaker(new VirtualClock(), { rule: { kind: 'consecutive', failures: 1 } }), fallback: true });
    const route = r.route({ priority: 'interactive' });
    expect(route.model).toBe('primary');
    expect(route.model === 'primary' && route.ticket !== undefined).toBe(true);
  });

  it('fallback, degraded, while the breaker is open; nowhere without a fallback', () => {
    expect(new Router({ breaker: open(), fallback: true }).route({ priority: 'interactive' })).toEqual({ model: 'fallback', ticket: undefined, degraded: true });
    expect(new Router({ breaker: open() }).route({ priority: 'interactive' })).toEqual({ model: undefined, reason: 'breaker-open', retryAfterMs: 1000 });
  });

  it('follows hints: modelHint fallback, batch priority when configured; locked streams stay put', () => {
    const r = new Router({ breaker: open(), fallback: true, batchToFallback: true });
    expect(r.route({ priority: 'interactive', modelHint: 'fallback' })).toMatchObject({ model: 'fallback', degraded: false });
    expect(r.route({ priority: 'batch' })).toMatchObject({ model: 'fallback', degraded: false });
    expect(r.route({ priority: 'interactive', lockedTo: 'primary' })).toMatchObject({ model: undefined });
    expect(new Router({ fallback: true }).route({ priority: 'batch' })).toMatchObject({ model: 'primary' });
  });
});

describe('trimContext', () => {
  const msgs = (...xs: Array<[ 'system' | 'user' | 'assistant', string ]>) => xs.map(([role, content]) => ({ role, content }));

  it('drops the oldest non-system messages, keeps system and the latest', () => {
    const req: ModelRequest = {
      id: 'r',
      model: 'm',
      promptTokens: 400,
      messages: msgs(['system', 'S'.repeat(100)], ['user', 'a'.repeat(100)], ['assistant', 'b'.repeat(100)], ['user', 'c'.repeat(100)]),
    };
    const out = trimContext(req, new ContextLengthExceededError(450, 350)) as ModelRequest;
    expect(out.messages?.map((m) => m.content[0])).toEqual(['S', 'b', 'c']);
    expect(out.promptTokens).toBe(300);
  });

  it('cuts the head of a message when dropping whole ones is not enough', () => {
    const req: ModelRequest = { id: 'r', model: 'm', promptTokens: 100, messages: msgs(['system', 'S'.repeat(20)], ['user', 'x'.repeat(40) + 'y'.repeat(40)]) };
    const out = trimContext(req, new ContextLengthExceededError(150, 110)) as ModelRequest;
    expect(out.messages).toEqual(msgs(['system', 'S'.repeat(20)], ['user', 'y'.repeat(40)]));
    expect(out.promptTokens).toBe(60);
  });

  it('keeps the tail of a plain prompt', () => {
    const out = trimContext({ id: 'r', model: 'm', prompt: 'abcdefghij', promptTokens: 10 }, new ContextLengthExceededError(14, 10)) as ModelRequest;
    expect(out.prompt).toBe('efghij');
    expect(out.promptTokens).toBe(6);
  });

  it('trims on the token count whatever the text: a short stand-in text for 150k tokens still fits a 128k window', () => {
    const req: ModelRequest = {
      id: 'r',
      model: 'm',
      promptTokens: 150_000,
      maxTokens: 1_000,
      messages: msgs(['system', 'You are a helpful assistant.'], ['user', '[s1 t0] synthetic prompt of 150000 tokens']),
      prefix: [{ id: 'doc', tokens: 150_000 }],
    };
    const out = trimContext(req, new ContextLengthExceededError(151_000, 131_072)) as ModelRequest;
    expect(out.promptTokens).toBe(131_072 - 1_000);
    expect(out.messages?.[0]?.role).toBe('system');
    expect(out.prefix).toBeUndefined(); // its head is gone: no longer the prefix it named
  });

  it('gives up when the output allowance alone does not fit', () => {
    expect(trimContext({ id: 'r', model: 'm', prompt: 'abc', promptTokens: 10 }, new ContextLengthExceededError(50, 10))).toBeUndefined();
  });
});
