/**
 * The breaker opens on failure, not on load: a slow but healthy upstream (time to first token growing with its
 * queue until some calls pass the idle timeout) leaves it closed; a 5xx storm or a hung upstream opens it.
 * And with nothing to fall back to, an open breaker makes requests wait for it instead of failing them.
 */
import { describe, expect, it } from 'vitest';
import { resolvePolicy } from '../policy.js';
import { Random } from '../random.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { ServerError } from '../upstream/errors.js';
import { timeoutError } from '../upstream/http-errors.js';
import type { ModelRequest } from '../upstream/model-client.js';
import { Engine, type EngineEvent, type EngineRequest } from './engine.js';
import { FakeModel, type StreamScript } from './testing/fake-model.js';

// Consecutive rule with a low threshold, so that a single counted failure streak would show at once.
const POLICY = { breaker: { rule: 'consecutive', consecutiveFailures: 3 }, retry: { maxAttempts: 1 }, idleTimeout: { idleMs: 10_000 } };

/** `script` gets the upstream call's global index (0, 1, 2, ...), not the per-request attempt. */
function setup(script: (r: ModelRequest, n: number) => StreamScript, overrides: object = POLICY) {
  const clock = new VirtualClock();
  let calls = 0;
  const primary = new FakeModel(clock, (r) => script(r, calls++));
  const engine = new Engine({ clock, random: new Random(7), policy: resolvePolicy('resilient', overrides), primary });
  const transitions: string[] = [];
  engine.onEvent((e: EngineEvent) => {
    if (e.type === 'breaker-state') transitions.push(`${e.from}->${e.to}`);
  });
  return { clock, engine, primary, transitions };
}

const chat = (id: string, extra: Partial<EngineRequest> = {}): EngineRequest => ({
  id,
  kind: 'chat',
  request: { id, model: 'm', prompt: 'hello', maxTokens: 3 },
  ...extra,
});

describe('breaker: overload is not failure', () => {
  it('stays closed through a pure overload: slow first tokens, then first-token timeouts of a busy upstream', async () => {
    // The upstream is healthy but queueing: each call waits longer for its first token (3 s, 3.5 s, ...), and
    // from the 14th on past the 10 s idle timeout.
    const { clock, engine, transitions } = setup((_r, n) => ({ tokens: 3, ttftMs: 3000 + 500 * n }));
    const results = [];
    for (let i = 0; i < 30; i++) results.push(await clock.run(engine.submit(chat(`r${i}`))));
    const outcomes = results.map((r) => r.outcome);
    expect(outcomes.filter((o) => o === 'ok').length).toBe(14);
    expect(results.filter((r) => r.error?.code === 'IDLE_TIMEOUT').length).toBe(16);
    expect(transitions).toEqual([]);
    expect(engine.snapshot().breaker).toBe('closed');
  });

  it('opens on a 5xx storm', async () => {
    const { clock, engine, transitions } = setup((_r, n) => (n < 5 ? { tokens: 3, ttftMs: 3000 } : { error: new ServerError(500), ttftMs: 5 }));
    for (let i = 0; i < 8; i++) await clock.run(engine.submit(chat(`r${i}`)));
    expect(transitions[0]).toBe('closed->open');
  });

  it('opens on a hung upstream that was fast a moment ago (first-token timeouts that load does not explain)', async () => {
    const { clock, engine, transitions } = setup((_r, n) => (n < 5 ? { tokens: 3, ttftMs: 20 } : { hang: true }));
    for (let i = 0; i < 8; i++) await clock.run(engine.submit(chat(`r${i}`)));
    expect(transitions[0]).toBe('closed->open');
  });
});

describe("breaker: the HTTP library's own timeouts are judged like the engine's", () => {
  // What HttpModelClient throws for undici's headers timeout (a caller's dispatcher that keeps it): IdleTimeoutError.
  const headersTimeout = (): Error => timeoutError(Object.assign(new Error('Headers Timeout Error'), { code: 'UND_ERR_HEADERS_TIMEOUT' }), 9000, 0) as Error;

  function verdicts(engine: Engine): string[] {
    const seen: string[] = [];
    engine.onEvent((e: EngineEvent) => {
      if (e.type === 'attempt-failed') seen.push(`${e.code}:${e.breaker ?? 'none'}`);
    });
    return seen;
  }

  it('an undici headers timeout while the upstream is busy (slow first tokens) is load: the breaker stays closed', async () => {
    // Healthy but queueing: first tokens at 3 s (a quarter of the 10 s idle timeout or more), then the library times
    // out waiting for headers at 9 s.
    const { clock, engine, transitions } = setup((_r, n) => (n < 5 ? { tokens: 3, ttftMs: 3000 } : { error: headersTimeout(), ttftMs: 9000 }));
    const seen = verdicts(engine);
    for (let i = 0; i < 10; i++) await clock.run(engine.submit(chat(`r${i}`)));
    expect(seen).toEqual(Array.from({ length: 5 }, () => 'IDLE_TIMEOUT:load'));
    expect(transitions).toEqual([]);
  });

  it('the same timeouts from an upstream that was fast a moment ago are a hang: the breaker opens', async () => {
    const { clock, engine, transitions } = setup((_r, n) => (n < 5 ? { tokens: 3, ttftMs: 20 } : { error: headersTimeout(), ttftMs: 9000 }));
    const seen = verdicts(engine);
    for (let i = 0; i < 8; i++) await clock.run(engine.submit(chat(`r${i}`)));
    expect(seen.slice(0, 3)).toEqual(['IDLE_TIMEOUT:failure', 'IDLE_TIMEOUT:failure', 'IDLE_TIMEOUT:failure']);
    expect(transitions[0]).toBe('closed->open');
  });

  it('a 5xx storm from the same busy upstream opens it: load explains slowness, not errors', async () => {
    const { clock, engine, transitions } = setup((_r, n) => (n < 5 ? { tokens: 3, ttftMs: 3000 } : { error: new ServerError(500), ttftMs: 5 }));
    const seen = verdicts(engine);
    for (let i = 0; i < 8; i++) await clock.run(engine.submit(chat(`r${i}`)));
    expect(seen.slice(0, 3)).toEqual(['SERVER_ERROR:failure', 'SERVER_ERROR:failure', 'SERVER_ERROR:failure']);
    expect(transitions[0]).toBe('closed->open');
  });
});

describe('breaker: waiting instead of failing when there is no fallback', () => {
  const overrides = { breaker: { rule: 'consecutive', consecutiveFailures: 2, openMs: 1000, halfOpenProbes: 1, slowStartMs: 0 }, retry: { maxAttempts: 1 } };

  it('a request refused by the open breaker waits for its probe and is served when the primary is back', async () => {
    let down = true;
    const { clock, engine, primary } = setup(() => (down ? { error: new ServerError(500), ttftMs: 5 } : { tokens: 3 }), overrides);
    await clock.run(Promise.all([engine.submit(chat('a')), engine.submit(chat('b'))]));
    expect(engine.snapshot().breaker).toBe('open');
    const waiting = engine.submit(chat('w'));
    await clock.advanceBy(500);
    down = false;
    const r = await clock.run(waiting);
    expect(r).toMatchObject({ outcome: 'ok', model: 'primary', attempts: 1 });
    // It waited about the rest of openMs (plus at most a 250 ms spread) as backoff, not as attempts.
    expect(r.backoffMs).toBeGreaterThanOrEqual(1000);
    expect(r.backoffMs).toBeLessThanOrEqual(1250);
    expect(primary.calls).toHaveLength(3);
  });

  it('a request whose deadline ends before the breaker would let it through fails at once with BREAKER_OPEN', async () => {
    const { clock, engine } = setup(() => ({ error: new ServerError(500), ttftMs: 5 }), overrides);
    await clock.run(Promise.all([engine.submit(chat('a')), engine.submit(chat('b'))]));
    const r = await clock.run(engine.submit(chat('late', { deadlineMs: 300 })));
    expect(r).toMatchObject({ outcome: 'failed', error: { code: 'BREAKER_OPEN' }, upstreamCalls: 0 });
    expect(r.endAtMs - 10).toBeLessThan(1);
  });
});
