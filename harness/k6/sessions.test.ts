import { describe, expect, it } from 'vitest';
import { Random } from '../../src/random.js';
import { AGENT, MULTI_TURN_CHAT, SHORT_CHAT, buildSessions, weighted, type SyntheticWorkload } from '../workload/index.js';
import type { PlannedRequest, SessionContext } from '../workload/types.js';
import { compileSession, estimateSessionMs, sessionCalls } from './sessions.js';

const spec: SyntheticWorkload = {
  arrivals: { kind: 'burst', sessions: 60, withinMs: 1000 },
  mix: [weighted(SHORT_CHAT, 1), weighted(MULTI_TURN_CHAT, 1), weighted(AGENT, 1)],
  repeatFraction: 0.2,
};
const sessions = buildSessions(spec, new Random(3).derive('workload'), { durationMs: 10_000 });

describe('compileSession', () => {
  it('keeps a single request as one chat call with its sizes and idempotency key', () => {
    const s = sessions.find((x) => x.plan.kind === 'single');
    if (s?.plan.kind !== 'single') throw new Error('expected a single session in the sample');
    const c = compileSession(s, spec);
    expect(c.steps).toEqual([
      {
        kind: 'call',
        call: {
          kind: 'chat',
          label: 't0',
          class: 'chat',
          promptTokens: s.plan.request.promptTokens,
          outputTokens: s.plan.request.outputTokens,
          idempotencyKey: s.plan.request.idempotencyKey,
          prefix: s.plan.request.prefix,
        },
      },
    ]);
    expect(c).toMatchObject({ id: s.id, startAtMs: s.startAtMs, tenant: 'default', priority: 'interactive' });
  });

  it('grows a multi-turn prompt by each earlier turn and answer, with think times between turns', () => {
    const s = sessions.find((x) => x.plan.kind === 'multi-turn' && x.plan.userTokens.length >= 3);
    if (s?.plan.kind !== 'multi-turn') throw new Error('expected a multi-turn session of 3+ turns in the sample');
    const p = s.plan;
    const c = compileSession(s, spec);
    const chats = sessionCalls(c);
    let context = MULTI_TURN_CHAT.kind === 'multi-turn' ? (MULTI_TURN_CHAT.systemPromptTokens ?? 0) : 0;
    p.userTokens.forEach((u, k) => {
      context += u;
      expect(chats[k]).toMatchObject({ kind: 'chat', label: `t${k}`, promptTokens: Math.min(context, 16_000), outputTokens: p.outputTokens[k] });
      context += p.outputTokens[k] as number;
    });
    expect(c.steps.filter((st) => st.kind === 'think').map((st) => (st.kind === 'think' ? st.ms : -1))).toEqual(p.thinkTimesMs.map((t) => Math.round(t)));
    expect(c.abandonOnFailure).toBe(true);
  });

  it('plays an agent as planner, parallel retrievers, then a summarizer over everything retrieved', () => {
    const s = sessions.find((x) => x.plan.kind === 'agent' && x.plan.retrievers.length > 0);
    if (s?.plan.kind !== 'agent') throw new Error('expected an agent session in the sample');
    const p = s.plan;
    const c = compileSession(s, spec);
    expect(c.steps.map((st) => st.kind)).toEqual(['call', 'parallel', 'call']);
    const par = c.steps[1];
    expect(par?.kind === 'parallel' ? par.calls.map((x) => x.inputTokens) : []).toEqual(p.retrievers.map((r) => r.inputTokens));
    const sum = c.steps[2];
    const retrieved = p.retrievedTokens.reduce((a, b) => a + b, 0);
    expect(sum?.kind === 'call' ? sum.call : undefined).toMatchObject({
      class: 'agent-summarizer',
      promptTokens: p.summarizerPromptTokens + p.planner.outputTokens + retrieved,
      outputTokens: p.summarizerOutputTokens,
    });
  });

  it('gives a repeat the idempotency key of its original', () => {
    const repeats = sessions.filter((x) => x.plan.kind === 'single' && x.plan.repeatOf !== undefined);
    expect(repeats.length).toBeGreaterThan(0);
    for (const r of repeats) {
      const key = sessionCalls(compileSession(r, spec))[0];
      expect(key?.kind === 'chat' ? key.idempotencyKey : undefined).toBe(`idem-${r.plan.kind === 'single' ? r.plan.repeatOf : ''}`);
    }
  });
});

describe('compileSession sends what the harness sends', () => {
  // Tenants with system prompts and an agent with shared context: every kind of shared prefix.
  const rich: SyntheticWorkload = {
    arrivals: { kind: 'burst', sessions: 40, withinMs: 1000 },
    mix: [weighted(SHORT_CHAT, 1), weighted(MULTI_TURN_CHAT, 1), { ...weighted(AGENT, 1), ...(AGENT.kind === 'agent' ? { sharedContextTokens: 300 } : {}) } as typeof AGENT],
    tenants: [
      { name: 'acme', weight: 1, systemPromptTokens: 120 },
      { name: 'beta', weight: 1 },
    ],
  };
  const richSessions = buildSessions(rich, new Random(5).derive('workload'), { durationMs: 10_000 });

  /** The chat requests a session sends when every call succeeds with its planned length (virtual time). */
  async function played(s: (typeof richSessions)[number]): Promise<PlannedRequest[]> {
    let t = 0;
    const sent: PlannedRequest[] = [];
    const ctx: SessionContext = {
      now: () => t,
      sleep: async (ms) => {
        t += ms;
      },
      send: async (req) => {
        sent.push(req);
        return { ok: true, outcome: 'ok', tokens: req.kind === 'chat' ? req.outputTokens : (req.inputTokens?.length ?? 1), text: 'x' };
      },
    };
    await s.run(ctx);
    return sent.filter((r) => r.kind === 'chat');
  }

  it('the same prompt sizes and x-mock-prefix segments as the harness\'s own sessions, turn by turn', async () => {
    const kinds = new Set<string>();
    for (const s of richSessions) {
      const harness = await played(s);
      const chats = sessionCalls(compileSession(s, rich)).filter((c) => c.kind === 'chat');
      expect(chats.map((c) => (c.kind === 'chat' ? { promptTokens: c.promptTokens, prefix: c.prefix } : undefined))).toEqual(
        harness.map((r) => ({ promptTokens: r.promptTokens, prefix: r.prefix })),
      );
      kinds.add(s.kind);
    }
    expect([...kinds].sort()).toEqual(['agent', 'multi-turn', 'single']);
  });

  it('estimates a session\'s time from its think times and planned outputs', () => {
    const c = compileSession(richSessions.find((x) => x.kind === 'single') as (typeof richSessions)[number], rich);
    const call = c.steps[0];
    expect(estimateSessionMs([c])).toBe(250 + 20 * (call?.kind === 'call' ? call.call.outputTokens : NaN));
    expect(estimateSessionMs([])).toBe(0);
  });
});
