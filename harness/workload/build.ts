/**
 * Turns a workload spec and a seed into the run's sessions: pure, deterministic for a seed, sorted by start.
 * Random streams are named: `arrivals`, `mix`, `tenants`, `repeats`, and `sessions/<arrival index>` per session, so adding a
 * mix class or a tenant never shifts the arrival times, and changing one session's class never shifts another's draws.
 */
import type { Random } from '../../src/random.js';
import { arrivalTimes } from './arrivals.js';
import { withClientPatience } from './client.js';
import { agentSession } from './session-agent.js';
import { multiTurnSession } from './session-multi-turn.js';
import { pooledSession, repeatSession, singleSession, type SessionSeat } from './session-single.js';
import { DEFAULT_ZIPF_EXPONENT, ZipfPicker } from './prompt-pool.js';
import { userSessions, type UsersArrivals } from './closed-loop.js';
import { isTraceWorkload, type MixEntry, type SyntheticWorkload, type TraceWorkload, type WorkloadSpec } from './spec.js';
import { sample } from './dist.js';
import { conversationSession } from './session-multi-turn.js';
import { loadTraceAs, windowTrace, type TraceRow } from './trace.js';
import { MOONCAKE_BLOCK_TOKENS, type TraceConversation, type TraceFormat } from './trace-formats.js';
import { sendSafely, sleepUntil, SYSTEM_MESSAGE, userMessage } from './session-common.js';
import type { PlannedRequest, PrefixSegment, Session, SessionContext, SessionSummary } from './types.js';

/** Options of {@link buildSessions}. */
export interface BuildOptions {
  /** Sessions start in [0, durationMs) (a `burst` keeps all its sessions; trace rows past it are dropped). */
  readonly durationMs: number;
  /** Directory that relative trace paths are resolved against. @default '.' (the working directory) */
  readonly baseDir?: string;
}

/** Default repeat window; see `repeatWindow` in the spec. */
export const DEFAULT_REPEAT_WINDOW = 50;

/** What a trace replay replayed, for reports and for rates over the right span. */
export interface TraceReplay {
  /** The trace file as given. */
  readonly file: string;
  readonly format: TraceFormat;
  /** Window start, in trace time. */
  readonly startMs: number;
  /** Window length in trace time; null: to the end of the trace (or of the run). */
  readonly durationMs: number | null;
  /** Time compression: 4 replays the window 4× faster. */
  readonly speed: number;
  /** Replay time the window spans (at most the run's arrival window): the span per-second rates divide by. */
  readonly replayedMs: number;
  /** Sessions replayed (rows, or conversations for ShareGPT). */
  readonly requests: number;
}

/** A run's sessions, and what was replayed when the workload is a trace. */
export interface BuiltWorkload {
  /** Open-loop sessions, or closed-loop users (sessions of kind `user`). */
  readonly sessions: Session[];
  readonly replay?: TraceReplay;
  /** The spec's cap on sessions in flight (open loop); see harness/workload/play.ts. */
  readonly maxConcurrency?: number;
}

/** Builds every session of a run, sorted by `startAtMs` (ties by id). */
export function buildSessions(spec: WorkloadSpec, random: Random, o: BuildOptions): Session[] {
  return buildWorkload(spec, random, o).sessions;
}

/** {@link buildSessions}, with what a trace replay replayed. */
export function buildWorkload(spec: WorkloadSpec, random: Random, o: BuildOptions): BuiltWorkload {
  const sort = (sessions: Session[]): Session[] => sessions.sort((a, b) => a.startAtMs - b.startAtMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (!isTraceWorkload(spec) && isUsers(spec)) return { sessions: userSessions(spec, random, o.durationMs) };
  if (!isTraceWorkload(spec)) {
    const sessions = sort(syntheticSessions(spec, random, o.durationMs));
    const client = spec.client;
    return {
      sessions: client === undefined ? sessions : sessions.map((s) => withClientPatience(s, client)),
      ...(spec.maxConcurrency !== undefined ? { maxConcurrency: spec.maxConcurrency } : {}),
    };
  }
  const { sessions, replay } = traceSessions(spec, random, o);
  return { sessions: sort(sessions), replay };
}

function isUsers(spec: SyntheticWorkload): spec is SyntheticWorkload & { arrivals: UsersArrivals } {
  return spec.arrivals.kind === 'users';
}

/** A zero-padded session id, so ids sort in arrival order. */
export function sessionId(index: number, total: number): string {
  return `s${String(index).padStart(Math.max(1, String(Math.max(0, total - 1)).length), '0')}`;
}

function syntheticSessions(spec: SyntheticWorkload, random: Random, durationMs: number): Session[] {
  const times = arrivalTimes(spec.arrivals, random.derive('arrivals'), durationMs);
  const mixRandom = random.derive('mix');
  const tenantRandom = random.derive('tenants');
  const repeatRandom = random.derive('repeats');
  const perSession = random.derive('sessions');
  const weights = spec.mix.map((e) => e.weight);
  const tenants: ReadonlyArray<{ name: string; weight: number; systemPromptTokens?: number }> = spec.tenants ?? [{ name: 'default', weight: 1 }];
  const tenantWeights = tenants.map((t) => t.weight);
  const repeatFraction = spec.repeatFraction ?? 0;
  const repeatWindow = spec.repeatWindow ?? DEFAULT_REPEAT_WINDOW;
  const recentSingles: Session[] = [];
  const out: Session[] = [];
  // Streams of their own (`prompts`, `prompt-pool/<class>/<rank>`): a workload without repeated prompts draws nothing.
  const pool = spec.repeatedPrompts;
  const picker = pool === undefined ? undefined : new ZipfPicker(pool.poolSize, pool.zipfExponent ?? DEFAULT_ZIPF_EXPONENT);
  const promptRandom = random.derive('prompts');
  const poolRandom = random.derive('prompt-pool');

  times.forEach((startAtMs, i) => {
    const id = sessionId(i, times.length);
    // A fixed number of draws per session on each shared stream keeps the streams aligned whatever is chosen.
    const entry = spec.mix[mixRandom.weightedIndex(weights)] as MixEntry;
    const drawnTenant = (tenants[tenantRandom.weightedIndex(tenantWeights)] as { name: string }).name;
    const repeatDraw = repeatRandom.next();
    const repeatPick = repeatRandom.next();

    if (recentSingles.length > 0 && repeatDraw < repeatFraction) {
      const original = recentSingles[Math.floor(repeatPick * recentSingles.length)] as Session;
      out.push(repeatSession(original, id, startAtMs));
      return;
    }
    const tenant = entry.tenant ?? drawnTenant;
    const systemPromptTokens = tenants.find((t) => t.name === tenant)?.systemPromptTokens;
    const seat: SessionSeat = { id, startAtMs, tenant, ...(systemPromptTokens !== undefined ? { tenantSystemTokens: systemPromptTokens } : {}) };
    // Keyed by arrival index, not the padded id, so a longer run does not change earlier sessions' draws.
    const r = perSession.derive(String(i));
    let rank: number | undefined;
    if (pool !== undefined && picker !== undefined) {
      const poolDraw = promptRandom.next();
      const poolPick = promptRandom.next();
      if (entry.kind === 'single' && poolDraw < pool.fraction) rank = picker.pick(poolPick);
    }
    const session =
      entry.kind === 'single'
        ? rank !== undefined
          ? pooledSession(entry, seat, rank, poolRandom.derive(`${entry.name}/${rank}`))
          : singleSession(entry, seat, r)
        : entry.kind === 'multi-turn'
          ? multiTurnSession(entry, seat, r)
          : agentSession(entry, seat, r);
    out.push(session);
    if (session.kind === 'single') {
      recentSingles.push(session);
      if (recentSingles.length > repeatWindow) recentSingles.shift();
    }
  });
  return out;
}

function traceSessions(spec: TraceWorkload, random: Random, o: BuildOptions): { sessions: Session[]; replay: TraceReplay } {
  const t = spec.trace;
  const parsed = loadTraceAs(t.path, o.baseDir, t.format);
  const speed = t.speedup ?? 1;
  const startMs = t.startMs ?? 0;
  if (parsed.format === 'sharegpt') {
    const sessions = conversationSessions(parsed.conversations, t, random, o.durationMs);
    const windowMs = t.durationMs === undefined ? o.durationMs : Math.min(o.durationMs, t.durationMs / speed);
    return { sessions, replay: { file: t.path, format: parsed.format, startMs, durationMs: t.durationMs ?? null, speed, replayedMs: windowMs, requests: sessions.length } };
  }
  const rows = parsed.rows;
  const window = windowTrace(rows, {
    speedup: speed,
    startMs,
    ...(t.durationMs !== undefined ? { durationMs: t.durationMs } : {}),
  }).filter((w) => w.atMs < o.durationMs);
  // The span replayed: the window (or the trace's end), in replay time, cut by the run's arrival window.
  const lastOffset = rows.length === 0 ? 0 : (rows[rows.length - 1] as TraceRow).offsetMs;
  const traceEnd = t.durationMs === undefined ? lastOffset : Math.min(lastOffset, startMs + t.durationMs);
  const replayedMs = Math.min(o.durationMs, Math.max(0, traceEnd - startMs) / speed) || o.durationMs;
  const tenant = t.tenant ?? 'default';
  const priority = t.priority ?? 'interactive';
  const sessions = window.map(({ row, atMs }, i): Session => {
    const id = sessionId(i, window.length);
    const cls = t.class ?? row.class ?? 'trace';
    const request: PlannedRequest = {
      id: `${id}/t0`,
      class: cls,
      kind: 'chat',
      tenant,
      priority,
      promptTokens: Math.max(1, row.contextTokens),
      ...(row.hashIds !== undefined && row.hashIds.length > 0 ? { prefix: mooncakePrefix(row.hashIds, row.contextTokens) } : {}),
      outputTokens: Math.max(1, row.generatedTokens),
      messages: [SYSTEM_MESSAGE, userMessage(id, `line ${row.line}`, row.contextTokens)],
      batchable: priority === 'batch',
      ...(t.deadlineMs !== undefined ? { deadlineMs: t.deadlineMs } : {}),
    };
    return {
      id,
      kind: 'trace',
      class: cls,
      tenant,
      startAtMs: atMs,
      plan: { kind: 'trace', request, traceLine: row.line },
      async run(ctx: SessionContext): Promise<SessionSummary> {
        await sleepUntil(ctx, atMs);
        const reply = await sendSafely(ctx, request, atMs);
        return { sent: 1, failed: reply.ok ? 0 : 1, degraded: reply.outcome === 'degraded', abandoned: false };
      },
    };
  });
  return { sessions, replay: { file: t.path, format: parsed.format, startMs, durationMs: t.durationMs ?? null, speed, replayedMs, requests: sessions.length } };
}

/** Mooncake block ids as prefix segments: 512 tokens each, the last one the rest of the prompt. */
export function mooncakePrefix(ids: readonly number[], inputTokens: number): PrefixSegment[] {
  const out: PrefixSegment[] = [];
  ids.forEach((id, j) => {
    const tokens = Math.min(MOONCAKE_BLOCK_TOKENS, inputTokens - j * MOONCAKE_BLOCK_TOKENS);
    if (tokens > 0) out.push({ id: `mc/${id}`, tokens });
  });
  return out;
}

/**
 * ShareGPT conversations as multi-turn sessions with their real lengths, starting by the spec's arrival process
 * (trace time, from `startMs`, scaled by the speed-up) and taken in file order, again from the top when there are
 * more arrivals than conversations.
 */
function conversationSessions(conversations: readonly TraceConversation[], t: TraceWorkload['trace'], random: Random, durationMs: number): Session[] {
  if (conversations.length === 0) return [];
  const speed = t.speedup ?? 1;
  const startMs = t.startMs ?? 0;
  const traceEndMs = t.durationMs === undefined ? startMs + durationMs * speed : startMs + t.durationMs;
  const times = arrivalTimes(t.arrivals ?? { kind: 'poisson', ratePerSec: 1 }, random.derive('arrivals'), traceEndMs)
    .filter((at) => at >= startMs)
    .map((at) => (at - startMs) / speed)
    .filter((at) => at < durationMs);
  const thinkRandom = random.derive('think');
  const think = t.thinkTimeMs ?? { kind: 'constant' as const, value: 5_000 };
  return times.map((startAtMs, i) => {
    const c = conversations[i % conversations.length] as TraceConversation;
    const id = sessionId(i, times.length);
    const plan = {
      kind: 'multi-turn' as const,
      userTokens: c.turns.map((x) => x.userTokens),
      outputTokens: c.turns.map((x) => x.outputTokens),
      thinkTimesMs: c.turns.slice(1).map(() => Math.max(0, sample(think, thinkRandom)) / speed),
    };
    return conversationSession({ id, startAtMs, tenant: t.tenant ?? 'default' }, plan, {
      class: t.class ?? 'sharegpt',
      priority: t.priority ?? 'interactive',
      system: c.systemTokens > 0 ? [{ id: `${id}/sys`, tokens: c.systemTokens }] : [],
      abandonOnFailure: true,
      ...(t.deadlineMs !== undefined ? { deadlineMs: t.deadlineMs } : {}),
    });
  });
}
