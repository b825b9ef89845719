/**
 * The response cache on a real Redis: two engines (two processes' worth) share one RedisResponseStore, so a prompt
 * answered by one is a hit on the other, with the key's TTL set from the cache's bounds; a Redis that goes away is
 * a miss, never a failure.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, type EngineRequest } from '../src/engine/engine.js';
import { FakeModel } from '../src/engine/testing/fake-model.js';
import { resolvePolicy } from '../src/policy.js';
import { connectRedis, parseRedisUrl } from '../src/queue/redis-connection.js';
import { RedisResponseStore } from '../src/queue/redis-response-store.js';
import { Random } from '../src/random.js';
import { RealClock } from '../src/time/real-clock.js';
import { RedisServer } from './redis-testkit.js';

let redis: RedisServer;
let c1: Redis;
let c2: Redis;

beforeAll(async () => {
  redis = await RedisServer.start();
  c1 = await connectRedis(parseRedisUrl(redis.url), 'failFast');
  c2 = await connectRedis(parseRedisUrl(redis.url), 'failFast');
}, 30_000);

afterAll(async () => {
  c1?.disconnect();
  c2?.disconnect();
  await redis?.stop();
});

const policy = resolvePolicy('resilient', { cache: { enabled: true, ttlMs: 60_000, staleIfErrorMs: 120_000 } });

function engineOn(conn: Redis, clock: RealClock) {
  const model = new FakeModel(clock, () => ({ tokens: 3, ttftMs: 1, itlMs: 1 }));
  const engine = new Engine({ clock, random: new Random(1), policy, primary: model, responseStore: new RedisResponseStore(conn, { prefix: 'test:resp:' }) });
  return { engine, model };
}

const ask = (id: string): EngineRequest => ({ id, kind: 'chat', tenant: 't', request: { id, model: 'm', messages: [{ role: 'user', content: 'shared?' }], params: { temperature: 0 } } });

describe('RedisResponseStore', () => {
  it('two engines share answers: one upstream call for the prompt, a hit on the other engine', async () => {
    const clock = new RealClock();
    const a = engineOn(c1, clock);
    const b = engineOn(c2, clock);
    const first = await a.engine.submit(ask('r1'));
    const second = await b.engine.submit(ask('r2'));
    expect(first).toMatchObject({ outcome: 'ok', cache: 'miss' });
    expect(second).toMatchObject({ outcome: 'ok', cache: 'hit', upstreamCalls: 0, text: first.text });
    expect(a.model.calls.length + b.model.calls.length).toBe(1);
    const keys = await c1.keys('test:resp:resp:*');
    expect(keys).toHaveLength(1);
    const ttl = await c1.pttl(keys[0] as string);
    expect(ttl).toBeGreaterThan(60_000);
    expect(ttl).toBeLessThanOrEqual(120_000);
  });

  it('reads something else under its prefix as a miss', async () => {
    await c1.set('test:resp:junk', 'not json');
    const store = new RedisResponseStore(c1, { prefix: 'test:resp:' });
    expect(await store.get('junk')).toBeUndefined();
  });

  it('a Redis that is gone is a miss: the request goes upstream and succeeds', async () => {
    const clock = new RealClock();
    const dead = await connectRedis(parseRedisUrl(redis.url), 'failFast');
    dead.disconnect();
    const { engine, model } = engineOn(dead, clock);
    const r = await engine.submit(ask('r3'));
    expect(r).toMatchObject({ outcome: 'ok', cache: 'miss', upstreamCalls: 1 });
    expect(model.calls).toHaveLength(1);
  });
});
