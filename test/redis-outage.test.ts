/**
 * Redis restarted during a run (kill -9, AOF with appendfsync always): the API reports itself unready and
 * refuses new work with 503 at once (no hang), and recovers when Redis is back; jobs Redis had persisted
 * (every accepted one, under appendfsync always) all complete, byte-identical, including those that were
 * streaming in a worker when Redis died.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, RedisServer, spawnWorker, startApi, startMock, uninterruptedText, until, type Child } from './redis-testkit.js';

let redis: RedisServer;
let mock: Awaited<ReturnType<typeof startMock>>;
let api: Awaited<ReturnType<typeof startApi>>;
let worker: Child | undefined;

beforeAll(async () => {
  redis = await RedisServer.start();
  mock = await startMock({ profile: { base: 'h100-llama3-8b', name: 'outage-test', step: { baseMs: 5, overheadMs: 0, perTokenMs: 0, attentionMsPerContextToken: 0 } } });
  api = await startApi(redis.url, mock.url);
}, 30_000);

afterAll(async () => {
  await worker?.kill();
  await api?.close();
  await mock?.close();
  await redis?.stop();
});

describe('Redis queue: a Redis restart', () => {
  it('unready and 503 while Redis is down, recovers after, and loses no persisted job', async () => {
    worker = await spawnWorker(redis.url, mock.url, ['--lease-ms', '2000', '--stalled-interval-ms', '500', '--concurrency', '16']);
    const jobs: Array<{ id: string; prompt: string }> = [];
    for (let i = 0; i < 48; i++) {
      const r = await http('POST', `${api.url}/v1/jobs`, { prompt: `outage ${i}` }, { 'x-mock-output-tokens': '40' });
      expect(r.status).toBe(202);
      jobs.push({ id: r.json.id as string, prompt: `outage ${i}` });
    }
    await until('some jobs streaming', async () => {
      const recs = await Promise.all(jobs.map((j) => api.side.store.get(j.id)));
      return recs.some((r) => r?.status === 'running' && r.tokens > 0);
    }, 10_000, 10);

    await redis.kill();
    await until('the API to notice', async () => (await http('GET', `${api.url}/readyz`)).status === 503, 30_000);
    const ready = await http('GET', `${api.url}/readyz`);
    expect(ready.json).toMatchObject({ status: 'unready', queue: { kind: 'redis', ready: false } });
    expect((await http('GET', `${api.url}/healthz`)).status).toBe(200);
    const t0 = Date.now();
    const refused = await http('POST', `${api.url}/v1/jobs`, { prompt: 'during the outage' });
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(refused.status).toBe(503);
    expect(refused.json.error.code).toBe('queue_unavailable');
    expect(refused.headers['retry-after']).toBeDefined();
    expect((await http('GET', `${api.url}/v1/jobs/${jobs[0]?.id ?? ''}`)).status).toBe(503);
    const metrics = String((await http('GET', `${api.url}/metrics`)).json);
    expect(metrics).toMatch(/job_queue_up\{[^}]*\} 0/);

    await redis.launch();
    await until('the API to be ready again', async () => (await http('GET', `${api.url}/readyz`)).status === 200, 15_000);
    const after = await http('POST', `${api.url}/v1/jobs`, { prompt: 'after the outage' }, { 'x-mock-output-tokens': '10' });
    expect(after.status).toBe(202);
    jobs.push({ id: after.json.id as string, prompt: 'after the outage' });

    await until('every job done', async () => {
      const recs = await Promise.all(jobs.map((j) => api.side.store.get(j.id)));
      return recs.every((r) => r?.status === 'succeeded');
    }, 40_000, 100);
    for (const j of jobs) {
      const rec = await api.side.store.get(j.id);
      expect(rec?.output).toBe(await uninterruptedText(mock.url, j.id, j.prompt, rec?.tokens ?? -1));
      expect(rec?.tokens).toBe(j.prompt === 'after the outage' ? 10 : 40);
    }
  }, 60_000);
});
