import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Random } from '../random.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { ConnectionRefusedError, RateLimitedError, ServerError, StreamInterruptedError } from '../upstream/errors.js';
import type { ModelRequest } from '../upstream/model-client.js';
import { FakeModel, type StreamScript } from '../engine/testing/fake-model.js';
import { ReplicaDeployment } from './deployment.js';
import { fleetPolicySchema } from './policy-schema.js';
import { BALANCER_KINDS } from './types.js';
import { drain } from './testing.js';

const OUTCOMES = ['ok', 'ok', 'ok', '500', '502', 'refused', 'broken', '429'] as const;

function scriptFor(outcome: (typeof OUTCOMES)[number], ttftMs: number): StreamScript {
  switch (outcome) {
    case 'ok':
      return { tokens: 3, ttftMs };
    case '500':
      return { ttftMs, error: new ServerError(500) };
    case '502':
      return { ttftMs, error: new ServerError(502) };
    case 'refused':
      return { ttftMs, error: new ConnectionRefusedError() };
    case 'broken':
      return { tokens: 3, ttftMs, failAfter: { afterTokens: 1, error: new StreamInterruptedError(1, 'reset') } };
    case '429':
      return { ttftMs, error: new RateLimitedError(10) };
  }
}

const call = fc.record({
  atMs: fc.integer({ min: 0, max: 400 }),
  ttftMs: fc.integer({ min: 1, max: 120 }),
  outcome: fc.constantFrom(...OUTCOMES),
  key: fc.option(fc.constantFrom('a', 'b', 'c', 'd'), { nil: undefined }),
  abortAfterMs: fc.option(fc.integer({ min: 0, max: 150 }), { nil: undefined }),
  hedge: fc.boolean(),
});

describe('fleet invariants (property)', () => {
  it('never ejects more than the cap, never counts negative outstanding calls, and ends with none', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 100 }),
        fc.constantFrom(...BALANCER_KINDS),
        fc.integer({ min: 1, max: 3 }),
        fc.array(call, { minLength: 1, maxLength: 60 }),
        async (replicas, maxEjectedPercent, kind, consecutive, calls) => {
          const clock = new VirtualClock();
          const plan = new Map(calls.map((c, i) => [`c${i}`, scriptFor(c.outcome, c.ttftMs)]));
          const script = (r: ModelRequest): StreamScript => plan.get(r.id) ?? {};
          const d = new ReplicaDeployment({
            name: 'd',
            clock,
            random: new Random(5),
            policy: fleetPolicySchema.parse({
              balancer: { kind },
              ejection: {
                enabled: true,
                consecutive5xx: consecutive,
                consecutiveGatewayFailures: consecutive,
                baseEjectionMs: 50,
                maxEjectionMs: 200,
                maxEjectedPercent,
                successRate: { enabled: true, minRequests: 2, minReplicas: 1, intervalMs: 100, stdevFactor: 0.5 },
              },
              hedging: { enabled: true, minDelayMs: 10, maxDelayMs: 60, windowSize: 8 },
            }),
            replicas: Array.from({ length: replicas }, (_, i) => ({ id: `d/${i}`, client: new FakeModel(clock, script) })),
          });
          const cap = Math.floor((replicas * maxEjectedPercent) / 100);
          const violations: string[] = [];
          const check = (): void => {
            const states = d.states();
            const ejected = states.filter((s) => s.ejected).length;
            if (ejected > cap) violations.push(`${ejected} ejected of ${replicas} (cap ${cap}) at ${clock.now()}`);
            for (const s of states) if (s.outstanding < 0) violations.push(`${s.id} outstanding ${s.outstanding}`);
          };
          d.onEvent(check);
          const runs: Promise<unknown>[] = [];
          calls.forEach((c, i) => {
            runs.push(
              clock.sleep(c.atMs).then(async () => {
                const ac = new AbortController();
                if (c.abortAfterMs !== undefined) clock.setTimer(c.abortAfterMs, () => ac.abort());
                const options = {
                  signal: ac.signal,
                  ...(c.key !== undefined ? { route: { affinityKey: c.key } } : {}),
                  ...(c.hedge ? { hedgeBudget: { tryAcquire: () => true } } : {}),
                };
                const events = drain(d.stream({ id: `c${i}`, model: 'm' }, options)).catch(() => undefined);
                check();
                return events;
              }),
            );
          });
          for (let t = 0; t < 800; t += 7) clock.setTimer(t, check);
          await clock.run(Promise.all(runs));
          await clock.runUntilIdle();
          check();
          expect(violations).toEqual([]);
          expect(d.states().map((s) => s.outstanding)).toEqual(Array(replicas).fill(0));
          // Every request made at least one call (hedges make more).
          expect(d.states().reduce((n, s) => n + s.calls, 0)).toBeGreaterThanOrEqual(calls.length);
        },
      ),
      { numRuns: 150, seed: 18 },
    );
  });
});
