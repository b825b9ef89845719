/**
 * Redis mode observed as one system: a worker's /metrics (`--metrics-port`: the engine's `engine_*` and the
 * worker's `job_*`) and the job id as the trace correlation key, `job.id` on the API's `job.enqueue` span and on
 * the worker's trace of each delivery. A real redis-server on a free port (FAILS without it, see redis-testkit.ts).
 */
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildService, type ApiService } from '../src/api/server.js';
import { isTerminal } from '../src/jobs/job-store.js';
import { resolvePolicy } from '../src/policy.js';
import { openRedisApi, openRedisWorker, type RedisApiSide, type RedisWorkerSide } from '../src/queue/redis-service.js';
import { Random } from '../src/random.js';
import { createTelemetry, type Telemetry } from '../src/telemetry/setup.js';
import { RealClock } from '../src/time/real-clock.js';
import { ServerError } from '../src/upstream/errors.js';
import type { EmbeddingResult, ModelClient, ModelRequest, StreamEvent, StreamOptions } from '../src/upstream/model-client.js';
import { serveMetrics, type MetricsServer } from '../src/worker/metrics-server.js';
import { InProcessModelClient } from '../sim/in-process.js';
import { MockModel } from '../sim/mock-model.js';
import { FAST_PROFILE } from '../sim/server-testkit.js';
import { exportedMetricNames } from './helpers/promql-names.js';
import { RedisServer, until } from './redis-testkit.js';

/** Fails the first call of every request with a 500, then answers from the mock. */
class FailOnce implements ModelClient {
  private readonly seen = new Set<string>();
  constructor(private readonly inner: ModelClient) {}
  get capabilities(): ModelClient['capabilities'] {
    return this.inner.capabilities;
  }
  stream(r: ModelRequest, o?: StreamOptions): AsyncIterable<StreamEvent> {
    if (!this.seen.has(r.id)) {
      this.seen.add(r.id);
      return { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new ServerError(500, 'first call fails')) }) };
    }
    return this.inner.stream(r, o);
  }
  embed(): Promise<EmbeddingResult> {
    return Promise.reject(new ServerError(500, 'no embeddings'));
  }
}

let redis: RedisServer;
let model: MockModel;
let side: RedisApiSide;
let svc: ApiService;
let worker: RedisWorkerSide;
let metrics: MetricsServer;
const apiSpans = new InMemorySpanExporter();
const workerSpans = new InMemorySpanExporter();
let apiTelemetry: Telemetry;
let workerTelemetry: Telemetry;

beforeAll(async () => {
  redis = await RedisServer.start();
  const clock = new RealClock();
  const policy = resolvePolicy('resilient', { retry: { baseMs: 1, maxMs: 5 } });
  model = new MockModel({ name: 'primary', profile: FAST_PROFILE, clock, random: new Random(4).derive('mock') });
  apiTelemetry = createTelemetry({ exporter: 'none', spanProcessors: [new SimpleSpanProcessor(apiSpans)] });
  workerTelemetry = createTelemetry({ exporter: 'prometheus', serviceName: 'ai-engine-worker', spanProcessors: [new SimpleSpanProcessor(workerSpans)] });
  side = await openRedisApi({ url: redis.url, clock, attempts: policy.retry.maxAttempts });
  svc = buildService({ clock, random: new Random(1), tenants: 'open', policy, upstream: { primary: new InProcessModelClient(model) }, store: side.store, queue: side.queue, telemetry: apiTelemetry });
  worker = await openRedisWorker({ url: redis.url, clock, random: new Random(2), policy, upstream: { primary: new FailOnce(new InProcessModelClient(model)) }, concurrency: 4, sharedPolicy: true, telemetry: workerTelemetry, callbacks: false });
  metrics = await serveMetrics(workerTelemetry, 0);
}, 30_000);

afterAll(async () => {
  await metrics?.close();
  await worker?.close();
  await svc?.app.close();
  await side?.close();
  model?.close();
  await apiTelemetry?.shutdown();
  await workerTelemetry?.shutdown();
  await redis?.stop();
});

describe('a worker observed', () => {
  it('the job id correlates the API span and the worker traces; the worker serves engine_* and job_* on /metrics', async () => {
    const r = await svc.app.inject({ method: 'POST', url: '/v1/jobs', payload: { prompt: 'observe me' }, headers: { 'x-mock-output-tokens': '5' } });
    expect(r.statusCode).toBe(202);
    const id = (r.json() as { id: string }).id;
    await until(`job ${id} terminal`, async () => {
      const j = await side.store.get(id);
      return j !== undefined && isTerminal(j.status);
    });
    expect((await side.store.get(id))?.status).toBe('succeeded');
    await apiTelemetry.flush();
    await workerTelemetry.flush();

    const enqueue = apiSpans.getFinishedSpans().filter((s) => s.name === 'job.enqueue' && s.attributes['job.id'] === id);
    expect(enqueue).toHaveLength(1);
    // Two deliveries (the first failed, the retry succeeded): two worker traces, each rooted on the job id.
    const roots = workerSpans.getFinishedSpans().filter((s) => s.name === 'request' && s.attributes['job.id'] === id);
    expect(roots.map((s) => s.attributes['request.outcome']).sort()).toEqual(['failed', 'ok']);
    expect(roots.map((s) => s.attributes['job.attempt']).sort()).toEqual([1, 2]);
    expect(roots.every((s) => s.attributes['request.api'] === 'worker')).toBe(true);

    const res = await request(`http://127.0.0.1:${metrics.port}/metrics`);
    expect(res.statusCode).toBe(200);
    const text = await res.body.text();
    const names = exportedMetricNames(text);
    for (const n of ['engine_requests_total', 'engine_attempts_total', 'engine_e2e_seconds_bucket', 'job_deliveries_total', 'job_retries_total', 'job_finished_total', 'job_shared_retry_budget_level', 'job_shared_breaker_state']) {
      expect(names, n).toContain(n);
    }
    expect(text).toMatch(/job_retries_total\{code="SERVER_ERROR"\} 1/);
    expect(text).toMatch(/job_shared_breaker_state 0/);
    const other = await request(`http://127.0.0.1:${metrics.port}/nope`);
    expect(other.statusCode).toBe(404);
    await other.body.text();
  }, 60_000);
});
