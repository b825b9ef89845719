/**
 * The response-cache stage of the engine pipeline, between admission (rate limits) and dedup/run: a fresh answer
 * is served at once (`cache: hit`, no upstream call, nothing billed); otherwise the request runs (joining an
 * identical request in flight when coalescing) and an `ok` answer is stored; a request that fails upstream, or
 * arrives while the primary's breaker is open, gets a stored answer within the staleness bound instead, as an
 * explicit `degraded: cached`, never a silent 200.
 */
import type { Clock } from '../time/clock.js';
import type { EngineCounters, EngineEvent, EngineResult } from './engine-types.js';
import type { Job } from './job.js';
import type { CachedAnswer, ResponseCache } from './response-cache.js';

/** What the stage needs from the engine. */
export interface CacheStageContext {
  readonly clock: Clock;
  readonly cache: ResponseCache;
  readonly counters: EngineCounters;
  emit(make: () => EngineEvent): void;
  /** The primary's breaker refuses calls now. */
  breakerOpen(): boolean;
  /** Whether dedup will coalesce a request under `key` (dedup on and coalescing wanted). */
  readonly coalesce: boolean;
  /** An identical request is in flight under this dedup key (a join, not a call of its own). */
  inFlight(key: string): boolean;
  /** Runs the request, deduplicated under `dedupKey` when given. */
  run(job: Job, signal: AbortSignal | undefined, dedupKey: string | undefined): Promise<EngineResult>;
  /** Forgets dedup's own stored copy under `key`: the response cache, with its TTL and byte bound, keeps answers. */
  forget(key: string): void;
}

/** Error codes after which a stored answer is no help: the request itself is wrong. */
const NOT_UPSTREAM_FAILURES: ReadonlySet<string> = new Set(['BAD_REQUEST', 'CANCELLED']);

/**
 * Runs `job` through the response cache under `key`. Never rejects for upstream errors. Every request counts once,
 * as a hit (no upstream call of its own) or a miss; a stale answer served counts as a miss and as stale.
 */
export async function runCached(ctx: CacheStageContext, key: string, job: Job, signal: AbortSignal | undefined): Promise<EngineResult> {
  const { cache, counters } = ctx;
  const id = job.req.id;
  const found = await cache.lookup(key);
  if (found?.fresh === true) return serve(ctx, job, found.answer, 'hit');
  // The primary is out: an answer within the staleness bound beats waiting on the breaker or failing.
  if (found !== undefined && ctx.breakerOpen()) return serve(ctx, job, found.answer, 'stale');

  const dedupKey = job.req.idempotencyKey ?? (ctx.coalesce ? key : undefined);
  // Said before any token, so a streamed answer's headers can carry it (`x-cache`).
  const joins = dedupKey !== undefined && ctx.inFlight(dedupKey);
  ctx.emit(() => ({ type: 'cache', id, result: joins ? 'hit' : 'miss', atMs: ctx.clock.now() }));
  const r = await ctx.run(job, signal, dedupKey);

  if (r.outcome === 'ok' && r.deduped !== undefined) {
    // Served by an identical request's call (joined in flight, or dedup's store): no upstream call of its own.
    counters.cacheHits++;
    return { ...r, cache: 'hit' };
  }
  if (r.outcome === 'ok') {
    await cache.put(key, { text: r.text, tokens: r.tokens, model: r.model, ...(r.usage !== undefined ? { usage: r.usage } : {}), ...(r.finishReason !== undefined ? { finishReason: r.finishReason } : {}) });
    if (job.req.idempotencyKey === undefined && dedupKey !== undefined) ctx.forget(dedupKey);
  } else if ((r.outcome === 'failed' || r.outcome === 'timeout') && r.tokens === 0 && !NOT_UPSTREAM_FAILURES.has(r.error?.code ?? '')) {
    const stale = await cache.lookup(key);
    if (stale !== undefined) return serve(ctx, job, stale.answer, 'stale', r);
  }
  counters.cacheMisses++;
  return { ...r, cache: 'miss' };
}

/**
 * The cached answer as this request's result, delivered in one chunk. `failed` is the result of the attempts made
 * before (a stale answer after an upstream failure keeps their attempts, calls and waits).
 */
function serve(ctx: CacheStageContext, job: Job, answer: CachedAnswer, kind: 'hit' | 'stale', failed?: EngineResult): EngineResult {
  const now = ctx.clock.now();
  const { counters } = ctx;
  if (kind === 'hit') counters.cacheHits++;
  else {
    counters.cacheMisses++;
    counters.cacheStale++;
  }
  ctx.emit(() => ({ type: 'cache', id: job.req.id, result: kind, atMs: now }));
  if (answer.tokens > 0) {
    job.req.onTokens?.({ index: 0, count: answer.tokens, text: answer.text, atMs: now });
    job.req.onTokenTimes?.(now, answer.tokens);
  }
  return {
    id: job.req.id,
    outcome: kind === 'hit' ? 'ok' : 'degraded',
    ...(kind === 'stale' ? { degraded: 'cached' as const } : {}),
    text: answer.text,
    tokens: answer.tokens,
    model: answer.model,
    attempts: failed?.attempts ?? 0,
    upstreamCalls: failed?.upstreamCalls ?? 0,
    resumes: failed?.resumes ?? 0,
    queuedMs: failed?.queuedMs ?? 0,
    backoffMs: failed?.backoffMs ?? 0,
    ...(answer.tokens > 0 ? { firstTokenAtMs: now } : {}),
    endAtMs: now,
    ...(answer.usage !== undefined ? { usage: answer.usage } : {}),
    ...(answer.finishReason !== undefined ? { finishReason: answer.finishReason } : {}),
    cache: kind,
  };
}
