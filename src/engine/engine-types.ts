import type { BilledCall } from './billed-usage.js';
import type { Policy } from '../policy.js';
import type { Random } from '../random.js';
import type { Clock } from '../time/clock.js';
import type { EmbeddingRequest, ModelClient, ModelRequest, StreamEvent, Usage } from '../upstream/model-client.js';
import type { BreakerState, BreakerStateChange } from './breaker.js';
import type { Priority } from './queue.js';
import type { ResponseStore } from './response-cache.js';
import type { GiveUpReason } from './retry.js';

/** What the Engine is built from. */
export interface EngineDeps {
  readonly clock: Clock;
  /** The engine derives its own streams (`engine/backoff`), so other components' numbers do not shift. */
  readonly random: Random;
  readonly policy: Policy;
  readonly primary: ModelClient;
  readonly fallback?: ModelClient;
  /**
   * Prompt tokens of a request that does not give them, for TPM limits (a real tokenizer, e.g. from
   * src/upstream/tokenizer.ts). Called only when rate limits are on. @default about 4 characters a token
   */
  readonly countPromptTokens?: (request: ModelRequest) => number;
  /**
   * Where the response cache keeps answers when `policy.cache.enabled` (e.g. a RedisResponseStore shared by every
   * engine process). @default in memory, bounded by `policy.cache.maxBytes`
   */
  readonly responseStore?: ResponseStore;
  /**
   * The models' context windows in tokens, when known: a context-length refusal by the primary goes to the fallback
   * only when its window is larger (unknown: it is tried). @default unknown
   */
  readonly contextTokens?: { readonly primary?: number; readonly fallback?: number };
}

/** One chunk delivered to the caller. Every token is delivered exactly once, in order. */
export interface TokenChunk {
  readonly index: number;
  readonly count: number;
  readonly text: string;
  readonly atMs: number;
}

/** One request to the engine. */
export interface EngineRequest {
  readonly id: string;
  /** Per-tenant rate limits apply to this key. */
  readonly tenant?: string;
  /** @default 'interactive' */
  readonly priority?: Priority;
  /** Requests with the same key join the in-flight twin or get its stored result (when dedup is on). */
  readonly idempotencyKey?: string;
  /**
   * `primary` or `fallback` (the engine's two upstreams), or a deployment of a fleet upstream by name (passed on in
   * StreamOptions.route; the engine's router treats it as no hint).
   */
  readonly modelHint?: string;
  /** The job contract's 1–10 priority level, for a fleet's routing rules. */
  readonly priorityLevel?: number;
  /** The session or conversation this request belongs to: a fleet's affinity key. @default the first prefix segment's id */
  readonly sessionId?: string;
  /** A request class, for a fleet's routing rules. */
  readonly requestClass?: string;
  readonly kind: 'chat' | 'embedding';
  /** The chat request (for kind `chat`). */
  readonly request?: ModelRequest;
  /** The embeddings request (for kind `embedding`). */
  readonly embedding?: EmbeddingRequest;
  /** Attempts for this request, at most the policy's `retry.maxAttempts` (a job's own `maxAttempts`). @default the policy's */
  readonly maxAttempts?: number;
  /** Overall deadline, relative to submit. Always honoured; without it the policy's `deadline` applies. */
  readonly deadlineMs?: number;
  /** May be batched with others (embeddings only). */
  readonly batchable?: boolean;
  readonly onTokens?: (chunk: TokenChunk) => void;
  /**
   * When each chunk of tokens reached the engine and how many it carried (called beside `onTokens`, for every chunk it
   * gets), for a caller that needs only that (a virtual run's recorder). Without `onTokens` (and while no dedup twin
   * follows the request), the engine may call it late: chunks of a pushed stream that holds them back
   * (StreamSink.hold) are handed over in order, each with the time it arrived, whenever the engine looks at the
   * request's progress (a timeout check, a retry, its end), and at the latest before the request's result.
   * The first chunk of a request always comes as it arrives.
   */
  readonly onTokenTimes?: (atMs: number, count: number) => void;
  /** Streamed deltas the engine does not interpret (tool calls, refusal, logprobs, other choices), in order. */
  readonly onExtra?: (extra: ExtraDelta) => void;
  /**
   * Backpressure from the caller's client: asked before each read of the upstream stream. A promise means "full,
   * wait": the engine reads nothing more until it settles (or the request is aborted), so the upstream's bytes
   * wait in its socket (TCP flow control pauses the upstream) instead of this process, and the idle timeout does
   * not run meanwhile (the upstream is not the slow one). The deadline still does.
   */
  readonly backpressure?: () => PromiseLike<void> | undefined;
  /**
   * The caller shows nothing before the result (a non-streamed answer): when a stream breaks after output on an
   * upstream that cannot continue it, the engine may drop that output and start again from scratch, calling
   * `onRestart` first (tokens then count from 0 again). Ignored while dedup twins follow the request. @default false
   */
  readonly buffered?: boolean;
  readonly onRestart?: () => void;
  /**
   * Overrides the response cache's rule (temperature 0 or a fixed seed, no tools): `true` lets the caller vouch that
   * the request may be answered by a replay; `false` never looks it up or stores it. @default by the rule
   */
  readonly cacheable?: boolean;
}

/** A streamed delta passed through unread (the `extra` StreamEvent). */
export type ExtraDelta = Omit<Extract<StreamEvent, { type: 'extra' }>, 'type'>;

export const OUTCOMES = ['ok', 'degraded', 'shed', 'failed', 'timeout', 'cancelled'] as const;

/** Why an answer is `degraded` (see {@link EngineResult.degraded}). */
export const DEGRADED_REASONS = ['fallback', 'partial', 'context-trimmed', 'spliced', 'cached', 'smaller-model', 'context-fallback'] as const;
export type DegradedReason = (typeof DEGRADED_REASONS)[number];
export type Outcome = (typeof OUTCOMES)[number];

/** Why a request was shed without being served. */
export type ShedReason = 'rate-limited' | 'queue-full' | 'expired' | 'codel' | 'slo';

/** How one request ended. Exactly one per request. */
export interface EngineResult {
  readonly id: string;
  readonly outcome: Outcome;
  /**
   * Set with outcome `degraded`: served by the fallback, partially, with trimmed context, spliced, from the cache
   * after the upstream failed (`cached`), by the smaller model for its size (`smaller-model`), or by the
   * larger-context fallback (`context-fallback`).
   */
  readonly degraded?: DegradedReason;
  readonly error?: { readonly code: string; readonly message: string };
  /** Text delivered (the partial text for a failure after some tokens). */
  readonly text: string;
  /** Tokens delivered. */
  readonly tokens: number;
  readonly model: 'primary' | 'fallback';
  /** Passes through the attempt loop (a breaker refusal counts; a dedup join makes none). */
  readonly attempts: number;
  /** Upstream calls made for this request (a batch counts once for each request in it). */
  readonly upstreamCalls: number;
  /** Attempts that resumed a stream (`resumeFrom` > 0). */
  readonly resumes: number;
  /** Time spent eligible and waiting for a concurrency slot. */
  readonly queuedMs: number;
  /** Time spent waiting between attempts. */
  readonly backoffMs: number;
  readonly firstTokenAtMs?: number;
  readonly endAtMs: number;
  /** On `shed` (and breaker refusals): when to try again. */
  readonly retryAfterMs?: number;
  readonly deduped?: 'joined' | 'cached';
  /**
   * The response cache's part, for a cacheable request when the cache is on: `hit` (answered from the cache or by an
   * identical request in flight, no upstream call of its own), `miss` (went upstream), `stale` (an answer past its
   * TTL served because the upstream failed: outcome `degraded`, `degraded: cached`).
   */
  readonly cache?: 'hit' | 'miss' | 'stale';
  /** The usage of the call that completed the answer, as its upstream reported it (or estimated, and flagged so). */
  readonly usage?: Usage;
  /**
   * What every upstream call that ran was billed, in order (src/engine/billed-usage.ts); `unknown`: some call failed
   * before any event and may have been billed. Absent when no call ran, and on a dedup twin (its leader paid).
   */
  readonly billed?: { readonly calls: readonly BilledCall[]; readonly unknown: boolean };
  /** The completing call's finish reason as the upstream said it (`stop`, `length`, `tool_calls`, ...). */
  readonly finishReason?: string;
  /** For kind `embedding`: one vector per input. */
  readonly embeddings?: ReadonlyArray<readonly number[]>;
}

/** Typed engine events. Listeners run synchronously; keep them cheap. */
export type EngineEvent =
  | { readonly type: 'shed'; readonly id: string; readonly reason: ShedReason; readonly retryAfterMs?: number; readonly atMs: number }
  | { readonly type: 'attempt'; readonly id: string; readonly attempt: number; readonly model: 'primary' | 'fallback'; readonly resumeFrom?: number; readonly atMs: number }
  | {
      readonly type: 'attempt-failed';
      readonly id: string;
      readonly attempt: number;
      readonly model: 'primary' | 'fallback';
      readonly code: string;
      /**
       * What the primary's breaker was told: `failure` (counted), `load` (a timeout that load explains: not
       * counted), `ignored` (says nothing about health: a 429, a cancel), `success` (a sane refusal, e.g. a bad
       * request). Absent when no breaker judged the attempt (no breaker, or the fallback).
       */
      readonly breaker?: 'failure' | 'load' | 'ignored' | 'success';
      readonly atMs: number;
    }
  | {
      readonly type: 'retry';
      readonly id: string;
      /** The attempt that failed. */
      readonly attempt: number;
      readonly delayMs: number;
      /** `fallback`: the primary failed and its breaker is open by now, so the retry goes to the fallback at once. */
      readonly cause: 'backoff' | 'retry-after' | 'context-trim' | 'breaker-open' | 'context-fallback' | 'fallback';
      readonly code: string;
      /** Waits holding its slot, or gave it back and re-queued. */
      readonly holdsSlot: boolean;
      readonly atMs: number;
    }
  | {
      readonly type: 'give-up';
      readonly id: string;
      /** `no-continuation`: the stream broke after tokens reached the caller and the upstream cannot continue it. */
      readonly reason: GiveUpReason | 'breaker-open' | 'no-continuation';
      readonly code: string;
      readonly atMs: number;
    }
  | ({ readonly type: 'breaker-state' } & BreakerStateChange)
  | { readonly type: 'limit'; readonly limit: number; readonly atMs: number }
  | { readonly type: 'batch'; readonly model: 'primary' | 'fallback'; readonly size: number; readonly atMs: number }
  | { readonly type: 'cache'; readonly id: string; readonly result: 'hit' | 'miss' | 'stale'; readonly atMs: number }
  | { readonly type: 'done'; readonly result: EngineResult };

/** Engine-wide counters (monotonic). */
export interface EngineCounters {
  submitted: number;
  ok: number;
  degraded: number;
  shed: number;
  failed: number;
  timeout: number;
  cancelled: number;
  attempts: number;
  /** Real upstream calls: a batch counts once. */
  upstreamCalls: number;
  retries: number;
  resumes: number;
  budgetDenied: number;
  breakerRejected: number;
  fallbacks: number;
  contextTrims: number;
  dedupJoined: number;
  dedupCached: number;
  batches: number;
  tokensDelivered: number;
  /** Tokens received again after a restart and not delivered (already seen by the caller). */
  tokensDiscarded: number;
  /** Cacheable requests answered without an upstream call of their own (from the cache, or a twin in flight). */
  cacheHits: number;
  /** Cacheable requests that went upstream. */
  cacheMisses: number;
  /** Stale answers served as `degraded: cached`. */
  cacheStale: number;
  /** Requests sent to the fallback for their size (`degraded: smaller-model`). */
  smallerModel: number;
  /** Context-length refusals sent on to the larger-context fallback (`degraded: context-fallback`). */
  contextFallbacks: number;
}

/** A point-in-time view of the engine. */
export interface EngineSnapshot {
  readonly queueDepth: number;
  readonly inFlight: number;
  readonly concurrencyLimit: number;
  readonly breaker: BreakerState;
  readonly budgetLevel: number | undefined;
  /** Requests submitted and not yet finished. */
  readonly active: number;
  readonly counters: Readonly<EngineCounters>;
  /** The response cache's bytes and entries, when it is on and its store knows them. */
  readonly cache?: { readonly bytes?: number; readonly entries?: number };
}
