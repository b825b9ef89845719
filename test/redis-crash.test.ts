/**
 * kill -9 a worker in the middle of streaming, with 200 jobs in flight across 3 worker processes (real Redis with
 * AOF, real processes, loopback): every accepted job reaches exactly one terminal state, none is lost, resumed
 * outputs are byte-identical to uninterrupted ones, and SSE clients see every token once.
 */
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTerminal } from '../src/jobs/job-store.js';
import { http, readEvents, RedisServer, spawnWorker, startApi, startMock, terminalCounter, uninterruptedText, until, type Child, type SseMessage } from './redis-testkit.js';

let redis: RedisServer;
let mock: Awaited<ReturnType<typeof startMock>>;
let api: Awaited<ReturnType<typeof startApi>>;
const workers: Child[] = [];

beforeAll(async () => {
  redis = await RedisServer.start();
  // ~4 ms per decode step: a 48-token job streams for a few hundred ms, long enough to be cut in the middle.
  mock = await startMock({ profile: { base: 'h100-llama3-8b', name: 'crash-test', maxNumSeqs: 512, step: { baseMs: 4, overheadMs: 0, perTokenMs: 0, attentionMsPerContextToken: 0 } } });
  api = await startApi(redis.url, mock.url);
}, 30_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => w.kill()));
  await api?.close();
  await mock?.close();
  await redis?.stop();
});

const TOKENS = 48;

describe('Redis queue: a worker killed mid-stream', () => {
  it('200 jobs over 3 workers, one kill -9: one terminal state each, byte-identical outputs, no lost or duplicated SSE tokens', async () => {
    const lease = ['--lease-ms', '1000', '--stalled-interval-ms', '250', '--concurrency', '24'];
    workers.push(...(await Promise.all([0, 1, 2].map(() => spawnWorker(redis.url, mock.url, lease)))));
    const terminals = await terminalCounter(redis.url);
    try {
      const limit = pLimit(50);
      const ids = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          limit(async () => {
            const r = await http('POST', `${api.url}/v1/jobs`, { prompt: `job ${i}` }, { 'x-mock-output-tokens': String(TOKENS) });
            expect(r.status).toBe(202);
            return { id: r.json.id as string, prompt: `job ${i}` };
          }),
        ),
      );
      // Some clients follow their job's stream live through the crash.
      const followed = ids.slice(100, 112).map((j) => readEvents(api.url, j.id));

      // Kill a worker once many jobs are part-way through their streams.
      await until('jobs streaming', async () => {
        const recs = await Promise.all(ids.map((j) => api.side.store.get(j.id)));
        return recs.filter((r) => r?.status === 'running' && r.tokens > 0 && r.tokens < TOKENS).length >= 20;
      }, 20_000, 10);
      const victim = workers[0] as Child;
      await victim.kill('SIGKILL');

      await until('every job terminal', async () => {
        const recs = await Promise.all(ids.map((j) => api.side.store.get(j.id)));
        return recs.every((r) => r !== undefined && isTerminal(r.status));
      }, 40_000, 100);

      const recs = await Promise.all(ids.map((j) => api.side.store.get(j.id)));
      expect(recs.map((r) => r?.status)).toEqual(ids.map(() => 'succeeded'));
      // Exactly one terminal state per job (the store refuses a second: none was ever published).
      await until('terminal events delivered', () => terminals.counts.size === 200, 30_000);
      expect([...terminals.counts.values()].every((n) => n === 1)).toBe(true);

      // The kill really interrupted streams: survivors resumed jobs from their checkpoints.
      const resumed = new Set<string>();
      for (const w of workers.slice(1)) for (const m of w.output.matchAll(/job (\S+) resumed from token (\d+)/g)) resumed.add(m[1] as string);
      expect(resumed.size).toBeGreaterThan(0);
      // The delivery lost with the killed worker counts as an attempt: a resumed job took at least two.
      for (const r of recs) if (r !== undefined && resumed.has(r.id)) expect(r.attempts, r.id).toBeGreaterThanOrEqual(2);
      const counts = await api.side.queue.counts();
      expect(counts.stalled).toBeGreaterThan(0);

      // Every output, resumed or not, is the uninterrupted stream's text byte for byte.
      const expected = await Promise.all(ids.map((j) => uninterruptedText(mock.url, j.id, j.prompt, TOKENS)));
      for (let i = 0; i < ids.length; i++) {
        expect(recs[i]?.tokens).toBe(TOKENS);
        expect(recs[i]?.output).toBe(expected[i]);
      }

      // Live SSE clients: contiguous token indices from 0, each once, text equal to the output, one end event.
      const streams: SseMessage[][] = await Promise.all(followed);
      streams.forEach((msgs, k) => {
        const rec = recs[100 + k];
        let next = 0;
        let text = '';
        for (const m of msgs.filter((x) => x.event === 'token')) {
          const d = JSON.parse(m.data) as { index: number; count: number; text: string };
          expect(d.index).toBe(next);
          next += d.count;
          text += d.text;
        }
        expect(next).toBe(TOKENS);
        expect(text).toBe(rec?.output);
        expect(msgs.filter((m) => m.event === 'end')).toHaveLength(1);
      });
    } finally {
      await terminals.close();
    }
  }, 60_000);
});
