import { describe, expect, it } from 'vitest';
import { Random } from '../../src/random.js';
import { VirtualClock } from '../../src/time/virtual-clock.js';
import { buildSessions } from './build.js';
import { BURST_1000_WORKLOAD, SHORT_CHAT, weighted } from './presets.js';
import { parseWorkload, type SyntheticWorkload } from './spec.js';
import type { PlannedRequest, Session, SessionContext } from './types.js';

const chatOnly = (extra: Partial<SyntheticWorkload> = {}): SyntheticWorkload => ({
  arrivals: { kind: 'poisson', ratePerSec: 100 },
  mix: [weighted(SHORT_CHAT, 1)],
  ...extra,
});

function firstRequests(sessions: readonly Session[]): PlannedRequest[] {
  return sessions.flatMap((s) => (s.plan.kind === 'single' || s.plan.kind === 'trace' ? [s.plan.request] : s.plan.kind === 'agent' ? [s.plan.planner] : []));
}

describe('buildSessions', () => {
  it('is deterministic for a seed (identical plans) and differs across seeds', () => {
    const a = buildSessions(BURST_1000_WORKLOAD, new Random(42), { durationMs: 10_000 });
    const b = buildSessions(BURST_1000_WORKLOAD, new Random(42), { durationMs: 10_000 });
    const c = buildSessions(BURST_1000_WORKLOAD, new Random(43), { durationMs: 10_000 });
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(JSON.stringify(a)).not.toBe(JSON.stringify(c));
  });

  it('sorts sessions by start and gives unique session and request ids', () => {
    const sessions = buildSessions(BURST_1000_WORKLOAD, new Random(1), { durationMs: 10_000 });
    for (let i = 1; i < sessions.length; i++) expect(sessions[i]?.startAtMs).toBeGreaterThanOrEqual(sessions[i - 1]?.startAtMs as number);
    expect(new Set(sessions.map((s) => s.id)).size).toBe(sessions.length);
    const requestIds = sessions.flatMap((s) =>
      s.plan.kind === 'agent' ? [s.plan.planner.id, ...s.plan.retrievers.map((r) => r.id)] : s.plan.kind === 'multi-turn' || s.plan.kind === 'user' ? [] : [s.plan.request.id],
    );
    expect(new Set(requestIds).size).toBe(requestIds.length);
  });

  it('burst-1000: 1,000 sessions within 2 s, about 10% agents, some 5,000-token generations and batch jobs', () => {
    const sessions = buildSessions(parseWorkload(BURST_1000_WORKLOAD), new Random(7), { durationMs: 60_000 });
    expect(sessions).toHaveLength(1000);
    expect(sessions.every((s) => s.startAtMs >= 0 && s.startAtMs < 2000)).toBe(true);
    const agents = sessions.filter((s) => s.kind === 'agent').length;
    expect(agents).toBeGreaterThan(70);
    expect(agents).toBeLessThan(130);
    const requests = firstRequests(sessions);
    const longGen = requests.filter((r) => r.class === 'long-gen');
    expect(longGen.length).toBeGreaterThan(25);
    expect(longGen.every((r) => r.outputTokens === 5000)).toBe(true);
    expect(requests.filter((r) => r.priority === 'batch').every((r) => r.class === 'batch' && r.batchable)).toBe(true);
    expect(requests.some((r) => r.priority === 'batch')).toBe(true);
    expect(sessions.filter((s) => s.kind === 'multi-turn').length).toBeGreaterThan(100);
  });

  it('follows the mix weights', () => {
    const spec: SyntheticWorkload = {
      arrivals: { kind: 'constant', ratePerSec: 1000 },
      mix: [
        { ...SHORT_CHAT, name: 'a', weight: 6 },
        { ...SHORT_CHAT, name: 'b', weight: 3 },
        { ...SHORT_CHAT, name: 'c', weight: 1 },
        { ...SHORT_CHAT, name: 'never', weight: 0 },
      ],
    };
    const sessions = buildSessions(spec, new Random(3), { durationMs: 20_000 });
    expect(sessions).toHaveLength(20_000);
    const share = (c: string) => sessions.filter((s) => s.class === c).length / sessions.length;
    expect(share('a')).toBeCloseTo(0.6, 1);
    expect(Math.abs(share('b') - 0.3)).toBeLessThan(0.015);
    expect(Math.abs(share('c') - 0.1)).toBeLessThan(0.01);
    expect(share('never')).toBe(0);
  });

  it('draws tenants by weight unless a class pins one', () => {
    const spec: SyntheticWorkload = {
      arrivals: { kind: 'constant', ratePerSec: 1000 },
      tenants: [{ name: 'big', weight: 4 }, { name: 'small', weight: 1 }],
      mix: [weighted(SHORT_CHAT, 1), { ...SHORT_CHAT, name: 'internal', weight: 1, tenant: 'ops' }],
    };
    const sessions = buildSessions(spec, new Random(4), { durationMs: 10_000 });
    const chat = sessions.filter((s) => s.class === 'chat');
    expect(Math.abs(chat.filter((s) => s.tenant === 'big').length / chat.length - 0.8)).toBeLessThan(0.02);
    expect(sessions.filter((s) => s.class === 'internal').every((s) => s.tenant === 'ops')).toBe(true);
    expect(firstRequests(sessions).every((r, i) => r.tenant === sessions[i]?.tenant)).toBe(true);
  });

  it('repeats about repeatFraction of sessions with the same idempotency key and content as a recent original', () => {
    const sessions = buildSessions(chatOnly({ repeatFraction: 0.2, repeatWindow: 10 }), new Random(5), { durationMs: 100_000 });
    const requests = firstRequests(sessions);
    const seen = new Map<string, PlannedRequest>();
    let duplicates = 0;
    for (const r of requests) {
      const original = seen.get(r.idempotencyKey as string);
      if (original === undefined) seen.set(r.idempotencyKey as string, r);
      else {
        duplicates++;
        expect({ ...r, id: original.id }).toEqual(original);
        expect(r.id).not.toBe(original.id);
      }
    }
    expect(requests.length).toBeGreaterThan(9000);
    expect(Math.abs(duplicates / requests.length - 0.2)).toBeLessThan(0.015);
    // A repeat copies one of the last 10 singles, so it arrives soon after its original.
    const byId = new Map(sessions.map((s) => [s.id, s]));
    const lags = sessions.flatMap((s) => (s.plan.kind === 'single' && s.plan.repeatOf !== undefined ? [s.startAtMs - (byId.get(s.plan.repeatOf)?.startAtMs as number)] : []));
    expect(lags.length).toBe(duplicates);
    expect(Math.max(...lags)).toBeLessThan(1000);

    const none = firstRequests(buildSessions(chatOnly(), new Random(5), { durationMs: 10_000 }));
    expect(new Set(none.map((r) => r.idempotencyKey)).size).toBe(none.length);
  });

  it('named streams: adding a mix class or repeats keeps arrival times; a longer run keeps earlier sessions', () => {
    const base = buildSessions(chatOnly(), new Random(6), { durationMs: 10_000 });
    const more = buildSessions({ ...chatOnly(), mix: [weighted(SHORT_CHAT, 1), { ...SHORT_CHAT, name: 'x', weight: 1 }] }, new Random(6), { durationMs: 10_000 });
    const repeats = buildSessions(chatOnly({ repeatFraction: 0.5 }), new Random(6), { durationMs: 10_000 });
    expect(more.map((s) => s.startAtMs)).toEqual(base.map((s) => s.startAtMs));
    expect(repeats.map((s) => s.startAtMs)).toEqual(base.map((s) => s.startAtMs));
    const longer = buildSessions(chatOnly(), new Random(6), { durationMs: 20_000 });
    const plans = (ss: Session[]) => ss.map((s) => (s.plan.kind === 'single' ? [s.startAtMs, s.plan.request.promptTokens, s.plan.request.outputTokens] : []));
    expect(plans(longer).slice(0, base.length)).toEqual(plans(base));
  });

  it('sessions run end to end against a context in virtual time', async () => {
    const clock = new VirtualClock();
    const sessions = buildSessions({ ...BURST_1000_WORKLOAD, arrivals: { kind: 'burst', sessions: 200, withinMs: 2000 } }, new Random(8), { durationMs: 60_000 });
    const late: string[] = [];
    let sent = 0;
    const ctx: SessionContext = {
      now: () => clock.now(),
      sleep: (ms) => clock.sleep(ms),
      send: async (req, intended) => {
        sent++;
        if (clock.now() < intended) late.push(req.id); // never sent before its intended start
        await clock.sleep(50 + req.outputTokens / 10);
        return { ok: true, outcome: 'ok', tokens: req.outputTokens, text: 'fine' };
      },
    };
    const summaries = await clock.run(Promise.all(sessions.map((s) => s.run(ctx))));
    expect(late).toEqual([]);
    expect(summaries.every((s) => s.failed === 0 && !s.abandoned && !s.degraded)).toBe(true);
    expect(summaries.reduce((a, s) => a + s.sent, 0)).toBe(sent);
    expect(sent).toBeGreaterThan(300); // multi-turn and agent sessions send several requests each
  });
});
