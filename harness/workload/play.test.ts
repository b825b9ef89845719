import { describe, expect, it } from 'vitest';
import { Random } from '../../src/random.js';
import { VirtualClock } from '../../src/time/virtual-clock.js';
import { SessionsInFlight } from '../measure/sessions-in-flight.js';
import { buildWorkload } from './build.js';
import { playWorkload, SessionGate } from './play.js';
import { parseWorkload } from './spec.js';
import type { SessionContext } from './types.js';

interface Sent {
  readonly id: string;
  readonly intendedStartMs: number;
  readonly sentAtMs: number;
  readonly repliedAtMs: number;
}

/** Plays `workload` against replies that take `replyMs`; returns what was sent and the most sessions open at once. */
async function play(workload: unknown, durationMs: number, replyMs = 1000): Promise<{ sent: Sent[]; peak: number; inFlight: number[] }> {
  const clock = new VirtualClock();
  const counter = new SessionsInFlight(1000);
  let peak = 0;
  const sent: Sent[] = [];
  const ctx: SessionContext = {
    now: () => clock.now(),
    sleep: (ms) => clock.sleep(ms),
    async send(req, intendedStartMs) {
      const sentAtMs = clock.now();
      await clock.sleep(replyMs);
      sent.push({ id: req.id, intendedStartMs, sentAtMs, repliedAtMs: clock.now() });
      return { ok: true, outcome: 'ok', tokens: req.outputTokens, text: 'x' };
    },
    sessionStarted: () => {
      counter.started(clock.now());
      peak = Math.max(peak, counter.count);
    },
    sessionEnded: () => counter.ended(clock.now()),
  };
  await clock.run(playWorkload(buildWorkload(parseWorkload(workload), new Random(1), { durationMs }), ctx));
  return { sent, peak, inFlight: counter.build(Math.ceil(clock.now() / 1000)) };
}

const CHAT = { name: 'chat', weight: 1, kind: 'single', promptTokens: 100, outputTokens: 10 };

describe('open loop capped at maxConcurrency', () => {
  it('holds arrivals past the cap until a session ends, and measures them from their scheduled start', async () => {
    // 10 sessions at once, 3 places, 1 s replies: they go out in waves at 0, 1, 2 and 3 s.
    const { sent, peak } = await play({ arrivals: { kind: 'burst', sessions: 10, withinMs: 1 }, mix: [CHAT], maxConcurrency: 3 }, 10_000);
    expect(peak).toBe(3);
    expect(sent).toHaveLength(10);
    const waves = sent.map((s) => Math.floor(s.sentAtMs / 1000)).sort((a, b) => a - b);
    expect(waves).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2, 3]);
    for (const s of sent) {
      // The intended start stays the arrival (< 1 ms into the run), so the wait is part of the latency: a session
      // sent in the last wave ends ~4 s after it was due.
      expect(s.intendedStartMs).toBeLessThan(1);
    }
    const latest = Math.max(...sent.map((s) => s.repliedAtMs - s.intendedStartMs));
    expect(latest).toBeGreaterThan(3_999);
  });

  it('starts sessions in arrival order as places free up (FIFO)', async () => {
    const { sent } = await play({ arrivals: { kind: 'constant', ratePerSec: 10 }, mix: [CHAT], maxConcurrency: 2 }, 1_000);
    const order = [...sent].sort((a, b) => a.sentAtMs - b.sentAtMs || (a.id < b.id ? -1 : 1)).map((s) => s.id);
    expect(order).toEqual([...order].sort());
  });

  it('without a cap, every session starts on time', async () => {
    const { sent, peak } = await play({ arrivals: { kind: 'burst', sessions: 10, withinMs: 1 }, mix: [CHAT] }, 10_000);
    expect(peak).toBe(10);
    for (const s of sent) expect(s.sentAtMs).toBe(s.intendedStartMs);
  });

  it('a gate refuses a bad limit', () => {
    expect(() => new SessionGate(0)).toThrow('SessionGate: expected an integer limit >= 1, got 0');
  });

  it('rejects a bad maxConcurrency, naming the field', () => {
    expect(() => parseWorkload({ arrivals: { kind: 'poisson', ratePerSec: 1 }, mix: [CHAT], maxConcurrency: 0 })).toThrow('workload.maxConcurrency: expected a number > 0, got 0');
  });
});

describe('sessions in flight', () => {
  it('is the time-weighted mean per bucket, exact across bucket edges', () => {
    const c = new SessionsInFlight(1000);
    c.started(0);
    c.started(500);
    c.ended(1500);
    c.started(2000);
    c.ended(2250);
    c.ended(3000);
    // [0,1000): 1 all second + 1 for half = 1.5; [1000,2000): 2 until 1500, 1 after = 1.5; [2000,3000): 1 + 0.25.
    expect(c.build(4)).toEqual([1.5, 1.5, 1.25, 0]);
    expect(c.count).toBe(0);
  });

  it('counts a session still open to the end of the last bucket', () => {
    const c = new SessionsInFlight(1000);
    c.started(1_500);
    expect(c.build(3)).toEqual([0, 0.5, 1]);
  });
});
