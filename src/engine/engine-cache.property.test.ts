import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PRESET_NAMES, resolvePolicy } from '../policy.js';
import { Random } from '../random.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { OverloadedError, ServerError, StreamInterruptedError } from '../upstream/errors.js';
import { Engine, OUTCOMES, type EngineResult, type TokenChunk } from './engine.js';
import { expectedText, FakeModel, type StreamScript } from './testing/fake-model.js';

const FAULTS = ['ok', 'ok', 'ok', '503', '500', 'interrupt', 'hang'] as const;
type Fault = (typeof FAULTS)[number];

function scriptOf(fault: Fault, k: number): StreamScript {
  switch (fault) {
    case 'ok':
      return { tokens: 8, chunk: 1 + (k % 3) };
    case '503':
      return { error: new OverloadedError(undefined) };
    case '500':
      return { error: new ServerError(500) };
    case 'interrupt':
      return { tokens: 8, failAfter: { afterTokens: k % 8, error: new StreamInterruptedError(k % 8, 'reset') } };
    case 'hang':
      return { hang: true };
  }
}

const spec = fc.record({
  atMs: fc.integer({ min: 0, max: 30_000 }),
  prompt: fc.constantFrom('p', 'q', 'r'),
  tenant: fc.constantFrom('t1', 't2'),
  temperature: fc.constantFrom(0, 0, 0.7),
  faults: fc.array(fc.constantFrom(...FAULTS), { minLength: 1, maxLength: 4 }),
  k: fc.nat(20),
  deadlineMs: fc.integer({ min: 50, max: 20_000 }),
});
type Spec = typeof spec extends fc.Arbitrary<infer T> ? T : never;

describe('Engine properties: response cache', () => {
  it('one outcome each; a hit makes no call and is ok; a stale answer is degraded: cached; every answer is its own prompt and tenant’s', async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...PRESET_NAMES), fc.array(spec, { minLength: 1, maxLength: 30, size: 'max' }), fc.integer(), async (preset, specs, seed) => {
        const clock = new VirtualClock({ maxEvents: 200_000 });
        const byId = new Map(specs.map((s, i) => [`r${i}`, s]));
        const primary = new FakeModel(clock, (req, n) => {
          const s = byId.get(req.id) as Spec;
          return scriptOf(s.faults[Math.min(n, s.faults.length - 1)] as Fault, s.k + n);
        });
        const policy = resolvePolicy(preset, { cache: { enabled: true, ttlMs: 2_000, staleIfErrorMs: 20_000 }, concurrency: { limit: 4 }, idleTimeout: { idleMs: 200 }, breaker: { minThroughput: 5 } });
        const engine = new Engine({ clock, random: new Random(seed), policy, primary });
        const chunks = new Map<string, TokenChunk[]>();
        const ps: Array<Promise<EngineResult>> = [];
        specs.forEach((s, i) => {
          const id = `r${i}`;
          const cs: TokenChunk[] = [];
          chunks.set(id, cs);
          clock.setTimer(s.atMs, () => {
            ps.push(
              engine.submit({
                id,
                kind: 'chat',
                tenant: s.tenant,
                deadlineMs: s.deadlineMs,
                request: { id, model: 'm', messages: [{ role: 'user', content: s.prompt }], params: { temperature: s.temperature } },
                onTokens: (c) => cs.push(c),
              }),
            );
          });
        });
        await clock.runUntilIdle();
        const results = await Promise.all(ps);
        await clock.run(engine.onIdle());
        await clock.runUntilIdle();
        expect(results).toHaveLength(specs.length);
        let cacheable = 0;
        for (const r of results) {
          const s = byId.get(r.id) as Spec;
          expect(OUTCOMES).toContain(r.outcome);
          const cs = chunks.get(r.id) as TokenChunk[];
          let next = 0;
          for (const c of cs) {
            expect(c.index).toBe(next);
            next += c.count;
          }
          if (s.temperature !== 0) {
            expect(r.cache).toBeUndefined();
            continue;
          }
          cacheable++;
          expect(r.cache).toBeDefined();
          seen.set(r.cache ?? '', (seen.get(r.cache ?? '') ?? 0) + 1);
          if (r.cache === 'hit') expect(r).toMatchObject({ outcome: 'ok' });
          if (r.cache === 'hit' && r.deduped === undefined) expect(r).toMatchObject({ upstreamCalls: 0, attempts: 0 });
          if (r.cache === 'stale') expect(r).toMatchObject({ outcome: 'degraded', degraded: 'cached' });
          if (r.degraded === 'cached') expect(r.cache).toBe('stale');
          if (r.cache !== 'miss' && r.outcome !== 'cancelled') {
            // A replayed answer is the whole answer of an earlier request with the same prompt, tenant and temperature.
            const twins = [...byId].filter(([, t]) => t.prompt === s.prompt && t.tenant === s.tenant && t.temperature === 0).map(([id]) => expectedText(id, 8));
            expect(twins).toContain(r.text);
            expect(cs.map((c) => c.text).join('')).toBe(r.text);
          }
        }
        const c = engine.snapshot().counters;
        expect(c.cacheHits + c.cacheMisses).toBe(cacheable);
        expect(c.cacheStale).toBe(results.filter((r) => r.cache === 'stale').length);
        expect(engine.snapshot()).toMatchObject({ inFlight: 0, queueDepth: 0, active: 0 });
        expect(primary.active).toBe(0);
      }),
      { numRuns: 80, seed: 20261205 },
    );
    // The generator reaches hits, misses and stale answers, so the checks above were exercised.
    for (const label of ['hit', 'miss', 'stale']) expect(seen.get(label) ?? 0, label).toBeGreaterThan(0);
  }, 120_000);
});
