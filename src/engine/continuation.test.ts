/**
 * What the engine does when a stream breaks after tokens reached the caller, by what the upstream can do
 * (ModelClient.capabilities): continue (resume with the prefix), end explicitly partial, start a buffered
 * request again from scratch, or, for `naive` only, splice and say so.
 */
import { describe, expect, it } from 'vitest';
import { resolvePolicy } from '../policy.js';
import { Random } from '../random.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { StreamInterruptedError } from '../upstream/errors.js';
import { NO_CAPABILITIES, type UpstreamCapabilities } from '../upstream/model-client.js';
import { Engine, type EngineEvent, type EngineRequest, type TokenChunk } from './engine.js';
import { expectedText, FakeModel } from './testing/fake-model.js';

function setup(preset: string, caps: UpstreamCapabilities) {
  const clock = new VirtualClock();
  // The first call of each request breaks after 4 of 10 tokens; later calls complete.
  const primary = new FakeModel(clock, (_r, n) => (n === 0 ? { tokens: 10, failAfter: { afterTokens: 4, error: new StreamInterruptedError(4, 'reset') } } : { tokens: 10 }));
  primary.capabilities = caps;
  const engine = new Engine({ clock, random: new Random(1), policy: resolvePolicy(preset, { retry: { baseMs: 1, maxMs: 2 } }), primary });
  const events: EngineEvent[] = [];
  engine.onEvent((e) => events.push(e));
  return { clock, engine, primary, events };
}

function chat(id: string, chunks: TokenChunk[], extra: Partial<EngineRequest> = {}): EngineRequest {
  return { id, kind: 'chat', request: { id, model: 'm', prompt: 'p' }, onTokens: (c) => chunks.push(c), ...extra };
}

describe('a stream broken after tokens reached the caller', () => {
  it('continuation (vllm): resumes with exactly the text delivered as the prefix', async () => {
    const { clock, engine, primary } = setup('resilient', { continuation: true, reproducible: false });
    const resumeTexts: Array<string | undefined> = [];
    const inner = primary.stream.bind(primary);
    primary.stream = (r, o) => {
      resumeTexts.push(o?.resumeText);
      return inner(r, o);
    };
    const chunks: TokenChunk[] = [];
    const r = await clock.run(engine.submit(chat('a', chunks)));
    expect(r.outcome).toBe('ok');
    expect(r.resumes).toBe(1);
    expect(primary.callsFor('a').map((c) => c.resumeFrom)).toEqual([undefined, 4]);
    expect(resumeTexts).toEqual([undefined, expectedText('a', 4)]);
    expect(r.text).toBe(expectedText('a', 10));
  });

  it('no continuation (openai): ends explicitly partial after one call, with what was delivered', async () => {
    const { clock, engine, primary, events } = setup('resilient', NO_CAPABILITIES);
    const chunks: TokenChunk[] = [];
    const r = await clock.run(engine.submit(chat('a', chunks)));
    expect(r.outcome).toBe('degraded');
    expect(r.degraded).toBe('partial');
    expect(r.text).toBe(expectedText('a', 4));
    expect(primary.callsFor('a')).toHaveLength(1);
    expect(events.some((e) => e.type === 'give-up' && e.reason === 'no-continuation')).toBe(true);
  });

  it('no continuation, buffered caller: starts again from scratch and answers one whole generation', async () => {
    const { clock, engine, primary } = setup('adaptive', NO_CAPABILITIES);
    const chunks: TokenChunk[] = [];
    let restarts = 0;
    const r = await clock.run(engine.submit(chat('a', chunks, { buffered: true, onRestart: () => restarts++ })));
    expect(r.outcome).toBe('ok');
    expect(restarts).toBe(1);
    expect(primary.callsFor('a').map((c) => c.resumeFrom)).toEqual([undefined, undefined]);
    expect(r.text).toBe(expectedText('a', 10));
    expect(r.tokens).toBe(10);
  });

  it('naive on an upstream that neither continues nor reproduces: restarts, splices, and says so', async () => {
    const { clock, engine, primary } = setup('naive', NO_CAPABILITIES);
    const chunks: TokenChunk[] = [];
    const r = await clock.run(engine.submit(chat('a', chunks)));
    expect(primary.callsFor('a')).toHaveLength(2);
    expect(r.outcome).toBe('degraded');
    expect(r.degraded).toBe('spliced');
  });

  it('bounded (resume off) on a reproducible upstream (the mock): restarts and skips what the caller has, ok', async () => {
    const { clock, engine, primary } = setup('bounded', { continuation: true, reproducible: true });
    const chunks: TokenChunk[] = [];
    const r = await clock.run(engine.submit(chat('a', chunks)));
    expect(r.outcome).toBe('ok');
    expect(primary.callsFor('a').map((c) => c.resumeFrom)).toEqual([undefined, undefined]);
    expect(chunks.map((c) => c.text).join('')).toBe(expectedText('a', 10));
  });
});
