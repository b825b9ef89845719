/**
 * The response cache through the OpenAI-compatible proxy (virtual time): `x-cache: hit|miss` on answers (headers of
 * a stream too), `x_engine.cache`, and the cache's Prometheus metrics on the service's registry.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FakeModel, type StreamScript } from '../engine/testing/fake-model.js';
import { resolvePolicy } from '../policy.js';
import { Random } from '../random.js';
import { createTelemetry, type Telemetry } from '../telemetry/setup.js';
import { VirtualClock } from '../time/virtual-clock.js';
import type { ModelRequest } from '../upstream/model-client.js';
import { buildService, type ApiService } from './server.js';

const open: ApiService[] = [];
const telemetries: Telemetry[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.app.close()));
  await Promise.all(telemetries.splice(0).map((t) => t.shutdown()));
});

function setup(script: (r: ModelRequest, call: number) => StreamScript, cache = true) {
  const clock = new VirtualClock();
  const primary = new FakeModel(clock, script);
  const telemetry = createTelemetry({ exporter: 'prometheus' });
  telemetries.push(telemetry);
  const svc = buildService({
    clock,
    random: new Random(3),
    tenants: 'open',
    policy: resolvePolicy('resilient', { cache: { enabled: cache } }),
    upstream: { primary },
    telemetry,
    sseKeepAliveMs: 0,
  });
  open.push(svc);
  const post = async (body: Record<string, unknown>) =>
    clock.run(svc.app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { model: 'm', messages: [{ role: 'user', content: 'What is 2+2?' }], temperature: 0, ...body } }));
  return { clock, svc, post, primary, telemetry };
}

describe('proxy: response cache', () => {
  it('answers a repeated temperature-0 request from the cache: x-cache miss then hit, one upstream call, the same text', async () => {
    const { post, primary, telemetry } = setup(() => ({ tokens: 5 }));
    const first = await post({});
    const second = await post({});
    expect(first.headers['x-cache']).toBe('miss');
    expect(second.headers['x-cache']).toBe('hit');
    expect(primary.calls).toHaveLength(1);
    const a = first.json() as { choices: Array<{ message: { content: string } }>; x_engine: Record<string, unknown> };
    const b = second.json() as { choices: Array<{ message: { content: string } }>; x_engine: Record<string, unknown> };
    expect(b.choices[0]?.message.content).toBe(a.choices[0]?.message.content);
    expect(b.x_engine).toMatchObject({ outcome: 'ok', cache: 'hit', upstreamCalls: 0, attempts: 0 });
    // A streamed twin is a hit too (delivery fields are not part of the key), and says so in its headers.
    const streamed = await post({ stream: true });
    expect(streamed.headers['x-cache']).toBe('hit');
    expect(primary.calls).toHaveLength(1);
    const text = (await telemetry.prometheusText()) ?? '';
    expect(text).toMatch(/^engine_cache_hits_total(\{[^}]*\})? 2$/m);
    expect(text).toMatch(/^engine_cache_misses_total(\{[^}]*\})? 1$/m);
    expect(text).toMatch(/^engine_cache_entries(\{[^}]*\})? 1$/m);
    expect(text).toMatch(/^engine_cache_bytes(\{[^}]*\})? [1-9]\d*$/m);
  });

  it('sends no x-cache for a sampled request or with the cache off', async () => {
    const on = setup(() => ({ tokens: 2 }));
    expect((await on.post({ temperature: 0.8 })).headers['x-cache']).toBeUndefined();
    const off = setup(() => ({ tokens: 2 }), false);
    expect((await off.post({})).headers['x-cache']).toBeUndefined();
    expect((await off.post({})).headers['x-cache']).toBeUndefined();
    expect(off.primary.calls).toHaveLength(2);
  });
});
