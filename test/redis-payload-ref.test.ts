/**
 * Large payloads by reference: a 1 MB prompt submitted to the API on the Redis queue is stored in the object
 * store (a local directory) and the job record in Redis keeps only its `payloadRef`; a worker with the same store
 * fetches it and runs the job with the whole prompt. A worker without the store fails the job
 * PAYLOAD_UNAVAILABLE (dead-lettered, never sent). A real redis-server (FAILS without it, see redis-testkit.ts).
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildService, type ApiService } from '../src/api/server.js';
import { isTerminal, type JobRecord } from '../src/jobs/job-store.js';
import { LocalDirPayloadStore, PayloadUnavailableError, withPayload } from '../src/jobs/payload-store.js';
import { resolvePolicy } from '../src/policy.js';
import { openRedisApi, openRedisWorker, type RedisApiSide, type RedisWorkerSide } from '../src/queue/redis-service.js';
import { Random } from '../src/random.js';
import { RealClock } from '../src/time/real-clock.js';
import type { EmbeddingRequest, EmbeddingResult, ModelClient, ModelRequest, StreamEvent, StreamOptions } from '../src/upstream/model-client.js';
import { InProcessModelClient } from '../sim/in-process.js';
import { MockModel } from '../sim/mock-model.js';
import { FAST_PROFILE } from '../sim/server-testkit.js';
import { RedisServer, until } from './redis-testkit.js';

/** Records the prompt length of every request it passes on. */
class Recording implements ModelClient {
  readonly prompts = new Map<string, number>();
  constructor(private readonly inner: ModelClient) {}
  get capabilities(): ModelClient['capabilities'] {
    return this.inner.capabilities;
  }
  stream(r: ModelRequest, o?: StreamOptions): AsyncIterable<StreamEvent> {
    this.prompts.set(r.id, r.prompt?.length ?? -1);
    return this.inner.stream(r, o);
  }
  embed(r: EmbeddingRequest, o?: StreamOptions): Promise<EmbeddingResult> {
    return this.inner.embed(r, o);
  }
}

let redis: RedisServer;
let dir: string;
let model: MockModel;
let side: RedisApiSide;
let svc: ApiService;
const clock = new RealClock();
const policy = resolvePolicy('resilient', { retry: { baseMs: 1, maxMs: 5 } });

beforeAll(async () => {
  redis = await RedisServer.start();
  dir = mkdtempSync(join(tmpdir(), 'payloads-'));
  model = new MockModel({ name: 'primary', profile: FAST_PROFILE, clock, random: new Random(8).derive('mock') });
  side = await openRedisApi({ url: redis.url, clock, attempts: policy.retry.maxAttempts });
  svc = buildService({
    clock,
    random: new Random(3),
    tenants: 'open',
    policy,
    upstream: { primary: new InProcessModelClient(model) },
    store: side.store,
    queue: side.queue,
    bodyLimitBytes: 8 * 1024 * 1024,
    payloads: { store: new LocalDirPayloadStore(dir), thresholdBytes: 64 * 1024 },
  });
}, 30_000);

afterAll(async () => {
  await svc?.app.close();
  await side?.close();
  model?.close();
  rmSync(dir, { recursive: true, force: true });
  await redis?.stop();
});

async function submit(prompt: string): Promise<string> {
  // The mock is told the prompt's token count (a 1 MB prompt would not fit the profile's context otherwise).
  const r = await svc.app.inject({ method: 'POST', url: '/v1/jobs', payload: { prompt }, headers: { 'x-mock-output-tokens': '4', 'x-mock-prompt-tokens': '100' } });
  expect(r.statusCode, r.body).toBe(202);
  return (r.json() as { id: string }).id;
}

async function settled(id: string): Promise<JobRecord> {
  let rec: JobRecord | undefined;
  await until(`job ${id} terminal`, async () => {
    rec = await side.store.get(id);
    return rec !== undefined && isTerminal(rec.status);
  }, 30_000);
  return rec as JobRecord;
}

describe('payloadRef', () => {
  it('a 1 MB prompt is stored by reference and run by a worker that fetches it', async () => {
    const upstream = new Recording(new InProcessModelClient(model));
    const worker: RedisWorkerSide = await openRedisWorker({ url: redis.url, clock, random: new Random(4), policy, upstream: { primary: upstream }, concurrency: 2, payloads: new LocalDirPayloadStore(dir), callbacks: false });
    try {
      // 1 MB: the schema's largest prompt (1,000,000 characters).
      const prompt = 'p'.repeat(1_000_000);
      const id = await submit(prompt);
      const rec = await settled(id);
      expect(rec).toMatchObject({ status: 'succeeded', tokens: 4 });
      // The record in Redis holds the reference, not the megabyte.
      expect(rec.spec.prompt).toBeUndefined();
      expect(rec.spec.payloadRef).toMatch(/^local:[0-9a-f]{64}\.json$/);
      const file = join(dir, (rec.spec.payloadRef as string).slice('local:'.length));
      expect(existsSync(file)).toBe(true);
      expect(statSync(file).size).toBeGreaterThan(1_000_000);
      // The worker sent the whole prompt upstream.
      expect(upstream.prompts.get(id)).toBe(prompt.length);
      const view = (await svc.app.inject({ method: 'GET', url: `/v1/jobs/${id}` })).json() as { payloadRef: string };
      expect(view.payloadRef).toBe(rec.spec.payloadRef);
      // A small payload stays inline.
      const small = await settled(await submit('short'));
      expect(small.spec).toMatchObject({ prompt: 'short' });
      expect(small.spec.payloadRef).toBeUndefined();
    } finally {
      await worker.close();
    }
  }, 90_000);

  it('a worker without the payload store fails the job PAYLOAD_UNAVAILABLE, never calling the upstream', async () => {
    const upstream = new Recording(new InProcessModelClient(model));
    const worker = await openRedisWorker({ url: redis.url, clock, random: new Random(5), policy, upstream: { primary: upstream }, concurrency: 2, callbacks: false });
    try {
      const id = await submit('q'.repeat(200 * 1024));
      const rec = await settled(id);
      expect(rec).toMatchObject({ status: 'failed', deadLetter: true, error: { code: 'PAYLOAD_UNAVAILABLE' } });
      expect(rec.error?.message).toMatch(/no payload store/);
      expect(upstream.prompts.has(id)).toBe(false);
    } finally {
      await worker.close();
    }
  }, 90_000);

  it('a reference that is not the store\'s own form is refused, not read', async () => {
    const store = new LocalDirPayloadStore(dir);
    const rec = { spec: { payloadRef: 'local:../../etc/passwd' } } as unknown as JobRecord;
    await expect(withPayload(rec, store)).rejects.toBeInstanceOf(PayloadUnavailableError);
    await expect(withPayload(rec, store)).rejects.toThrow(/expected a reference like local:<sha256>\.json/);
  });
});
