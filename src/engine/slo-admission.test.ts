/**
 * SLO-aware admission: a request that cannot get a slot before its deadline is shed at once with an honest
 * Retry-After; one that would have met its deadline is never shed (a scripted case with constant service times,
 * checked against the same run with the shedding off).
 */
import { describe, expect, it } from 'vitest';
import { resolvePolicy } from '../policy.js';
import { Random } from '../random.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { Engine, type EngineRequest, type EngineResult } from './engine.js';
import { reasonOf } from './reasons.js';
import { FakeModel } from './testing/fake-model.js';

// Two slots; every call takes 10 ms to its first token and 9 more tokens 10 ms apart: a slot is held ~100 ms.
const policy = (deadlineShed: boolean) =>
  resolvePolicy('resilient', { concurrency: { mode: 'fixed', limit: 2 }, queue: { order: 'fifo', deadlineShed }, retry: { maxAttempts: 1 } });

const chat = (id: string, deadlineMs?: number): EngineRequest => ({
  id,
  kind: 'chat',
  request: { id, model: 'm', prompt: 'hi', maxTokens: 10 },
  ...(deadlineMs !== undefined ? { deadlineMs } : {}),
});

/**
 * 30 warm-up requests one at a time, then a burst of 20: the even ones with deadlines that leave room (the last of
 * them needs about 1 s), the odd ones with 30 ms, which only a request that gets a slot at once could meet.
 */
async function run(deadlineShed: boolean): Promise<EngineResult[]> {
  const clock = new VirtualClock();
  const engine = new Engine({ clock, random: new Random(3), policy: policy(deadlineShed), primary: new FakeModel(clock, () => ({ tokens: 10, ttftMs: 10, itlMs: 10 })) });
  for (let i = 0; i < 30; i++) await clock.run(engine.submit(chat(`w${i}`)));
  const burst = Array.from({ length: 20 }, (_, i) => engine.submit(chat(`b${i}`, i % 2 === 0 ? 1200 + 10 * i : 30)));
  return clock.run(Promise.all(burst));
}

describe('SLO-aware admission', () => {
  it('never sheds a request that would have met its deadline, and sheds the hopeless ones at once', async () => {
    const withShed = await run(true);
    const without = await run(false);
    for (let i = 0; i < 20; i++) {
      const shed = withShed[i]!;
      const ref = without[i]!;
      if (reasonOf(shed) === 'shed_slo') {
        // Shed by admission only what, left in the queue, did not finish in time.
        expect(ref.outcome, `b${i}`).not.toBe('ok');
        expect(shed.retryAfterMs).toBeGreaterThan(0);
        expect(shed.attempts).toBe(0); // at once: never queued, never sent
        expect(shed.queuedMs).toBe(0);
      } else if (ref.outcome === 'ok') {
        expect(shed.outcome, `b${i}`).toBe('ok');
      }
    }
    // It shed the hopeless odd ones behind the first free slots, and none of the even ones.
    expect(withShed.filter((r) => reasonOf(r) === 'shed_slo').length).toBeGreaterThan(5);
    expect(withShed.filter((r, i) => i % 2 === 0 && r.outcome !== 'ok')).toEqual([]);
    // And everything the reference served in time, it served too.
    expect(withShed.filter((r) => r.outcome === 'ok').length).toBe(without.filter((r) => r.outcome === 'ok').length);
  });
});
