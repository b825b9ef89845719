/**
 * The engine's own account of one request, on the wire as the vendor field `x_engine` (OpenAI clients ignore
 * fields they do not know), so a client or a load generator gets per-request figures the HTTP status cannot
 * carry: the outcome, how many attempts and upstream calls it took, and the time it spent queued and backing off.
 *
 *     token chunk:      "x_engine": { "index": 12, "count": 1 }                       (the tokens this chunk carries)
 *     final chunk, whole response, error body or in-stream error event:
 *                       "x_engine": { "outcome": "ok", "attempts": 2, "upstreamCalls": 2, "resumes": 1,
 *                                     "queuedMs": 0.512, "backoffMs": 131.07 }   (+ "degraded", "reason", "deduped", "cache")
 *                       + "bills": [{ "model": "primary", "inputTokens": 812, "cachedInputTokens": 0, "outputTokens": 40,
 *                                     "deliveredTokens": 40, "resumeFrom": 0, "completed": false, "estimated": true }, ...]
 *                         what each upstream call that ran was billed (src/engine/billed-usage.ts), in order;
 *                         "billsUnknown": true when a call may have been billed without the engine knowing how much
 */
import type { BilledCall } from '../engine/billed-usage.js';
import type { EngineResult, Outcome } from '../engine/engine-types.js';
import { reasonOf } from '../engine/reasons.js';

/** The `x_engine` summary of a finished request. */
export interface EngineSummary {
  readonly outcome: Outcome;
  /** Only with outcome `degraded`. */
  readonly degraded?: NonNullable<EngineResult['degraded']>;
  /** Why it did not end `ok`: a stable reason code (src/engine/reasons.ts); absent for `ok`. */
  readonly reason?: string;
  readonly attempts: number;
  readonly upstreamCalls: number;
  readonly resumes: number;
  /** Time waiting for a slot while eligible, ms (to the microsecond). */
  readonly queuedMs: number;
  /** Time waiting out retry backoffs, ms (to the microsecond). */
  readonly backoffMs: number;
  /** Served from an identical request in flight (`joined`) or just finished (`cached`). */
  readonly deduped?: NonNullable<EngineResult['deduped']>;
  /** The response cache's verdict for a cacheable request (`hit`, `miss`, `stale`), when the cache is on. */
  readonly cache?: NonNullable<EngineResult['cache']>;
  /** What each upstream call that ran was billed, in order; absent when none ran (or a dedup twin: its leader paid). */
  readonly bills?: readonly BilledCall[];
  /** Some call may have been billed without the engine knowing how much. */
  readonly billsUnknown?: true;
}

const us = (ms: number): number => Math.round(ms * 1000) / 1000;

/** The summary of `r`. */
export function engineSummary(r: EngineResult): EngineSummary {
  return {
    outcome: r.outcome,
    ...(r.degraded !== undefined ? { degraded: r.degraded } : {}),
    ...(r.outcome !== 'ok' ? { reason: reasonOf(r) } : {}),
    attempts: r.attempts,
    upstreamCalls: r.upstreamCalls,
    resumes: r.resumes,
    queuedMs: us(r.queuedMs),
    backoffMs: us(r.backoffMs),
    ...(r.deduped !== undefined ? { deduped: r.deduped } : {}),
    ...(r.cache !== undefined ? { cache: r.cache } : {}),
    ...(r.billed !== undefined && r.billed.calls.length > 0 ? { bills: r.billed.calls } : {}),
    ...(r.billed?.unknown === true ? { billsUnknown: true as const } : {}),
  };
}
