/**
 * The generic adapter (`--target NAME=URL`) against a tiny OpenAI-compatible proxy that this test starts itself,
 * pointed at the mock port the harness is told to use. The proxy forwards every request once (no retries), so the
 * mock's counters must match what the proxy saw, minus the harness's protocol check; a 429 phase on the mock
 * reaches the client as failures (an external target's 429 is not the engine shedding load).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRunResult } from '../harness/report/schema.js';
import { serializeRunResult } from '../harness/report/serialize.js';
import { freePort } from '../harness/run/processes.js';
import { runScenarioLive } from '../harness/run/run-scenario.js';
import { defineScenario } from '../harness/scenario.js';
import { urlTarget } from '../harness/targets/url-target.js';

const FORWARD = ['content-type', 'authorization', 'x-request-id', 'x-mock-prompt-tokens', 'x-mock-output-tokens'];

/** A proxy of a few lines: POST /v1/* to the upstream, answer piped back as it streams. */
function tinyProxy(upstream: () => string): { server: Server; forwarded: () => number } {
  let forwarded = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url?.startsWith('/v1/') !== true) {
        res.writeHead(req.url === '/' ? 200 : 404).end();
        return;
      }
      forwarded++;
      const headers: Record<string, string> = {};
      for (const h of FORWARD) if (typeof req.headers[h] === 'string') headers[h] = req.headers[h];
      request(`${upstream()}${req.url}`, { method: 'POST', headers, body: Buffer.concat(chunks) })
        .then(async (up) => {
          res.writeHead(up.statusCode, { 'content-type': String(up.headers['content-type'] ?? 'application/json') });
          for await (const b of up.body) res.write(b);
          res.end();
        })
        .catch(() => res.destroy());
    });
  });
  return { server, forwarded: () => forwarded };
}

const PHASE = { atMs: 800, durationMs: 800 };

const scenario = defineScenario({
  name: 'proxy-tiny',
  description: 'short chats through a tiny proxy the test runs, with a 429 phase',
  seed: 3,
  durationMs: 2_500,
  workload: {
    arrivals: { kind: 'poisson', ratePerSec: 8 },
    mix: [{ name: 'chat', weight: 1, kind: 'single', promptTokens: { kind: 'uniform', min: 50, max: 200 }, outputTokens: { kind: 'uniform', min: 5, max: 30 } }],
  },
  model: { profile: 'h100-llama3-8b', price: { inputPer1M: 1, outputPer1M: 4 }, faults: { timeline: [{ name: '429 phase', ...PHASE, fault: { rateLimited: { probability: 1, retryAfterMs: 200 } } }] } },
  policies: ['naive'],
  slo: { ttftMs: 2_000, e2eMs: 10_000 },
});

describe('generic URL target', () => {
  let mockPort = 0;
  const proxy = tinyProxy(() => `http://127.0.0.1:${mockPort}`);
  let proxyUrl = '';

  beforeAll(async () => {
    mockPort = await freePort();
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    proxyUrl = `http://127.0.0.1:${(proxy.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => proxy.server.close(() => resolve()));
  });

  it('measures a system the user runs, through to the mock, with unknowns left unknown', async () => {
    const result = await runScenarioLive({ scenario, targets: [urlTarget('tiny-proxy', proxyUrl)], policies: ['tiny-proxy'], mockPort });
    const row = parseRunResult(serializeRunResult(result)).policies[0];
    if (row === undefined) throw new Error('no row');
    expect(row.name).toBe('tiny-proxy');
    const { summary: s, counters: c } = row;

    // Complete.
    expect(c.arrivals).toBeGreaterThan(10);
    expect(c.requests).toBe(c.arrivals);
    expect(s.ok + s.failed).toBe(c.requests);

    // The mock saw exactly what the proxy forwarded, less the 2 calls of the protocol check; no retries: 1.00x.
    expect(proxy.forwarded()).toBe(c.upstreamCalls + 2);
    expect(s.amplification).toBe(1);
    // Tokens: the check's 4 are subtracted, so what the GPU computed is what the clients received.
    expect(c.tokensComputed).toBe(c.tokensDelivered);
    expect(s.wastedTokenFraction).toBe(0);

    // The 429 phase: answered 429 by the mock, passed through, counted as failures (not as shedding).
    expect(c.rateLimited).toBeGreaterThan(0);
    expect(s.failed).toBe(c.rateLimited);
    expect(s.shed).toBe(0);
    expect(s.ok).toBeGreaterThan(0);

    // The bill: what the answers' standard usage said (the mock's, passed through), at the scenario's prices. The
    // 429 answers carry none (a provider bills nothing for them).
    expect(s.tokens.billedOutput).toBe(c.tokensDelivered);
    expect(s.tokens.billedInput).toBeGreaterThan(0);
    expect(s.cost.totalUsd).toBeCloseTo(((s.tokens.billedInput ?? NaN) + (s.tokens.billedCachedInput ?? NaN) + 4 * c.tokensDelivered) / 1e6, 6);
    expect(s.cost.wastedUsd).toBe(0);

    // Inside the proxy nothing is visible: unknown, not zero.
    expect(s.peakQueue).toBeNull();
    expect(s.backoffMs).toEqual({ count: 0, p50: null, p90: null, p99: null, max: null, mean: null });
    expect(row.series.queueDepth.every((v) => v === null)).toBe(true);
    expect(row.config).toMatchObject({ kind: 'external-target', url: proxyUrl, adapter: { adapter: 'url', upstreamExpected: `http://127.0.0.1:${mockPort}/v1` } });
  }, 60_000);
});
