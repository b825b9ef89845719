/**
 * Portkey's gateway as a target, end to end on loopback: the harness starts the mock GPU (primary and fallback) and
 * the pinned gateway, drives a short workload through it with an x-portkey-config of retries plus a fallback, and
 * a 429 phase on the primary. Checks that the requests reached the mock through the gateway, that the row is
 * complete and carries the exact config, that the 429 phase shows up in the gateway's row, and that nothing is left
 * running.
 */
import { describe, expect, it } from 'vitest';
import { parseRunResult } from '../harness/report/schema.js';
import { serializeRunResult } from '../harness/report/serialize.js';
import { runScenarioLive } from '../harness/run/run-scenario.js';
import { defineScenario } from '../harness/scenario.js';
import { PORTKEY_GATEWAY_VERSION, portkeyTarget } from '../harness/targets/portkey.js';
import { alive } from './helpers/processes.js';

const PHASE = { atMs: 1_000, durationMs: 2_000 };

const scenario = defineScenario({
  name: 'portkey-tiny',
  description: 'short chats through the Portkey gateway, with a 429 phase on the primary',
  seed: 5,
  durationMs: 4_000,
  workload: {
    arrivals: { kind: 'poisson', ratePerSec: 8 },
    mix: [{ name: 'chat', weight: 1, kind: 'single', promptTokens: { kind: 'uniform', min: 50, max: 200 }, outputTokens: { kind: 'uniform', min: 5, max: 30 } }],
  },
  model: {
    profile: 'h100-llama3-8b',
    fallbackProfile: 'fallback',
    faults: { timeline: [{ name: '429 phase', ...PHASE, fault: { rateLimited: { probability: 1, retryAfterMs: 200 } } }] },
  },
  policies: ['naive'],
  targets: [portkeyTarget({ name: 'portkey-fallback', mode: 'retry-fallback' })],
  slo: { ttftMs: 2_000, e2eMs: 10_000 },
});

describe('Portkey gateway target', () => {
  it('drives the workload through the gateway to the mock, with the 429 phase in its row', async () => {
    const procs: Array<{ name: string; pid: number }> = [];
    const result = await runScenarioLive({ scenario, policies: ['portkey-fallback'], onProcess: (p) => procs.push({ name: p.name, pid: p.pid ?? -1 }) });

    // Mocks and the gateway were real processes, and all of them are gone.
    expect(procs.map((p) => p.name).sort()).toEqual(['mock[fallback]', 'mock[primary]', 'target[portkey-fallback]']);
    expect(procs.filter((p) => alive(p.pid))).toEqual([]);

    const parsed = parseRunResult(serializeRunResult(result));
    expect(parsed.policies.map((p) => p.name)).toEqual(['portkey-fallback']);
    const row = parsed.policies[0];
    if (row === undefined) throw new Error('no row');
    const { summary: s, counters: c } = row;

    // Complete: every arrival reached exactly one outcome.
    expect(c.arrivals).toBeGreaterThan(15);
    expect(c.requests).toBe(c.arrivals);
    expect(c.unfinished).toBe(0);
    expect(s.ok + s.degraded + s.shed + s.failed + s.timeout + s.cancelled).toBe(c.requests);

    // Through the gateway to the mock: the mock counted the calls (retries included) and computed the tokens.
    expect(c.upstreamCalls).toBeGreaterThan(c.requests);
    expect(s.amplification).toBeGreaterThan(1);
    expect(c.tokensComputed).toBeGreaterThan(0);
    expect(c.tokensDelivered).toBeGreaterThan(0);

    // The 429 phase shows in the row: 429s counted at the mock, inside the phase's buckets only.
    expect(c.rateLimited).toBeGreaterThan(0);
    const buckets = row.series.rateLimited;
    expect(buckets[0]).toBe(0);
    const inPhase = buckets.slice(PHASE.atMs / 1000, (PHASE.atMs + PHASE.durationMs) / 1000 + 1).reduce((a, b) => a + b, 0);
    expect(inPhase).toBe(c.rateLimited);
    // Requests that exhausted their retries on the primary were answered by the fallback model: degraded, not ok.
    expect(s.degraded).toBeGreaterThan(0);
    expect(c.degradedReasons['fallback']).toBe(s.degraded);
    expect(s.ok).toBeGreaterThan(0);
    // Retry-After (200 ms) sets the gateway's waits: 3 retries cost well under a second, not the 1 + 2 + 4 s of its
    // exponential backoff, which is what happens when use_retry_after_header is broken.
    expect(s.e2eAllMs.max).toBeLessThan(4_000);

    // The exact config is recorded; what the harness cannot see inside the gateway is unknown, not zero.
    const cfg = row.config as { kind: string; adapter: { version: string; portkeyConfig: { strategy: { mode: string }; targets: Array<{ custom_host: string }> } } };
    expect(cfg.kind).toBe('external-target');
    expect(cfg.adapter.version).toBe(PORTKEY_GATEWAY_VERSION);
    expect(cfg.adapter.portkeyConfig.strategy.mode).toBe('fallback');
    expect(cfg.adapter.portkeyConfig.targets.map((t) => t.custom_host)).toEqual([expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/v1$/), expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/v1$/)]);
    expect(s.peakQueue).toBeNull();
    expect(s.queueMs.count).toBe(0);
    expect(s.queueMs.p99).toBeNull();
    expect(row.series.breakerState.every((b) => b === null)).toBe(true);
  }, 60_000);
});
