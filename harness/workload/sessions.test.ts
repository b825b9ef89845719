import { describe, expect, it } from 'vitest';
import { Random } from '../../src/random.js';
import { VirtualClock } from '../../src/time/virtual-clock.js';
import { agentSession } from './session-agent.js';
import { multiTurnSession } from './session-multi-turn.js';
import { singleSession } from './session-single.js';
import type { MixEntry } from './spec.js';
import type { PlannedRequest, RequestReply, SessionContext } from './types.js';

interface Sent {
  readonly req: PlannedRequest;
  readonly intendedStartMs: number;
  readonly sentAtMs: number;
  repliedAtMs?: number;
}

/** A SessionContext on a VirtualClock whose replies take `latencyMs(req)` and carry `reply(req)`. */
function fakeContext(
  clock: VirtualClock,
  latencyMs: (req: PlannedRequest) => number,
  reply: (req: PlannedRequest) => RequestReply = (req) => ({ ok: true, outcome: 'ok', tokens: req.outputTokens, text: `answer to ${req.id}` }),
): { ctx: SessionContext; sent: Sent[] } {
  const sent: Sent[] = [];
  const ctx: SessionContext = {
    now: () => clock.now(),
    sleep: (ms) => clock.sleep(ms),
    async send(req, intendedStartMs) {
      const record: Sent = { req, intendedStartMs, sentAtMs: clock.now() };
      sent.push(record);
      await clock.sleep(latencyMs(req));
      record.repliedAtMs = clock.now();
      return reply(req);
    },
  };
  return { ctx, sent };
}

const seat = { id: 's7', startAtMs: 1000, tenant: 'acme' };

describe('single session', () => {
  it('sleeps until its start and measures from it', async () => {
    const clock = new VirtualClock();
    const entry: MixEntry = { name: 'batch', weight: 1, kind: 'single', priority: 'batch', promptTokens: 900, outputTokens: 300, deadlineMs: 60_000 };
    const session = singleSession(entry, seat, new Random(1));
    const { ctx, sent } = fakeContext(clock, () => 250);
    const summary = await clock.run(session.run(ctx));
    expect(summary).toEqual({ sent: 1, failed: 0, degraded: false, abandoned: false });
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ intendedStartMs: 1000, sentAtMs: 1000, repliedAtMs: 1250 });
    expect(sent[0]?.req).toMatchObject({
      id: 's7/t0', class: 'batch', kind: 'chat', tenant: 'acme', priority: 'batch', batchable: true,
      promptTokens: 900, outputTokens: 300, deadlineMs: 60_000, idempotencyKey: 'idem-s7',
    });
  });

  it('reports a failed reply, and a rejected send as a failure rather than a crash', async () => {
    const clock = new VirtualClock();
    const session = singleSession({ name: 'chat', weight: 1, kind: 'single', promptTokens: 10, outputTokens: 10 }, seat, new Random(1));
    const ctx: SessionContext = { now: () => clock.now(), sleep: (ms) => clock.sleep(ms), send: () => Promise.reject(new Error('boom')) };
    expect(await clock.run(session.run(ctx))).toEqual({ sent: 1, failed: 1, degraded: false, abandoned: false });
  });
});

describe('multi-turn session', () => {
  const entry: MixEntry = {
    name: 'conv', weight: 1, kind: 'multi-turn',
    turns: 4,
    thinkTimeMs: { kind: 'uniform', min: 1000, max: 5000 },
    systemPromptTokens: 50,
    userTokens: { kind: 'uniform', min: 20, max: 200 },
    outputTokens: { kind: 'uniform', min: 50, max: 400 },
  };

  it('grows the context each turn by the earlier prompts and the replies actually received', async () => {
    const clock = new VirtualClock();
    const session = multiTurnSession(entry, seat, new Random(2));
    if (session.plan.kind !== 'multi-turn') throw new Error('wrong plan');
    const { userTokens } = session.plan;
    // The assistant returns only half of what was asked: the next prompt must count what was received.
    const { ctx, sent } = fakeContext(clock, (r) => r.outputTokens, (r) => ({ ok: true, outcome: 'ok', tokens: Math.floor(r.outputTokens / 2), text: 'x'.repeat(500) }));
    const summary = await clock.run(session.run(ctx));
    expect(summary).toEqual({ sent: 4, failed: 0, degraded: false, abandoned: false });
    expect(sent.map((s) => s.req.id)).toEqual(['s7/t0', 's7/t1', 's7/t2', 's7/t3']);

    let context = 50;
    sent.forEach((s, k) => {
      context += userTokens[k] as number;
      expect(s.req.promptTokens).toBe(context);
      context += Math.floor(s.req.outputTokens / 2);
      // Messages alternate user/assistant after the system prompt; assistant excerpts stay short.
      expect(s.req.messages).toHaveLength(2 + 2 * k);
      expect(s.req.messages.every((m) => m.content.length <= 80)).toBe(true);
    });
    expect(sent.map((s) => s.req.promptTokens)).toEqual([...sent.map((s) => s.req.promptTokens)].sort((a, b) => a - b));
  });

  it('sends each turn a think time after the previous reply, and measures from that moment', async () => {
    const clock = new VirtualClock();
    const session = multiTurnSession(entry, seat, new Random(3));
    if (session.plan.kind !== 'multi-turn') throw new Error('wrong plan');
    const { thinkTimesMs } = session.plan;
    expect(thinkTimesMs).toHaveLength(3);
    expect(thinkTimesMs.every((t) => t >= 1000 && t <= 5000)).toBe(true);
    const { ctx, sent } = fakeContext(clock, () => 700);
    await clock.run(session.run(ctx));
    expect(sent[0]?.intendedStartMs).toBe(1000);
    for (let k = 1; k < sent.length; k++) {
      const due = (sent[k - 1]?.repliedAtMs as number) + (thinkTimesMs[k - 1] as number);
      expect(sent[k]?.intendedStartMs).toBe(due);
      expect(sent[k]?.sentAtMs).toBe(due);
    }
  });

  it('abandons after a failed turn by default, continues when told to', async () => {
    const failSecond = (r: PlannedRequest): RequestReply =>
      r.id.endsWith('/t1') ? { ok: false, outcome: 'shed', tokens: 0, text: '' } : { ok: true, outcome: 'ok', tokens: 10, text: 'ok' };
    const clock = new VirtualClock();
    const a = fakeContext(clock, () => 100, failSecond);
    expect(await clock.run(multiTurnSession(entry, seat, new Random(4)).run(a.ctx))).toEqual({ sent: 2, failed: 1, degraded: false, abandoned: true });
    expect(a.sent).toHaveLength(2);

    const b = fakeContext(clock, () => 100, failSecond);
    const cont = multiTurnSession({ ...entry, onFailure: 'continue' }, { ...seat, startAtMs: clock.now() }, new Random(4));
    expect(await clock.run(cont.run(b.ctx))).toEqual({ sent: 4, failed: 1, degraded: false, abandoned: false });
    // The failed turn's reply adds nothing to the context, the user message stays.
    const p = b.sent.map((s) => s.req.promptTokens);
    if (cont.plan.kind !== 'multi-turn') throw new Error('wrong plan');
    expect(p[2]).toBe((p[1] as number) + (cont.plan.userTokens[2] as number));
  });

  it('truncates prompts at maxContextTokens', async () => {
    const clock = new VirtualClock();
    const session = multiTurnSession({ ...entry, turns: 10, userTokens: 500, outputTokens: 500, maxContextTokens: 3000 }, seat, new Random(5));
    const { ctx, sent } = fakeContext(clock, () => 10);
    await clock.run(session.run(ctx));
    expect(sent.map((s) => s.req.promptTokens)).toEqual([550, 1550, 2550, 3000, 3000, 3000, 3000, 3000, 3000, 3000]);
  });
});

describe('agent session', () => {
  const entry: MixEntry = {
    name: 'agent', weight: 1, kind: 'agent',
    planner: { promptTokens: 400, outputTokens: 60 },
    retrievers: 5,
    retriever: { inputs: 3, inputTokens: 100, retrievedTokens: 500 },
    summarizer: { promptTokens: 150, outputTokens: 250 },
  };

  it('fans out N batchable embedding calls in parallel, then summarizes over all of them', async () => {
    const clock = new VirtualClock();
    const session = agentSession(entry, seat, new Random(6));
    const { ctx, sent } = fakeContext(clock, (r) => (r.kind === 'embedding' ? 40 + Number(r.id.slice(-1)) * 10 : 300));
    const summary = await clock.run(session.run(ctx));
    expect(summary).toEqual({ sent: 7, failed: 0, degraded: false, abandoned: false });
    expect(sent.map((s) => s.req.class)).toEqual(['agent-planner', ...Array(5).fill('agent-retriever'), 'agent-summarizer']);
    const retrievers = sent.filter((s) => s.req.kind === 'embedding');
    // All five were sent at the same instant, before any of them replied, with the planner's reply time as intent.
    expect(new Set(retrievers.map((s) => s.sentAtMs))).toEqual(new Set([1300]));
    expect(retrievers.every((s) => s.intendedStartMs === 1300 && s.req.batchable && s.req.inputs?.length === 3)).toBe(true);
    expect(retrievers.every((s) => s.req.promptTokens === 300 && s.req.outputTokens === 0)).toBe(true);
    const sum = sent.at(-1) as Sent;
    expect(sum.sentAtMs).toBe(1300 + 80); // after the slowest branch
    expect(sum.req.promptTokens).toBe(150 + 60 + 5 * 500);
    expect(sum.req.partialInputs).toBeUndefined();
  });

  it('a failed retriever degrades the answer but does not block the summarizer', async () => {
    const clock = new VirtualClock();
    const session = agentSession(entry, seat, new Random(7));
    const { ctx, sent } = fakeContext(clock, () => 50, (r) =>
      r.id.endsWith('/ret2') ? { ok: false, outcome: 'timeout', tokens: 0, text: '' } : { ok: true, outcome: 'ok', tokens: r.outputTokens, text: 't' },
    );
    const summary = await clock.run(session.run(ctx));
    expect(summary).toEqual({ sent: 7, failed: 1, degraded: true, abandoned: false });
    const sum = sent.at(-1) as Sent;
    expect(sum.req.class).toBe('agent-summarizer');
    expect(sum.req.partialInputs).toEqual({ failed: 1, total: 5 });
    expect(sum.req.promptTokens).toBe(150 + 60 + 4 * 500);
  });

  it('a failed planner ends the session', async () => {
    const clock = new VirtualClock();
    const { ctx, sent } = fakeContext(clock, () => 50, () => ({ ok: false, outcome: 'failed', tokens: 0, text: '' }));
    expect(await clock.run(agentSession(entry, seat, new Random(8)).run(ctx))).toEqual({ sent: 1, failed: 1, degraded: false, abandoned: true });
    expect(sent).toHaveLength(1);
  });
});
