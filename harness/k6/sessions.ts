/**
 * Turns the harness's seeded sessions into plain call sequences for external load generators (the k6 script and
 * the autocannon driver). A session's plan has every random draw already; what a live reply would change (the
 * next turn's prompt includes the previous answer, the summarizer's prompt includes what the retrievers found)
 * is fixed here from the planned sizes, assuming every call succeeds.
 */
import type { MixEntry, Priority, Session, WorkloadSpec } from '../workload/index.js';
import type { PrefixSegment } from '../workload/types.js';
import { isTraceWorkload } from '../workload/index.js';
import { promptPrefix } from '../workload/session-multi-turn.js';
import { safeId, segmentTokens, tenantSystem } from '../workload/session-common.js';

/** A chat completion call. */
export interface ChatCall {
  readonly kind: 'chat';
  /** The request id's suffix within the session: `t0`, `t1`, `plan`, `sum`. */
  readonly label: string;
  /** Request class, for per-class metrics and SLO bounds: `chat`, `agent-planner`, ... */
  readonly class: string;
  readonly promptTokens: number;
  readonly outputTokens: number;
  /** Shared by a request and its repeats (double submits). */
  readonly idempotencyKey?: string;
  /**
   * The prompt's prefix identity, as the harness's live driver sends it (`x-mock-prefix`): the same segments the
   * harness's session would send, assuming every earlier call succeeded with its planned length.
   */
  readonly prefix?: readonly PrefixSegment[];
}

/** An embeddings call (an agent's retriever). */
export interface EmbeddingCall {
  readonly kind: 'embedding';
  readonly label: string;
  readonly class: string;
  /** Tokens of each input. */
  readonly inputTokens: readonly number[];
}

export type Call = ChatCall | EmbeddingCall;

/** One step of a session: a call, calls sent in parallel, or a think time. */
export type Step =
  | { readonly kind: 'call'; readonly call: ChatCall }
  | { readonly kind: 'parallel'; readonly calls: readonly EmbeddingCall[] }
  | { readonly kind: 'think'; readonly ms: number };

/** A session as a sequence of steps. */
export interface CompiledSession {
  readonly id: string;
  /** The mix entry's name (`trace` for trace replay). */
  readonly class: string;
  readonly startAtMs: number;
  readonly tenant: string;
  readonly priority: Priority;
  /** Per-request budget from the mix entry. */
  readonly deadlineMs?: number;
  /** A failed chat call ends the session (multi-turn with `onFailure: 'abandon'`, an agent's planner). */
  readonly abandonOnFailure: boolean;
  readonly steps: readonly Step[];
}

function labelOf(sessionId: string, requestId: string): string {
  return requestId.startsWith(`${sessionId}/`) ? requestId.slice(sessionId.length + 1) : requestId;
}

function entryFor(spec: WorkloadSpec, name: string): MixEntry | undefined {
  return isTraceWorkload(spec) ? undefined : spec.mix.find((e) => e.name === name);
}

/** Compiles one session; `spec` supplies what the plan leaves to the mix entry (system prompt, context cap). */
export function compileSession(s: Session, spec: WorkloadSpec): CompiledSession {
  const p = s.plan;
  const base = { id: s.id, class: s.class, startAtMs: s.startAtMs, tenant: s.tenant };
  switch (p.kind) {
    case 'single':
    case 'trace': {
      const r = p.request;
      const call: ChatCall = {
        kind: 'chat',
        label: labelOf(s.id, r.id),
        class: r.class,
        promptTokens: r.promptTokens,
        outputTokens: r.outputTokens,
        ...(r.idempotencyKey !== undefined ? { idempotencyKey: r.idempotencyKey } : {}),
        ...prefixOf(r.prefix),
      };
      return { ...base, priority: r.priority, ...deadline(r.deadlineMs), abandonOnFailure: true, steps: [{ kind: 'call', call }] };
    }
    case 'multi-turn': {
      const entry = entryFor(spec, s.class);
      const mt = entry?.kind === 'multi-turn' ? entry : undefined;
      const maxContext = mt?.maxContextTokens ?? Number.POSITIVE_INFINITY;
      // The prompt's segments as harness/workload/session-multi-turn.ts builds them: the tenant's and the class's
      // system prompts, then the conversation (user turns and the answers, at their planned length).
      const system: PrefixSegment[] = [...tenantSystem(s.tenant, tenantSystemTokens(spec, s.tenant))];
      if ((mt?.systemPromptTokens ?? 0) > 0) system.push({ id: `class/${safeId(s.class)}/sys`, tokens: mt?.systemPromptTokens ?? 0 });
      let context = segmentTokens(system);
      const history: PrefixSegment[] = [];
      const steps: Step[] = [];
      p.userTokens.forEach((user, k) => {
        context += user;
        history.push({ id: `${s.id}/u${k}`, tokens: user });
        const output = p.outputTokens[k] as number;
        const promptTokens = Math.min(context, maxContext);
        steps.push({ kind: 'call', call: { kind: 'chat', label: `t${k}`, class: s.class, promptTokens, outputTokens: output, ...prefixOf(promptPrefix(system, history, promptTokens)) } });
        context += output;
        history.push({ id: `out:${s.id}/t${k}`, tokens: output });
        const think = p.thinkTimesMs[k];
        if (think !== undefined) steps.push({ kind: 'think', ms: Math.round(think) });
      });
      return {
        ...base,
        priority: mt?.priority ?? 'interactive',
        ...deadline(mt?.deadlineMs),
        abandonOnFailure: (mt?.onFailure ?? 'abandon') === 'abandon',
        steps,
      };
    }
    case 'agent': {
      const retrieved = p.retrievedTokens.reduce((a, b) => a + b, 0);
      const calls: EmbeddingCall[] = p.retrievers.map((r) => ({
        kind: 'embedding',
        label: labelOf(s.id, r.id),
        class: r.class,
        inputTokens: r.inputTokens ?? [r.promptTokens],
      }));
      const summarizerClass = p.planner.class.replace(/-planner$/, '-summarizer');
      // The planner's prompt is the shared context (tenant system prompt, the class's tools) plus its own part; the
      // summarizer's starts with the same shared context (harness/workload/session-agent.ts).
      const shared = (p.planner.prefix ?? []).slice(0, -1);
      const sharedTokens = segmentTokens(shared);
      const steps: Step[] = [
        {
          kind: 'call',
          call: {
            kind: 'chat',
            label: labelOf(s.id, p.planner.id),
            class: p.planner.class,
            promptTokens: p.planner.promptTokens,
            outputTokens: p.planner.outputTokens,
            ...prefixOf(p.planner.prefix),
          },
        },
        ...(calls.length > 0 ? [{ kind: 'parallel', calls } as const] : []),
        {
          kind: 'call',
          call: {
            kind: 'chat',
            label: 'sum',
            class: summarizerClass,
            promptTokens: sharedTokens + p.summarizerPromptTokens + p.planner.outputTokens + retrieved,
            outputTokens: p.summarizerOutputTokens,
            ...prefixOf(shared),
          },
        },
      ];
      return { ...base, priority: p.planner.priority, ...deadline(p.planner.deadlineMs), abandonOnFailure: true, steps };
    }
    case 'user':
      // A closed-loop user is a loop, not a call sequence: compile the sessions it plays (`plan.session(k, at)`).
      throw new RangeError(`compileSession: expected a session, got closed-loop user ${s.id}; compile plan.session(k, atMs) instead`);
  }
}

function prefixOf(segments: readonly PrefixSegment[] | undefined): { prefix?: readonly PrefixSegment[] } {
  return segments !== undefined && segments.length > 0 ? { prefix: segments } : {};
}

function tenantSystemTokens(spec: WorkloadSpec, tenant: string): number | undefined {
  return isTraceWorkload(spec) ? undefined : spec.tenants?.find((t) => t.name === tenant)?.systemPromptTokens;
}

/** The prefix as the `x-mock-prefix` header writes it: `ID=TOKENS,ID=TOKENS,...`. */
export function prefixHeader(segments: readonly PrefixSegment[]): string {
  return segments.map((x) => `${x.id}=${x.tokens}`).join(',');
}

function deadline(ms: number | undefined): { deadlineMs?: number } {
  return ms !== undefined ? { deadlineMs: ms } : {};
}

/** Every call of a session in order, parallel calls flattened (for drivers that send independent requests). */
export function sessionCalls(s: CompiledSession): Call[] {
  return s.steps.flatMap((st): Call[] => (st.kind === 'call' ? [st.call] : st.kind === 'parallel' ? [...st.calls] : []));
}

/** Assumed time of one chat call for {@link estimateSessionMs}: a fixed part plus a decode time per output token. */
export const ESTIMATE_CALL_MS = 250;
export const ESTIMATE_MS_PER_OUTPUT_TOKEN = 20;
/** Assumed time of a step of parallel embedding calls. */
export const ESTIMATE_EMBED_MS = 200;

/**
 * The mean time a session keeps its load-generator worker busy, ms: its think times plus, per chat call,
 * {@link ESTIMATE_CALL_MS} + {@link ESTIMATE_MS_PER_OUTPUT_TOKEN} per output token, and {@link ESTIMATE_EMBED_MS} per
 * parallel embedding step. A rough figure for sizing a VU pool (sessions in flight = arrival rate × this); the
 * target's real speed is not known when a script is exported. 0 for no sessions.
 */
export function estimateSessionMs(sessions: readonly CompiledSession[]): number {
  if (sessions.length === 0) return 0;
  let total = 0;
  for (const s of sessions) {
    for (const st of s.steps) {
      if (st.kind === 'think') total += st.ms;
      else if (st.kind === 'parallel') total += ESTIMATE_EMBED_MS;
      else total += ESTIMATE_CALL_MS + ESTIMATE_MS_PER_OUTPUT_TOKEN * st.call.outputTokens;
    }
  }
  return total / sessions.length;
}
