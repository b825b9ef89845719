/**
 * A fleet over real processes: one mock process serving three replicas (`sim --replicas 3`) on loopback, the engine
 * service in front (`serve --fleet` with the resilient preset's power of two and outlier ejection). One replica
 * crashes (its port closes; the others keep serving); requests through the engine all still succeed, the crashed
 * replica is ejected (on /metrics), and once ejected it gets no more calls. Waits are on conditions (the ejection
 * showing on /metrics), bounded by a number of requests and the test timeout, never on a wall-clock window.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { RealClock } from '../src/time/real-clock.js';
import { ENGINE_ENTRY, MOCK_ENTRY } from '../harness/run/live.js';
import { fetchText, metricSum, parsePrometheus } from '../harness/run/live-metrics.js';
import { freePort, freePortRun, httpReady, ProcessGroup } from '../harness/run/processes.js';

const clock = new RealClock();
const group = new ProcessGroup(clock);
const dir = mkdtempSync(join(tmpdir(), 'fleet-live-test-'));
afterAll(async () => {
  await group.stopAll();
  rmSync(dir, { recursive: true, force: true });
});

const REPLICAS = 3;
/** Requests sent before the crashed replica must have been ejected (it gets about a third of them). */
const MAX_REQUESTS_TO_EJECT = 120;
const AFTER = 15;

async function chat(engineUrl: string, i: number): Promise<{ status: number; outcome: string | undefined }> {
  const r = await request(`${engineUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-mock-output-tokens': '3', 'x-request-id': `fleet-live-${i}` },
    body: JSON.stringify({ model: 'primary', messages: [{ role: 'user', content: `request ${i}` }] }),
  });
  const body = (await r.body.json()) as { x_engine?: { outcome?: string } };
  return { status: r.statusCode, outcome: body.x_engine?.outcome };
}

async function fleetMetrics(engineUrl: string): Promise<ReturnType<typeof parsePrometheus>> {
  return parsePrometheus((await fetchText(`${engineUrl}/metrics`)) ?? '');
}

describe('a fleet, live', () => {
  it('ejects a crashed replica of three and keeps serving on the other two', { timeout: 180_000 }, async () => {
    const mockPort = await freePortRun(REPLICAS);
    const mock = await group.start(
      { name: 'mock', entry: MOCK_ENTRY, args: ['--port', String(mockPort), '--replicas', String(REPLICAS), '--seed', '3'], port: mockPort, readyPath: '/health' },
      { readyTimeoutMs: 60_000 },
    );
    const urls = Array.from({ length: REPLICAS }, (_, k) => `http://127.0.0.1:${mockPort + k}`);
    for (const u of urls) {
      let ready = false;
      for (let i = 0; i < 100 && !ready; i++) ready = await httpReady(`${u}/health`, 1_000);
      expect(ready, `${u}/health`).toBe(true);
    }
    const fleetFile = join(dir, 'fleet.json');
    writeFileSync(fleetFile, JSON.stringify({ deployments: { default: { replicas: urls } }, defaultDeployment: 'default' }));
    const enginePort = await freePort();
    const engine = await group.start(
      {
        name: 'engine',
        entry: ENGINE_ENTRY,
        args: ['--port', String(enginePort), '--fleet', fleetFile, '--policy', 'resilient', '--upstream-dialect', 'mock', '--tokenizer', 'chars', '--open', '--seed', '1'],
        port: enginePort,
        readyPath: '/healthz',
      },
      { readyTimeoutMs: 60_000 },
    );

    // Crash replica 1 through its fault header: its port closes for good (no --supervise), the process lives on.
    await request(`${urls[1]}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-mock-fault': 'crash:downtime-ms=600000' },
      body: JSON.stringify({ model: 'primary', messages: [{ role: 'user', content: 'crash' }] }),
    }).then((r) => r.body.dump(), () => undefined);
    expect(await httpReady(`${urls[1]}/health`, 2_000)).toBe(false);
    expect(await httpReady(`${urls[0]}/health`, 5_000)).toBe(true);
    expect(mock.exit).toBeUndefined();

    const where = { deployment: 'default', replica: 'default/1' };
    const replies: Array<{ status: number; outcome: string | undefined }> = [];
    let ejected = false;
    for (let i = 0; i < MAX_REQUESTS_TO_EJECT && !ejected; i++) {
      replies.push(await chat(engine.url, i));
      ejected = metricSum(await fleetMetrics(engine.url), ['engine_fleet_replica_ejected'], where) === 1;
    }
    expect(ejected, `replica default/1 not ejected after ${replies.length} requests`).toBe(true);
    const m = await fleetMetrics(engine.url);
    expect(metricSum(m, ['engine_fleet_ejections_total'], where)).toBe(1);
    const reason = m.find((s) => s.name === 'engine_fleet_ejections_total' && s.labels['replica'] === 'default/1')?.labels['reason'];
    expect(['consecutive-gateway', 'consecutive-5xx']).toContain(reason);
    expect(metricSum(m, ['engine_fleet_replica_failures_total'], where)).toBeGreaterThanOrEqual(5);
    for (const r of ['default/0', 'default/2']) expect(metricSum(m, ['engine_fleet_replica_ejected'], { deployment: 'default', replica: r })).toBe(0);

    // Ejected, it gets no more calls; the others serve everything.
    const callsBefore = metricSum(m, ['engine_fleet_replica_calls_total'], where);
    for (let i = 0; i < AFTER; i++) replies.push(await chat(engine.url, MAX_REQUESTS_TO_EJECT + i));
    const after = await fleetMetrics(engine.url);
    expect(metricSum(after, ['engine_fleet_replica_calls_total'], where)).toBe(callsBefore);
    expect(replies.every((r) => r.status === 200 && r.outcome === 'ok'), JSON.stringify(replies.filter((r) => r.status !== 200 || r.outcome !== 'ok'))).toBe(true);
    expect(metricSum(after, ['engine_requests_total'], { outcome: 'ok' })).toBe(replies.length);
    expect(engine.exit).toBeUndefined();
    expect(mock.exit).toBeUndefined();
  });

  it('serve exits 2 with one line naming the bad field of a fleet file, without a stack trace', { timeout: 60_000 }, async () => {
    const bad = JSON.stringify({ deployments: { default: { replicas: ['http://127.0.0.1:9001', 'not a url'] } } });
    const child = spawn(process.execPath, ['--import', 'tsx', ENGINE_ENTRY, '--fleet', bad, '--policy', 'resilient', '--open', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(2);
    expect(err.split('\n')[0]).toBe('serve: --fleet: deployments.default.replicas[1]: expected an http(s) base URL like http://127.0.0.1:9001, got "not a url"');
    expect(err).not.toMatch(/\n\s+at /);
  });
});
