/**
 * Turns the harness's seeded sessions into plain call sequences for external load generators (the k6 script and
 * the autocannon driver). A session's plan has every random draw already; what a live reply would change (the
 * next turn's prompt includes the previous answer, the summarizer's prompt includes what the retrievers found)
 * is fixed here from the planned sizes, assuming every call succeeds.
 */
import type { MixEntry, Priority, Session, WorkloadSpec } from '../workload/index.js';
import { isTraceWorkload } from '../workload/index.js';

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
      };
      return { ...base, priority: r.priority, ...deadline(r.deadlineMs), abandonOnFailure: true, steps: [{ kind: 'call', call }] };
    }
    case 'multi-turn': {
      const entry = entryFor(spec, s.class);
      const mt = entry?.kind === 'multi-turn' ? entry : undefined;
      const maxContext = mt?.maxContextTokens ?? Number.POSITIVE_INFINITY;
      let context = mt?.systemPromptTokens ?? 0;
      const steps: Step[] = [];
      p.userTokens.forEach((user, k) => {
        context += user;
        const output = p.outputTokens[k] as number;
        steps.push({ kind: 'call', call: { kind: 'chat', label: `t${k}`, class: s.class, promptTokens: Math.min(context, maxContext), outputTokens: output } });
        context += output;
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
      const steps: Step[] = [
        { kind: 'call', call: { kind: 'chat', label: labelOf(s.id, p.planner.id), class: p.planner.class, promptTokens: p.planner.promptTokens, outputTokens: p.planner.outputTokens } },
        ...(calls.length > 0 ? [{ kind: 'parallel', calls } as const] : []),
        {
          kind: 'call',
          call: {
            kind: 'chat',
            label: 'sum',
            class: summarizerClass,
            promptTokens: p.summarizerPromptTokens + p.planner.outputTokens + retrieved,
            outputTokens: p.summarizerOutputTokens,
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

function deadline(ms: number | undefined): { deadlineMs?: number } {
  return ms !== undefined ? { deadlineMs: ms } : {};
}

/** Every call of a session in order, parallel calls flattened (for drivers that send independent requests). */
export function sessionCalls(s: CompiledSession): Call[] {
  return s.steps.flatMap((st): Call[] => (st.kind === 'call' ? [st.call] : st.kind === 'parallel' ? [...st.calls] : []));
}
