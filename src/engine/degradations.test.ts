import { describe, expect, it } from 'vitest';
import { reasonOf } from './reasons.js';
import { resolvePolicy } from '../policy.js';
import { Random } from '../random.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { ContextLengthExceededError } from '../upstream/errors.js';
import type { ModelRequest } from '../upstream/model-client.js';
import { Engine, type EngineEvent, type EngineRequest } from './engine.js';
import { FakeModel, type StreamScript } from './testing/fake-model.js';

/** A model with a context window: a longer prompt + output is refused as the server would. */
function windowed(windowTokens: number, tokens = 2) {
  return (r: ModelRequest): StreamScript => {
    const need = (r.promptTokens ?? 0) + (r.maxTokens ?? 0);
    return need > windowTokens ? { error: new ContextLengthExceededError(need, windowTokens) } : { tokens };
  };
}

function setup(preset: string, overrides: unknown, primaryScript: (r: ModelRequest) => StreamScript, fallbackScript: (r: ModelRequest) => StreamScript, contextTokens?: { primary?: number; fallback?: number }) {
  const clock = new VirtualClock();
  const primary = new FakeModel(clock, primaryScript);
  const fallback = new FakeModel(clock, fallbackScript);
  const engine = new Engine({ clock, random: new Random(1), policy: resolvePolicy(preset, overrides), primary, fallback, ...(contextTokens ? { contextTokens } : {}) });
  const events: EngineEvent[] = [];
  engine.onEvent((e) => events.push(e));
  return { clock, primary, fallback, engine, events };
}

function sized(id: string, promptTokens: number, maxTokens: number): EngineRequest {
  const messages = [
    { role: 'system' as const, content: 'S'.repeat(40) },
    { role: 'user' as const, content: 'old'.repeat(40) },
    { role: 'user' as const, content: 'new'.repeat(40) },
  ];
  return { id, kind: 'chat', request: { id, model: 'm', messages, promptTokens, maxTokens } };
}

describe('Engine: degraded smaller-model', () => {
  it('sends a request whose token budget exceeds the threshold to the smaller (fallback) model', async () => {
    const { clock, engine, primary, fallback } = setup('resilient', { smallerModel: { aboveTokens: 1000 } }, () => ({ tokens: 2 }), () => ({ tokens: 3 }));
    const big = await clock.run(engine.submit(sized('big', 900, 200)));
    const small = await clock.run(engine.submit(sized('small', 800, 200)));
    expect(big).toMatchObject({ outcome: 'degraded', degraded: 'smaller-model', model: 'fallback', tokens: 3 });
    expect(reasonOf(big)).toBe('smaller_model');
    expect(small).toMatchObject({ outcome: 'ok', model: 'primary' });
    expect(fallback.calls.map((c) => c.id)).toEqual(['big']);
    expect(primary.calls.map((c) => c.id)).toEqual(['small']);
    expect(engine.snapshot().counters.smallerModel).toBe(1);
  });

  it('is off without a threshold, and does nothing without a fallback model', async () => {
    const { clock, engine } = setup('resilient', {}, () => ({ tokens: 2 }), () => ({ tokens: 3 }));
    expect(await clock.run(engine.submit(sized('big', 9000, 2000)))).toMatchObject({ outcome: 'ok', model: 'primary' });
    const clock2 = new VirtualClock();
    const only = new Engine({ clock: clock2, random: new Random(1), policy: resolvePolicy('resilient', { smallerModel: { aboveTokens: 10 } }), primary: new FakeModel(clock2, () => ({ tokens: 2 })) });
    expect(await clock2.run(only.submit(sized('big', 900, 200)))).toMatchObject({ outcome: 'ok', model: 'primary' });
  });
});

describe('Engine: context-window fallback', () => {
  it('sends a prompt too long for the primary to the larger-context fallback before trimming: nothing is trimmed', async () => {
    const { clock, engine, primary, fallback, events } = setup('resilient', {}, windowed(1000), windowed(4000, 3), { primary: 1000, fallback: 4000 });
    const r = await clock.run(engine.submit(sized('long', 1500, 100)));
    expect(r).toMatchObject({ outcome: 'degraded', degraded: 'context-fallback', model: 'fallback', tokens: 3, attempts: 2 });
    expect(reasonOf(r)).toBe('context_fallback');
    expect((fallback.calls[0]?.request as ModelRequest).promptTokens).toBe(1500);
    expect(primary.calls).toHaveLength(1);
    expect(events.find((e) => e.type === 'retry')).toMatchObject({ cause: 'context-fallback', code: 'CONTEXT_LENGTH_EXCEEDED' });
    expect(engine.snapshot().counters).toMatchObject({ contextFallbacks: 1, contextTrims: 0 });
  });

  it('trims on the fallback when even its window is too small', async () => {
    const { clock, engine, fallback } = setup('resilient', {}, windowed(1000), windowed(2000, 3), { primary: 1000, fallback: 2000 });
    const r = await clock.run(engine.submit(sized('huge', 2500, 100)));
    expect(r).toMatchObject({ outcome: 'degraded', degraded: 'context-trimmed', model: 'fallback' });
    expect(fallback.calls).toHaveLength(2);
    expect((fallback.calls[1]?.request as ModelRequest).promptTokens).toBeLessThanOrEqual(1900);
  });

  it('trims on the primary when the fallback window is not larger', async () => {
    const { clock, engine, fallback } = setup('resilient', {}, windowed(1000), windowed(1000), { primary: 1000, fallback: 1000 });
    const r = await clock.run(engine.submit(sized('long', 1500, 100)));
    expect(r).toMatchObject({ outcome: 'degraded', degraded: 'context-trimmed', model: 'primary' });
    expect(fallback.calls).toHaveLength(0);
  });

  it('is off in bounded (and naive): the refusal stands', async () => {
    const { clock, engine, fallback } = setup('bounded', {}, windowed(1000), windowed(4000));
    const r = await clock.run(engine.submit(sized('long', 1500, 100)));
    expect(r).toMatchObject({ outcome: 'failed', error: { code: 'CONTEXT_LENGTH_EXCEEDED' } });
    expect(fallback.calls).toHaveLength(0);
  });
});
