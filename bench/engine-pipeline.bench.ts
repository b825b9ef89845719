/**
 * Engine pipeline benchmarks:
 * - our CircuitBreaker vs opossum, both closed, wrapping an immediately-resolving async fn (same shape: a
 *   sliding-window failure-ratio breaker; opossum's per-call timeout is off since ours has none);
 * - the whole `resilient` pipeline per request around a no-op upstream (one chunk, then done) on a RealClock:
 *   µs of engine overhead per request = engine.submit time minus calling the no-op upstream directly.
 */
import { performance } from 'node:perf_hooks';
import CircuitBreakerOpossum from 'opossum';
import { CircuitBreaker } from '../src/engine/breaker.js';
import { Engine, type EngineRequest } from '../src/engine/engine.js';
import { preset } from '../src/policy.js';
import { Random } from '../src/random.js';
import { RealClock } from '../src/time/real-clock.js';
import type { EmbeddingRequest, EmbeddingResult, ModelClient, ModelRequest, StreamEvent, StreamOptions } from '../src/upstream/model-client.js';
import { compare, measure, type Comparison, type Measurement } from './lib.js';

const noop = (): Promise<number> => Promise.resolve(1);

async function breakerComparison(): Promise<Comparison> {
  const clock = new RealClock();
  const ours = new CircuitBreaker(clock, {
    rule: { kind: 'ratio', failureRatio: 0.5, minThroughput: 20, windowMs: 10_000, buckets: 10 },
    openMs: 5000,
  });
  const theirs = new CircuitBreakerOpossum(noop, {
    timeout: false,
    errorThresholdPercentage: 50,
    volumeThreshold: 20,
    resetTimeout: 5000,
    rollingCountTimeout: 10_000,
    rollingCountBuckets: 10,
  });
  try {
    return await compare(
      'breaker: closed, wrapping an immediately-resolving async fn (ours vs opossum)',
      {
        ours: async (ops) => {
          for (let i = 0; i < ops; i++) await ours.execute(noop);
        },
        opossum: async (ops) => {
          for (let i = 0; i < ops; i++) await theirs.fire();
        },
      },
      { runs: 7, opsPerRun: 100_000 },
    );
  } finally {
    theirs.shutdown();
  }
}

/** A ModelClient that answers at once: one chunk, then done. */
class NoopModel implements ModelClient {
  private static readonly chunk: StreamEvent = { type: 'tokens', index: 0, count: 1, text: 'x' };
  private static readonly done: StreamEvent = { type: 'done', usage: { promptTokens: 1, completionTokens: 1 }, finishReason: 'stop' };

  async *stream(_request?: ModelRequest, _options?: StreamOptions): AsyncGenerator<StreamEvent> {
    yield NoopModel.chunk;
    yield NoopModel.done;
  }

  embed(request: EmbeddingRequest): Promise<EmbeddingResult> {
    return Promise.resolve({ items: request.inputs.map(() => ({ ok: true as const, embedding: [0], tokens: 1 })), usage: { promptTokens: 1 } });
  }
}

/** The same, but it reads `options.signal` (as a real client does), so the engine must make an AbortController. */
class SignalReadingNoopModel extends NoopModel {
  seen = 0;

  override async *stream(_request: ModelRequest, options?: StreamOptions): AsyncGenerator<StreamEvent> {
    if (options?.signal !== undefined) this.seen++;
    yield* super.stream(_request, options);
  }
}

const request: ModelRequest = { id: 'bench', model: 'm', promptTokens: 10, maxTokens: 1 };

/** Per-request µs: `n` sequential engine.submit calls. */
async function engineUsPerRequest(engine: Engine, n: number): Promise<number> {
  const req: EngineRequest = { id: 'bench', kind: 'chat', request };
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const r = await engine.submit(req);
    if (r.outcome !== 'ok') throw new Error(`bench: expected ok, got ${r.outcome}`);
  }
  return ((performance.now() - t0) * 1000) / n;
}

/** Per-request µs: `n` sequential direct calls of the upstream, consuming the stream the same way. */
async function directUsPerRequest(model: ModelClient, n: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    let tokens = 0;
    for await (const ev of model.stream(request)) if (ev.type === 'tokens') tokens += ev.count;
    if (tokens !== 1) throw new Error('bench: expected one token');
  }
  return ((performance.now() - t0) * 1000) / n;
}

async function pipelineOverhead(): Promise<Measurement[]> {
  const model = new NoopModel();
  const engine = new Engine({ clock: new RealClock(), random: new Random(1), policy: preset('resilient'), primary: model, fallback: new NoopModel() });
  const n = 20_000;
  const both = async (): Promise<{ engine: number; direct: number }> => {
    const direct = await directUsPerRequest(model, n);
    const e = await engineUsPerRequest(engine, n);
    return { engine: e, direct };
  };
  const overhead = await measure('resilient pipeline overhead per request (engine minus direct no-op upstream)', 'µs/request', async () => {
    const r = await both();
    return r.engine - r.direct;
  }, { runs: 7, goal: '< 10 µs/request' });
  const total = await measure('resilient pipeline per request, no-op upstream, sequential', 'µs/request', () => engineUsPerRequest(engine, n), { runs: 5 });
  const direct = await measure('direct no-op upstream call per request, sequential', 'µs/request', () => directUsPerRequest(model, n), { runs: 5 });
  // The engine makes the attempt's AbortController only when the client reads its signal; real clients do.
  const reading = new SignalReadingNoopModel();
  const engine2 = new Engine({ clock: new RealClock(), random: new Random(1), policy: preset('resilient'), primary: reading });
  const withSignal = await measure('resilient pipeline overhead per request, upstream reads its signal (AbortController made)', 'µs/request', async () => {
    const d = await directUsPerRequest(reading, n);
    return (await engineUsPerRequest(engine2, n)) - d;
  }, { runs: 7, goal: '< 10 µs/request' });
  if (reading.seen === 0) throw new Error('bench: the signal-reading model never saw a signal');
  return [overhead, withSignal, total, direct];
}

export async function run(): Promise<{ results: Array<Comparison | Measurement> }> {
  return { results: [await breakerComparison(), ...(await pipelineOverhead())] };
}
