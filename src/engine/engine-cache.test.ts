import { describe, expect, it } from 'vitest';
import { resolvePolicy } from '../policy.js';
import { Random } from '../random.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { ServerError } from '../upstream/errors.js';
import type { ModelRequest } from '../upstream/model-client.js';
import { Engine, type EngineEvent, type EngineRequest, type TokenChunk } from './engine.js';
import { expectedText, FakeModel, type StreamScript } from './testing/fake-model.js';

function setup(overrides: unknown, script: (r: ModelRequest, n: number) => StreamScript, preset = 'resilient') {
  const clock = new VirtualClock();
  const primary = new FakeModel(clock, script);
  const engine = new Engine({ clock, random: new Random(1), policy: resolvePolicy(preset, overrides), primary });
  const events: EngineEvent[] = [];
  engine.onEvent((e) => events.push(e));
  return { clock, primary, engine, events };
}

/** The same question each time (temperature 0), under its own request id. */
function ask(id: string, extra: Partial<EngineRequest> = {}, chunks?: TokenChunk[], params: Record<string, unknown> = { temperature: 0 }): EngineRequest {
  return {
    id,
    kind: 'chat',
    tenant: 't',
    request: { id, model: 'm', messages: [{ role: 'user', content: 'What is 2+2?' }], maxTokens: 10, params },
    ...(chunks ? { onTokens: (c) => chunks.push(c) } : {}),
    ...extra,
  };
}

const CACHE = { cache: { enabled: true, ttlMs: 10_000, staleIfErrorMs: 60_000 } };

describe('Engine: response cache', () => {
  it('answers a repeated temperature-0 request from the cache: no upstream call, the same text, cache hit', async () => {
    const { clock, engine, primary, events } = setup(CACHE, () => ({ tokens: 4 }));
    const first = await clock.run(engine.submit(ask('a')));
    const chunks: TokenChunk[] = [];
    const again = await clock.run(engine.submit(ask('b', {}, chunks)));
    expect(first).toMatchObject({ outcome: 'ok', cache: 'miss', upstreamCalls: 1 });
    expect(again).toMatchObject({ id: 'b', outcome: 'ok', cache: 'hit', upstreamCalls: 0, attempts: 0, tokens: 4, text: expectedText('a', 4) });
    expect(chunks).toEqual([{ index: 0, count: 4, text: expectedText('a', 4), atMs: clock.now() }]);
    expect(primary.calls).toHaveLength(1);
    expect(engine.snapshot().counters).toMatchObject({ cacheHits: 1, cacheMisses: 1, cacheStale: 0 });
    expect(events.filter((e) => e.type === 'cache').map((e) => (e as { result: string }).result)).toEqual(['miss', 'hit']);
    expect(engine.snapshot().cache?.entries).toBe(1);
  });

  it('does not cache sampled requests, other tenants or a caller that opts out', async () => {
    const { clock, engine, primary } = setup(CACHE, () => ({ tokens: 2 }));
    await clock.run(engine.submit(ask('a')));
    const sampled = await clock.run(engine.submit(ask('b', {}, undefined, { temperature: 0.7 })));
    const other = await clock.run(engine.submit(ask('c', { tenant: 'u' })));
    const optOut = await clock.run(engine.submit(ask('d', { cacheable: false })));
    expect(sampled.cache).toBeUndefined();
    expect(other.cache).toBe('miss');
    expect(optOut.cache).toBeUndefined();
    expect(primary.calls).toHaveLength(4);
  });

  it('expires an answer after its TTL: the next request goes upstream again', async () => {
    const { clock, engine, primary } = setup(CACHE, () => ({ tokens: 2 }));
    await clock.run(engine.submit(ask('a')));
    await clock.run(clock.sleep(10_000));
    const r = await clock.run(engine.submit(ask('b')));
    expect(r).toMatchObject({ outcome: 'ok', cache: 'miss', upstreamCalls: 1 });
    expect(primary.calls).toHaveLength(2);
  });

  it('coalesces identical requests in flight into one upstream call', async () => {
    const { clock, engine, primary } = setup(CACHE, () => ({ tokens: 3, ttftMs: 100 }));
    const rs = await clock.run(Promise.all(['a', 'b', 'c'].map((id) => engine.submit(ask(id)))));
    expect(primary.calls).toHaveLength(1);
    expect(rs.map((r) => r.cache)).toEqual(['miss', 'hit', 'hit']);
    expect(rs.every((r) => r.outcome === 'ok' && r.tokens === 3)).toBe(true);
  });

  it('is off in every preset by default: three identical temperature-0 requests make three calls', async () => {
    const { clock, engine, primary } = setup({}, () => ({ tokens: 1 }));
    for (const id of ['a', 'b', 'c']) await clock.run(engine.submit(ask(id)));
    expect(primary.calls).toHaveLength(3);
  });

  it('degraded: cached — serves a stale answer when the upstream fails, within the staleness bound only', async () => {
    let down = false;
    const { clock, engine } = setup({ ...CACHE, breaker: { enabled: false }, retry: { maxAttempts: 2 } }, () => (down ? { error: new ServerError(500) } : { tokens: 3 }));
    await clock.run(engine.submit(ask('a')));
    await clock.run(clock.sleep(20_000)); // past the TTL, within the staleness bound
    down = true;
    const chunks: TokenChunk[] = [];
    const r = await clock.run(engine.submit(ask('b', {}, chunks)));
    expect(r).toMatchObject({ outcome: 'degraded', degraded: 'cached', cache: 'stale', tokens: 3, text: expectedText('a', 3), attempts: 2, upstreamCalls: 2 });
    expect(chunks).toHaveLength(1);
    await clock.run(clock.sleep(60_000)); // past the staleness bound
    const late = await clock.run(engine.submit(ask('c')));
    expect(late).toMatchObject({ outcome: 'failed', cache: 'miss', error: { code: 'SERVER_ERROR' } });
    expect(engine.snapshot().counters).toMatchObject({ cacheStale: 1, cacheHits: 0, cacheMisses: 3 });
  });

  it('degraded: cached — serves a stale answer at once while the breaker is open, without calling upstream', async () => {
    let down = false;
    const { clock, engine, primary } = setup(
      { ...CACHE, breaker: { rule: 'consecutive', consecutiveFailures: 2, openMs: 5_000 }, retry: { maxAttempts: 1 } },
      (r) => (down ? { error: new ServerError(500) } : { tokens: r.id === 'x' ? 5 : 2 }),
    );
    await clock.run(engine.submit(ask('a')));
    await clock.run(clock.sleep(15_000));
    down = true;
    const other = (id: string): EngineRequest => ({ ...ask(id), request: { ...ask(id).request!, messages: [{ role: 'user', content: id }] } });
    await clock.run(Promise.all([engine.submit(other('p')), engine.submit(other('q'))]));
    expect(engine.snapshot().breaker).toBe('open');
    const calls = primary.calls.length;
    const r = await clock.run(engine.submit(ask('b')));
    expect(r).toMatchObject({ outcome: 'degraded', degraded: 'cached', cache: 'stale', upstreamCalls: 0 });
    expect(primary.calls).toHaveLength(calls);
  });

  it('never stores a failure', async () => {
    let n = 0;
    const { clock, engine } = setup({ ...CACHE, breaker: { enabled: false }, retry: { maxAttempts: 1 } }, () => (n++ === 0 ? { error: new ServerError(500) } : { tokens: 2 }));
    expect(await clock.run(engine.submit(ask('a')))).toMatchObject({ outcome: 'failed', cache: 'miss' });
    expect(await clock.run(engine.submit(ask('b')))).toMatchObject({ outcome: 'ok', cache: 'miss', upstreamCalls: 1 });
  });
});
