/**
 * Workers price jobs as `serve --price` does: `npm run worker -- --price ...` (the flags parsed by serve's own
 * parser, src/price-flags.ts) gives the job view its `costUsd` and /metrics its `engine_cost_usd_total`; and a job
 * retried through the queue (one delivery per attempt) is billed for every delivery, as the in-memory service bills
 * every attempt. A real redis-server on a free port (FAILS without it, see redis-testkit.ts); the mock on 127.0.0.1.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolvePolicy } from '../src/policy.js';
import { openRedisWorker } from '../src/queue/redis-service.js';
import { Random } from '../src/random.js';
import { RealClock } from '../src/time/real-clock.js';
import { HttpModelClient } from '../src/upstream/http-openai.js';
import type { EmbeddingRequest, EmbeddingResult, ModelClient, ModelRequest, StreamEvent, StreamOptions } from '../src/upstream/model-client.js';
import type { BilledAttempt } from '../sim/mock-model.js';
import { freePort, http, RedisServer, spawnWorker, startApi, startMock, until, type Json } from './redis-testkit.js';

// $1 per 1M input, $0.5 per 1M cached input, $4 per 1M output: easy to check by hand.
const PRICE = { inputPer1M: 1, cachedInputPer1M: 0.5, outputPer1M: 4 };
const usdOf = (u: { billedInput: number; billedCachedInput: number; billedOutput: number }): number =>
  (u.billedInput * PRICE.inputPer1M + u.billedCachedInput * PRICE.cachedInputPer1M + u.billedOutput * PRICE.outputPer1M) / 1e6;

/** Breaks the first call of every request after 3 tokens (the mock's per-request fault); later calls pass. */
class BreakFirst implements ModelClient {
  private readonly seen = new Set<string>();
  constructor(private readonly inner: ModelClient) {}
  get capabilities(): ModelClient['capabilities'] {
    return this.inner.capabilities;
  }
  stream(r: ModelRequest, o?: StreamOptions): AsyncIterable<StreamEvent> {
    const first = !this.seen.has(r.id);
    this.seen.add(r.id);
    return this.inner.stream(first ? { ...r, fault: 'disconnect:after=3' } : r, o);
  }
  embed(r: EmbeddingRequest, o?: StreamOptions): Promise<EmbeddingResult> {
    return this.inner.embed(r, o);
  }
}

let redis: RedisServer;
let mock: Awaited<ReturnType<typeof startMock>>;
let api: Awaited<ReturnType<typeof startApi>>;
const bills: BilledAttempt[] = [];

beforeAll(async () => {
  redis = await RedisServer.start();
  mock = await startMock({ seed: 23 });
  mock.model.onBill((b) => bills.push(b));
  api = await startApi(redis.url, mock.url);
}, 60_000);

afterAll(async () => {
  await api?.close();
  await mock?.close();
  await redis?.stop();
});

/** Runs one job (a prompt of its own: the API dedups identical payloads) and returns its terminal view. */
async function runJob(prompt: string, headers: Record<string, string>): Promise<Json> {
  const r = await http('POST', `${api.url}/v1/jobs`, { prompt }, headers);
  expect(r.status).toBe(202);
  const id = (r.json as { id: string }).id;
  let view: Json;
  await until(`job ${id} terminal`, async () => {
    view = (await http('GET', `${api.url}/v1/jobs/${id}`)).json;
    return ['succeeded', 'failed', 'cancelled'].includes(view?.status);
  }, 60_000);
  return view;
}

describe('worker --price', () => {
  it("a worker process started with --price gives the job view its costUsd and /metrics engine_cost_usd_total", async () => {
    const metricsPort = await freePort();
    const worker = await spawnWorker(redis.url, mock.url, ['--price', JSON.stringify(PRICE), '--metrics-port', String(metricsPort)]);
    try {
      expect(worker.output).toMatch(/worker: ready \(.*, priced/);
      const view = await runJob('what does it cost', { 'x-mock-prompt-tokens': '50', 'x-mock-output-tokens': '6' });
      expect(view.status).toBe('succeeded');
      expect(view.usage).toEqual({ billedInput: 50, billedCachedInput: 0, billedOutput: 6, delivered: 6, estimated: false });
      expect(view.costUsd).toBeCloseTo((50 * 1 + 6 * 4) / 1e6, 12);

      const res = await request(`http://127.0.0.1:${metricsPort}/metrics`);
      const text = await res.body.text();
      const line = text.split('\n').find((l) => l.startsWith('engine_cost_usd_total{') && l.includes('model="primary"'));
      expect(line, text).toBeDefined();
      expect(Number(line?.slice(line.lastIndexOf(' ') + 1))).toBeCloseTo((50 * 1 + 6 * 4) / 1e6, 12);
    } finally {
      await worker.stop();
    }
  }, 120_000);

  it('a job retried through the queue is billed for every delivery: the broken first one and the resume', async () => {
    const clock = new RealClock();
    const primary = new HttpModelClient({ baseUrl: mock.url, clock, dialect: 'mock' });
    const worker = await openRedisWorker({
      url: redis.url,
      clock,
      random: new Random(5),
      policy: resolvePolicy('resilient', { retry: { baseMs: 1, maxMs: 5 } }),
      upstream: { primary: new BreakFirst(primary) },
      prices: { primary: PRICE },
      callbacks: false,
    });
    try {
      bills.length = 0;
      const view = await runJob('what does a retry cost', { 'x-mock-prompt-tokens': '50', 'x-mock-output-tokens': '6' });
      expect(view.status).toBe('succeeded');
      expect(view.attempts).toBe(2);
      // The mock billed two calls: the first (50 prompt tokens, broken after 3 tokens) and the resume (the prompt
      // and the 3-token prefix again, then the last 3 tokens).
      expect(bills.map((b) => [b.inputTokens, b.resumeFrom, b.completed])).toEqual([
        [50, 0, false],
        [53, 3, true],
      ]);
      expect(view.usage.billedInput).toBe(50 + 53);
      expect(view.usage.billedOutput).toBe(bills.reduce((a, b) => a + b.outputTokens, 0));
      expect(view.usage.delivered).toBe(6);
      expect(view.usage.estimated).toBe(true); // the broken call's figures are the engine's own counts
      expect(view.costUsd).toBeCloseTo(usdOf(view.usage), 12);
    } finally {
      await worker.close();
      await primary.close();
    }
  }, 120_000);
});
