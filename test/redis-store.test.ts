/**
 * RedisJobStore on a real Redis: idempotency with SET NX under concurrency from two connections, result TTLs
 * (finished results expire, dead letters persist), the fenced checkpoint commit, events across store instances,
 * the dead-letter index, and a prompt QueueUnavailableError when Redis is gone.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobStoreEvent, NewJob } from '../src/jobs/job-store.js';
import { LeaseLostError, QueueUnavailableError } from '../src/queue/errors.js';
import { connectRedis, parseRedisUrl } from '../src/queue/redis-connection.js';
import { RedisJobStore } from '../src/queue/redis-job-store.js';
import { RedisServer, until } from './redis-testkit.js';

let redis: RedisServer;
let c1: Redis;
let c2: Redis;
let a: RedisJobStore;
let b: RedisJobStore;
let seq = 0;

beforeAll(async () => {
  redis = await RedisServer.start();
  c1 = await connectRedis(parseRedisUrl(redis.url), 'failFast');
  c2 = await connectRedis(parseRedisUrl(redis.url), 'failFast');
  a = new RedisJobStore({ redis: c1, resultTtlMs: 60_000 });
  b = new RedisJobStore({ redis: c2, resultTtlMs: 60_000 });
}, 30_000);

afterAll(async () => {
  await a?.close();
  await b?.close();
  c1?.disconnect();
  c2?.disconnect();
  await redis?.stop();
});

function newJob(o: Partial<NewJob> = {}): NewJob {
  seq++;
  return { id: `job_t${seq}`, tenant: 'acme', spec: { model: 'm', prompt: 'p', priority: 'interactive' }, fingerprint: 'f', createdAtMs: 1_700_000_000_000 + seq, ...o };
}

describe('RedisJobStore', () => {
  it('one idempotency key, 40 concurrent creates over two connections: one job', async () => {
    const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).create(newJob({ idempotencyKey: 'pay-1' }))));
    expect(rs.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(rs.map((r) => r.job.id)).size).toBe(1);
    // Another tenant's key is its own.
    expect((await a.create(newJob({ idempotencyKey: 'pay-1', tenant: 'other' }))).created).toBe(true);
  });

  it('round-trips a record, and refuses a duplicate id', async () => {
    const n = newJob({ spec: { model: 'm', messages: [{ role: 'user', content: 'héllo "x"\n' }], priority: 'batch', deadlineMs: 1500, mock: { outputTokens: 3 } } });
    const { job } = await a.create(n);
    expect(await b.get(n.id)).toEqual(job);
    await expect(a.create(n)).rejects.toThrow(/expected a new id/);
    expect(await a.get('job_missing')).toBeUndefined();
  });

  it('finished results expire after the TTL with their log and key; dead letters persist until requeued', async () => {
    const n = newJob({ idempotencyKey: 'ttl-1' });
    await a.create(n);
    await a.commit(n.id, 1, { index: 0, count: 2, text: 'ab' });
    await a.update(n.id, { status: 'succeeded', outcome: 'ok' });
    for (const k of [`engine:job:${n.id}`, `engine:job:${n.id}:log`, `engine:job:${n.id}:out`, 'engine:idem:acme:ttl-1']) {
      const ttl = await c1.pttl(k);
      expect(ttl).toBeGreaterThan(50_000);
      expect(ttl).toBeLessThanOrEqual(60_000);
    }
    const d = newJob();
    await a.create(d);
    await a.update(d.id, { status: 'failed', deadLetter: true });
    expect(await c1.pttl(`engine:job:${d.id}`)).toBe(-1);
    expect((await b.listDeadLetter('acme')).map((j) => j.id)).toContain(d.id);
    const reset = await a.update(d.id, { status: 'queued', cycle: 2, deadLetter: false, resetOutput: true });
    expect(reset).toMatchObject({ status: 'queued', cycle: 2, deadLetter: false, output: '', tokens: 0 });
    expect((await b.listDeadLetter('acme')).map((j) => j.id)).not.toContain(d.id);
  });

  it('lists dead letters per tenant, oldest first', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const n = newJob({ tenant: 'dl' });
      ids.push(n.id);
      await a.create(n);
    }
    for (const id of [...ids].reverse()) await a.update(id, { status: 'failed', deadLetter: true });
    expect((await b.listDeadLetter('dl')).map((j) => j.id)).toEqual(ids);
    expect(await b.listDeadLetter('dl', { limit: 2 })).toHaveLength(2);
    expect(await b.listDeadLetter('nobody')).toEqual([]);
  });

  it('commits checkpoints only at the committed end: duplicates are skipped, gaps, stale cycles and late writes refused', async () => {
    const n = newJob();
    await a.create(n);
    expect(await a.commit(n.id, 1, { index: 0, count: 3, text: 'abc' })).toBe('committed');
    expect(await b.commit(n.id, 1, { index: 0, count: 3, text: 'abc' })).toBe('duplicate');
    await expect(b.commit(n.id, 1, { index: 5, count: 1, text: 'x' })).rejects.toBeInstanceOf(LeaseLostError);
    await expect(b.commit(n.id, 1, { index: 2, count: 2, text: 'cd' })).rejects.toThrow(/straddling/);
    await expect(b.commit(n.id, 2, { index: 3, count: 1, text: 'd' })).rejects.toThrow(/cycle 2/);
    expect(await b.commit(n.id, 1, { index: 3, count: 2, text: 'de' })).toBe('committed');
    expect((await a.get(n.id))?.output).toBe('abcde');
    expect((await a.readTokens(n.id, 2)).map((c) => [c.index, c.count, c.text])).toEqual([[3, 2, 'de']]);
    // A guarded write of another cycle, or to a terminal job, changes nothing.
    expect(await a.updateIf(n.id, { cycle: 2 }, { status: 'failed' })).toBeUndefined();
    await a.update(n.id, { status: 'cancelled' });
    expect(await a.updateIf(n.id, { cycle: 1, open: true }, { status: 'succeeded' })).toBeUndefined();
    await expect(a.commit(n.id, 1, { index: 5, count: 1, text: 'f' })).rejects.toThrow(/terminal/);
    expect((await b.get(n.id))?.status).toBe('cancelled');
  });

  it('delivers one job\'s events to a watcher on another connection, in order', async () => {
    const n = newJob();
    await a.create(n);
    const seen: JobStoreEvent[] = [];
    const off = b.watch(n.id, (e) => seen.push(e));
    expect(await b.readTokens(n.id, -1)).toEqual([]);
    await a.update(n.id, { status: 'running' });
    for (let i = 0; i < 5; i++) await a.commit(n.id, 1, { index: i, count: 1, text: String(i) });
    await a.update(n.id, { status: 'succeeded' });
    await until('events', () => seen.length === 7, 30_000, 10);
    off();
    expect(seen.map((e) => (e.type === 'tokens' ? `t${e.chunk.index}` : e.job.status))).toEqual(['running', 't0', 't1', 't2', 't3', 't4', 'succeeded']);
    const last = seen.at(-1);
    expect(last?.type === 'update' && last.job.output).toBe('01234');
  });

  it('discard forgets the job and frees its idempotency key', async () => {
    const n = newJob({ idempotencyKey: 'free-me' });
    await a.create(n);
    await a.discard(n.id);
    expect(await a.get(n.id)).toBeUndefined();
    expect((await b.create(newJob({ idempotencyKey: 'free-me' }))).created).toBe(true);
  });

  it('rejects promptly with QueueUnavailableError when Redis is gone', async () => {
    await redis.kill();
    await until('disconnect noticed', () => c1.status !== 'ready', 30_000, 10);
    const t0 = Date.now();
    await expect(a.get('job_t1')).rejects.toBeInstanceOf(QueueUnavailableError);
    await expect(a.create(newJob())).rejects.toMatchObject({ status: 503, code: 'queue_unavailable' });
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
