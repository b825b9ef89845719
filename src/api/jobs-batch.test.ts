/** Batchable chat jobs through `POST /v1/jobs` (inject, VirtualClock, a scripted upstream that takes prompt arrays). */
import { afterEach, describe, expect, it } from 'vitest';
import { ScriptedBatchClient } from '../engine/testing/scripted-batch-client.js';
import { resolvePolicy } from '../policy.js';
import { Random } from '../random.js';
import { createTelemetry } from '../telemetry/setup.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { dialectCapabilities, type UpstreamDialect } from '../upstream/model-client.js';
import { buildService, type ApiService } from './server.js';

const open: ApiService[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.app.close()));
});

function setup(dialect: UpstreamDialect) {
  const clock = new VirtualClock();
  const primary = new ScriptedBatchClient(clock, dialectCapabilities(dialect));
  const svc = buildService({
    clock,
    random: new Random(3),
    tenants: 'open',
    policy: resolvePolicy('resilient', { batching: { mode: 'time', maxWaitMs: 10 } }),
    upstream: { primary },
    telemetry: createTelemetry({ exporter: 'none' }),
    sseKeepAliveMs: 0,
  });
  open.push(svc);
  return { clock, svc, primary };
}

async function runJobs(dialect: UpstreamDialect, bodies: Array<Record<string, unknown>>) {
  const { clock, svc, primary } = setup(dialect);
  const posted = await clock.run(
    Promise.all(bodies.map((b) => svc.app.inject({ method: 'POST', url: '/v1/jobs', payload: { model: 'm', max_tokens: 16, ...b } }))),
  );
  for (const p of posted) expect(p.statusCode).toBe(202);
  await clock.run(clock.sleep(1).then(() => svc.engine.onIdle()));
  const ids = posted.map((p) => (p.json() as { id: string }).id);
  const views = await clock.run(Promise.all(ids.map((id) => svc.app.inject({ method: 'GET', url: `/v1/jobs/${id}` }))));
  return { primary, views: views.map((v) => v.json() as Record<string, unknown>) };
}

describe('POST /v1/jobs with batchable chat', () => {
  it('batchable chat jobs share one multi-prompt completions call; each job has its own answer', async () => {
    const contents = ['alpha', 'beta', 'gamma'];
    const { primary, views } = await runJobs('vllm', contents.map((c) => ({ batchable: true, messages: [{ role: 'user', content: c }] })));
    expect(primary.batches).toHaveLength(1);
    expect(primary.batches[0]?.prompts).toEqual(contents.map((c) => `user: ${c}\nassistant:`));
    expect(primary.streams).toHaveLength(0);
    views.forEach((v, i) => {
      expect(v['status']).toBe('succeeded');
      expect(JSON.stringify(v)).toContain(`a:user: ${contents[i] ?? ''}`);
    });
  });

  it('the openai dialect runs batchable chat jobs one by one', async () => {
    const { primary, views } = await runJobs('openai', [1, 2].map((i) => ({ batchable: true, messages: [{ role: 'user', content: `q${i}` }] })));
    expect(primary.batches).toHaveLength(0);
    expect(primary.streams).toHaveLength(2);
    for (const v of views) expect(v['status']).toBe('succeeded');
  });
});
