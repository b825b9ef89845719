/**
 * The contract between the workload (what to send, when) and the runner (how it is sent and measured).
 * Sessions are plain data plus a `run` that talks to the system only through the {@link SessionContext}.
 */

/** Whether a request is latency-sensitive or may wait behind interactive work. */
export const PRIORITIES = ['interactive', 'batch'] as const;
export type Priority = (typeof PRIORITIES)[number];

import type { PrefixSegment } from '../../src/upstream/model-client.js';

export type { PrefixSegment };

/** A chat message; the text is short and synthetic, `promptTokens` is the authoritative length. */
export interface PlannedMessage {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string;
}

/** A request the runner sends through the engine. */
export interface PlannedRequest {
  /** Unique within a run and deterministic: `${sessionId}/t${turn}`, `${sessionId}/plan`, `/ret${i}`, `/sum`. */
  readonly id: string;
  /** The request class, for per-class metrics: the mix entry's name (`chat`, `long-gen`, `batch`), `${name}-planner`, ... */
  readonly class: string;
  readonly kind: 'chat' | 'embedding';
  readonly tenant: string;
  readonly priority: Priority;
  /** Repeated requests (see `repeatFraction`) share this key with their original. */
  readonly idempotencyKey?: string;
  /** Prompt length in tokens (chat; for embeddings, the sum of `inputTokens`). */
  readonly promptTokens: number;
  /**
   * What the prompt's leading tokens are, for a server's prefix cache: a tenant's system prompt, a class's shared
   * context, a conversation's earlier turns (`out:<request id>` is that request's output), a trace's block ids.
   * Tokens past them are unique to this request. @default none (all unique)
   */
  readonly prefix?: readonly PrefixSegment[];
  /** Tokens to generate (chat; 0 for embeddings). */
  readonly outputTokens: number;
  readonly messages: readonly PlannedMessage[];
  /** Embedding inputs (synthetic text) and their lengths in tokens. */
  readonly inputs?: readonly string[];
  readonly inputTokens?: readonly number[];
  /** The engine may batch this request with others (embeddings, batch jobs). */
  readonly batchable: boolean;
  /** Budget in ms, counted from the intended start. Absent: no deadline. */
  readonly deadlineMs?: number;
  /**
   * Sampling temperature sent with the request (`params.temperature`); 0 makes it repeatable, so a response cache
   * may answer it. Absent: not sent (the server's default, not cacheable).
   */
  readonly temperature?: number;
  /**
   * Set on an agent's summarizer when some retriever branches failed: the answer is built from partial inputs and
   * should be counted as `degraded`, not `ok`.
   */
  readonly partialInputs?: { readonly failed: number; readonly total: number };
  /**
   * The client gives up when no token arrived this long after it sent the request (a client-side timeout, see
   * `client` in the workload spec): the runner aborts it and reports `clientTimedOut`. @default none
   */
  readonly clientTimeoutMs?: number;
}

/** What the runner reports back for one request. `send` never rejects; failures come back with `ok: false`. */
export interface RequestReply {
  /** True when the client got a usable answer (outcome `ok` or `degraded`). */
  readonly ok: boolean;
  /** One of the measured outcomes: `ok`, `degraded`, `shed`, `failed`, `timeout`, `cancelled`. */
  readonly outcome: string;
  /** Tokens received (chat output tokens; for embeddings, inputs embedded). */
  readonly tokens: number;
  /** The received text (may be long; sessions keep only a short excerpt). */
  readonly text: string;
  /** The client's own timeout (`clientTimeoutMs`) abandoned it before any token arrived. */
  readonly clientTimedOut?: boolean;
}

/** What the runner gives a session. Time is read only through `now`/`sleep`, so sessions run in virtual time. */
export interface SessionContext {
  now(): number;
  sleep(ms: number): Promise<void>;
  /**
   * Starts a request and resolves with its reply. Latency is measured from `intendedStartMs` (the scheduled
   * moment), so a late start caused by the system under test cannot hide (no coordinated omission).
   */
  send(req: PlannedRequest, intendedStartMs: number): Promise<RequestReply>;
  /**
   * Told when a session starts playing and when it ends (at `now()`), so the runner can count sessions in flight.
   * Called by {@link playWorkload} and by closed-loop users for each session they play. @default not told
   */
  sessionStarted?(): void;
  sessionEnded?(): void;
  /** Aborted when the run stops early: closed-loop users start no further session. @default never aborted */
  readonly signal?: AbortSignal;
}

/** How a session ended; returned by `Session.run` for the runner and tests. */
export interface SessionSummary {
  /** Requests sent. */
  readonly sent: number;
  /** Requests whose reply had `ok: false`. */
  readonly failed: number;
  /** The session's final answer was built from partial inputs (an agent with failed retrievers). */
  readonly degraded: boolean;
  /** The session stopped early because a request it depended on failed. */
  readonly abandoned: boolean;
}

export const SESSION_KINDS = ['single', 'multi-turn', 'agent', 'trace', 'user'] as const;
export type SessionKind = (typeof SESSION_KINDS)[number];

/** One user (or agent, or trace row): a start time, a plan of pre-drawn random choices, and how to play it. */
export interface Session {
  /** Unique and deterministic: `s${index}` in arrival order, zero-padded. */
  readonly id: string;
  readonly kind: SessionKind;
  /** The mix entry's name (`trace` for trace replay). */
  readonly class: string;
  readonly tenant: string;
  /** Scheduled start in ms from the run's start; the first request's intended start. */
  readonly startAtMs: number;
  /** Every random choice, drawn at build time: two builds with one seed have identical plans. */
  readonly plan: SessionPlan;
  /**
   * Plays the session. May be called at or before `startAtMs` (it sleeps until then). Resolves when the session
   * is over; never rejects because a request failed.
   */
  run(ctx: SessionContext): Promise<SessionSummary>;
}

/** The pre-drawn choices of a session, as data. */
export type SessionPlan =
  | {
      readonly kind: 'single';
      readonly request: PlannedRequest;
      readonly repeatOf?: string;
      /** The popularity rank of the pool prompt it asks (`repeatedPrompts`), 0 the most popular. */
      readonly poolRank?: number;
    }
  | {
      readonly kind: 'multi-turn';
      /** New user tokens per turn (the prompt of turn k adds all earlier prompts and outputs). */
      readonly userTokens: readonly number[];
      readonly outputTokens: readonly number[];
      /** Think time before turn k+1, after the reply to turn k; length turns - 1. */
      readonly thinkTimesMs: readonly number[];
    }
  | {
      readonly kind: 'agent';
      readonly planner: PlannedRequest;
      readonly retrievers: readonly PlannedRequest[];
      /** Tokens each retriever contributes to the summarizer's prompt when it succeeds. */
      readonly retrievedTokens: readonly number[];
      readonly summarizerPromptTokens: number;
      readonly summarizerOutputTokens: number;
    }
  | { readonly kind: 'trace'; readonly request: PlannedRequest; readonly traceLine: number }
  | {
      /**
       * A closed-loop user: plays sessions back to back until the arrival window closes. They are drawn as they
       * start (their start times depend on how fast the system answers); `session(k, startAtMs)` draws the k-th,
       * from its own seeded stream, so the draws do not depend on timing.
       */
      readonly kind: 'user';
      readonly user: number;
      readonly session: (k: number, startAtMs: number) => Session;
      /** The k-th pause between sessions, ms. */
      readonly thinkTimeMs: (k: number) => number;
      /** The least pause after a session whose every request failed, ms. */
      readonly failurePauseMs: number;
      /** No session starts at or after this time. */
      readonly untilMs: number;
    };
