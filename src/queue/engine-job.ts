/**
 * The pipeline after dequeue, shared by the embedded queue (JobService) and the Redis workers: a stored job
 * becomes an EngineRequest, and the Engine's result becomes the job's terminal state.
 */
import type { JobPatch, JobRecord, JobStatus } from '../jobs/job-store.js';
import { billedTotals, billedUsd, type ServicePrices } from '../engine/billed-usage.js';
import type { EngineRequest, EngineResult, TokenChunk } from '../engine/engine-types.js';

/** Options of {@link engineRequestFor}. */
export interface EngineRequestOptions {
  /** Overrides the spec's deadline (a redelivered job has only what is left of it). @default spec.deadlineMs */
  readonly deadlineMs?: number;
  /** Overrides the spec's model hint (a resumed stream must stay on the model that began it). @default spec.modelHint */
  readonly modelHint?: 'primary' | 'fallback';
}

/** The Engine request of a stored job; its tokens go to `onTokens`. */
export function engineRequestFor(job: JobRecord, onTokens: (c: TokenChunk) => void, o: EngineRequestOptions = {}): EngineRequest {
  const { id, spec } = job;
  const mock = spec.mock;
  // A deployment named in the job (a fleet's, mapped to the primary route) reaches the fleet's routing rules as the
  // hint (RouteMeta.modelHint); the engine's router treats any name but `fallback` as the primary.
  const named = spec.deployment !== undefined && spec.modelHint === 'primary' ? spec.deployment : spec.modelHint;
  const keepNamed = o.modelHint === undefined || (o.modelHint === 'primary' && named !== undefined && named !== 'fallback');
  const modelHint = keepNamed ? named : o.modelHint;
  const deadlineMs = o.deadlineMs ?? spec.deadlineMs;
  return {
    id,
    tenant: job.tenant,
    kind: 'chat',
    priority: spec.priority,
    request: {
      id,
      model: spec.model,
      ...(spec.messages !== undefined ? { messages: spec.messages } : {}),
      ...(spec.prompt !== undefined ? { prompt: spec.prompt } : {}),
      ...(spec.maxTokens !== undefined ? { maxTokens: spec.maxTokens } : {}),
      ...(mock?.outputTokens !== undefined ? { outputTokens: mock.outputTokens } : {}),
      ...(mock?.promptTokens !== undefined ? { promptTokens: mock.promptTokens } : {}),
      ...(mock?.fault !== undefined ? { fault: mock.fault } : {}),
    },
    ...(modelHint !== undefined ? { modelHint } : {}),
    ...(deadlineMs !== undefined ? { deadlineMs } : {}),
    ...(spec.batchable !== undefined ? { batchable: spec.batchable } : {}),
    ...(spec.maxAttempts !== undefined ? { maxAttempts: spec.maxAttempts } : {}),
    ...(spec.priorityLevel !== undefined ? { priorityLevel: spec.priorityLevel } : {}),
    onTokens,
  };
}

/** The job status an engine outcome maps to. A partial result is a failure that kept its output. */
export function statusFor(result: EngineResult): Extract<JobStatus, 'succeeded' | 'failed' | 'cancelled'> {
  const served = result.outcome === 'ok' || (result.outcome === 'degraded' && result.degraded !== 'partial');
  return served ? 'succeeded' : result.outcome === 'cancelled' ? 'cancelled' : 'failed';
}

/** The patch that makes a job terminal after `result`. */
export function terminalPatchFor(
  job: JobRecord,
  result: EngineResult,
  o: {
    readonly attempts: number;
    readonly finishedAtMs: number;
    readonly callbackPending: boolean;
    readonly prices?: ServicePrices;
    /** Tokens of this cycle delivered before this run (a worker's checkpoint), not in `result.tokens`. @default 0 */
    readonly deliveredBefore?: number;
  },
): JobPatch {
  const status = statusFor(result);
  return {
    ...jobUsagePatch(job, result, o.prices ?? {}, o.deliveredBefore),
    status,
    outcome: result.outcome,
    attempts: o.attempts,
    model: result.model,
    finishedAtMs: o.finishedAtMs,
    // Every failure waits in the dead-letter list for a requeue; a cancellation was wanted, so it does not.
    deadLetter: status === 'failed',
    degraded: result.degraded,
    error: result.error,
    retryAfterMs: result.retryAfterMs,
    ...(job.spec.callbackUrl !== undefined && o.callbackPending ? { callback: { status: 'pending', attempts: 0 } as const } : {}),
  };
}

/**
 * The job's usage after this run: what its calls were billed, added to what earlier runs (a worker's earlier
 * deliveries, earlier cycles) were; its cost when every call is priced (and earlier ones were). `delivered` is this
 * cycle's output: `deliveredBefore` (a worker's checkpoint) plus this run's.
 */
export function jobUsagePatch(job: JobRecord, result: EngineResult, prices: ServicePrices, deliveredBefore = 0): Pick<JobPatch, 'usage' | 'costUsd'> {
  const calls = result.billed?.calls ?? [];
  const t = billedTotals(calls, result.billed?.unknown ?? false);
  const before = job.usage;
  const usage = {
    billedInput: (before?.billedInput ?? 0) + t.inputTokens - t.cachedInputTokens,
    billedCachedInput: (before?.billedCachedInput ?? 0) + t.cachedInputTokens,
    billedOutput: (before?.billedOutput ?? 0) + t.outputTokens,
    delivered: deliveredBefore + result.tokens,
    estimated: (before?.estimated ?? false) || t.estimated,
  };
  const usd = billedUsd(calls, prices);
  const priced = usd !== null && (before === undefined || job.costUsd !== undefined) && (calls.length > 0 || prices.primary !== undefined);
  return { usage, ...(priced ? { costUsd: Math.round(((job.costUsd ?? 0) + usd) * 1e9) / 1e9 } : {}) };
}
