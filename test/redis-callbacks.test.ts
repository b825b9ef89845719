/**
 * Completion callbacks in Redis mode (issue #21, item 3): the worker side sends them, with the same sender as
 * the in-memory service, once per terminal state; a delivery a dead worker had claimed is sent by another once
 * its claim runs out, with the same `x-delivery-id` so a receiver can drop a repeat. Real Redis, API and worker
 * in this process, a receiver on 127.0.0.1.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTerminal, type JobRecord } from '../src/jobs/job-store.js';
import { resolvePolicy } from '../src/policy.js';
import { openRedisWorker, type RedisWorkerSide } from '../src/queue/redis-service.js';
import { Random } from '../src/random.js';
import { RealClock } from '../src/time/real-clock.js';
import { InProcessModelClient } from '../sim/in-process.js';
import { http, RedisServer, startApi, startMock, until } from './redis-testkit.js';

interface Received {
  readonly jobId: string;
  readonly deliveryId: string;
  readonly attempt: string;
  readonly body: { id: string; status: string; callback: unknown };
}

let redis: RedisServer;
let mock: Awaited<ReturnType<typeof startMock>>;
let api: Awaited<ReturnType<typeof startApi>>;
let worker: RedisWorkerSide;
let worker2: RedisWorkerSide | undefined;
let receiver: Server;
let receiverUrl = '';
const received: Received[] = [];
/** Job ids whose POSTs the receiver holds open (until `release`), and the held responses. */
const holdFor = new Set<string>();
const held: { id: string; res: ServerResponse; atMs: number }[] = [];
function release(id: string): void {
  holdFor.delete(id);
  for (const h of held) if (h.id === id && !h.res.writableEnded) h.res.writeHead(204).end();
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let b = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (b += d));
    req.on('end', () => resolve(b));
  });
}

beforeAll(async () => {
  receiver = createServer((req, res) => {
    void readBody(req).then((b) => {
      const jobId = String(req.headers['x-job-id']);
      received.push({
        jobId,
        deliveryId: String(req.headers['x-delivery-id']),
        attempt: String(req.headers['x-callback-attempt']),
        body: JSON.parse(b) as Received['body'],
      });
      if (holdFor.has(jobId)) held.push({ id: jobId, res, atMs: Date.now() });
      else res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  const a = receiver.address();
  const port = typeof a === 'object' && a !== null ? a.port : 0;
  receiverUrl = `http://127.0.0.1:${port}/hook`;
  redis = await RedisServer.start();
  mock = await startMock();
  api = await startApi(redis.url, mock.url, { callbackAllowlist: [`127.0.0.1:${port}`] });
  worker = await openRedisWorker({
    url: redis.url,
    clock: new RealClock(),
    random: new Random(5),
    policy: resolvePolicy('resilient', { retry: { baseMs: 20, maxMs: 200 } }),
    upstream: { primary: new InProcessModelClient(mock.model) },
    concurrency: 4,
    callbacks: { leaseMs: 1000, pollMs: 100, backoffMs: 50 },
  });
}, 30_000);

afterAll(async () => {
  for (const id of [...holdFor]) release(id);
  await worker2?.close();
  await worker?.close();
  await api?.close();
  await mock?.close();
  await redis?.stop();
  await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
});

async function callbackSettled(id: string): Promise<JobRecord> {
  let rec: JobRecord | undefined;
  await until(`job ${id} callback settled`, async () => {
    rec = await api.side.store.get(id);
    return rec !== undefined && isTerminal(rec.status) && rec.callback !== undefined && rec.callback.status !== 'pending';
  }, 30_000, 20);
  return rec as JobRecord;
}

describe('Redis mode: completion callbacks', () => {
  it('the worker side delivers the callback once, and the job says delivered', async () => {
    const r = await http('POST', `${api.url}/v1/jobs`, { prompt: 'hello', callbackUrl: receiverUrl }, { 'x-mock-output-tokens': '5' });
    expect(r.status).toBe(202);
    const id = r.json.id as string;
    const rec = await callbackSettled(id);
    expect(rec.status).toBe('succeeded');
    expect(rec.callback).toMatchObject({ status: 'delivered', attempts: 1 });
    const mine = received.filter((x) => x.jobId === id);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ deliveryId: `${id}:1`, attempt: '1', body: { id, status: 'succeeded' } });
  });

  it('a delivery claimed by a worker that died is sent by another once the claim runs out', async () => {
    // What a worker killed mid-delivery leaves: the job terminal with its callback pending, and the outbox entry
    // claimed (its lease running) by nobody alive.
    const r = await http('POST', `${api.url}/v1/jobs`, { prompt: 'dead worker', callbackUrl: receiverUrl }, { 'x-mock-output-tokens': '3' });
    const id = r.json.id as string;
    const first = await callbackSettled(id);
    expect(first.callback?.status).toBe('delivered');
    const before = received.filter((x) => x.jobId === id).length;
    expect(before).toBe(1);
    // Now the state a worker leaves when it dies after the POST and before recording it: pending again, and
    // claimed for another 1.5 s by nobody alive.
    await api.side.store.update(id, { callback: { status: 'pending', attempts: 0 } });
    const [sec] = await api.side.redis.time();
    await api.side.redis.zadd(`${api.side.store.prefix}callbacks`, Number(sec) * 1000 + 1500, id);
    const rec = await callbackSettled(id);
    expect(rec.callback?.status).toBe('delivered');
    const after = received.filter((x) => x.jobId === id);
    expect(after).toHaveLength(2);
    // The same delivery id: a receiver that dedupes on it sees the job's terminal state once.
    expect(new Set(after.map((x) => x.deliveryId))).toEqual(new Set([`${id}:1`]));
  });

  it('a slow receiver holds up no other callback, and a live worker keeps its claim past the lease (no second send)', async () => {
    // A second worker polling the same outbox: it would send a claim it found expired.
    worker2 ??= await openRedisWorker({
      url: redis.url,
      clock: new RealClock(),
      random: new Random(6),
      policy: resolvePolicy('resilient', { retry: { baseMs: 20, maxMs: 200 } }),
      upstream: { primary: new InProcessModelClient(mock.model) },
      concurrency: 4,
      callbacks: { leaseMs: 1000, pollMs: 100, backoffMs: 50, timeoutMs: 600_000 },
    });
    const slow = await http('POST', `${api.url}/v1/jobs`, { prompt: 'slow receiver', callbackUrl: receiverUrl }, { 'x-mock-output-tokens': '3' });
    const slowId = slow.json.id as string;
    holdFor.add(slowId);
    try {
      await until('the slow callback held by the receiver', () => held.some((h) => h.id === slowId), 30_000, 20);
      // While that POST is held, other jobs' callbacks are delivered by the worker holding it as well as the other.
      const others = await Promise.all([1, 2, 3, 4, 5, 6].map(async (i) => (await http('POST', `${api.url}/v1/jobs`, { prompt: `beside a slow one ${i}`, callbackUrl: receiverUrl }, { 'x-mock-output-tokens': '3' })).json.id as string));
      for (const id of others) expect((await callbackSettled(id)).callback?.status).toBe('delivered');
      // Hold it for well past the 1 s claim lease (a lower bound, not a race): the sending worker renews its
      // claim, so neither worker sends it a second time.
      const first = held.find((h) => h.id === slowId);
      await until('the slow POST held for three leases', () => Date.now() - (first?.atMs ?? Date.now()) >= 3000, 30_000, 50);
      expect(received.filter((x) => x.jobId === slowId)).toHaveLength(1);
      expect((await api.side.store.get(slowId))?.callback?.status).toBe('pending');
    } finally {
      release(slowId);
    }
    const rec = await callbackSettled(slowId);
    expect(rec.callback).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(received.filter((x) => x.jobId === slowId)).toHaveLength(1);
  }, 60_000);
});
