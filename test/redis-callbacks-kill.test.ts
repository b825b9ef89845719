/**
 * Completion callbacks across a real worker crash (issue #21, item 3): two worker processes on a real Redis,
 * 160 jobs with an allowlisted callbackUrl, and a receiver that holds every POST open until one worker is killed
 * with SIGKILL (by its PID) while it has jobs streaming and callbacks in delivery. Every job then ends once, and
 * every job's callback arrives: at least once, always with the same `x-delivery-id`, so a receiver that drops a
 * delivery id it has seen handles each job's terminal state exactly once (docs/redis.md). A resend happens only
 * for a delivery the kill cut; a live worker renews its claim however long the receiver takes.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTerminal, type JobRecord } from '../src/jobs/job-store.js';
import { http, RedisServer, spawnWorker, startApi, startMock, terminalCounter, until, type Child } from './redis-testkit.js';

interface Post {
  readonly jobId: string;
  readonly deliveryId: string;
  readonly attempt: string;
  readonly status: string;
}

let redis: RedisServer;
let mock: Awaited<ReturnType<typeof startMock>>;
let api: Awaited<ReturnType<typeof startApi>>;
let receiver: Server;
let receiverUrl = '';
const workers: Child[] = [];
const posts: Post[] = [];
const held: ServerResponse[] = [];
let holding = true;
/** When the receiver began holding its first POST (wall clock of this process). */
let firstHeldAtMs: number | undefined;

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
      const body = JSON.parse(b) as { status: string };
      posts.push({ jobId: String(req.headers['x-job-id']), deliveryId: String(req.headers['x-delivery-id']), attempt: String(req.headers['x-callback-attempt']), status: body.status });
      if (holding) {
        held.push(res);
        firstHeldAtMs ??= Date.now();
      }
      else res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  const a = receiver.address();
  const port = typeof a === 'object' && a !== null ? a.port : 0;
  receiverUrl = `http://127.0.0.1:${port}/hook`;
  redis = await RedisServer.start();
  // ~8 ms per decode step: a 200-token job streams for about 1.6 s, and 160 of them take several waves.
  mock = await startMock({ profile: { base: 'h100-llama3-8b', name: 'callback-kill-test', maxNumSeqs: 512, step: { baseMs: 8, overheadMs: 0, perTokenMs: 0, attentionMsPerContextToken: 0 } } });
  api = await startApi(redis.url, mock.url, { callbackAllowlist: [`127.0.0.1:${port}`] });
}, 30_000);

afterAll(async () => {
  holding = false;
  for (const res of held) if (!res.writableEnded) res.destroy();
  await Promise.all(workers.map((w) => w.kill()));
  await api?.close();
  await mock?.close();
  await redis?.stop();
  receiver?.closeAllConnections();
  await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
});

const JOBS = 160;
const TOKENS = 200;

describe('Redis mode: callbacks across a worker killed with SIGKILL', () => {
  it('every job ends once and its callback arrives under one delivery id; only deliveries the kill cut are sent again', async () => {
    // Job leases as in the crash test. Callback claims last 1.5 s unless renewed; the attempt timeout is long, so
    // a held POST is never retried by a live worker. The victim polls the outbox often, the survivor rarely: the
    // victim claims most callbacks, so the kill cuts deliveries in flight.
    const common = ['--lease-ms', '1000', '--stalled-interval-ms', '250', '--concurrency', '24', '--callback-lease-ms', '1500', '--callback-timeout-ms', '600000'];
    const [victim, survivor] = await Promise.all([
      spawnWorker(redis.url, mock.url, [...common, '--callback-poll-ms', '50']),
      spawnWorker(redis.url, mock.url, [...common, '--callback-poll-ms', '1000']),
    ]);
    workers.push(victim as Child, survivor as Child);
    const terminals = await terminalCounter(redis.url);
    try {
      const limit = pLimit(40);
      const ids = await Promise.all(
        Array.from({ length: JOBS }, (_, i) =>
          limit(async () => {
            const r = await http('POST', `${api.url}/v1/jobs`, { prompt: `callback job ${i}`, callbackUrl: receiverUrl }, { 'x-mock-output-tokens': String(TOKENS) });
            expect(r.status).toBe(202);
            return r.json.id as string;
          }),
        ),
      );

      // Kill once callbacks are being delivered (held open by the receiver, the first for longer than twice the
      // claim lease: the workers must have renewed their claims) and jobs are part-way through.
      await until('callbacks in delivery and jobs streaming', async () => {
        if (held.length < 8 || firstHeldAtMs === undefined || Date.now() - firstHeldAtMs < 3000) return false;
        const recs = await Promise.all(ids.map((id) => api.side.store.get(id)));
        return recs.filter((r) => r?.status === 'running' && r.tokens > 0 && r.tokens < TOKENS).length >= 8;
      }, 60_000, 10);
      await (victim as Child).kill('SIGKILL');
      const heldAtKill = held.length;
      // From now on the receiver answers at once, and answers what it held (the survivor's POSTs; the victim's
      // connections died with it).
      holding = false;
      for (const res of held) if (!res.writableEnded && !res.destroyed) res.writeHead(204).end();

      let recs: (JobRecord | undefined)[] = [];
      await until('every job terminal with its callback settled', async () => {
        recs = await Promise.all(ids.map((id) => api.side.store.get(id)));
        return recs.every((r) => r !== undefined && isTerminal(r.status) && r.callback !== undefined && r.callback.status !== 'pending');
      }, 90_000, 100);

      // Every job ran to completion once, and its callback says delivered.
      expect(recs.map((r) => r?.status)).toEqual(ids.map(() => 'succeeded'));
      expect(recs.map((r) => r?.callback?.status)).toEqual(ids.map(() => 'delivered'));
      await until('terminal events counted', () => terminals.counts.size === JOBS, 10_000);
      expect([...terminals.counts.values()].every((n) => n === 1)).toBe(true);
      // The kill really took jobs in flight: the survivor resumed some.
      expect(survivor?.output).toMatch(/job \S+ resumed from token \d+/);

      // Every job's callback arrived, saying succeeded, under the one delivery id of its terminal state.
      const byJob = new Map<string, Post[]>();
      for (const p of posts) byJob.set(p.jobId, [...(byJob.get(p.jobId) ?? []), p]);
      expect([...byJob.keys()].sort()).toEqual([...ids].sort());
      for (const id of ids) {
        const mine = byJob.get(id) ?? [];
        expect(new Set(mine.map((p) => p.deliveryId)), id).toEqual(new Set([`${id}:1`]));
        expect(mine.every((p) => p.status === 'succeeded'), id).toBe(true);
        // One POST, or two when the victim's was cut by the kill and the survivor sent it again; never more
        // (a live worker renews its claim and is never second-guessed).
        expect(mine.length, id).toBeLessThanOrEqual(2);
      }
      // A receiver that dedupes on x-delivery-id sees each job exactly once.
      expect(new Set(posts.map((p) => p.deliveryId)).size).toBe(JOBS);
      // The kill cut deliveries in flight, and they were sent again (the at-least-once case, not a lucky miss).
      const resent = [...byJob.values()].filter((m) => m.length === 2);
      expect(heldAtKill).toBeGreaterThan(0);
      expect(resent.length).toBeGreaterThan(0);
    } finally {
      await terminals.close();
    }
  }, 180_000);
});
