/**
 * Multi-prompt completions over HTTP against the mock on 127.0.0.1 (port 0): `completeBatch` sends one
 * `/v1/completions` call with `prompt: [...]` and gets one choice per prompt by `index`; the engine batches
 * batchable chat jobs into that one call. Everything opened is closed.
 */
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine/engine.js';
import { resolvePolicy } from '../src/policy.js';
import { Random } from '../src/random.js';
import { RealClock } from '../src/time/real-clock.js';
import { HttpModelClient } from '../src/upstream/http-openai.js';
import type { UpstreamDialect } from '../src/upstream/model-client.js';
import { MockModel } from '../sim/mock-model.js';
import { buildServer } from '../sim/server.js';
import { FAST_PROFILE } from '../sim/server-testkit.js';

const opened: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of opened.splice(0).reverse()) await close();
});

async function mockClient(dialect: UpstreamDialect): Promise<HttpModelClient> {
  const clock = new RealClock();
  const model = new MockModel({ name: 'primary', profile: FAST_PROFILE, clock, random: new Random(9).derive('model/primary') });
  const app = buildServer({ models: [model], clock });
  await app.listen({ port: 0, host: '127.0.0.1' });
  opened.push(async () => {
    model.close();
    await app.close();
  });
  const c = new HttpModelClient({ baseUrl: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, dialect });
  opened.push(() => c.close());
  return c;
}

describe('multi-prompt completions over HTTP (the mock)', () => {
  it('completeBatch: one call, one choice per prompt by index, usage totals', async () => {
    const c = await mockClient('mock');
    const r = await c.completeBatch({ id: 'b1', model: 'primary', prompts: ['user: a\nassistant:', 'user: b\nassistant:', 'user: c\nassistant:'], maxTokens: 8 });
    expect(r.choices.map((x) => x.index)).toEqual([0, 1, 2]);
    for (const x of r.choices) expect(x.text.length).toBeGreaterThan(0);
    expect(r.usage?.completionTokens).toBeGreaterThanOrEqual(3);
    expect(r.usage?.completionTokens).toBeLessThanOrEqual(24);
  });

  it('the openai dialect refuses multi-prompt completions before sending', async () => {
    const c = await mockClient('openai');
    expect(c.capabilities.batchPrompts).not.toBe(true);
    await expect(c.completeBatch({ id: 'b2', model: 'primary', prompts: ['x'] })).rejects.toThrow(/openai dialect/);
  });

  it('the engine sends batchable chat jobs as one call and splits the answers back', async () => {
    const c = await mockClient('vllm');
    const clock = new RealClock();
    const engine = new Engine({ clock, random: new Random(1), policy: resolvePolicy('resilient', { batching: { mode: 'size', maxSize: 3 } }), primary: c });
    const rs = await Promise.all(
      ['a', 'b', 'c'].map((q, i) =>
        engine.submit({ id: `j${i}`, kind: 'chat', batchable: true, request: { id: `j${i}`, model: 'primary', maxTokens: 8, messages: [{ role: 'user', content: q }] } }),
      ),
    );
    expect(rs.map((r) => r.outcome)).toEqual(['ok', 'ok', 'ok']);
    expect(engine.snapshot().counters).toMatchObject({ upstreamCalls: 1, batches: 1 });
    for (const r of rs) {
      expect(r.text.length).toBeGreaterThan(0);
      expect(r.usage?.estimated).toBe(true);
    }
  });
});
