/**
 * Through the official `openai` client: `GET /v1/models` on the engine lists the upstreams' models (primary, then
 * fallback), and a non-streamed request that runs out of time after tokens gets its partial text, marked
 * `degraded: "partial"`, instead of a bare 504.
 */
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { buildService } from '../src/api/server.js';
import { withModel } from '../src/api/model-alias.js';
import { resolvePolicy } from '../src/policy.js';
import { Random } from '../src/random.js';
import { RealClock } from '../src/time/real-clock.js';
import { HttpModelClient } from '../src/upstream/http-openai.js';
import { standIn, tokenOf, type StandInOptions } from './stand-in-upstream.js';

const opened: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of opened.splice(0).reverse()) await close();
});

async function engine(o: StandInOptions & { fallback?: boolean } = {}): Promise<OpenAI> {
  const upstream = await standIn(o);
  opened.push(() => upstream.close());
  const primary = new HttpModelClient({ baseUrl: upstream.url });
  const fallbackServer = o.fallback === true ? await standIn() : undefined;
  if (fallbackServer !== undefined) opened.push(() => fallbackServer.close());
  const fallback = fallbackServer === undefined ? undefined : new HttpModelClient({ baseUrl: `${fallbackServer.url}/` });
  const { app } = buildService({
    clock: new RealClock(),
    random: new Random(9),
    tenants: 'open',
    policy: resolvePolicy('resilient'),
    upstream: { primary, ...(fallback !== undefined ? { fallback: withModel(fallback, 'small') } : {}) },
    forwardMockHeaders: false,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  opened.push(async () => {
    await app.close();
    await primary.close();
    await fallback?.close();
  });
  const a = app.server.address();
  return new OpenAI({ baseURL: `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}/v1`, apiKey: 'k', maxRetries: 0, timeout: 60_000 });
}

describe('GET /v1/models', () => {
  it('lists the upstream\'s models, as it lists them', async () => {
    const client = await engine();
    const page = await client.models.list();
    expect(page.data).toEqual([{ id: 'stand-in-model', object: 'model', created: 1, owned_by: 'test' }]);
  });

  it('lists each model once with a fallback', async () => {
    const client = await engine({ fallback: true });
    const ids = (await client.models.list()).data.map((m) => m.id);
    expect(ids).toEqual(['stand-in-model']);
  });
});

describe('non-streamed deadline', () => {
  it('answers 200 with the partial text, degraded partial, finish_reason not stop', async () => {
    const client = await engine({ stall: (n) => (n === 1 ? 4 : undefined) });
    const r = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-deadline-ms': '4000' } });
    const raw = r as unknown as { degraded?: string; x_engine: { outcome: string; usage: string } };
    expect(raw.degraded).toBe('partial');
    expect(raw.x_engine.outcome).toBe('timeout');
    // What arrived before the deadline: the stand-in's first 4 tokens (it stalls after them).
    expect(r.choices[0]?.message.content).toBe([0, 1, 2, 3].map((i) => tokenOf(1, i)).join(''));
    expect(r.choices[0]?.finish_reason).not.toBe('stop');
    // The upstream reported no usage for an answer it never finished: an estimate, and said to be one.
    expect(raw.x_engine.usage).toBe('estimated');
  });
});
