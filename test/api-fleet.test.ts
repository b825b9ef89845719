/**
 * The service with a fleet (`serve --fleet`) through inject(): deployments of in-process mock replicas built from a
 * fleet file, a job's `modelHint` naming any deployment (and routed there), the fleet's routing rules on a job's
 * metadata, and the replicas' metrics on /metrics. Real clock, fast profile; every service is closed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { fleetPrices, parseFleetFile, unpricedDeployments } from '../src/api/fleet-file.js';
import { buildService, type ApiService } from '../src/api/server.js';
import type { ServicePrices } from '../src/engine/billed-usage.js';
import { buildFleet } from '../src/fleet/build.js';
import type { Replica } from '../src/fleet/types.js';
import { isTerminal } from '../src/jobs/job-store.js';
import { resolvePolicy } from '../src/policy.js';
import { Random } from '../src/random.js';
import { RealClock } from '../src/time/real-clock.js';
import { InProcessModelClient } from '../sim/in-process.js';
import { MockModel } from '../sim/mock-model.js';
import { FAST_PROFILE } from '../sim/server-testkit.js';
import { ALPHA, TENANTS, waitForJob } from './api-testkit.js';

const open: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c()));
});

const FILE = {
  deployments: {
    default: { replicas: ['http://127.0.0.1:1', 'http://127.0.0.1:2'] },
    fast: { replicas: ['http://127.0.0.1:3'] },
  },
  routes: [{ name: 'batch-to-fast', deployment: 'fast', when: { priority: 'batch' } }],
  defaultDeployment: 'default',
};

/** The service over a fleet whose replicas are in-process mocks, one per URL of the file (the URLs are not dialled). */
function fleetService(prices?: ServicePrices): { svc: ApiService; models: Record<string, MockModel[]> } {
  const clock = new RealClock();
  const random = new Random(11);
  const file = parseFleetFile(FILE);
  const models: Record<string, MockModel[]> = {};
  const replicas: Record<string, Replica[]> = {};
  for (const [name, d] of Object.entries(file.deployments)) {
    models[name] = d.replicas.map((_, i) => new MockModel({ name: 'primary', profile: FAST_PROFILE, clock, random: random.derive(`mock/${name}/${i}`), textSeed: 'fleet-test' }));
    replicas[name] = (models[name] ?? []).map((m, i) => ({ id: `${name}/${i}`, client: new InProcessModelClient(m) }));
  }
  const policy = resolvePolicy('resilient', { retry: { baseMs: 1, maxMs: 5 } });
  const fleet = buildFleet({ clock, random, config: file.config, policy: policy.fleet, replicas });
  const svc = buildService({ clock, random, tenants: [...TENANTS], policy, upstream: { primary: fleet }, fleet, ...(prices !== undefined ? { prices } : {}) });
  open.push(async () => {
    await svc.app.close();
    for (const ms of Object.values(models)) for (const m of ms) m.close();
  });
  return { svc, models };
}

async function run(s: ApiService, payload: Record<string, unknown>): Promise<Record<string, unknown>> {
  const r = await s.app.inject({ method: 'POST', url: '/v1/jobs', payload: { prompt: 'fleet', ...payload }, headers: { ...ALPHA, 'x-mock-output-tokens': '3' } });
  expect(r.statusCode, r.body).toBe(202);
  const { id } = r.json() as { id: string };
  await waitForJob(s.store, id, (j) => isTerminal(j.status));
  return (await s.app.inject({ method: 'GET', url: `/v1/jobs/${id}`, headers: ALPHA })).json() as Record<string, unknown>;
}

const requestsOf = (ms: readonly MockModel[] | undefined): number => (ms ?? []).reduce((n, m) => n + m.metrics().requests, 0);

describe('the service with a fleet', () => {
  it("a job's modelHint names any deployment of the fleet, and the fleet sends it there", async () => {
    const { svc, models } = fleetService();
    expect(await run(svc, { modelHint: 'fast' })).toMatchObject({ status: 'succeeded', model_hint: 'fast' });
    expect(requestsOf(models['fast'])).toBe(1);
    expect(requestsOf(models['default'])).toBe(0);
    expect(await run(svc, { modelHint: 'default' })).toMatchObject({ status: 'succeeded', model_hint: 'default' });
    expect(await run(svc, {})).toMatchObject({ status: 'succeeded' });
    expect(requestsOf(models['default'])).toBe(2);
    expect(requestsOf(models['fast'])).toBe(1);
  });

  it('an unknown deployment is a 400 naming modelHint and listing the deployments', async () => {
    const { svc } = fleetService();
    const r = await svc.app.inject({ method: 'POST', url: '/v1/jobs', payload: { prompt: 'x', modelHint: 'huge' }, headers: ALPHA });
    expect(r.statusCode).toBe(400);
    expect((r.json() as { error: { message: string; param: string } }).error).toMatchObject({
      param: 'modelHint',
      message: 'modelHint: expected a configured deployment ("primary", "default", "fast"), got "huge"',
    });
  });

  it("routes by the fleet file's rules on the job's metadata: a batch job goes to the fast deployment", async () => {
    const { svc, models } = fleetService();
    expect(await run(svc, { priority: 2 })).toMatchObject({ status: 'succeeded', priority: 'batch' });
    expect(requestsOf(models['fast'])).toBe(1);
    expect(requestsOf(models['default'])).toBe(0);
  });

  it("bills each call to the deployment that served it, at that deployment's price", async () => {
    const cheap = { inputPer1M: 1, cachedInputPer1M: 1, outputPer1M: 4 };
    const dear = { inputPer1M: 10, cachedInputPer1M: 10, outputPer1M: 40 };
    const { svc } = fleetService({ primary: cheap, deployments: { default: cheap, fast: dear } });
    // The same job (same prompt, 3 output tokens) on each deployment, each the first call there (nothing cached).
    const onFast = await run(svc, { modelHint: 'fast' });
    const onDefault = await run(svc, { modelHint: 'default' });
    expect(onDefault['costUsd']).toBeGreaterThan(0);
    expect(onFast['costUsd']).toBeCloseTo((onDefault['costUsd'] as number) * 10, 12);
    const text = (await svc.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toMatch(/engine_cost_usd_total\{[^}]*deployment="fast"[^}]*\} /);
    expect(text).toMatch(/engine_billed_tokens_total\{[^}]*deployment="default"[^}]*\} /);
  });

  it('a deployment without a price in the fleet file is unpriced (as in virtual mode), not billed at the default\'s', async () => {
    const cheap = { inputPer1M: 1, cachedInputPer1M: 1, outputPer1M: 4 };
    const file = parseFleetFile({ ...FILE, deployments: { ...FILE.deployments, default: { ...FILE.deployments.default, price: cheap } } });
    expect(unpricedDeployments(file)).toEqual(['fast']);
    const { svc } = fleetService(fleetPrices(file));
    const onFast = await run(svc, { modelHint: 'fast' });
    const onDefault = await run(svc, { modelHint: 'default' });
    expect(onFast).toMatchObject({ status: 'succeeded', costUsd: null });
    expect(onDefault['costUsd']).toBeGreaterThan(0);
    const text = (await svc.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toMatch(/engine_billed_tokens_total\{[^}]*deployment="fast"[^}]*\} [1-9]/);
    expect(text).toMatch(/engine_cost_usd_total\{[^}]*deployment="default"[^}]*\} /);
    expect(text).not.toMatch(/engine_cost_usd_total\{[^}]*deployment="fast"/);
  });

  it('exports per-replica outstanding, ejected state, calls and the routing counts on /metrics', async () => {
    const { svc } = fleetService();
    await run(svc, { modelHint: 'fast' });
    const text = (await svc.app.inject({ method: 'GET', url: '/metrics' })).body;
    for (const r of ['default/0', 'default/1', 'fast/0']) {
      const d = r.split('/')[0] ?? '';
      expect(text).toContain(`engine_fleet_replica_outstanding{deployment="${d}",replica="${r}"} 0`);
      expect(text).toContain(`engine_fleet_replica_ejected{deployment="${d}",replica="${r}"} 0`);
    }
    expect(text).toContain('engine_fleet_replica_calls_total{deployment="fast",replica="fast/0"} 1');
    expect(text).toContain('engine_fleet_routed_total{deployment="fast",rule="modelHint"} 1');
  });
});
