/**
 * The lifecycle of a generated k6 script (k6 code kept as text): `setup()` refuses a run whose executor was
 * replaced by `k6 run -d/-u/-i` and puts the scenario's fault plan and rate limits on the mock (MOCK_URL) right
 * before the load starts, so the timeline's phases count from the load's start; `teardown()` clears them; and
 * `handleSummary()` writes the JSON that `npm run regress -- --from-k6 FILE` reads (harness/report/k6-summary.ts)
 * plus a short text summary on stdout.
 */

import { K6_SUMMARY_FORMAT } from '../report/k6-summary.js';

export { K6_SUMMARY_FORMAT };

export const LIFECYCLE_BODY = `
interface MockState {
  readonly mock: boolean;
}

function putMock(url: string, path: string, model: string, body: unknown): void {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (__ENV.MOCK_TOKEN) headers['Authorization'] = 'Bearer ' + __ENV.MOCK_TOKEN;
  const res = http.put(url + path + '?model=' + encodeURIComponent(model), JSON.stringify(body), { headers, tags: { name: 'mock-control' }, responseType: 'text' });
  if (res.status !== 200) exec.test.abort('PUT ' + url + path + ': expected 200, got ' + res.status + ' ' + String(res.body).slice(0, 300));
}

/** Refuses a run whose scenario k6 replaced (k6 run -d, -u, -i or --stage turn it into one constant-vus scenario). */
function guardScenario(): void {
  const scenarios = exec.test.options.scenarios || {};
  if (scenarios['sessions'] === undefined) {
    exec.test.abort(
      'this script\\'s executor was replaced (k6 run -d/-u/-i/--stage override the scenario with plain VUs): ' +
        'use -e DURATION=30s to shorten the arrival window and -e SCALE=0.1 to lighten the load instead',
    );
  }
}

export function setup(): MockState {
  guardScenario();
  if (MOCK_URL === '') return { mock: false };
  // The timeline's phases count from the moment the plan is set: now, right before the first arrival.
  putMock(MOCK_URL, '/mock/faults', MOCK_MODEL, FAULT_PLAN);
  if (RATE_LIMITS !== undefined) putMock(MOCK_URL, '/mock/rate-limits', MOCK_MODEL, RATE_LIMITS);
  const fallback = (__ENV.MOCK_FALLBACK_URL || '').replace(/\\/+$/, '');
  if (fallback !== '' && FALLBACK_FAULT_PLAN !== undefined) putMock(fallback, '/mock/faults', 'fallback', FALLBACK_FAULT_PLAN);
  return { mock: true };
}

export function teardown(state: MockState): void {
  if (!state || !state.mock) return;
  putMock(MOCK_URL, '/mock/faults', MOCK_MODEL, {});
  if (RATE_LIMITS !== undefined) putMock(MOCK_URL, '/mock/rate-limits', MOCK_MODEL, {});
  const fallback = (__ENV.MOCK_FALLBACK_URL || '').replace(/\\/+$/, '');
  if (fallback !== '' && FALLBACK_FAULT_PLAN !== undefined) putMock(fallback, '/mock/faults', 'fallback', {});
}

interface SummaryMetric {
  readonly type: string;
  readonly values: Record<string, number>;
  readonly thresholds?: Record<string, { readonly ok: boolean }>;
}
interface SummaryData {
  readonly metrics: Record<string, SummaryMetric>;
  readonly state: { readonly testRunDurationMs: number };
}
interface LatencyStats {
  count: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
  mean: number | null;
}

function latency(data: SummaryData, name: string): LatencyStats {
  const m = data.metrics[name];
  const v = m === undefined ? {} : m.values;
  const n = (k: string): number | null => (typeof v[k] === 'number' && (v['count'] || 0) > 0 ? (v[k] as number) : null);
  return { count: v['count'] || 0, p50: n('med'), p90: n('p(90)'), p99: n('p(99)'), max: n('max'), mean: n('avg') };
}

function passes(data: SummaryData, name: string): number {
  const m = data.metrics[name];
  return m === undefined ? 0 : m.values['passes'] || 0;
}

function total(data: SummaryData, name: string): number {
  const m = data.metrics[name];
  return m === undefined ? 0 : (m.values['passes'] || 0) + (m.values['fails'] || 0);
}

function fmt(v: number | null): string {
  return v === null ? '-' : v >= 1000 ? (v / 1000).toFixed(2) + 's' : v.toFixed(1) + 'ms';
}

export function handleSummary(data: SummaryData): Record<string, string> {
  const thresholds: Array<{ metric: string; expression: string; ok: boolean }> = [];
  for (const name of Object.keys(data.metrics)) {
    const t = (data.metrics[name] as SummaryMetric).thresholds;
    if (t !== undefined) for (const expression of Object.keys(t)) thresholds.push({ metric: name, expression, ok: (t[expression] as { ok: boolean }).ok });
  }
  const requests = total(data, 'okFraction');
  const goodputMetric = data.metrics['goodput'];
  const goodputCount = goodputMetric === undefined ? 0 : goodputMetric.values['count'] || 0;
  const summary = {
    requests,
    ok: passes(data, 'okFraction'),
    degraded: passes(data, 'degradedFraction'),
    shed: passes(data, 'shedFraction'),
    errors: passes(data, 'errorFraction'),
    unfinished: data.metrics['requestsUnfinished'] === undefined ? 0 : data.metrics['requestsUnfinished'].values['count'] || 0,
    okFraction: requests === 0 ? null : passes(data, 'okFraction') / requests,
    sloMet: passes(data, 'sloMetFraction'),
    goodputPerSec: goodputCount / (SCHEDULE.windowMs / 1000),
    ttftMs: latency(data, 'ttftMs'),
    e2eMs: latency(data, 'e2eMs'),
    e2eAllMs: latency(data, 'e2eAllMs'),
    itlMs: latency(data, 'itlMs'),
    tpotMs: latency(data, 'tpotMs'),
    responseMs: latency(data, 'responseMs'),
    queueMs: latency(data, 'queueMs'),
    backoffMs: latency(data, 'backoffMs'),
  };
  const out = {
    format: '${K6_SUMMARY_FORMAT}',
    schemaVersion: 1,
    scenario: SCENARIO_NAME,
    seed: SEED,
    policy: __ENV.POLICY || 'k6',
    target: TARGET,
    stream: STREAM,
    windowMs: SCHEDULE.windowMs,
    scale: SCHEDULE.scale,
    testRunDurationMs: data.state.testRunDurationMs,
    summary,
    thresholds,
    thresholdsPassed: thresholds.every((t) => t.ok),
  };
  const s = summary;
  const lines = [
    'scenario ' + SCENARIO_NAME + ' against ' + TARGET + (STREAM ? ' (streamed)' : ' (not streamed)'),
    '  requests ' + s.requests + ': ok ' + s.ok + ', degraded ' + s.degraded + ', shed ' + s.shed + ', errors ' + s.errors + ', unfinished ' + s.unfinished,
    STREAM
      ? '  TTFT p50 ' + fmt(s.ttftMs.p50) + ' p90 ' + fmt(s.ttftMs.p90) + ' p99 ' + fmt(s.ttftMs.p99) + '; TPOT p50 ' + fmt(s.tpotMs.p50) + '; ITL p50 ' + fmt(s.itlMs.p50)
      : '  response time (not TTFT) p50 ' + fmt(s.responseMs.p50) + ' p90 ' + fmt(s.responseMs.p90) + ' p99 ' + fmt(s.responseMs.p99),
    '  E2E p50 ' + fmt(s.e2eMs.p50) + ' p99 ' + fmt(s.e2eMs.p99) + '; goodput ' + s.goodputPerSec.toFixed(2) + '/s over the ' + SCHEDULE.windowMs / 1000 + ' s window',
    '  thresholds:',
    ...thresholds.map((t) => '    ' + (t.ok ? 'ok     ' : 'FAILED ') + t.metric + ' ' + t.expression),
  ];
  const file = __ENV.SUMMARY_FILE || 'k6-summary.json';
  const result: Record<string, string> = { stdout: lines.join('\\n') + '\\n' };
  result[file] = JSON.stringify(out, null, 2) + '\\n';
  return result;
}
`;
