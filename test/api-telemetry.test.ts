/**
 * The service's traces: one job submitted through the API gives one trace with admission, queue wait, the
 * attempts (error class on the failed one), the model stream with its first-token event, and the backoff.
 */
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { isTerminal } from '../src/jobs/job-store.js';
import { createTelemetry, type Telemetry } from '../src/telemetry/setup.js';
import { ALPHA, testService, waitForJob, type TestService } from './api-testkit.js';

const open: Array<TestService | Telemetry> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await ('app' in o ? o.close() : o.shutdown());
});

describe('service traces', () => {
  it('gives a job one trace with its stages, from the API to the model stream', async () => {
    const spans = new InMemorySpanExporter();
    const telemetry = createTelemetry({ exporter: 'none', spanProcessors: [new SimpleSpanProcessor(spans)] });
    open.push(telemetry);
    const s = testService({ preset: 'bounded', policy: { retry: { maxAttempts: 3, baseMs: 1, maxMs: 2 } }, service: { telemetry } });
    open.push(s);
    const { id } = (await s.app.inject({ method: 'POST', url: '/v1/jobs', payload: { prompt: 'trace me' }, headers: { ...ALPHA, 'x-mock-output-tokens': '6' } })).json() as { id: string };
    await waitForJob(s.store, id, (j) => isTerminal(j.status));
    await telemetry.flush();
    const mine = spans.getFinishedSpans();
    const root = mine.find((x) => x.name === 'request' && x.attributes['request.id'] === id) as ReadableSpan;
    expect(root.attributes).toMatchObject({ tenant: 'alpha', 'request.api': 'jobs', 'request.outcome': 'ok', 'request.tokens': 6 });
    const trace = mine.filter((x) => x.spanContext().traceId === root.spanContext().traceId);
    expect(trace.map((x) => x.name).sort()).toEqual(['admission', 'attempt', 'model.stream', 'queue.wait', 'request']);
    const stream = trace.find((x) => x.name === 'model.stream');
    expect(stream?.events.map((e) => e.name)).toEqual(['first-token']);
  });

  it('a retried job: the failed attempt carries its error class, and the backoff has its own span', async () => {
    const spans = new InMemorySpanExporter();
    const telemetry = createTelemetry({ exporter: 'none', spanProcessors: [new SimpleSpanProcessor(spans)] });
    open.push(telemetry);
    const s = testService({ preset: 'bounded', policy: { retry: { maxAttempts: 3, baseMs: 1, maxMs: 2 } }, service: { telemetry } });
    open.push(s);
    const { id } = (await s.app.inject({ method: 'POST', url: '/v1/jobs', payload: { prompt: 'trace me' }, headers: { ...ALPHA, 'x-mock-output-tokens': '6', 'x-mock-fault': 'status:503' } })).json() as { id: string };
    const done = await waitForJob(s.store, id, (j) => isTerminal(j.status));
    expect(done.attempts).toBe(3);
    await telemetry.flush();
    const root = spans.getFinishedSpans().find((x) => x.name === 'request' && x.attributes['request.id'] === id) as ReadableSpan;
    const trace = spans.getFinishedSpans().filter((x) => x.spanContext().traceId === root.spanContext().traceId);
    const attempts = trace.filter((x) => x.name === 'attempt');
    expect(attempts).toHaveLength(3);
    expect(attempts.every((a) => a.attributes['error.class'] === 'OVERLOADED')).toBe(true);
    expect(trace.filter((x) => x.name === 'backoff')).toHaveLength(2);
    expect(root.attributes).toMatchObject({ 'request.outcome': 'failed', 'error.class': 'OVERLOADED' });
  });
});
