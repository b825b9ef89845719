import { describe, expect, it } from 'vitest';
import { Random } from '../../src/random.js';
import { VirtualClock } from '../../src/time/virtual-clock.js';
import { Recorder } from '../measure/recorder.js';
import { arrivalTimes } from './arrivals.js';
import { buildWorkload } from './build.js';
import { playWorkload } from './play.js';
import { parseWorkload, type SyntheticWorkload } from './spec.js';
import type { PlannedRequest, SessionContext } from './types.js';

const CHAT = { name: 'chat', weight: 3, kind: 'single', promptTokens: { kind: 'uniform', min: 50, max: 500 }, outputTokens: 20 } as const;
const TALK = {
  name: 'talk',
  weight: 1,
  kind: 'multi-turn',
  turns: { kind: 'uniform', min: 2, max: 4 },
  thinkTimeMs: 700,
  userTokens: 40,
  outputTokens: 30,
} as const;

const users = (n: number, extra: object = {}): SyntheticWorkload => parseWorkload({ arrivals: { kind: 'users', users: n, ...extra }, mix: [CHAT, TALK] }) as SyntheticWorkload;

interface Sent {
  readonly req: PlannedRequest;
  readonly intendedStartMs: number;
  readonly sentAtMs: number;
  repliedAtMs: number;
}

/**
 * Plays `spec` on a VirtualClock against a fake system whose replies take 100 ms + 10 ms per output token, with a
 * Recorder counting sessions in flight. Returns what was sent and the per-second sessions-in-flight series.
 */
async function play(spec: SyntheticWorkload, durationMs: number, seed = 1): Promise<{ sent: Sent[]; inFlight: number[]; starts: Map<string, number[]>; ends: Map<string, number[]> }> {
  const clock = new VirtualClock();
  const recorder = new Recorder({ policy: 'fake', slo: { ttftMs: 1000 } });
  const sent: Sent[] = [];
  const starts = new Map<string, number[]>();
  const ends = new Map<string, number[]>();
  const ctx: SessionContext = {
    now: () => clock.now(),
    sleep: (ms) => clock.sleep(ms),
    async send(req, intendedStartMs) {
      const record: Sent = { req, intendedStartMs, sentAtMs: clock.now(), repliedAtMs: -1 };
      sent.push(record);
      await clock.sleep(100 + 10 * req.outputTokens);
      record.repliedAtMs = clock.now();
      return { ok: true, outcome: 'ok', tokens: req.outputTokens, text: 'x' };
    },
    sessionStarted: () => recorder.sessionStarted(clock.now()),
    sessionEnded: () => recorder.sessionEnded(clock.now()),
  };
  const built = buildWorkload(spec, new Random(seed).derive('workload'), { durationMs });
  await clock.run(playWorkload(built, ctx));
  for (const s of sent) {
    const [user, session] = s.req.id.split('/')[0]?.split('-') as [string, string];
    const k = Number(session.slice(1));
    ((starts.get(user) ?? starts.set(user, []).get(user)) as number[])[k] ??= s.intendedStartMs;
    (ends.get(user) ?? ends.set(user, []).get(user) as number[])[k] = s.repliedAtMs;
  }
  const result = recorder.finish({ durationMs, wastedTokens: 0, tokensComputed: 0, gpuUtilization: null, meanBatchSize: null, faultPhases: [] });
  return { sent, inFlight: result.series.sessionsInFlight ?? [], starts, ends };
}

describe('closed-loop users', () => {
  it('validates: users is an integer >= 1, and closed loop takes neither repeats nor a session cap', () => {
    const err = (w: unknown): string => {
      try {
        parseWorkload(w);
        return 'no error';
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(err({ arrivals: { kind: 'users', users: 0 }, mix: [CHAT] })).toBe('workload.arrivals.users: expected a number >= 1, got 0');
    expect(err({ arrivals: { kind: 'users', users: 5, rampUpMs: -1 }, mix: [CHAT] })).toBe('workload.arrivals.rampUpMs: expected a number >= 0, got -1');
    expect(err({ arrivals: { kind: 'users', users: 5, rampMs: 10 }, mix: [CHAT] })).toBe('workload.arrivals.rampMs: expected no such field (check the spelling), got 10');
    expect(err({ arrivals: { kind: 'users', users: 5 }, mix: [CHAT], repeatFraction: 0.1 })).toMatch(/^workload\.repeatFraction: expected 0 or no repeatFraction with closed-loop users/);
    expect(err({ arrivals: { kind: 'users', users: 5 }, mix: [CHAT], maxConcurrency: 3 })).toMatch(/^workload\.maxConcurrency: expected no maxConcurrency with closed-loop users/);
  });

  it('starts user i at rampUpMs * i / users, leaving out users that would start after the window', () => {
    expect(arrivalTimes({ kind: 'users', users: 4, rampUpMs: 2000 }, new Random(1), 10_000)).toEqual([0, 500, 1000, 1500]);
    expect(arrivalTimes({ kind: 'users', users: 4 }, new Random(1), 10_000)).toEqual([0, 0, 0, 0]);
    const built = buildWorkload(users(10, { rampUpMs: 20_000 }), new Random(1), { durationMs: 10_000 });
    expect(built.sessions.map((s) => s.startAtMs)).toEqual([0, 2000, 4000, 6000, 8000]);
    expect(built.sessions.map((s) => s.kind)).toEqual(['user', 'user', 'user', 'user', 'user']);
  });

  it('draws the same sessions for a seed whatever the timing, and different ones per user', () => {
    const a = buildWorkload(users(3), new Random(5), { durationMs: 1000 }).sessions;
    const b = buildWorkload(users(3), new Random(5), { durationMs: 1000 }).sessions;
    const plans = (ss: typeof a, at: number): unknown[] =>
      ss.flatMap((u) => (u.plan.kind === 'user' ? [0, 1, 2].map((k) => (u.plan.kind === 'user' ? u.plan.session(k, at).plan : undefined)) : []));
    // Start times differ (they come from the answers); the draws do not.
    expect(plans(a, 0)).toEqual(plans(b, 12_345));
    const first = plans(a, 0);
    expect(new Set(first.map((p) => JSON.stringify(p))).size).toBe(first.length);
  });

  it('keeps N sessions in flight once ramped (the per-second series), rising evenly during the ramp', async () => {
    const { inFlight } = await play(users(20, { rampUpMs: 4_000 }), 20_000);
    // Users start at 0, 200, ..., 3800 ms: bucket 0 holds users 0-4 for 1000, 800, ..., 200 ms = 3 users on average.
    expect(inFlight.slice(0, 4)).toEqual([3, 8, 13, 18]);
    expect(inFlight).toHaveLength(20);
    for (let s = 4; s < 20; s++) expect(inFlight[s], `second ${s}`).toBe(20);
  });

  it('starts a user\'s next session only after its last one ended, plus the think time, and stops at the window', async () => {
    const durationMs = 15_000;
    const { starts, ends } = await play(users(6, { rampUpMs: 3_000, thinkTimeMs: 1_500 }), durationMs);
    expect(starts.size).toBe(6);
    let checked = 0;
    for (const [user, s] of starts) {
      const e = ends.get(user) as number[];
      expect(s.length, user).toBeGreaterThan(2);
      for (let k = 1; k < s.length; k++) {
        // The intended start of session k (its first request) is exactly the end of session k-1 plus 1.5 s.
        expect(s[k], `${user} session ${k}`).toBe((e[k - 1] as number) + 1_500);
        checked++;
      }
      expect(s[s.length - 1]).toBeLessThan(durationMs);
      // The session that would have started next falls at or after the window's end.
      expect((e[s.length - 1] as number) + 1_500).toBeGreaterThanOrEqual(durationMs);
    }
    expect(checked).toBeGreaterThan(12);
  });

  it('after a session whose every request failed, waits at least failurePauseMs: refusals at once cannot stall the clock', async () => {
    // A crashed server: every request refused in no time at all. Returns when each request was sent.
    const refused = async (arrivals: object, durationMs: number): Promise<number[]> => {
      const clock = new VirtualClock();
      const sentAt: number[] = [];
      const ctx: SessionContext = {
        now: () => clock.now(),
        sleep: (ms) => clock.sleep(ms),
        send: () => {
          sentAt.push(clock.now());
          return Promise.resolve({ ok: false, outcome: 'failed', tokens: 0, text: '' });
        },
      };
      const spec = parseWorkload({ arrivals: { kind: 'users', users: 1, ...arrivals }, mix: [CHAT] }) as SyntheticWorkload;
      await clock.run(playWorkload(buildWorkload(spec, new Random(1), { durationMs }), ctx));
      return sentAt;
    };
    expect(await refused({ failurePauseMs: 250 }, 1_000)).toEqual([0, 250, 500, 750]);
    // 1 s by default; a longer think time wins.
    expect(await refused({}, 3_000)).toEqual([0, 1000, 2000]);
    expect(await refused({ thinkTimeMs: 1_500 }, 3_000)).toEqual([0, 1500]);
  });

  it('is deterministic: two runs of one seed send the same requests at the same times', async () => {
    const a = await play(users(8, { rampUpMs: 1_000, thinkTimeMs: { kind: 'uniform', min: 0, max: 2000 } }), 10_000, 3);
    const b = await play(users(8, { rampUpMs: 1_000, thinkTimeMs: { kind: 'uniform', min: 0, max: 2000 } }), 10_000, 3);
    const key = (x: Sent[]): string[] => x.map((s) => `${s.req.id}@${s.intendedStartMs}:${s.req.promptTokens}`);
    expect(key(a.sent)).toEqual(key(b.sent));
    expect(a.inFlight).toEqual(b.inFlight);
  });
});
