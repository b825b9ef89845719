import { describe, expect, it } from 'vitest';
import { engineScrape, gaugeFrom, metricSum, MockTotals, parsePrometheus, type MockModelStats } from './live-metrics.js';
import { judge, mergeReports } from './live-monitor.js';
import { outcomeOfStatus } from './drivers/http-driver.js';

const ENGINE_TEXT = `# HELP engine_queue_depth Requests waiting for a concurrency slot
# TYPE engine_queue_depth gauge
engine_queue_depth 12
engine_in_flight 64
engine_concurrency_limit -1
engine_breaker_state 2
engine_retry_budget_level 7.5
engine_attempts_total{model="primary"} 100
engine_attempts_total{model="fallback"} 4
engine_attempt_failures_total{code="RATE_LIMITED",model="primary"} 9
engine_attempt_failures_total{code="STREAM_INTERRUPTED",model="primary"} 3
engine_attempt_failures_total{code="BREAKER_OPEN",model="primary"} 2
mock:requests_rejected_total{model_name="primary",status="429"} 5
mock:requests_rejected_total{model_name="primary",status="503"} 2
weird{label="a \\"quoted\\" value"} +Inf
`;

describe('Prometheus scrape', () => {
  const samples = parsePrometheus(ENGINE_TEXT);

  it('parses names, labels (escapes included) and values, skipping comments', () => {
    expect(samples.find((s) => s.name === 'engine_queue_depth')?.value).toBe(12);
    expect(samples.find((s) => s.name === 'weird')).toEqual({ name: 'weird', labels: { label: 'a "quoted" value' }, value: Infinity });
    expect(samples.filter((s) => s.name.startsWith('#'))).toEqual([]);
  });

  it('sums a metric over its series, filtered by labels', () => {
    expect(metricSum(samples, ['engine_attempts_total'])).toBe(104);
    expect(metricSum(samples, ['mock:requests_rejected_total'], { status: '429' })).toBe(5);
    expect(metricSum(samples, ['missing', 'engine_in_flight'])).toBe(64);
    expect(metricSum(samples, ['missing'])).toBeUndefined();
  });

  it('reads the engine gauges: -1 limit is unbounded, breaker 2 is open, 429s from the failure codes', () => {
    const e = engineScrape(samples);
    expect(e).toEqual({ queueDepth: 12, inFlight: 64, concurrencyLimit: null, breakerState: 'open', budgetLevel: 7.5, attempts: 104, breakerRejected: 2, rateLimited: 9 });
    expect(gaugeFrom(e, 0.5)).toEqual({ queueDepth: 12, inFlight: 64, concurrencyLimit: null, breakerState: 'open', budgetLevel: 7.5, gpuUtilization: 0.5 });
  });

  it('makes no gauge out of a scrape without the engine gauges (unknown stays unknown, never 0)', () => {
    expect(gaugeFrom(engineScrape(parsePrometheus('other 1')), 0.3)).toBeUndefined();
  });
});

describe('MockTotals', () => {
  const stats = (elapsedMs: number, busyMs: number, outputTokens: number, requests: number): MockModelStats => ({
    busyMs,
    elapsedMs,
    steps: 10,
    outputTokens,
    wastedTokens: 1,
    requests,
    embeddingCalls: 0,
    meanBatchSize: 2,
    faultCounts: {},
  });

  it('banks a process lifetime when its counters go back (a restart) and adds the new one', () => {
    const t = new MockTotals();
    expect(t.update(stats(1000, 500, 100, 10), 2)).toBe(false);
    expect(t.update(stats(2000, 900, 200, 20), 3)).toBe(false);
    expect(t.update(stats(300, 50, 5, 1), 0)).toBe(true);
    expect(t.restarts).toBe(1);
    expect(t.totals()).toEqual({ busyMs: 950, outputTokens: 205, wastedTokens: 2, requests: 21, steps: 20, meanBatchSize: 2, rateLimited: 3 });
  });
});

describe('load generator judgement', () => {
  it('is invalid with a reason for each limit broken', () => {
    expect(judge(12, 40)).toEqual({ valid: true, reasons: [], eventLoopLagP99Ms: 12, cpuPct: 40 });
    const bad = judge(80, 97);
    expect(bad.valid).toBe(false);
    expect(bad.reasons).toEqual(['load generator event-loop lag p99 80 ms > 50 ms', 'load generator CPU 97% of a core > 90%']);
  });

  it('merges policies: invalid when any was, worst figures, reasons named by policy', () => {
    const m = mergeReports([
      { policy: 'a', report: judge(10, 20) },
      { policy: 'b', report: judge(60, 30) },
    ]);
    expect(m).toEqual({ valid: false, reasons: ['b: load generator event-loop lag p99 60 ms > 50 ms'], eventLoopLagP99Ms: 60, cpuPct: 30 });
  });
});

describe('outcomeOfStatus', () => {
  it('maps the engine service answers to outcomes', () => {
    expect(outcomeOfStatus(200, undefined)).toBe('ok');
    expect(outcomeOfStatus(429, 'queue_full')).toBe('shed');
    expect(outcomeOfStatus(429, 'upstream_rate_limited')).toBe('failed');
    expect(outcomeOfStatus(504, 'deadline_exceeded')).toBe('timeout');
    expect(outcomeOfStatus(504, 'upstream_timeout')).toBe('failed');
    expect(outcomeOfStatus(503, 'cancelled')).toBe('cancelled');
    expect(outcomeOfStatus(503, 'circuit_open')).toBe('failed');
    expect(outcomeOfStatus(502, undefined)).toBe('failed');
  });
});
