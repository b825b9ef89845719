/**
 * The Redis queue's behaviour, API and worker in this process on a real Redis: retries as delayed re-enqueues
 * (backoff, Retry-After), a mid-stream failure resumed from the checkpoint, dead letters and requeue, cancel of a
 * running and of a queued job, expiry in the queue, lease renewal during a long stream, and the metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTerminal, type JobRecord } from '../src/jobs/job-store.js';
import { resolvePolicy } from '../src/policy.js';
import type { QueueWorkerEvent } from '../src/queue/queue-worker.js';
import { openRedisWorker, type RedisWorkerSide } from '../src/queue/redis-service.js';
import { Random } from '../src/random.js';
import { RealClock } from '../src/time/real-clock.js';
import { BadRequestError, RateLimitedError, ServerError, StreamInterruptedError } from '../src/upstream/errors.js';
import type { CallOptions, EmbeddingRequest, EmbeddingResult, ModelClient, ModelRequest, StreamEvent, StreamOptions, UpstreamCapabilities } from '../src/upstream/model-client.js';
import { InProcessModelClient } from '../sim/in-process.js';
import { http, RedisServer, sleep, startApi, startMock, uninterruptedText, until } from './redis-testkit.js';

/** Upstream behaviour scripted by the prompt's first word; every call is recorded. */
class ScriptedClient implements ModelClient {
  readonly calls: Array<{ id: string; resumeFrom: number; atMs: number }> = [];
  broken = true;
  constructor(private readonly inner: ModelClient) {}

  /** The mock's: it continues a prefix and reproduces its text. */
  get capabilities(): UpstreamCapabilities | undefined {
    return this.inner.capabilities;
  }

  callsOf(id: string): Array<{ resumeFrom: number; atMs: number }> {
    return this.calls.filter((c) => c.id === id);
  }

  stream(request: ModelRequest, options?: StreamOptions): AsyncIterable<StreamEvent> {
    this.calls.push({ id: request.id, resumeFrom: options?.resumeFrom ?? 0, atMs: Date.now() });
    const n = this.callsOf(request.id).length;
    const kind = (request.prompt ?? '').split(':')[0];
    const inner = this.inner;
    const fail = (e: Error): AsyncIterable<StreamEvent> => ({ [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(e) }) });
    if (kind === 'fail-twice' && n <= 2) return fail(new ServerError(500, 'scripted 500'));
    if (kind === 'rate-once' && n === 1) return fail(new RateLimitedError(300));
    if (kind === 'broken' && this.broken) return fail(new ServerError(503, 'scripted outage'));
    if (kind === 'bad') return fail(new BadRequestError('scripted 400'));
    return (async function* () {
      if (kind === 'hang') {
        await new Promise<void>((_, reject) => options?.signal?.addEventListener('abort', () => reject(options.signal?.reason as Error), { once: true }));
      }
      for await (const ev of inner.stream(request, options)) {
        if (kind === 'slow' && ev.type === 'tokens') await sleep(50 * ev.count);
        if (kind === 'cut' && n === 1 && ev.type === 'tokens' && ev.index >= 10) throw new StreamInterruptedError(10, 'scripted cut');
        yield ev;
      }
    })();
  }

  embed(request: EmbeddingRequest, options?: CallOptions): Promise<EmbeddingResult> {
    return this.inner.embed(request, options);
  }
}

let redis: RedisServer;
let mock: Awaited<ReturnType<typeof startMock>>;
let api: Awaited<ReturnType<typeof startApi>>;
let worker: RedisWorkerSide;
let client: ScriptedClient;
const events: QueueWorkerEvent[] = [];

beforeAll(async () => {
  redis = await RedisServer.start();
  mock = await startMock();
  api = await startApi(redis.url, mock.url);
  client = new ScriptedClient(new InProcessModelClient(mock.model));
  worker = await openRedisWorker({
    url: redis.url,
    clock: new RealClock(),
    random: new Random(5),
    policy: resolvePolicy('resilient', { retry: { baseMs: 20, maxMs: 200 } }),
    upstream: { primary: client },
    concurrency: 8,
    leaseMs: 1500,
    stalledIntervalMs: 200,
  });
  worker.worker.onEvent((e) => events.push(e));
}, 30_000);

afterAll(async () => {
  await worker?.close();
  await api?.close();
  await mock?.close();
  await redis?.stop();
});

async function submit(prompt: string, tokens = 16, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await http('POST', `${api.url}/v1/jobs`, { prompt, ...extra }, { 'x-mock-output-tokens': String(tokens) });
  expect(r.status).toBe(202);
  return r.json.id as string;
}

async function settled(id: string, timeoutMs = 15_000): Promise<JobRecord> {
  let rec: JobRecord | undefined;
  await until(`job ${id} terminal`, async () => {
    rec = await api.side.store.get(id);
    return rec !== undefined && isTerminal(rec.status);
  }, timeoutMs, 20);
  return rec as JobRecord;
}

describe('Redis queue: retries, checkpoints, dead letters, cancel', () => {
  it('retries a failed delivery through a delayed re-enqueue, then succeeds', async () => {
    const id = await submit('fail-twice: x');
    const rec = await settled(id);
    expect(rec).toMatchObject({ status: 'succeeded', outcome: 'ok', attempts: 3, deadLetter: false, tokens: 16 });
    const retries = events.filter((e): e is Extract<QueueWorkerEvent, { type: 'retry' }> => e.type === 'retry' && e.id === id);
    expect(retries.map((e) => e.code)).toEqual(['SERVER_ERROR', 'SERVER_ERROR']);
    // Full-jitter exponential backoff from the policy: within [0, 20] then [0, 40] ms.
    expect(retries[0]?.delayMs).toBeLessThanOrEqual(20);
    expect(retries[1]?.delayMs).toBeLessThanOrEqual(40);
    expect(rec.output).toBe(await uninterruptedText(mock.url, id, 'fail-twice: x', 16));
  });

  it("honours the upstream's Retry-After in the re-enqueue delay", async () => {
    const id = await submit('rate-once: x');
    const rec = await settled(id);
    expect(rec.status).toBe('succeeded');
    const calls = client.callsOf(id);
    expect(calls).toHaveLength(2);
    expect((calls[1]?.atMs ?? 0) - (calls[0]?.atMs ?? 0)).toBeGreaterThanOrEqual(290);
    expect(events.find((e) => e.type === 'retry' && e.id === id)).toMatchObject({ delayMs: 300, code: 'RATE_LIMITED' });
  });

  it('a delivery cut mid-stream: the redelivery resumes from the checkpoint, byte for byte', async () => {
    const id = await submit('cut: x', 30);
    const rec = await settled(id);
    expect(rec).toMatchObject({ status: 'succeeded', tokens: 30, attempts: 2 });
    // The second upstream call continued at token 10: nothing was asked for twice.
    expect(client.callsOf(id).map((c) => c.resumeFrom)).toEqual([0, 10]);
    expect(events.filter((e) => e.type === 'delivered' && e.id === id).map((e) => (e as { resumeFrom: number }).resumeFrom)).toEqual([0, 10]);
    expect(rec.output).toBe(await uninterruptedText(mock.url, id, 'cut: x', 30));
    const log = await api.side.store.readTokens(id, -1);
    expect(log.map((c) => c.index)).toEqual(log.map((_, i) => (i === 0 ? 0 : (log[i - 1]?.index ?? 0) + (log[i - 1]?.count ?? 0))));
  });

  it('dead-letters a job that used up its attempts; requeue brings it back and it completes', async () => {
    const id = await submit('broken: x');
    const rec = await settled(id);
    expect(rec).toMatchObject({ status: 'failed', deadLetter: true, attempts: 4, error: { code: 'SERVER_ERROR' } });
    const dl = await http('GET', `${api.url}/v1/dead-letter`);
    expect(dl.json.data.map((j: { id: string }) => j.id)).toContain(id);
    expect((await api.side.queue.counts()).deadLetter).toBe(1);
    expect(String((await http('GET', `${api.url}/metrics`)).json)).toMatch(/job_queue_dead_letter\{queue="engine-jobs",kind="redis"\} 1/);

    client.broken = false;
    const rq = await http('POST', `${api.url}/v1/dead-letter/${id}/requeue`);
    expect(rq.status).toBe(202);
    expect(rq.json).toMatchObject({ id, status: 'queued', cycle: 2, dead_letter: false });
    const again = await settled(id);
    expect(again).toMatchObject({ status: 'succeeded', cycle: 2, deadLetter: false, attempts: 5, tokens: 16 });
    expect((await http('GET', `${api.url}/v1/dead-letter`)).json.data).toHaveLength(0);
    expect((await api.side.queue.counts()).deadLetter).toBe(0);
    // Requeueing a job that is not dead-lettered is refused.
    expect((await http('POST', `${api.url}/v1/dead-letter/${id}/requeue`)).status).toBe(409);
  });

  it('a non-retryable error dead-letters at once', async () => {
    const id = await submit('bad: x');
    const rec = await settled(id);
    expect(rec).toMatchObject({ status: 'failed', deadLetter: true, attempts: 1, error: { code: 'BAD_REQUEST' } });
    expect(client.callsOf(id)).toHaveLength(1);
  });

  it('cancels running jobs (the worker aborts their upstream calls) and a queued one (never sent)', async () => {
    // Fill the worker's 8 slots with streams that never end, so the next job stays queued.
    const running = await Promise.all(Array.from({ length: 8 }, (_, i) => submit(`hang: ${i}`)));
    await until('hang jobs running', async () => (await Promise.all(running.map((id) => api.side.store.get(id)))).every((r) => r?.status === 'running'), 10_000, 20);
    const queued = await submit('plain: queued');
    expect((await api.side.store.get(queued))?.status).toBe('queued');
    const d = await http('DELETE', `${api.url}/v1/jobs/${queued}`);
    expect(d.status).toBe(200);
    expect(d.json).toMatchObject({ id: queued, status: 'cancelled', outcome: 'cancelled', dead_letter: false });
    expect((await api.side.queue.queue.getJob(queued))).toBeUndefined();

    for (const id of running) {
      const del = await http('DELETE', `${api.url}/v1/jobs/${id}`);
      expect(del.status).toBe(200);
      expect(del.json).toMatchObject({ id, status: 'cancelled', outcome: 'cancelled', dead_letter: false });
    }
    // A cancelled job cannot be cancelled again (it is terminal): the same answer, no second terminal state.
    expect((await http('DELETE', `${api.url}/v1/jobs/${queued}`)).json.status).toBe('cancelled');
    const after = await submit('plain: after');
    expect((await settled(after)).status).toBe('succeeded');
    expect(client.callsOf(queued)).toHaveLength(0);
    expect(worker.worker.active).toBe(0);
  });

  it('drops a job whose deadline passed while queued, without sending it', async () => {
    const id = await submit('plain: late', 16, { deadlineMs: 1 });
    const rec = await settled(id);
    expect(rec).toMatchObject({ status: 'failed', outcome: 'shed', deadLetter: true, error: { code: 'EXPIRED_IN_QUEUE' } });
    expect(client.callsOf(id)).toHaveLength(0);
  });

  it('keeps its lease (renewing the lock) through a stream longer than the lease', async () => {
    const stalledBefore = (await api.side.queue.counts()).stalled;
    const id = await submit('slow: x', 40); // 40 x 50 ms = 2 s, longer than the 1.5 s lease
    const rec = await settled(id, 20_000);
    expect(rec).toMatchObject({ status: 'succeeded', tokens: 40, attempts: 1 });
    expect(client.callsOf(id)).toHaveLength(1);
    expect(events.filter((e) => e.type === 'delivered' && e.id === id)).toHaveLength(1);
    expect((await api.side.queue.counts()).stalled).toBe(stalledBefore);
  });
});

describe('Redis queue: orphans (stored, never enqueued)', () => {
  it('a job stored by a producer that died before enqueueing is found by the sweeper and run', async () => {
    // What a producer killed between the two steps leaves: the record (it got its 202), no BullMQ job.
    const id = `orphan-${Date.now()}`;
    const { created } = await api.side.store.create({
      id,
      tenant: 'anonymous',
      spec: { model: 'primary', prompt: 'plain: orphan', priority: 'interactive', mock: { outputTokens: 6 } },
      fingerprint: `orphan ${id}`,
      createdAtMs: Date.now(),
    });
    expect(created).toBe(true);
    expect(await api.side.queue.queue.getJob(id)).toBeUndefined();
    expect(await api.side.store.outboxOlderThan(0)).toContain(id);
    const enqueued = await api.side.queue.sweepOrphans(0);
    expect(enqueued).toContain(id);
    const rec = await settled(id);
    expect(rec.status).toBe('succeeded');
    expect(rec.tokens).toBe(6);
    expect(await api.side.store.outboxOlderThan(0)).not.toContain(id);
  });

  it('a job enqueued normally leaves the outbox at once, so the sweeper never enqueues it twice', async () => {
    const id = await submit('plain: normal', 4);
    expect(await api.side.store.outboxOlderThan(0)).not.toContain(id);
    expect(await api.side.queue.sweepOrphans(0)).not.toContain(id);
    expect((await settled(id)).status).toBe('succeeded');
  });
});
