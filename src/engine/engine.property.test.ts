import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { resolvePolicy, PRESET_NAMES } from '../policy.js';
import { Random } from '../random.js';
import { VirtualClock } from '../time/virtual-clock.js';
import {
  BadRequestError,
  ConnectionRefusedError,
  ContextLengthExceededError,
  OverloadedError,
  RateLimitedError,
  ServerError,
  StreamInterruptedError,
} from '../upstream/errors.js';
import { Engine, OUTCOMES, type EngineResult, type TokenChunk } from './engine.js';
import { expectedText, FakeModel, type StreamScript } from './testing/fake-model.js';

const FAULTS = ['ok', 'ok', 'ok', '429', '503', '500', 'refused', 'interrupt', 'stall', 'hang', 'context', 'bad'] as const;
type Fault = (typeof FAULTS)[number];

function scriptOf(fault: Fault, k: number): StreamScript {
  const tokens = 8;
  switch (fault) {
    case 'ok':
      return { tokens, chunk: 1 + (k % 3) };
    case '429':
      return { error: new RateLimitedError(k % 2 === 0 ? 30 * k : undefined) };
    case '503':
      return { error: new OverloadedError(undefined) };
    case '500':
      return { error: new ServerError(500) };
    case 'refused':
      return { error: new ConnectionRefusedError(), ttftMs: 1 };
    case 'interrupt':
      return { tokens, chunk: 1 + (k % 3), failAfter: { afterTokens: k % tokens, error: new StreamInterruptedError(k % tokens, 'reset') }, ignoreResume: k % 2 === 1 };
    case 'stall':
      return { tokens, stallAfter: k % tokens };
    case 'hang':
      return { hang: true };
    case 'context':
      return { error: new ContextLengthExceededError(200, 100) };
    case 'bad':
      return { error: new BadRequestError('bad') };
  }
}

interface Spec {
  atMs: number;
  faults: Fault[];
  k: number;
  deadlineMs: number;
  cancelAtMs: number | undefined;
  key: string | undefined;
}

const spec: fc.Arbitrary<Spec> = fc.record({
  atMs: fc.integer({ min: 0, max: 2000 }),
  faults: fc.array(fc.constantFrom(...FAULTS), { minLength: 1, maxLength: 5 }),
  k: fc.nat(20),
  deadlineMs: fc.integer({ min: 50, max: 20_000 }),
  cancelAtMs: fc.option(fc.integer({ min: 0, max: 3000 }), { nil: undefined }),
  key: fc.option(fc.constantFrom('A', 'B'), { nil: undefined, freq: 3 }),
});

describe('Engine properties', () => {
  it('every request reaches exactly one outcome; tokens are delivered once, in order; nothing leaks', async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...PRESET_NAMES), fc.array(spec, { minLength: 1, maxLength: 25, size: 'max' }), fc.integer(), async (preset, specs, seed) => {
        const clock = new VirtualClock({ maxEvents: 200_000 });
        const byId = new Map(specs.map((s, i) => [`r${i}`, s]));
        const model = (): FakeModel =>
          new FakeModel(clock, (req, n) => {
            const s = byId.get(req.id) as Spec;
            return scriptOf(s.faults[Math.min(n, s.faults.length - 1)] as Fault, s.k + n);
          });
        const primary = model();
        const fallback = model();
        const policy = resolvePolicy(preset, { concurrency: { limit: 4 }, queue: { capacity: 3 }, idleTimeout: { idleMs: 200 }, breaker: { minThroughput: 5 } });
        const engine = new Engine({ clock, random: new Random(seed), policy, primary, fallback });
        const done = new Map<string, number>();
        engine.onEvent((e) => {
          if (e.type === 'done') done.set(e.result.id, (done.get(e.result.id) ?? 0) + 1);
        });
        const results: EngineResult[] = [];
        const chunks = new Map<string, TokenChunk[]>();
        let finished = 0;
        let allDone!: () => void;
        const all = new Promise<void>((r) => (allDone = r));
        specs.forEach((s, i) => {
          const id = `r${i}`;
          const cs: TokenChunk[] = [];
          chunks.set(id, cs);
          clock.setTimer(s.atMs, () => {
            const ac = new AbortController();
            if (s.cancelAtMs !== undefined) clock.setTimer(s.cancelAtMs, () => ac.abort());
            void engine
              .submit({ id, kind: 'chat', request: { id, model: 'm', promptTokens: 150 }, deadlineMs: s.deadlineMs, onTokens: (c) => cs.push(c), ...(s.key ? { idempotencyKey: s.key } : {}) }, ac.signal)
              .then((r) => {
                results.push(r);
                if (++finished === specs.length) allDone();
              });
          });
        });
        await clock.run(all);
        await clock.run(engine.onIdle());
        await clock.runUntilIdle(); // let aborted upstream generators run their cleanup
        expect(results).toHaveLength(specs.length);
        for (const r of results) {
          expect(OUTCOMES).toContain(r.outcome);
          const label = `${r.outcome}${r.degraded ? `:${r.degraded}` : ''}${r.deduped ? `:${r.deduped}` : ''}`;
          seen.set(label, (seen.get(label) ?? 0) + 1);
          expect(done.get(r.id)).toBe(1);
          const cs = chunks.get(r.id) as TokenChunk[];
          let next = 0;
          for (const c of cs) {
            expect(c.index).toBe(next);
            next += c.count;
          }
          const text = cs.map((c) => c.text).join('');
          if (r.deduped === undefined) expect(next).toBe(r.tokens);
          // Keyed twins share one stream: the text is that of one request with the same key.
          const key = byId.get(r.id)?.key;
          const sources = key === undefined ? [r.id] : [...byId].filter(([, s]) => s.key === key).map(([id]) => id);
          if (r.deduped === undefined) expect(sources.map((id) => expectedText(id, r.tokens))).toContain(text);
          if (r.outcome === 'ok') expect(sources.map((id) => expectedText(id, 8))).toContain(text);
          if (r.outcome === 'ok') expect(r.tokens).toBe(8);
          if (r.outcome === 'degraded') expect(r.degraded).toBeDefined();
          if (r.outcome === 'failed' || r.outcome === 'shed') expect(r.error).toBeDefined();
        }
        const s = engine.snapshot();
        const c = s.counters;
        expect(c.ok + c.degraded + c.shed + c.failed + c.timeout + c.cancelled).toBe(specs.length);
        expect(s).toMatchObject({ inFlight: 0, queueDepth: 0, active: 0 });
        expect(primary.active + fallback.active).toBe(0);
      }),
      { numRuns: 120, seed: 20240611 },
    );
    // The generator reaches every outcome and the main degradations, so the checks above were exercised.
    for (const label of ['ok', 'shed', 'failed', 'timeout', 'cancelled', 'degraded:partial', 'degraded:fallback', 'ok:joined']) {
      expect(seen.get(label) ?? 0, label).toBeGreaterThan(0);
    }
  }, 30_000);

  it('against an upstream that always fails, upstream calls stay within the retry budget (and equal maxAttempts for naive)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('naive', 'resilient', 'adaptive', 'grpc'),
        fc.array(fc.integer({ min: 0, max: 30_000 }), { minLength: 1, maxLength: 60, size: 'max' }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 0, max: 5 }),
        async (preset, arrivals, ratio, minPerSec) => {
          const clock = new VirtualClock();
          const primary = new FakeModel(clock, () => ({ error: new ServerError(500), ttftMs: 5 }));
          const ttlMs = 5000;
          const policy =
            preset === 'grpc'
              ? resolvePolicy('resilient', { retryBudget: { mode: 'grpc', maxTokens: 6, tokenRatio: 0.1 }, breaker: { enabled: false } })
              : resolvePolicy(preset, preset === 'naive' ? {} : { retryBudget: { ratio, minRetriesPerSec: minPerSec, ttlMs }, breaker: { enabled: false } });
          const engine = new Engine({ clock, random: new Random(7), policy, primary });
          const ps: Array<Promise<EngineResult>> = [];
          for (const [i, at] of arrivals.entries()) clock.setTimer(at, () => void ps.push(engine.submit({ id: `r${i}`, kind: 'chat', request: { id: `r${i}`, model: 'm' } })));
          await clock.runUntilIdle();
          const results = await Promise.all(ps);
          const n = arrivals.length;
          const calls = primary.calls.length;
          if (preset === 'naive') {
            for (const r of results) expect(r.upstreamCalls).toBe(policy.retry.maxAttempts);
          } else if (preset === 'grpc') {
            expect(calls).toBeLessThanOrEqual(n + 6 / 2);
          } else {
            const durationSec = clock.now() / 1000;
            const bound = n * (1 + Math.round(ratio * 1000) / 1000) + minPerSec * (durationSec + ttlMs / 1000);
            expect(calls).toBeLessThanOrEqual(bound + 1e-9);
            for (const r of results) expect(r.upstreamCalls).toBeLessThanOrEqual(policy.retry.maxAttempts);
          }
          expect(results.every((r) => r.outcome === 'failed')).toBe(true);
        },
      ),
      { numRuns: 60, seed: 20240611 },
    );
  }, 30_000);

  it('with a breaker and a fallback that fail too, the free retries the open breaker diverts stay bounded: calls <= 2 (requests + budget)', async () => {
    // Every diverted retry follows a primary attempt that was a first attempt or a budgeted retry, so diversions are at
    // most requests + budgeted retries; a failure of the fallback is retried only with budget.
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 30_000 }), { minLength: 1, maxLength: 60, size: 'max' }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 0, max: 5 }),
        async (arrivals, ratio, minPerSec) => {
          const clock = new VirtualClock();
          const primary = new FakeModel(clock, () => ({ error: new ServerError(500), ttftMs: 5 }));
          const fallback = new FakeModel(clock, () => ({ error: new ServerError(502), ttftMs: 5 }));
          const ttlMs = 5000;
          const policy = resolvePolicy('resilient', { retryBudget: { ratio, minRetriesPerSec: minPerSec, ttlMs }, breaker: { rule: 'consecutive', consecutiveFailures: 2, openMs: 1000 } });
          const engine = new Engine({ clock, random: new Random(7), policy, primary, fallback });
          const ps: Array<Promise<EngineResult>> = [];
          for (const [i, at] of arrivals.entries()) clock.setTimer(at, () => void ps.push(engine.submit({ id: `r${i}`, kind: 'chat', request: { id: `r${i}`, model: 'm' } })));
          await clock.runUntilIdle();
          const results = await Promise.all(ps);
          const n = arrivals.length;
          const budgeted = n * (Math.round(ratio * 1000) / 1000) + minPerSec * (clock.now() / 1000 + ttlMs / 1000);
          expect(primary.calls.length + fallback.calls.length).toBeLessThanOrEqual(2 * (n + budgeted) + 1e-9);
          // Not vacuous: the second failure in a row trips the breaker, and that request's retry is diverted.
          if (n >= 2) expect(fallback.calls.length).toBeGreaterThan(0);
          for (const r of results) expect(r.upstreamCalls).toBeLessThanOrEqual(policy.retry.maxAttempts);
          expect(results.every((r) => r.outcome === 'failed')).toBe(true);
        },
      ),
      { numRuns: 40, seed: 20251206 },
    );
  }, 60_000);
});
