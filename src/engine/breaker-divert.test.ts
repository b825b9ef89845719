/**
 * A retry the open breaker sends to the fallback is not a retry against the failing primary: it spends no retry
 * budget and does not back off (both exist to protect the upstream that failed). Live burst-1000's crash showed why:
 * the requests queued behind the engine's limit got their slots as the crash cut the streams in flight, met a refused
 * connection before the breaker had tripped, and by the time they retried the budget was empty, so they failed
 * `connection_refused` although the fallback was open to them (95 of them in one run).
 */
import { describe, expect, it } from 'vitest';
import { resolvePolicy } from '../policy.js';
import { Random } from '../random.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { ConnectionRefusedError, ServerError } from '../upstream/errors.js';
import { Engine, type EngineEvent, type EngineRequest } from './engine.js';
import { FakeModel, type StreamScript } from './testing/fake-model.js';

const chat = (id: string): EngineRequest => ({ id, kind: 'chat', request: { id, model: 'm', prompt: 'hi', maxTokens: 3 } });

// No retry budget at all (no deposits, no reserve): any retry that must spend it is refused.
const NO_BUDGET = { retryBudget: { ratio: 0, minRetriesPerSec: 0 }, retry: { maxAttempts: 4, baseMs: 500, maxMs: 500 } };
const BREAKER = { rule: 'consecutive', consecutiveFailures: 2, openMs: 1000, halfOpenProbes: 1, slowStartMs: 0 } as const;

function setup(primaryScript: () => StreamScript, fallbackScript: () => StreamScript = () => ({ tokens: 3 })) {
  const clock = new VirtualClock();
  const primary = new FakeModel(clock, primaryScript);
  const fallback = new FakeModel(clock, fallbackScript);
  const engine = new Engine({ clock, random: new Random(3), policy: resolvePolicy('resilient', { ...NO_BUDGET, breaker: BREAKER }), primary, fallback });
  const retries: string[] = [];
  engine.onEvent((e: EngineEvent) => {
    if (e.type === 'retry') retries.push(`${e.id}:${e.cause}:${e.delayMs}`);
  });
  return { clock, engine, primary, fallback, retries };
}

describe('retries the open breaker diverts to the fallback', () => {
  it('a refused connection met while the breaker was closed, retried after it opened: served by the fallback at once, no budget', async () => {
    const { clock, engine, fallback, retries } = setup(() => ({ error: new ConnectionRefusedError(), ttftMs: 1 }));
    // Three requests hit the dead primary at once; the second failure trips the breaker, so from then on the
    // retries are diverted (b's own included). The first failed while it was still closed: its retry would go to
    // the primary and needs the (empty) budget.
    const results = await clock.run(Promise.all([engine.submit(chat('a')), engine.submit(chat('b')), engine.submit(chat('c'))]));
    expect(engine.snapshot().breaker).toBe('open');
    const byId = Object.fromEntries(results.map((r) => [r.id, r]));
    expect(byId['a']).toMatchObject({ outcome: 'failed', error: { code: 'CONNECTION_REFUSED' }, attempts: 1 });
    for (const id of ['b', 'c']) {
      expect(byId[id]).toMatchObject({ outcome: 'degraded', degraded: 'fallback', model: 'fallback', attempts: 2, backoffMs: 0 });
      expect(retries).toContain(`${id}:fallback:0`);
    }
    expect(fallback.calls.map((c) => c.request.id).sort()).toEqual(['b', 'c']);
  });

  it('with the breaker closed the same retry is a retry against the primary: the budget refuses it', async () => {
    const { clock, engine, fallback } = setup(() => ({ error: new ConnectionRefusedError(), ttftMs: 1 }));
    const r = await clock.run(engine.submit(chat('alone')));
    expect(engine.snapshot().breaker).toBe('closed');
    expect(r).toMatchObject({ outcome: 'failed', error: { code: 'CONNECTION_REFUSED' }, attempts: 1 });
    expect(fallback.calls).toHaveLength(0);
  });

  it('a failure of the fallback itself is retried against it only as the budget allows (no free retry storm)', async () => {
    const { clock, engine, fallback } = setup(
      () => ({ error: new ServerError(500), ttftMs: 1 }),
      () => ({ error: new ServerError(502), ttftMs: 1 }),
    );
    const results = await clock.run(Promise.all(['a', 'b', 'c', 'd'].map((id) => engine.submit(chat(id)))));
    // b (whose failure tripped the breaker), c and d: one free diverted attempt on the fallback each, then no budget
    // for another, though the breaker is still open.
    expect(results.filter((r) => r.model === 'fallback').map((r) => [r.outcome, r.attempts])).toEqual([['failed', 2], ['failed', 2], ['failed', 2]]);
    expect(fallback.calls).toHaveLength(3);
  });
});
