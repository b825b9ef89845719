import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, type EngineRequest } from '../engine/engine.js';
import { FakeModel, type StreamScript } from '../engine/testing/fake-model.js';
import { resolvePolicy } from '../policy.js';
import { Random } from '../random.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { ServerError } from '../upstream/errors.js';
import type { ModelRequest } from '../upstream/model-client.js';
import { EngineTelemetry } from './engine-telemetry.js';
import { createTelemetry, startNodeSdk, type Telemetry } from './setup.js';

const open: Telemetry[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.shutdown()));
});

function setup(preset: string, overrides: unknown, script: (r: ModelRequest, n: number) => StreamScript) {
  const clock = new VirtualClock();
  const spans = new InMemorySpanExporter();
  const telemetry = createTelemetry({ exporter: 'prometheus', spanProcessors: [new SimpleSpanProcessor(spans)] });
  open.push(telemetry);
  const engine = new Engine({ clock, random: new Random(1), policy: resolvePolicy(preset, overrides), primary: new FakeModel(clock, script) });
  const et = new EngineTelemetry(engine, telemetry, clock);
  const submit = (id: string, extra: Partial<EngineRequest> = {}) => {
    et.begin(id, { attributes: { tenant: 't1' } });
    const p = engine.submit({ id, kind: 'chat', request: { id, model: 'm' }, onTokens: (c) => et.tokens(id, c), ...extra });
    et.admitted(id);
    return clock.run(p);
  };
  return { clock, telemetry, spans, engine, et, submit };
}

const ms = (t: readonly [number, number]): number => t[0] * 1000 + t[1] / 1e6;

function byName(spans: readonly ReadableSpan[], name: string): ReadableSpan[] {
  return spans.filter((s) => s.name === name).sort((a, b) => ms(a.startTime) - ms(b.startTime));
}

describe('EngineTelemetry: traces', () => {
  it('gives one job a trace: admission, queue wait, each attempt with its error class, model stream with first token, backoff', async () => {
    const { spans, submit } = setup('bounded', { retry: { baseMs: 100, maxMs: 100, jitter: 'none' } }, (_r, n) =>
      n === 0 ? { error: new ServerError(500, 'boom'), ttftMs: 30 } : { tokens: 4, ttftMs: 20, itlMs: 5 },
    );
    const r = await submit('job-1');
    expect(r.outcome).toBe('ok');
    const all = spans.getFinishedSpans();
    const root = byName(all, 'request');
    expect(root).toHaveLength(1);
    const rootSpan = root[0] as ReadableSpan;
    const traceId = rootSpan.spanContext().traceId;
    // Every span belongs to the job's trace.
    expect(all.every((s) => s.spanContext().traceId === traceId)).toBe(true);
    expect(rootSpan.attributes).toMatchObject({ 'request.id': 'job-1', tenant: 't1', 'request.outcome': 'ok', 'request.attempts': 2, 'request.tokens': 4 });
    expect(byName(all, 'admission')).toHaveLength(1);
    const attempts = byName(all, 'attempt');
    expect(attempts.map((a) => a.attributes['attempt.number'])).toEqual([1, 2]);
    expect(attempts[0]?.attributes['error.class']).toBe('SERVER_ERROR');
    expect(attempts[0]?.status.code).toBe(2); // ERROR
    expect(attempts[1]?.attributes['error.class']).toBeUndefined();
    const streams = byName(all, 'model.stream');
    expect(streams).toHaveLength(2);
    // model.stream is a child of its attempt; attempts are children of the root.
    expect(streams[1]?.parentSpanContext?.spanId).toBe(attempts[1]?.spanContext().spanId);
    expect(attempts[0]?.parentSpanContext?.spanId).toBe(rootSpan.spanContext().spanId);
    expect(streams[0]?.events.map((e) => e.name)).toEqual([]);
    expect(streams[1]?.events.map((e) => e.name)).toEqual(['first-token']);
    // First token 20 ms after the second attempt started (virtual time).
    const ft = streams[1]?.events[0];
    expect(ms(ft!.time) - ms(streams[1]!.startTime)).toBeCloseTo(20, 3);
    const backoff = byName(all, 'backoff');
    expect(backoff).toHaveLength(1);
    expect(ms(backoff[0]!.endTime) - ms(backoff[0]!.startTime)).toBeCloseTo(100, 3);
    expect(backoff[0]?.attributes).toMatchObject({ 'backoff.cause': 'backoff', 'error.class': 'SERVER_ERROR' });
    // The retry gave its slot back: a second queue.wait after the backoff.
    expect(byName(all, 'queue.wait')).toHaveLength(2);
    // The root spans the whole request: 30 (failed attempt) + 100 (backoff) + 20 + 3*5 (second attempt).
    expect(ms(rootSpan.endTime) - ms(rootSpan.startTime)).toBeCloseTo(165, 3);
  });

  it('marks a failed request and a shed one as errors', async () => {
    const { spans, submit } = setup('bounded', { retry: { maxAttempts: 1 }, rateLimit: { enabled: true, perTenantRequestsPerMinute: 1 } }, () => ({ error: new ServerError(503, 'down') }));
    const a = await submit('a', { tenant: 'x' });
    const b = await submit('b', { tenant: 'x' });
    expect([a.outcome, b.outcome]).toEqual(['failed', 'shed']);
    const roots = byName(spans.getFinishedSpans(), 'request');
    expect(roots.map((s) => [s.attributes['request.id'], s.attributes['request.outcome'], s.status.code])).toEqual([
      ['a', 'failed', 2],
      ['b', 'shed', 2],
    ]);
    expect(roots[1]?.events.map((e) => [e.name, e.attributes?.['shed.reason']])).toEqual([['shed', 'rate-limited']]);
  });
});

describe('EngineTelemetry: engine dedup', () => {
  it('a request answered by its twin (joined in flight, or cached) ends without error and says so', async () => {
    const { spans, submit } = setup('resilient', {}, () => ({ tokens: 3, ttftMs: 10, itlMs: 5 }));
    const first = submit('a', { idempotencyKey: 'K' });
    const second = submit('b', { idempotencyKey: 'K' });
    expect([(await first).deduped, (await second).deduped]).toEqual([undefined, 'joined']);
    const third = await submit('c', { idempotencyKey: 'K' });
    expect(third.deduped).toBe('cached');
    const roots = byName(spans.getFinishedSpans(), 'request').sort((x, y) => String(x.attributes['request.id']).localeCompare(String(y.attributes['request.id'])));
    expect(roots.map((s) => [s.attributes['request.id'], s.attributes['request.outcome'], s.attributes['request.deduped'], s.status.code])).toEqual([
      ['a', 'ok', undefined, 0],
      ['b', 'ok', 'joined', 0],
      ['c', 'ok', 'cached', 0],
    ]);
  });
});

describe('EngineTelemetry: no span processor', () => {
  it('skips tracing altogether (no per-request state, a no-op tracer) and still counts the metrics', async () => {
    const clock = new VirtualClock();
    const telemetry = createTelemetry({ exporter: 'prometheus' });
    open.push(telemetry);
    expect(telemetry.tracing).toBe(false);
    expect(telemetry.tracer.startSpan('x').isRecording()).toBe(false);
    const engine = new Engine({ clock, random: new Random(1), policy: resolvePolicy('bounded', {}), primary: new FakeModel(clock, () => ({ tokens: 3, ttftMs: 10, itlMs: 5 })) });
    const et = new EngineTelemetry(engine, telemetry, clock);
    et.begin('a');
    expect(et.tracer.open).toBe(0);
    const p = engine.submit({ id: 'a', kind: 'chat', request: { id: 'a', model: 'm' }, onTokens: (c) => et.tokens('a', c) });
    et.admitted('a');
    expect((await clock.run(p)).outcome).toBe('ok');
    expect(await telemetry.prometheusText()).toMatch(/^engine_requests_total\{outcome="ok"\} 1$/m);
    et.close();
  });
});

describe('EngineTelemetry: metrics', () => {
  it('exposes queue depth, in-flight, limit, breaker, budget, retries, sheds and latency histograms in Prometheus text', async () => {
    const { submit, telemetry, et } = setup('resilient', { concurrency: { limit: 7 }, retry: { baseMs: 10, maxMs: 10 } }, (_r, n) =>
      n === 0 ? { error: new ServerError(500, 'x') } : { tokens: 2 },
    );
    await submit('a');
    const text = (await telemetry.prometheusText()) ?? '';
    expect(text).toMatch(/^engine_concurrency_limit(\{[^}]*\})? 7$/m);
    expect(text).toMatch(/^engine_queue_depth(\{[^}]*\})? 0$/m);
    expect(text).toMatch(/^engine_in_flight(\{[^}]*\})? 0$/m);
    expect(text).toMatch(/^engine_breaker_state(\{[^}]*\})? 0$/m);
    expect(text).toMatch(/^engine_retry_budget_level(\{[^}]*\})? \d/m);
    expect(text).toMatch(/^engine_retries_total\{cause="backoff"\} 1$/m);
    expect(text).toMatch(/^engine_requests_total\{outcome="ok"\} 1$/m);
    expect(text).toMatch(/^engine_ttft_seconds_count\{outcome="ok"\} 1$/m);
    expect(text).toMatch(/^engine_e2e_seconds_count\{outcome="ok"\} 1$/m);
    expect(text).toMatch(/^engine_e2e_seconds_bucket\{outcome="ok",le="0.05"\} 1$/m);
    et.close();
  });

  it('says what the breaker made of each failed attempt, why it opened, and why the loop gave up', async () => {
    // Three 500s in a row trip a consecutive breaker of 3; the third request's retry is refused by the open breaker.
    const { submit, telemetry } = setup('resilient', { breaker: { rule: 'consecutive', consecutiveFailures: 3 }, retry: { maxAttempts: 1 }, fallback: { enabled: false } }, () => ({
      error: new ServerError(500, 'x'),
    }));
    for (const id of ['a', 'b', 'c']) await submit(id);
    const text = (await telemetry.prometheusText()) ?? '';
    expect(text).toMatch(/^engine_attempt_failures_total\{code="SERVER_ERROR",model="primary",breaker="failure"\} 3$/m);
    expect(text).toMatch(/^engine_breaker_open_failures_total\{code="SERVER_ERROR",reason="tripped"\} 3$/m);
    expect(text).toMatch(/^engine_give_ups_total\{reason="max-attempts",code="SERVER_ERROR"\} 3$/m);
  });

  it('counts sheds by reason', async () => {
    const { submit, telemetry } = setup('bounded', { rateLimit: { enabled: true, perTenantRequestsPerMinute: 1 } }, () => ({ tokens: 1 }));
    await submit('a', { tenant: 'x' });
    await submit('b', { tenant: 'x' });
    const text = (await telemetry.prometheusText()) ?? '';
    expect(text).toMatch(/^engine_sheds_total\{reason="rate-limited"\} 1$/m);
    expect(text).toMatch(/^engine_requests_total\{outcome="shed"\} 1$/m);
  });
});

describe('setup', () => {
  it('rejects an unknown exporter, naming it', () => {
    expect(() => createTelemetry({ exporter: 'jaeger' as never })).toThrow(/exporter: expected "prometheus" \| "otlp" \| "none", got "jaeger"/);
  });

  it('has no Prometheus text without the prometheus exporter', async () => {
    const t = createTelemetry({ exporter: 'none' });
    open.push(t);
    expect(t.prometheusText()).toBeUndefined();
    expect(t.tracing).toBe(false);
    const traced = createTelemetry({ exporter: 'none', spanProcessors: [new SimpleSpanProcessor(new InMemorySpanExporter())] });
    open.push(traced);
    expect(traced.tracing).toBe(true);
  });

  it('startNodeSdk registers global providers through the NodeSDK and serves Prometheus text', async () => {
    const spans = new InMemorySpanExporter();
    const t = startNodeSdk({ exporter: 'prometheus', spanProcessors: [new SimpleSpanProcessor(spans)] });
    try {
      t.meter.createCounter('sdk_probe').add(3);
      t.tracer.startSpan('probe').end();
      expect(await t.prometheusText()).toMatch(/^sdk_probe_total 3$/m);
      expect(spans.getFinishedSpans().map((s) => s.name)).toEqual(['probe']);
    } finally {
      await t.shutdown();
    }
  });
});
