import { describe, expect, it } from 'vitest';
import { resolvePolicy } from '../policy.js';
import { Random } from '../random.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { ServerError } from '../upstream/errors.js';
import type { ModelClient, StreamOptions } from '../upstream/model-client.js';
import { Engine, type EngineRequest } from './engine.js';
import { FakeModel, type StreamScript } from './testing/fake-model.js';

/** An engine over a model that records the options of every stream call. */
function setup(preset: string, overrides: unknown = undefined, script: (n: number) => StreamScript = () => ({ tokens: 2 })) {
  const clock = new VirtualClock();
  const inner = new FakeModel(clock, (_r, n) => script(n));
  const seen: StreamOptions[] = [];
  const primary: ModelClient = { capabilities: inner.capabilities, stream: (r, o) => (seen.push(o ?? {}), inner.stream(r, o)), embed: (r, o) => inner.embed(r, o) };
  const engine = new Engine({ clock, random: new Random(1), policy: resolvePolicy(preset, overrides), primary });
  return { clock, engine, seen };
}

const chat = (id: string, extra: Partial<EngineRequest> = {}): EngineRequest => ({ id, kind: 'chat', request: { id, model: 'm', prompt: 'hi' }, ...extra });

describe('the engine passes route metadata to its upstream', () => {
  it('passes priority, level, tenant, model hint, batchable, request class and the session as affinity key', async () => {
    const { clock, engine, seen } = setup('resilient');
    const r = await clock.run(
      engine.submit(chat('a', { priority: 'batch', priorityLevel: 3, tenant: 't1', modelHint: 'long', batchable: false, requestClass: 'rag', sessionId: 's-9' })),
    );
    expect(r.outcome).toBe('ok');
    expect(seen[0]?.route).toEqual({ priority: 'batch', priorityLevel: 3, tenantId: 't1', modelHint: 'long', batchable: false, requestClass: 'rag', affinityKey: 's-9' });
    // A deployment's name is no hint to the engine's own primary/fallback router: the primary served it.
    expect(r.model).toBe('primary');
  });

  it("keys affinity on the prompt's first prefix segment when the request has no session", async () => {
    const { clock, engine, seen } = setup('resilient');
    const request = { id: 'b', model: 'm', prompt: 'hi', prefix: [{ id: 'sys:v1', tokens: 100 }, { id: 'conv:1', tokens: 20 }] };
    await clock.run(engine.submit({ id: 'b', kind: 'chat', request }));
    await clock.run(engine.submit(chat('c')));
    expect(seen[0]?.route).toEqual({ priority: 'interactive', affinityKey: 'sys:v1' });
    expect(seen[1]?.route).toEqual({ priority: 'interactive' });
  });

  it('passes a hedge budget only when the policy hedges: the retry budget, or always-grant without one', async () => {
    const off = setup('resilient');
    await off.clock.run(off.engine.submit(chat('a')));
    expect(off.seen[0]?.hedgeBudget).toBeUndefined();

    const withBudget = setup('resilient', { fleet: { hedging: { enabled: true } }, retryBudget: { mode: 'finagle', ratio: 0, minRetriesPerSec: 0.1, ttlMs: 10_000 } });
    await withBudget.clock.run(withBudget.engine.submit(chat('a')));
    const budget = withBudget.seen[0]?.hedgeBudget;
    // A Finagle budget with a reserve of one retry (0.1/s over 10 s) and no deposits: one hedge, then no more.
    expect([budget?.tryAcquire(), budget?.tryAcquire()]).toEqual([true, false]);

    const noBudget = setup('bounded', { fleet: { hedging: { enabled: true } } });
    await noBudget.clock.run(noBudget.engine.submit(chat('a')));
    const always = noBudget.seen[0]?.hedgeBudget;
    expect([always?.tryAcquire(), always?.tryAcquire(), always?.tryAcquire()]).toEqual([true, true, true]);
  });

  it('passes the same metadata on every attempt of a retried request', async () => {
    const { clock, engine, seen } = setup('resilient', undefined, (n) => (n === 0 ? { error: new ServerError(500) } : { tokens: 2 }));
    const r = await clock.run(engine.submit(chat('a', { tenant: 't', sessionId: 's' })));
    expect(r.attempts).toBe(2);
    expect(seen.map((o) => o.route)).toEqual([
      { priority: 'interactive', tenantId: 't', affinityKey: 's' },
      { priority: 'interactive', tenantId: 't', affinityKey: 's' },
    ]);
  });
});
