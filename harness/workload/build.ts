/**
 * Turns a workload spec and a seed into the run's sessions: pure, deterministic for a seed, sorted by start.
 * Random streams are named: `arrivals`, `mix`, `tenants`, `repeats`, and `sessions/<arrival index>` per session, so adding a
 * mix class or a tenant never shifts the arrival times, and changing one session's class never shifts another's draws.
 */
import type { Random } from '../../src/random.js';
import { arrivalTimes } from './arrivals.js';
import { agentSession } from './session-agent.js';
import { multiTurnSession } from './session-multi-turn.js';
import { repeatSession, singleSession, type SessionSeat } from './session-single.js';
import { isTraceWorkload, type MixEntry, type SyntheticWorkload, type TraceWorkload, type WorkloadSpec } from './spec.js';
import { loadTrace, windowTrace } from './trace.js';
import { sendSafely, sleepUntil, SYSTEM_MESSAGE, userMessage } from './session-common.js';
import type { PlannedRequest, Session, SessionContext, SessionSummary } from './types.js';

/** Options of {@link buildSessions}. */
export interface BuildOptions {
  /** Sessions start in [0, durationMs) (a `burst` keeps all its sessions; trace rows past it are dropped). */
  readonly durationMs: number;
  /** Directory that relative trace paths are resolved against. @default '.' (the working directory) */
  readonly baseDir?: string;
}

/** Default repeat window; see `repeatWindow` in the spec. */
export const DEFAULT_REPEAT_WINDOW = 50;

/** Builds every session of a run, sorted by `startAtMs` (ties by id). */
export function buildSessions(spec: WorkloadSpec, random: Random, o: BuildOptions): Session[] {
  const sessions = isTraceWorkload(spec) ? traceSessions(spec, o) : syntheticSessions(spec, random, o.durationMs);
  return sessions.sort((a, b) => a.startAtMs - b.startAtMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
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
    const session =
      entry.kind === 'single' ? singleSession(entry, seat, r) : entry.kind === 'multi-turn' ? multiTurnSession(entry, seat, r) : agentSession(entry, seat, r);
    out.push(session);
    if (session.kind === 'single') {
      recentSingles.push(session);
      if (recentSingles.length > repeatWindow) recentSingles.shift();
    }
  });
  return out;
}

function traceSessions(spec: TraceWorkload, o: BuildOptions): Session[] {
  const t = spec.trace;
  const rows = loadTrace(t.path, o.baseDir);
  const window = windowTrace(rows, {
    ...(t.speedup !== undefined ? { speedup: t.speedup } : {}),
    ...(t.startMs !== undefined ? { startMs: t.startMs } : {}),
    ...(t.durationMs !== undefined ? { durationMs: t.durationMs } : {}),
  }).filter((w) => w.atMs < o.durationMs);
  const cls = t.class ?? 'trace';
  const tenant = t.tenant ?? 'default';
  const priority = t.priority ?? 'interactive';
  return window.map(({ row, atMs }, i) => {
    const id = sessionId(i, window.length);
    const request: PlannedRequest = {
      id: `${id}/t0`,
      class: cls,
      kind: 'chat',
      tenant,
      priority,
      promptTokens: row.contextTokens,
      outputTokens: row.generatedTokens,
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
    } satisfies Session;
  });
}
