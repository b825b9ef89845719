import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EngineResult } from '../../src/engine/engine-types.js';
import { ValidationError } from '../../src/errors.js';
import { resolvePolicy } from '../../src/policy.js';
import { Random } from '../../src/random.js';
import { VirtualClock } from '../../src/time/virtual-clock.js';
import { asPushable, type ModelClient, type StreamEvent } from '../../src/upstream/model-client.js';
import { loadScenario } from './scenarios.js';
import {
  DelayLine,
  isZeroTransport,
  parseTransport,
  transportFromHopCosts,
  transportedModelClient,
  transportedSubmit,
  type Submit,
  type Transport,
  type TransportHop,
} from './transport.js';
import { runPolicyVirtual } from './virtual.js';
import { buildWorld } from './world.js';

/** A far side that yields one token after each gap, then `done` (or throws `fail`); it records what it saw. */
function farSide(clock: VirtualClock, gapsMs: readonly number[], fail?: Error) {
  const seen = { startedAtMs: -1, abortedWith: undefined as unknown, finished: false };
  const client: ModelClient = {
    async *stream(_request, options) {
      seen.startedAtMs = clock.now();
      try {
        let i = 0;
        for (const gap of gapsMs) {
          await clock.sleep(gap, options?.signal);
          yield { type: 'tokens', index: i, count: 1, text: `t${i}` };
          i++;
        }
        if (fail !== undefined) throw fail;
        yield { type: 'done', usage: { promptTokens: 1, completionTokens: i }, finishReason: 'stop' };
        seen.finished = true;
      } finally {
        if (options?.signal?.aborted === true) seen.abortedWith = options.signal.reason;
      }
    },
    embed: async () => {
      await clock.sleep(5);
      return { items: [], usage: { promptTokens: 3 } };
    },
  };
  return { client, seen };
}

/** Reads a stream, noting when each event arrived; the error, if any, with its time. */
async function read(clock: VirtualClock, stream: AsyncIterable<StreamEvent>, stopAfter = Number.POSITIVE_INFINITY) {
  const got: Array<{ atMs: number; event: StreamEvent }> = [];
  let error: { atMs: number; error: unknown } | undefined;
  try {
    for await (const event of stream) {
      got.push({ atMs: clock.now(), event });
      if (got.length >= stopAfter) break;
    }
  } catch (e) {
    error = { atMs: clock.now(), error: e };
  }
  return { got, error };
}

const request = { id: 'r1', model: 'primary' };
const hopOf = (hop: TransportHop, clock: VirtualClock) => ({ clock, hop, random: new Random(1).derive('t') });

describe('DelayLine', () => {
  it('delivers each item after exactly its delay, and never before an earlier one', async () => {
    const clock = new VirtualClock();
    const delays = [5, 1, 1, 20, 0];
    const out: Array<[string, number]> = [];
    const line = new DelayLine<string>(clock, () => delays.shift() ?? 0, (x) => out.push([x, clock.now()]));
    line.push('a'); // due 5
    line.push('b'); // own delay 1, but behind a: 5
    await clock.advanceBy(2);
    line.push('c'); // 2 + 1 = 3, behind b: 5
    line.push('d'); // 22
    await clock.advanceBy(10);
    line.push('e'); // 12 + 0, behind d: 22
    await clock.runUntilIdle();
    expect(out).toEqual([['a', 5], ['b', 5], ['c', 5], ['d', 22], ['e', 22]]);
  });

  it('keeps order and delivers at max(previous, push + delay) for any delays (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.double({ min: 0, max: 30, noNaN: true })), { minLength: 1, maxLength: 40 }), async (steps) => {
        const clock = new VirtualClock();
        const out: Array<{ i: number; atMs: number }> = [];
        const pending = steps.map((s) => s[1]);
        const line = new DelayLine<number>(clock, () => pending.shift() as number, (i) => out.push({ i, atMs: clock.now() }));
        const expected: number[] = [];
        let last = Number.NEGATIVE_INFINITY;
        for (const [i, [gap, delay]] of steps.entries()) {
          await clock.advanceBy(gap);
          last = Math.max(last, clock.now() + delay);
          expected.push(last);
          line.push(i);
        }
        await clock.runUntilIdle();
        expect(out.map((x) => x.i)).toEqual(steps.map((_, i) => i));
        out.forEach((x, k) => expect(x.atMs).toBeCloseTo(expected[k] as number, 9));
      }),
      { numRuns: 100 },
    );
  });

  it('flush delivers what is on its way now; close drops it and ignores later pushes', async () => {
    const clock = new VirtualClock();
    const out: string[] = [];
    const line = new DelayLine<string>(clock, () => 10, (x) => out.push(`${x}@${clock.now()}`));
    line.push('a');
    line.push('b');
    await clock.advanceBy(3);
    line.flush();
    expect(out).toEqual(['a@3', 'b@3']);
    line.push('c');
    expect(line.pending).toBe(1);
    line.close();
    line.push('d');
    await clock.runUntilIdle();
    expect(out).toEqual(['a@3', 'b@3']);
    expect(clock.pendingTimers).toBe(0);
  });
});

/** `read` through the stream's push path (`pushTo`), with the same record of what arrived when. */
async function readPushed(clock: VirtualClock, stream: AsyncIterable<StreamEvent>, stopAfter = Number.POSITIVE_INFINITY) {
  const pushable = asPushable(stream);
  if (pushable === undefined) throw new Error('expected a pushable stream');
  const got: Array<{ atMs: number; event: StreamEvent }> = [];
  let error: { atMs: number; error: unknown } | undefined;
  await new Promise<void>((resolve) => {
    const ref: { call?: { cancel(): void } } = {};
    let stopped = false;
    const stop = (): void => {
      stopped = true;
      ref.call?.cancel();
      resolve();
    };
    const arrived = (event: StreamEvent): void => {
      got.push({ atMs: clock.now(), event });
      if (event.type === 'done' || got.length >= stopAfter) stop();
    };
    ref.call = pushable.pushTo({
      tokens: (index, count, text) => arrived({ type: 'tokens', index, count, text }),
      event: arrived,
      fail: (e) => {
        error = { atMs: clock.now(), error: e };
        stop();
      },
      ended: stop,
    });
    if (stopped) ref.call.cancel();
  });
  return { got, error };
}

describe('transportedModelClient (engine→model hop)', () => {
  it('is the client itself when the hop delays nothing', () => {
    const clock = new VirtualClock();
    const { client } = farSide(clock, [1]);
    expect(transportedModelClient(client, hopOf({}, clock))).toBe(client);
    expect(transportedModelClient(client, hopOf({ requestMs: 0, responseMs: { kind: 'constant', value: 0 } }, clock))).toBe(client);
  });

  for (const [mode, readStream] of [['iterated', read], ['pushed', readPushed]] as const) {
    describe(mode, () => {
    it('delays the request once and every event by exactly the response delay, in order', async () => {
      const clock = new VirtualClock();
      const plain = farSide(clock, [10, 7, 7]);
      const base = await clock.run(read(clock, plain.client.stream(request)));
      const clock2 = new VirtualClock();
      const far = farSide(clock2, [10, 7, 7]);
      const t = transportedModelClient(far.client, hopOf({ requestMs: 1.5, responseMs: 0.75 }, clock2));
      const got = await clock2.run(readStream(clock2, t.stream(request)));
      expect(far.seen.startedAtMs).toBe(1.5);
      expect(got.error).toBeUndefined();
      expect(got.got.map((x) => x.event)).toEqual(base.got.map((x) => x.event));
      expect(got.got.map((x) => x.atMs)).toEqual(base.got.map((x) => x.atMs + 1.5 + 0.75));
      expect(got.got.map((x) => x.atMs)).toEqual([12.25, 19.25, 26.25, 26.25]);
    });

    it('keeps chunk order when seeded per-event delays would reorder them, and is repeatable', async () => {
      const run = async (seed: number) => {
        const clock = new VirtualClock();
        const far = farSide(clock, Array.from({ length: 50 }, () => 0.5));
        const t = transportedModelClient(far.client, { clock, hop: { responseMs: { kind: 'uniform', min: 0, max: 20 } }, random: new Random(seed) });
        return clock.run(readStream(clock, t.stream(request)));
      };
      const a = await run(3);
      const indexes = a.got.flatMap((x) => (x.event.type === 'tokens' ? [x.event.index] : []));
      expect(indexes).toEqual(Array.from({ length: 50 }, (_, i) => i));
      expect(a.got.at(-1)?.event.type).toBe('done');
      const times = a.got.map((x) => x.atMs);
      expect(times).toEqual([...times].sort((x, y) => x - y));
      // Each arrival is no earlier than production + 0 and the draws vary.
      expect(new Set(times.map((x, i) => x - 0.5 * Math.min(i + 1, 50))).size).toBeGreaterThan(5);
      expect((await run(3)).got.map((x) => x.atMs)).toEqual(times);
      expect((await run(4)).got.map((x) => x.atMs)).not.toEqual(times);
    });

    it('brings a far-side error back after the events before it, with the response delay', async () => {
      const clock = new VirtualClock();
      const boom = new Error('stream cut');
      const far = farSide(clock, [4, 4], boom);
      const t = transportedModelClient(far.client, hopOf({ requestMs: 1, responseMs: 2 }, clock));
      const r = await clock.run(readStream(clock, t.stream(request)));
      expect(r.got.map((x) => x.atMs)).toEqual([7, 11]);
      expect(r.error).toEqual({ atMs: 11, error: boom });
    });

    it('an abort on the way there rejects at once and never reaches the far side', async () => {
      const clock = new VirtualClock();
      const far = farSide(clock, [4]);
      const t = transportedModelClient(far.client, hopOf({ requestMs: 10 }, clock));
      const ctl = new AbortController();
      clock.setTimer(3, () => ctl.abort(new Error('caller gave up')));
      const r = await clock.run(readStream(clock, t.stream(request, { signal: ctl.signal })));
      expect(r.error?.atMs).toBe(3);
      expect((r.error?.error as Error).message).toBe('caller gave up');
      expect(far.seen.startedAtMs).toBe(-1);
    });

    it('an abort mid-stream rejects at once, before delayed events arrive, and cancels the far side', async () => {
      const clock = new VirtualClock();
      const far = farSide(clock, [2, 2, 50]);
      const t = transportedModelClient(far.client, hopOf({ responseMs: 5 }, clock));
      const ctl = new AbortController();
      clock.setTimer(8, () => ctl.abort(new Error('deadline')));
      const r = await clock.run(readStream(clock, t.stream(request, { signal: ctl.signal })));
      expect(r.got.map((x) => x.atMs)).toEqual([7]); // t0 produced at 2 arrives at 7; t1 (4 → 9) is still on its way
      expect(r.error?.atMs).toBe(8);
      expect((far.seen.abortedWith as Error).message).toBe('deadline');
      await clock.runUntilIdle();
      expect(clock.pendingTimers).toBe(0);
    });

    it('leaving the loop early cancels the far side, as closing the connection does', async () => {
      const clock = new VirtualClock();
      const far = farSide(clock, [1, 10, 10, 10]);
      const t = transportedModelClient(far.client, hopOf({ responseMs: 3 }, clock));
      const r = await clock.run(readStream(clock, t.stream(request), 1));
      expect(r.got).toHaveLength(1);
      await clock.runUntilIdle();
      expect(far.seen.finished).toBe(false);
      expect((far.seen.abortedWith as Error).message).toBe('stream consumer stopped');
    });
    });
  }

  it('delays an embeddings call both ways', async () => {
    const clock = new VirtualClock();
    const far = farSide(clock, []);
    const t = transportedModelClient(far.client, hopOf({ requestMs: 2, responseMs: 3 }, clock));
    await clock.run(t.embed({ id: 'e', model: 'primary', inputs: ['x'] }));
    expect(clock.now()).toBe(2 + 5 + 3);
  });
});

describe('transportedSubmit (client→engine hop)', () => {
  /** An engine stand-in: chunks at 3 and 6 ms after it gets the request, the end at 9. */
  const engineLike = (clock: VirtualClock, got: { atMs?: number; signal?: AbortSignal }): Submit => async (req, signal) => {
    got.atMs = clock.now();
    if (signal !== undefined) got.signal = signal;
    const t0 = clock.now();
    for (const [i, at] of [3, 6].entries()) {
      await clock.sleep(t0 + at - clock.now());
      req.onTokens?.({ index: i, count: 1, text: 'x', atMs: clock.now() });
    }
    await clock.sleep(3);
    return { id: req.id, outcome: 'ok', text: 'xx', tokens: 2, model: 'primary', attempts: 1, upstreamCalls: 1, resumes: 0, queuedMs: 0, backoffMs: 0, firstTokenAtMs: t0 + 3, endAtMs: clock.now() } satisfies EngineResult;
  };

  it('the engine gets the request late; chunks, first token and end count when they reach the driver', async () => {
    const clock = new VirtualClock();
    const seen: { atMs?: number } = {};
    const submit = transportedSubmit(engineLike(clock, seen), hopOf({ requestMs: 1.25, responseMs: 0.5 }, clock));
    const chunks: number[] = [];
    const r = await clock.run(submit({ id: 'a', kind: 'chat', onTokens: (c) => chunks.push(c.atMs) }));
    expect(seen.atMs).toBe(1.25);
    expect(chunks).toEqual([4.75, 7.75]);
    expect(r.firstTokenAtMs).toBe(4.75);
    expect(r.endAtMs).toBe(10.75);
    expect(clock.now()).toBe(10.75); // the caller (a session) goes on only once the answer arrived
  });

  it('an abort delivers what is on its way at once and still reaches the engine', async () => {
    const clock = new VirtualClock();
    const seen: { signal?: AbortSignal } = {};
    const submit = transportedSubmit(engineLike(clock, seen), hopOf({ responseMs: 100 }, clock));
    const ctl = new AbortController();
    clock.setTimer(50, () => ctl.abort(new Error('stop')));
    const chunks: number[] = [];
    const r = await clock.run(submit({ id: 'a', kind: 'chat', onTokens: (c) => chunks.push(c.atMs) }, ctl.signal));
    expect(seen.signal).toBe(ctl.signal);
    expect(chunks).toEqual([50, 50]);
    expect(r.endAtMs).toBe(50);
  });

  it('is submit itself when the hop delays nothing', () => {
    const clock = new VirtualClock();
    const s = engineLike(clock, {});
    expect(transportedSubmit(s, hopOf({ requestMs: 0 }, clock))).toBe(s);
  });
});

describe('parseTransport', () => {
  it('accepts constants and distributions, and names the bad field otherwise', () => {
    const t = { engineToModel: { requestMs: 0.6, responseMs: { kind: 'lognormal', median: 0.5, sigma: 0.3 } }, clientToEngine: { requestMs: 1 } };
    expect(parseTransport(t)).toEqual(t);
    const msg = (v: unknown): string => {
      try {
        parseTransport(v);
      } catch (e) {
        expect(e).toBeInstanceOf(ValidationError);
        return (e as Error).message;
      }
      throw new Error('accepted');
    };
    expect(msg({ engineToModel: { requestMs: -1 } })).toBe('transport.engineToModel.requestMs: expected a number of ms >= 0, got -1');
    expect(msg({ clientToEngine: { responseMs: 'fast' } })).toBe('transport.clientToEngine.responseMs: expected a number of ms >= 0 or a distribution spec, got "fast"');
    expect(msg({ engineToModel: { responseMs: { kind: 'lognormal', median: -1, sigma: 1 } } })).toMatch(/^transport\.engineToModel\.responseMs\.median: expected/);
    expect(msg({ engineToModel: { latencyMs: 1 } })).toBe('transport.engineToModel.latencyMs: expected no such field (a known field name), got 1');
    expect(msg({ modelMs: 1 })).toMatch(/^transport\.modelMs: /);
  });

  it('splits measured hop costs evenly between the two directions; zero hops are left out', () => {
    expect(transportFromHopCosts({ engineToModelMs: 1.5, clientToEngineMs: 0 })).toEqual({ engineToModel: { requestMs: 0.75, responseMs: 0.75 } });
    expect(isZeroTransport(transportFromHopCosts({ engineToModelMs: 0, clientToEngineMs: 0 }))).toBe(true);
  });
});

describe('the transport in a virtual world', () => {
  it('validates the world option, naming the field', async () => {
    const scenario = await loadScenario('agreement');
    expect(() => buildWorld(scenario, resolvePolicy('bounded'), 1, { transport: { engineToModel: { requestMs: Number.NaN } } })).toThrow(/^transport\.engineToModel\.requestMs: /);
  });

  it('a zero transport gives the identical result; a non-zero one moves every request', async () => {
    const scenario = await loadScenario('agreement');
    const run = (transport?: Transport) =>
      runPolicyVirtual({ scenario, policy: 'resilient', seed: 7, durationMs: 3_000, ...(transport !== undefined ? { transport } : {}) });
    const plain = await run();
    const zero = await run({ engineToModel: { requestMs: 0, responseMs: { kind: 'constant', value: 0 } }, clientToEngine: {} });
    expect(JSON.stringify(zero)).toBe(JSON.stringify(plain));
    const hops = await run({ engineToModel: { requestMs: 0.75, responseMs: 0.75 }, clientToEngine: { requestMs: 0.5, responseMs: 0.5 } });
    const p = plain.result.summary;
    const h = hops.result.summary;
    expect(h.requests).toBe(p.requests);
    expect(h.ok).toBe(p.ok);
    // 2.5 ms of transport per request: TTFT p50 moves by about that (queueing at the GPU shifts a little too).
    expect((h.ttftMs.p50 ?? 0) - (p.ttftMs.p50 ?? 0)).toBeGreaterThan(1.5);
    expect((h.ttftMs.p50 ?? 0) - (p.ttftMs.p50 ?? 0)).toBeLessThan(4);
    expect(hops.simulatedMs).toBeGreaterThan(plain.simulatedMs);
  });
});
