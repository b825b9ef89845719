/**
 * Timeline phases due at the very moment a plan is set (`atMs: 0`) fire, of every kind, also on a clock that moves
 * between two reads, as a RealClock does (performance.now() advances while the plan is parsed and compiled). The
 * drifting clock below is a VirtualClock whose every read is a microsecond later than the one before: deterministic,
 * and as unkind as the real one.
 */
import { describe, expect, it } from 'vitest';
import { Random } from '../src/random.js';
import type { Clock, Timer } from '../src/time/clock.js';
import { RealClock } from '../src/time/real-clock.js';
import { VirtualClock } from '../src/time/virtual-clock.js';
import { ConnectionRefusedError, RateLimitedError } from '../src/upstream/errors.js';
import type { FaultPlanInput } from './faults.js';
import { MockModel, type MockModelEvent } from './mock-model.js';
import type { GenerateRequest, GenerationEvent } from './types.js';

/** Virtual time, plus one microsecond more at every read. */
class DriftingClock implements Clock {
  private reads = 0;
  constructor(readonly inner: VirtualClock) {}
  now(): number {
    return this.inner.now() + ++this.reads * 0.001;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return this.inner.sleep(ms, signal);
  }
  setTimer(ms: number, fn: () => void, label?: string): Timer {
    return this.inner.setTimer(ms, fn, label);
  }
}

const crashAt0: FaultPlanInput = { timeline: [{ atMs: 0, durationMs: 0, fault: { crash: { downtimeMs: 200, coldStartMs: 100 } } }] };

function setup(faults?: FaultPlanInput) {
  const virtual = new VirtualClock();
  const clock = new DriftingClock(virtual);
  const model = new MockModel({ name: 'm', profile: 'h100-llama3-8b', clock, random: new Random(5), ...(faults !== undefined ? { faults } : {}) });
  const events: MockModelEvent[] = [];
  model.onEvent((e) => events.push(e));
  const req = (id: string, extra: Partial<GenerateRequest> = {}): GenerateRequest => ({ id, model: 'm', kind: 'completion', prompt: 'x', promptTokens: 100, outputTokens: 20, ...extra });
  const drain = async (id: string, extra: Partial<GenerateRequest> = {}): Promise<GenerationEvent[]> => {
    const g = await model.generate(req(id, extra), new AbortController().signal);
    const out: GenerationEvent[] = [];
    for await (const ev of g.events) out.push(ev);
    return out;
  };
  return { virtual, model, events, drain };
}

describe('timeline phases at atMs 0', () => {
  it('a crash phase at 0 in the start-up plan fires once the instant is over', async () => {
    const { virtual, model, events } = setup(crashAt0);
    await virtual.advanceBy(0);
    expect(events.filter((e) => e.type === 'crash')).toEqual([{ type: 'crash', downtimeMs: 200, coldStartMs: 100 }]);
    expect(model.health()).toEqual({ ready: false, state: 'crashed' });
    expect(model.metrics().faultCounts['crash']).toBe(1);
  });

  it('a crash phase at 0 set at run time kills the streams in flight', async () => {
    const { virtual, model, events, drain } = setup();
    const victim = drain('v', { outputTokens: 5000 });
    await virtual.advanceBy(100);
    model.setFaults(crashAt0);
    await virtual.advanceBy(0);
    expect(events.some((e) => e.type === 'crash')).toBe(true);
    expect((await victim).at(-1)).toMatchObject({ type: 'disconnect', form: 'reset' });
    await expect(drain('after')).rejects.toBeInstanceOf(ConnectionRefusedError);
    await virtual.advanceBy(300);
    expect(model.health().ready).toBe(true);
  });

  it('a disconnect phase at 0 hits the streams already open', async () => {
    const { virtual, model, drain } = setup();
    const open = [drain('a', { outputTokens: 2000 }), drain('b', { outputTokens: 2000 })];
    await virtual.advanceBy(100);
    model.setFaults({ timeline: [{ atMs: 0, durationMs: 60_000, fault: { disconnect: { probability: 1, afterTokens: 2, forms: ['clean-close'] } } }] });
    const out = await virtual.run(Promise.all(open));
    for (const events of out) expect(events.at(-1)).toMatchObject({ type: 'disconnect', form: 'clean-close' });
    expect(model.metrics().faultCounts['disconnect']).toBe(2);
  });

  it('a stall phase at 0 freezes the streams already open', async () => {
    const { virtual, model, drain } = setup();
    const open = drain('s', { outputTokens: 100 });
    await virtual.advanceBy(10);
    const t0 = virtual.now();
    model.setFaults({ timeline: [{ atMs: 0, durationMs: 1000, fault: { stall: { probability: 1, afterTokens: 0, forMs: 3000 } } }] });
    expect((await virtual.run(open)).at(-1)?.type).toBe('done');
    // Unstalled, 100 tokens take well under a second; stalled, the tokens held back come out when the 3 s end.
    expect(virtual.now() - t0).toBeGreaterThanOrEqual(3000);
    expect(model.metrics().faultCounts['stall']).toBe(1);
  });

  it('request-time phases at 0 (a status, a brownout) are in force from the first instant', async () => {
    const { virtual, model, drain } = setup({ timeline: [{ atMs: 0, durationMs: 1000, fault: { rateLimited: { probability: 1, retryAfterMs: 50 } } }] });
    await expect(drain('r')).rejects.toBeInstanceOf(RateLimitedError);
    const t0 = virtual.now();
    model.setFaults({});
    await virtual.run(drain('normal'));
    const normalMs = virtual.now() - t0;
    model.setFaults({ timeline: [{ atMs: 0, durationMs: 60_000, fault: { brownoutMultiplier: 4 } }] });
    const t1 = virtual.now();
    await virtual.run(drain('slow'));
    // Every read of the drifting clock adds a microsecond, so compare the ratio, not the exact ms.
    expect((virtual.now() - t1) / normalMs).toBeCloseTo(4, 2);
  });

  it('on a RealClock, a crash phase at 0 fires within the next turn of the event loop', async () => {
    const model = new MockModel({ name: 'm', profile: 'h100-llama3-8b', clock: new RealClock(), random: new Random(5) });
    const crashes: MockModelEvent[] = [];
    model.onEvent((e) => e.type === 'crash' && crashes.push(e));
    try {
      model.setFaults(crashAt0);
      // The phase is due now: RealClock runs a 0 ms timer with setImmediate, so one turn is enough, not a sleep.
      await new Promise<void>((resolve) => setImmediate(resolve));
      expect(crashes).toEqual([{ type: 'crash', downtimeMs: 200, coldStartMs: 100 }]);
    } finally {
      model.close();
    }
  });
});
