/**
 * Redis mode as one system: four workers with `sharedPolicy` keep one retry budget and one breaker in Redis, so
 * against a failing upstream they retry no more than one policy allows (counted at the upstream), and stop
 * calling it together once the shared breaker opens. The same four workers without the flag are the contrast.
 * A real redis-server on a free port (FAILS without /usr/bin/redis-server, see redis-testkit.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildService, type ApiService } from '../src/api/server.js';
import { isTerminal } from '../src/jobs/job-store.js';
import { resolvePolicy, type Policy } from '../src/policy.js';
import type { QueueWorkerEvent } from '../src/queue/queue-worker.js';
import { openRedisApi, openRedisWorker, type RedisApiSide, type RedisWorkerSide } from '../src/queue/redis-service.js';
import { SharedBreaker, SharedRetryBudget } from '../src/queue/shared-policy.js';
import { Random } from '../src/random.js';
import { RealClock } from '../src/time/real-clock.js';
import { ServerError } from '../src/upstream/errors.js';
import type { EmbeddingResult, ModelClient, StreamEvent } from '../src/upstream/model-client.js';
import { Redis } from 'ioredis';
import { RedisServer, until } from './redis-testkit.js';
import { InProcessModelClient } from '../sim/in-process.js';
import { MockModel } from '../sim/mock-model.js';
import { FAST_PROFILE } from '../sim/server-testkit.js';

/** An upstream that answers every call 500 before any token, and counts the calls. */
class FailingUpstream implements ModelClient {
  calls = 0;
  stream(): AsyncIterable<StreamEvent> {
    this.calls++;
    return { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new ServerError(500, 'always failing')) }) };
  }
  embed(): Promise<EmbeddingResult> {
    return Promise.reject(new ServerError(500, 'always failing'));
  }
}

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
}, 30_000);
afterAll(async () => {
  await redis?.stop();
});

const JOBS = 10;
const WORKERS = 4;

interface Fleet {
  readonly svc: ApiService;
  readonly side: RedisApiSide;
  readonly workers: RedisWorkerSide[];
  readonly upstream: FailingUpstream;
  readonly events: QueueWorkerEvent[];
  /** Deliveries taken, per worker. */
  readonly deliveries: number[];
  close(): Promise<void>;
}

/** An API (inject only) and four in-process workers on their own queue name and prefix. */
async function fleet(name: string, policy: Policy, shared: boolean, fallback?: ModelClient): Promise<Fleet> {
  const clock = new RealClock();
  const prefix = `${name}:`;
  const side = await openRedisApi({ url: redis.url, clock, attempts: policy.retry.maxAttempts, prefix, queueName: name });
  const upstream = new FailingUpstream();
  const svc = buildService({ clock, random: new Random(1), tenants: 'open', policy, upstream: { primary: upstream }, store: side.store, queue: side.queue });
  const events: QueueWorkerEvent[] = [];
  const workers: RedisWorkerSide[] = [];
  const deliveries = new Array<number>(WORKERS).fill(0);
  for (let i = 0; i < WORKERS; i++) {
    const w = await openRedisWorker({ url: redis.url, prefix, queueName: name, clock, random: new Random(10 + i), policy, upstream: { primary: upstream, ...(fallback !== undefined ? { fallback } : {}) }, concurrency: 1, sharedPolicy: shared, callbacks: false });
    w.worker.onEvent((e) => {
      events.push(e);
      if (e.type === 'delivered') deliveries[i] = (deliveries[i] ?? 0) + 1;
    });
    workers.push(w);
  }
  return {
    svc,
    side,
    workers,
    upstream,
    events,
    deliveries,
    close: async () => {
      for (const w of workers) await w.close();
      await svc.app.close();
      await side.close();
    },
  };
}

async function submitAll(f: Fleet): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < JOBS; i++) {
    const r = await f.svc.app.inject({ method: 'POST', url: '/v1/jobs', payload: { prompt: `job ${i}` } });
    expect(r.statusCode).toBe(202);
    ids.push((r.json() as { id: string }).id);
  }
  return ids;
}

async function allTerminal(f: Fleet, ids: readonly string[]): Promise<void> {
  await until(`${ids.length} jobs terminal`, async () => (await Promise.all(ids.map((id) => f.side.store.get(id)))).every((r) => r !== undefined && isTerminal(r.status)), 60_000, 50);
}

describe('four workers, one retry budget', () => {
  // Finagle budget: 0.2 retries per job plus a reserve of 0.05/s over 300 s = 15, so one policy allows at most
  // 0.2 · 10 + 15 = 17 retries for 10 jobs; maxAttempts 8 would allow 70. The breaker is off: only the budget limits.
  const policy = resolvePolicy('resilient', {
    retry: { maxAttempts: 8, baseMs: 1, maxMs: 5 },
    retryBudget: { mode: 'finagle', ratio: 0.2, minRetriesPerSec: 0.05, ttlMs: 300_000 },
    breaker: { enabled: false },
  });
  const allowedRetries = Math.floor(0.2 * JOBS + 0.05 * 300);

  it('shared through Redis: the upstream sees no more retries than one policy allows', async () => {
    const f = await fleet('shared-budget', policy, true);
    try {
      const ids = await submitAll(f);
      await allTerminal(f, ids);
      const retries = f.upstream.calls - JOBS;
      expect(retries).toBeLessThanOrEqual(allowedRetries);
      // And the budget was the limit (not max attempts): it is spent, and jobs gave up on it.
      expect(retries).toBeGreaterThanOrEqual(allowedRetries - 1);
      expect(await f.workers[0]?.worker.shared?.budget?.level()).toBe(0);
      // The work was spread: several workers took deliveries.
      expect(f.deliveries.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
    } finally {
      await f.close();
    }
  }, 120_000);

  it('per process (the default): the same four workers retry more than one policy allows', async () => {
    const f = await fleet('own-budget', policy, false);
    try {
      const ids = await submitAll(f);
      await allTerminal(f, ids);
      expect(f.upstream.calls - JOBS).toBeGreaterThan(allowedRetries);
    } finally {
      await f.close();
    }
  }, 120_000);
});

describe('four workers, one breaker', () => {
  it('opens for all workers after the shared count of consecutive failures; no worker calls the upstream while open', async () => {
    const policy = resolvePolicy('resilient', {
      retry: { maxAttempts: 8, baseMs: 1, maxMs: 5 },
      retryBudget: { mode: 'off' },
      breaker: { enabled: true, rule: 'consecutive', consecutiveFailures: 3, openMs: 120_000 },
    });
    const f = await fleet('shared-breaker', policy, true);
    try {
      const ids = await submitAll(f);
      // Every job ends up waiting out the open breaker, unsent.
      await until('every job refused by the open breaker', () => ids.every((id) => f.events.some((e) => e.type === 'breaker-wait' && e.id === id)), 60_000);
      // 3 failures open it; at most WORKERS - 1 other calls were already past the gate (concurrency 1 each).
      expect(f.upstream.calls).toBeGreaterThanOrEqual(3);
      expect(f.upstream.calls).toBeLessThanOrEqual(3 + WORKERS - 1);
      expect(await f.workers[2]?.worker.shared?.breaker?.state()).toBe('open');
    } finally {
      await f.close();
    }
  }, 120_000);

  it('with a fallback, jobs refused the primary by the open shared breaker are served by the fallback', async () => {
    const policy = resolvePolicy('resilient', {
      retry: { maxAttempts: 8, baseMs: 1, maxMs: 5 },
      retryBudget: { mode: 'off' },
      breaker: { enabled: true, rule: 'consecutive', consecutiveFailures: 3, openMs: 120_000 },
    });
    // Named as the jobs' model (in production the fallback is wrapped to send its own model name).
    const model = new MockModel({ name: 'primary', profile: FAST_PROFILE, clock: new RealClock(), random: new Random(9).derive('mock') });
    const f = await fleet('shared-breaker-fallback', policy, true, new InProcessModelClient(model));
    try {
      const ids = await submitAll(f);
      await allTerminal(f, ids);
      const recs = await Promise.all(ids.map((id) => f.side.store.get(id)));
      expect(recs.map((r) => `${r?.status} ${r?.model} ${r?.error?.code}`)).toEqual(ids.map(() => 'succeeded fallback undefined'));
      expect(f.upstream.calls).toBeLessThanOrEqual(3 + WORKERS - 1);
      expect(f.events.some((e) => e.type === 'breaker-wait')).toBe(false);
    } finally {
      await f.close();
      model.close();
    }
  }, 120_000);

  it('half-open lets halfOpenProbes probes through, closes on their success, reopens on a failure', async () => {
    const r = new Redis(redis.url);
    try {
      const b = resolvePolicy('resilient', { breaker: { rule: 'consecutive', consecutiveFailures: 2, openMs: 200, halfOpenProbes: 2 } }).breaker;
      const breaker = new SharedBreaker(r, 'unit:breaker', b);
      await breaker.record(true, false);
      expect(await breaker.state()).toBe('closed');
      await breaker.record(true, false);
      expect(await breaker.state()).toBe('open');
      expect(await breaker.allow()).toMatchObject({ allowed: false });
      await until('the breaker half-open', async () => (await breaker.state()) === 'half-open', 10_000, 20);
      const probes = [await breaker.allow(), await breaker.allow(), await breaker.allow()];
      expect(probes.map((p) => p.allowed && p.probe)).toEqual([true, true, false]);
      await breaker.record(false, true);
      expect(await breaker.state()).toBe('half-open');
      await breaker.record(false, true);
      expect(await breaker.state()).toBe('closed');
      // Again: open, then a failed probe reopens it.
      await breaker.record(true, false);
      await breaker.record(true, false);
      await until('the breaker half-open again', async () => (await breaker.state()) === 'half-open', 10_000, 20);
      expect(await breaker.allow()).toEqual({ allowed: true, probe: true });
      await breaker.record(true, true);
      expect(await breaker.state()).toBe('open');
      // A probe never reported (its worker died) does not hold half-open forever.
      await until('the breaker half-open a third time', async () => (await breaker.state()) === 'half-open', 10_000, 20);
      expect([await breaker.allow(), await breaker.allow(), await breaker.allow()].map((p) => p.allowed)).toEqual([true, true, false]);
      await until('lost probes given up after openMs', async () => (await breaker.allow()).allowed, 10_000, 20);
    } finally {
      r.disconnect();
    }
  });

  it('the shared budget never goes below zero and refuses a non-finagle mode by name', async () => {
    const r = new Redis(redis.url);
    try {
      const b = resolvePolicy('resilient', { retryBudget: { mode: 'finagle', ratio: 0.5, minRetriesPerSec: 0, ttlMs: 60_000 } }).retryBudget;
      const budget = new SharedRetryBudget(r, 'unit:budget', b);
      for (let i = 0; i < 4; i++) await budget.onRequest();
      const took = [];
      for (let i = 0; i < 4; i++) took.push(await budget.tryWithdraw());
      expect(took).toEqual([true, true, false, false]);
      expect(await budget.level()).toBe(0);
      const grpc = resolvePolicy('resilient', { retryBudget: { mode: 'grpc' } }).retryBudget;
      expect(() => new SharedRetryBudget(r, 'unit:grpc', grpc)).toThrow(/retryBudget\.mode/);
    } finally {
      r.disconnect();
    }
  });
});
