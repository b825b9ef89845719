/**
 * The shipped monitoring (deploy/): the alert rules pass `promtool check rules`, and every metric a rule or a
 * dashboard panel reads is one the service (or, for the mock's dashboard, the mock server) actually exports,
 * scraped from `/metrics` after traffic that touches every instrument (counters appear on first use), plus a
 * Redis worker's own `job_*` instruments.
 * promtool comes from Debian's `prometheus` package (.ci/run installs it); under CI=true a missing promtool fails.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { isTerminal } from '../src/jobs/job-store.js';
import { RealClock } from '../src/time/real-clock.js';
import { buildServer as buildMockServer } from '../sim/server.js';
import { MockModel } from '../sim/mock-model.js';
import { Random } from '../src/random.js';
import { FAST_PROFILE } from '../sim/server-testkit.js';
import { ALPHA, testService, waitForJob, type TestService } from './api-testkit.js';
import { exportedMetricNames, promqlMetricNames } from './helpers/promql-names.js';
import { WorkerMetrics } from '../src/queue/worker-metrics.js';
import { createTelemetry } from '../src/telemetry/setup.js';

const ROOT = new URL('..', import.meta.url).pathname;
const ALERTS = `${ROOT}deploy/prometheus/alerts.yml`;
const DASHBOARDS = { engine: `${ROOT}deploy/grafana/engine.json`, mock: `${ROOT}deploy/grafana/mock.json` } as const;
const PROMTOOL = process.env['PROMTOOL'] ?? '/usr/bin/promtool';

interface Rule {
  readonly alert?: string;
  readonly record?: string;
  readonly expr: string;
}
interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly targets?: ReadonlyArray<{ readonly expr: string; readonly refId: string }>;
  readonly gridPos: { h: number; w: number; x: number; y: number };
}

function rules(): Rule[] {
  const doc = parse(readFileSync(ALERTS, 'utf8')) as { groups: Array<{ name: string; rules: Rule[] }> };
  return doc.groups.flatMap((g) => g.rules);
}

function panels(path: string): Panel[] {
  return (JSON.parse(readFileSync(path, 'utf8')) as { panels: Panel[] }).panels;
}

/** "where: metric" for every metric `exprs` read that `exported` lacks. */
function missing(exprs: ReadonlyArray<{ where: string; expr: string }>, exported: ReadonlySet<string>): string[] {
  return exprs.flatMap(({ where, expr }) => promqlMetricNames(expr).filter((n) => !exported.has(n)).map((n) => `${where}: ${n}`));
}

const ruleExprs = (): Array<{ where: string; expr: string }> => rules().map((r) => ({ where: `rule ${r.alert ?? r.record ?? '?'}`, expr: r.expr }));
const panelExprs = (path: string): Array<{ where: string; expr: string }> =>
  panels(path).flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr })));

describe('promtool check rules', () => {
  it('deploy/prometheus/alerts.yml passes', async (ctx) => {
    if (!existsSync(PROMTOOL)) {
      const message = `${PROMTOOL} is missing: install Debian's package (apt-get install prometheus) or set PROMTOOL to its path`;
      if (process.env['CI'] === 'true') throw new Error(message);
      ctx.skip(message);
    }
    const { stdout } = await promisify(execFile)(PROMTOOL, ['check', 'rules', ALERTS]);
    expect(stdout).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('finds a broken expression (the check is not a no-op)', async (ctx) => {
    if (!existsSync(PROMTOOL)) ctx.skip('promtool missing (the test above reports it)');
    const bad = 'groups:\n  - name: g\n    rules:\n      - alert: Broken\n        expr: sum(rate(engine_requests_total[5m])\n';
    const dir = mkdtempSync(join(tmpdir(), 'rules-'));
    writeFileSync(join(dir, 'bad.yml'), bad);
    try {
      await expect(promisify(execFile)(PROMTOOL, ['check', 'rules', join(dir, 'bad.yml')])).rejects.toThrow(/FAILED|parse error|unclosed/i);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the metric names the rules and dashboards read', () => {
  let svc: TestService;
  let engineNames: Set<string>;
  let mockNames: Set<string>;

  beforeAll(async () => {
    // Traffic that touches every engine instrument: an ok job (latencies), a job answered 429 on every attempt
    // (attempt failures, retries, backoff), a job answered 500 that opens a breaker tripping after 2 consecutive
    // failures (a 429 is load, not a breaker failure), and a burst over the tenant's rate limit (sheds).
    svc = testService({
      policy: {
        retry: { maxAttempts: 3, baseMs: 1, maxMs: 2, maxRetryAfterMs: 5 },
        breaker: { rule: 'consecutive', consecutiveFailures: 2, openMs: 60_000, waitWhenOpen: false },
        rateLimit: { enabled: true, perTenantRequestsPerMinute: 4 },
      },
    });
    // Each job its own prompt: without an Idempotency-Key the same payload is one job (its key is the payload's hash).
    let n = 0;
    const post = async (headers: Record<string, string>): Promise<{ id?: string }> =>
      (await svc.app.inject({ method: 'POST', url: '/v1/jobs', payload: { prompt: `monitor me ${++n}` }, headers: { ...ALPHA, 'x-mock-output-tokens': '4', ...headers } })).json();
    const ok = await post({});
    await waitForJob(svc.store, ok.id as string, (j) => isTerminal(j.status));
    const limited = await post({ 'x-mock-fault': 'status:429' });
    await waitForJob(svc.store, limited.id as string, (j) => isTerminal(j.status));
    const broken = await post({ 'x-mock-fault': 'status:500' });
    await waitForJob(svc.store, broken.id as string, (j) => isTerminal(j.status));
    for (let i = 0; i < 4; i++) await post({});
    engineNames = exportedMetricNames((await svc.app.inject({ method: 'GET', url: '/metrics' })).body);
    // A Redis worker's own instruments (test/redis-worker-telemetry.test.ts scrapes a real worker's /metrics):
    // the same class, fed the events a worker emits.
    const workerTelemetry = createTelemetry({ exporter: 'prometheus' });
    const wm = new WorkerMetrics(workerTelemetry.meter, { budgetLevel: () => Promise.resolve(3), breakerState: () => Promise.resolve('open') });
    for (const e of [{ type: 'delivered' }, { type: 'retry', code: 'SERVER_ERROR' }, { type: 'breaker-wait' }, { type: 'finished', status: 'failed' }] as const) wm.onEvent(e);
    for (const n of exportedMetricNames((await workerTelemetry.prometheusText()) ?? '')) engineNames.add(n);
    wm.close();
    await workerTelemetry.shutdown();

    const model = new MockModel({ name: 'primary', profile: FAST_PROFILE, clock: new RealClock(), random: new Random(3).derive('mock') });
    const mock = buildMockServer({ models: [model] });
    await mock.inject({ method: 'POST', url: '/v1/chat/completions', payload: { model: 'primary', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 } });
    mockNames = exportedMetricNames((await mock.inject({ method: 'GET', url: '/metrics' })).body);
    await mock.close();
    model.close();
  }, 60_000);

  afterAll(async () => {
    await svc?.close();
  });

  it('every alert rule reads metrics the service exports', () => {
    expect(rules().length).toBeGreaterThanOrEqual(8);
    expect(missing(ruleExprs(), engineNames)).toEqual([]);
  });

  it('every panel of the engine dashboard reads metrics the service exports', () => {
    expect(missing(panelExprs(DASHBOARDS.engine), engineNames)).toEqual([]);
  });

  it('every panel of the mock dashboard reads metrics the mock server exports', () => {
    expect(missing(panelExprs(DASHBOARDS.mock), mockNames)).toEqual([]);
  });

  it('the alerts cover the leading indicators', () => {
    const names = rules().map((r) => r.alert);
    for (const a of ['EngineQueueGrowing', 'JobQueueGrowing', 'TimeInQueueRising', 'DeadLetterGrowing', 'UpstreamRateLimited', 'ServiceShedding', 'RetriesPerTaskHigh', 'BreakerOpen', 'ErrorRateHigh']) {
      expect(names).toContain(a);
    }
    // Every alert has a runbook section.
    const runbook = readFileSync(`${ROOT}docs/runbook.md`, 'utf8');
    for (const n of names) expect(runbook).toContain(`## ${n as string}`);
  });

  it('catches a made-up metric name in a rule, naming it', () => {
    const exprs = [...ruleExprs(), { where: 'rule Invented', expr: 'sum(rate(engine_made_up_total{code="X"}[5m])) / sum(rate(engine_requests_total[5m])) > 0.1' }];
    expect(missing(exprs, engineNames)).toEqual(['rule Invented: engine_made_up_total']);
    // And a histogram's series only under the family's suffixes.
    expect(missing([{ where: 'p', expr: 'histogram_quantile(0.9, sum by (le) (rate(engine_ttft_seconds_bucket[5m])))' }], engineNames)).toEqual([]);
    expect(missing([{ where: 'p', expr: 'rate(engine_ttft_seconds_buckets[5m])' }], engineNames)).toEqual(['p: engine_ttft_seconds_buckets']);
  });

  it('the scanner reads names through label matchers, grouping, offsets and keywords', () => {
    expect(promqlMetricNames('max by (queue) (deriv(job_queue_depth[10m])) > 0.05 and on (queue) max by (queue) (job_queue_up{kind="redis"}) == 0')).toEqual(['job_queue_depth', 'job_queue_up']);
    expect(promqlMetricNames('rate(a_total[5m] offset 30m) / ignoring(code) b:c_total unless vector(0)')).toEqual(['a_total', 'b:c_total']);
  });

  it('the dashboards are well-formed: unique panel ids, a query per panel, the datasource variable', () => {
    for (const path of Object.values(DASHBOARDS)) {
      const d = JSON.parse(readFileSync(path, 'utf8')) as { uid: string; panels: Panel[]; templating: { list: Array<{ name: string; type: string }> } };
      const ids = d.panels.map((p) => p.id);
      expect(new Set(ids).size).toBe(ids.length);
      for (const p of d.panels.filter((x) => x.type !== 'row')) {
        expect(p.targets?.length ?? 0, p.title).toBeGreaterThan(0);
        expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      }
      expect(d.templating.list).toContainEqual(expect.objectContaining({ name: 'datasource', type: 'datasource' }));
    }
  });
});
