/**
 * The API process on the Redis queue, for real (`npm run serve -- --queue redis://...`): kill -9 it while jobs
 * are queued and every job is still there after a restart and completes; the same idempotency key sent
 * concurrently to two API processes makes one job; a job submitted through one process streams from another.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, readEvents, RedisServer, spawnApi, spawnWorker, startMock, uninterruptedText, until, type Child } from './redis-testkit.js';

let redis: RedisServer;
let mock: Awaited<ReturnType<typeof startMock>>;
const children: Child[] = [];

beforeAll(async () => {
  redis = await RedisServer.start();
  mock = await startMock();
}, 30_000);

afterAll(async () => {
  await Promise.all(children.map((c) => c.kill()));
  await mock?.close();
  await redis?.stop();
});

async function jobKeys(): Promise<string[]> {
  const r = new Redis(redis.url);
  try {
    const keys = await r.keys('engine:job:*');
    return keys.filter((k) => !/:(log|out)$/.test(k));
  } finally {
    r.disconnect();
  }
}

describe('Redis queue: API processes', () => {
  let apiA: { child: Child; url: string };
  let apiB: { child: Child; url: string };
  const queued: Array<{ id: string; prompt: string }> = [];

  it('kill -9 of the API while jobs are queued: after a restart every job is there, and completes', async () => {
    const first = await spawnApi(redis.url, mock.url);
    children.push(first.child);
    for (let i = 0; i < 30; i++) {
      const r = await http('POST', `${first.url}/v1/jobs`, { prompt: `restart ${i}` }, { 'x-mock-output-tokens': '16' });
      expect(r.status).toBe(202);
      queued.push({ id: r.json.id as string, prompt: `restart ${i}` });
    }
    await first.child.kill('SIGKILL');

    apiA = await spawnApi(redis.url, mock.url);
    children.push(apiA.child);
    for (const j of queued) expect((await http('GET', `${apiA.url}/v1/jobs/${j.id}`)).json.status).toBe('queued');
    expect((await http('GET', `${apiA.url}/readyz`)).status).toBe(200);

    children.push(await spawnWorker(redis.url, mock.url));
    await until('all queued jobs done', async () => {
      const rs = await Promise.all(queued.map((j) => http('GET', `${apiA.url}/v1/jobs/${j.id}`)));
      return rs.every((r) => r.json.status === 'succeeded');
    }, 30_000, 100);
    for (const j of queued) {
      const r = await http('GET', `${apiA.url}/v1/jobs/${j.id}`);
      expect(r.json.output).toBe(await uninterruptedText(mock.url, j.id, j.prompt, 16));
    }
  }, 60_000);

  it('one idempotency key sent concurrently to two API processes makes one job', async () => {
    apiB = await spawnApi(redis.url, mock.url);
    children.push(apiB.child);
    const before = (await jobKeys()).length;
    const rs = await Promise.all(
      Array.from({ length: 12 }, (_, i) => http('POST', `${i % 2 === 0 ? apiA.url : apiB.url}/v1/jobs`, { prompt: 'once' }, { 'idempotency-key': 'order-42', 'x-mock-output-tokens': '8' })),
    );
    const ids = new Set(rs.map((r) => r.json.id as string));
    expect(ids.size).toBe(1);
    expect(rs.filter((r) => r.status === 202)).toHaveLength(1);
    expect(rs.filter((r) => r.status === 200 && r.headers['idempotent-replayed'] === 'true')).toHaveLength(11);
    expect((await jobKeys()).length).toBe(before + 1);
    // The same key with another payload is refused, on either process.
    const other = await http('POST', `${apiB.url}/v1/jobs`, { prompt: 'something else' }, { 'idempotency-key': 'order-42' });
    expect(other.status).toBe(422);
  }, 60_000);

  it('a job submitted through one API process streams and reads from the other', async () => {
    const r = await http('POST', `${apiA.url}/v1/jobs`, { prompt: 'cross' }, { 'x-mock-output-tokens': '24' });
    const id = r.json.id as string;
    const msgs = await readEvents(apiB.url, id);
    const text = msgs.filter((m) => m.event === 'token').map((m) => (JSON.parse(m.data) as { text: string }).text).join('');
    expect(msgs.at(-1)?.event).toBe('end');
    expect(JSON.parse(msgs.at(-1)?.data ?? '{}')).toMatchObject({ id, status: 'succeeded', tokens: 24 });
    expect(text).toBe(await uninterruptedText(mock.url, id, 'cross', 24));
    expect((await http('GET', `${apiB.url}/v1/jobs/${id}`)).json.output).toBe(text);
    // Another tenant's job stays a 404 across processes too.
    expect((await http('GET', `${apiB.url}/v1/jobs/${id}`, undefined, { authorization: 'Bearer someone-else' })).status).toBe(404);
  }, 30_000);
});
