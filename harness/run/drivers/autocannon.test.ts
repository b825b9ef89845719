/**
 * The autocannon driver against the real mock server on loopback (port 0, RealClock, a ~1 ms-per-step profile),
 * with a bounded number of requests; everything opened is closed in afterEach.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FAST_PROFILE, testModel } from '../../../sim/server-testkit.js';
import { buildServer } from '../../../sim/server.js';
import type { ProviderLimitsInput } from '../../../sim/rate-limit.js';
import { RealClock } from '../../../src/time/real-clock.js';
import type { MixEntry, SyntheticWorkload } from '../../workload/index.js';
import { buildAutocannonRequests, runAutocannon } from './autocannon.js';

const CHAT: MixEntry = { name: 'chat', weight: 3, kind: 'single', promptTokens: { kind: 'uniform', min: 8, max: 64 }, outputTokens: { kind: 'uniform', min: 1, max: 4 } };
const AGENT: MixEntry = {
  name: 'agent',
  weight: 1,
  kind: 'agent',
  planner: { promptTokens: 16, outputTokens: 2 },
  retrievers: 2,
  retriever: { inputs: 2, inputTokens: 8, retrievedTokens: 10 },
  summarizer: { promptTokens: 8, outputTokens: 2 },
};
const WORKLOAD: SyntheticWorkload = { arrivals: { kind: 'poisson', ratePerSec: 1 }, mix: [CHAT, AGENT], tenants: [{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }] };

const opened: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of opened.splice(0)) await close();
});

/** A mock on 127.0.0.1:0 that counts the requests it saw per path. */
async function serve(rateLimits?: ProviderLimitsInput): Promise<{ url: string; seen: Map<string, number> }> {
  const clock = new RealClock();
  const model = testModel(clock, { profile: FAST_PROFILE, ...(rateLimits !== undefined ? { rateLimits } : {}) });
  const app = buildServer({ models: [model], clock });
  const seen = new Map<string, number>();
  app.addHook('onRequest', async (req) => {
    seen.set(req.url, (seen.get(req.url) ?? 0) + 1);
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  opened.push(async () => {
    model.close();
    await app.close();
  });
  const a = app.server.address();
  if (a === null || typeof a !== 'object') throw new Error('expected a TCP address');
  return { url: `http://127.0.0.1:${a.port}`, seen };
}

describe('buildAutocannonRequests', () => {
  it('draws the mix with its weights, sizes in x-mock headers and max_tokens, keys per tenant', () => {
    const reqs = buildAutocannonRequests(WORKLOAD, { count: 400, seed: 2, apiKeys: { a: 'key-of-a' } });
    expect(reqs).toHaveLength(400);
    const chats = reqs.filter((r) => r.class === 'chat');
    // An agent session is 4 calls (planner, 2 retrievers, summarizer), so 3:1 sessions give about 3:4 calls.
    expect(chats.length / reqs.length).toBeGreaterThan(0.3);
    expect(chats.length / reqs.length).toBeLessThan(0.55);
    expect(new Set(reqs.map((r) => r.class))).toEqual(new Set(['chat', 'agent-planner', 'agent-retriever', 'agent-summarizer']));
    for (const r of chats) {
      const body = JSON.parse(r.body) as { max_tokens: number; stream: boolean };
      expect(body.stream).toBe(false);
      expect(String(body.max_tokens)).toBe(r.headers['x-mock-output-tokens']);
      expect(Number(r.headers['x-mock-prompt-tokens'])).toBeGreaterThanOrEqual(8);
      expect(r.headers['idempotency-key']).toMatch(/^idem-s\d+$/);
    }
    const retriever = reqs.find((r) => r.class === 'agent-retriever');
    expect(retriever?.path).toBe('/v1/embeddings');
    expect(retriever?.headers['x-mock-prompt-tokens']).toBe('16');
    const auth = new Set(reqs.map((r) => r.headers['authorization']));
    expect(auth).toEqual(new Set(['Bearer key-of-a', undefined]));
  });

  it('is deterministic for a seed', () => {
    expect(buildAutocannonRequests(WORKLOAD, { count: 50, seed: 9 })).toEqual(buildAutocannonRequests(WORKLOAD, { count: 50, seed: 9 }));
    expect(buildAutocannonRequests(WORKLOAD, { count: 50, seed: 9 })).not.toEqual(buildAutocannonRequests(WORKLOAD, { count: 50, seed: 10 }));
  });
});

describe('runAutocannon against the mock', () => {
  it('sends a bounded amount; responses, statuses and the server\'s count add up', async () => {
    const { url, seen } = await serve();
    const requests = buildAutocannonRequests(WORKLOAD, { count: 100, seed: 1 });
    const s = await runAutocannon({ url, requests, connections: 10, amount: 500 });
    expect(s.errors).toBe(0);
    expect(s.timeouts).toBe(0);
    expect(s.responses).toBe(500);
    expect(s.statusCounts).toEqual({ '200': 500 });
    expect(s.non2xx).toBe(0);
    expect(s.sent).toBeGreaterThanOrEqual(500);
    const served = [...seen.values()].reduce((a, b) => a + b, 0);
    expect(served).toBeGreaterThanOrEqual(500);
    expect(served).toBeLessThanOrEqual(s.sent);
    expect(seen.get('/v1/chat/completions')).toBeGreaterThan(0);
    expect(seen.get('/v1/embeddings')).toBeGreaterThan(0);
    expect(s.latencyMs.p50).toBeLessThanOrEqual(s.latencyMs.p90);
    expect(s.latencyMs.p90).toBeLessThanOrEqual(s.latencyMs.p99);
    expect(s.latencyMs.p99).toBeLessThanOrEqual(s.latencyMs.max);
    expect(s.requestsPerSec).toBeCloseTo((500 * 1000) / s.durationMs, 6);
  });

  it('shows the mock\'s rate limit as 429s, with no more 200s than the bucket allows', async () => {
    const rpm = 60;
    const { url } = await serve({ rpm });
    const requests = buildAutocannonRequests({ ...WORKLOAD, mix: [CHAT] }, { count: 50 });
    const s = await runAutocannon({ url, requests, connections: 10, amount: 300 });
    const ok = s.statusCounts['200'] ?? 0;
    const limited = s.statusCounts['429'] ?? 0;
    expect(s.errors + s.timeouts).toBe(0);
    expect(ok + limited).toBe(300);
    expect(s.responses).toBe(300);
    expect(s.non2xx).toBe(limited);
    expect(limited).toBeGreaterThan(0);
    // A full bucket of `rpm`, plus what refills during the run (rpm/60 per second).
    expect(ok).toBeGreaterThanOrEqual(1);
    expect(ok).toBeLessThanOrEqual(rpm + Math.ceil((rpm / 60) * (s.durationMs / 1000 + 1)));
  });

  it('validates options early, naming the field', async () => {
    const requests = buildAutocannonRequests(WORKLOAD, { count: 5 });
    await expect(runAutocannon({ url: 'http://127.0.0.1:1', requests })).rejects.toThrow(/amount: expected exactly one of amount and durationMs/);
    await expect(runAutocannon({ url: '127.0.0.1', requests, amount: 10 })).rejects.toThrow(/url: expected an http\(s\) base URL/);
    await expect(runAutocannon({ url: 'http://127.0.0.1:1', requests, amount: 5, connections: 10 })).rejects.toThrow(/amount: expected an integer >= connections \(10\), got 5/);
    expect(() => buildAutocannonRequests(WORKLOAD, { count: 0 })).toThrow(/count: expected an integer >= 1, got 0/);
  });

  it('stops on abort and rejects with the reason', async () => {
    const { url } = await serve();
    const requests = buildAutocannonRequests(WORKLOAD, { count: 20 });
    const ac = new AbortController();
    const run = runAutocannon({ url, requests, connections: 2, durationMs: 30_000, signal: ac.signal });
    ac.abort(new Error('enough'));
    await expect(run).rejects.toThrow('enough');
  });
});
