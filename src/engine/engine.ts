import { abortReason, HarnessError, withoutStack } from '../errors.js';
import type { Policy } from '../policy.js';
import type { ModelRequest } from '../upstream/model-client.js';
import type { Clock } from '../time/clock.js';
import { backoffFromPolicy } from './backoff.js';
import { breakerFromPolicy, type CircuitBreaker } from './breaker.js';
import { cacheKeyOf } from './cache-key.js';
import { runCached } from './cache-stage.js';
import { Dedup } from './dedup.js';
import { Deadline } from './deadline.js';
import { ChatBatcher } from './chat-batch.js';
import { Embedder } from './embed.js';
import type {
  EngineCounters,
  EngineDeps,
  EngineEvent,
  EngineRequest,
  EngineResult,
  EngineSnapshot,
  TokenChunk,
} from './engine-types.js';
import { Job } from './job.js';
import { LoadSignal } from './load-signal.js';
import { RateLimiter } from './rate-limiter.js';
import { runJob, type RunContext } from './request-run.js';
import { MemoryResponseStore, ResponseCache } from './response-cache.js';
import { RetryPolicy } from './retry.js';
import { retryBudgetFromPolicy, type RetryBudget } from './retry-budget.js';
import { estimateTokens, Router } from './router.js';
import { Slots } from './slots.js';

export * from './engine-types.js';

/** A dedup leader's result that must not be shared or cached (anything but `ok`). */
class Unshared extends HarnessError {
  constructor(readonly result: EngineResult) {
    super('UNSHARED_RESULT', `result not shared: ${result.outcome}`);
  }
}

function zeroCounters(): EngineCounters {
  return {
    submitted: 0, ok: 0, degraded: 0, shed: 0, failed: 0, timeout: 0, cancelled: 0, attempts: 0, upstreamCalls: 0,
    retries: 0, resumes: 0, budgetDenied: 0, breakerRejected: 0, fallbacks: 0, contextTrims: 0, dedupJoined: 0,
    dedupCached: 0, batches: 0, tokensDelivered: 0, tokensDiscarded: 0, cacheHits: 0, cacheMisses: 0, cacheStale: 0,
    smallerModel: 0, contextFallbacks: 0,
  };
}

function requestTokens(req: EngineRequest, count: ((r: ModelRequest) => number) | undefined): number {
  if (req.kind === 'embedding') {
    const e = req.embedding;
    return e?.inputTokens?.reduce((a, n) => a + n, 0) ?? e?.inputs.reduce((a, s) => a + estimateTokens(s), 0) ?? 0;
  }
  const r = req.request;
  if (r === undefined) return 0;
  const prompt = r.promptTokens ?? count?.(r) ?? estimateTokens(r.messages?.map((m) => m.content).join('') ?? r.prompt ?? '');
  return prompt + (r.maxTokens ?? r.outputTokens ?? 0);
}

/**
 * The reference resilient engine, composed from one Policy: admission (rate limits, dedup, bounded queue) ->
 * concurrency limit (fixed or adaptive) -> batcher (batchable embeddings) -> router (primary/fallback by breaker)
 * -> attempt loop (idle timeout and deadline, classification, retry budget, backoff honouring Retry-After,
 * resume) -> completion with explicit degradation. `submit` never rejects: every request ends in exactly one
 * outcome.
 */
export class Engine {
  readonly policy: Policy;
  private readonly clock: Clock;
  private readonly ctx: RunContext;
  private readonly slots: Slots;
  private readonly breaker: CircuitBreaker | undefined;
  private readonly budget: RetryBudget | undefined;
  private readonly limiter: RateLimiter | undefined;
  private readonly dedup: Dedup<EngineResult> | undefined;
  /** The response cache (src/engine/cache-stage.ts), when `policy.cache.enabled`. */
  private readonly cache: ResponseCache | undefined;
  /** Dedup leaders in flight, by key, so joiners can follow their tokens live. */
  private readonly leaders = new Map<string, Job>();
  private readonly counters = zeroCounters();
  private readonly listeners = new Set<(e: EngineEvent) => void>();
  private active = 0;
  private readonly countPromptTokens: ((r: ModelRequest) => number) | undefined;
  private idleWaiters: Array<() => void> = [];

  constructor(deps: EngineDeps) {
    this.countPromptTokens = deps.countPromptTokens;
    const { clock, policy } = deps;
    this.clock = clock;
    this.policy = policy;
    this.slots = new Slots(clock, policy, (limit) => this.emit(() => ({ type: 'limit', limit, atMs: clock.now() })));
    this.breaker = breakerFromPolicy(clock, policy.breaker);
    this.breaker?.onStateChange((c) => {
      // The primary is back: ramp the concurrency limit up instead of releasing the whole backlog at once.
      if (c.to === 'closed') this.slots.slowStart(policy.breaker.slowStartMs);
      this.emit(() => ({ type: 'breaker-state', ...c }));
    });
    this.budget = retryBudgetFromPolicy(clock, policy.retryBudget);
    const rl = policy.rateLimit;
    if (rl.enabled) {
      this.limiter = new RateLimiter(clock, {
        ...(rl.requestsPerMinute !== undefined ? { requestsPerMinute: rl.requestsPerMinute } : {}),
        ...(rl.tokensPerMinute !== undefined ? { tokensPerMinute: rl.tokensPerMinute } : {}),
        perKey: {
          ...(rl.perTenantRequestsPerMinute !== undefined ? { requestsPerMinute: rl.perTenantRequestsPerMinute } : {}),
          ...(rl.perTenantTokensPerMinute !== undefined ? { tokensPerMinute: rl.perTenantTokensPerMinute } : {}),
        },
      });
    }
    if (policy.dedup.enabled) this.dedup = new Dedup<EngineResult>(clock, { ttlMs: policy.dedup.ttlMs, maxEntries: policy.dedup.maxEntries });
    if (policy.cache.enabled) {
      const store = deps.responseStore ?? new MemoryResponseStore(clock, policy.cache.maxBytes);
      this.cache = new ResponseCache(clock, store, { ttlMs: policy.cache.ttlMs, staleIfErrorMs: policy.cache.staleIfErrorMs });
    }
    const clients = deps.fallback === undefined ? { primary: deps.primary } : { primary: deps.primary, fallback: deps.fallback };
    const counters = this.counters;
    const onUpstreamCall = (model: 'primary' | 'fallback', jobs: readonly Job[]): void => {
      counters.upstreamCalls++;
      for (const j of jobs) j.upstreamCalls++;
      if (jobs.length > 1 || (jobs[0]?.req.batchable === true && policy.batching.enabled)) {
        counters.batches++;
        this.emit(() => ({ type: 'batch', model, size: jobs.length, atMs: clock.now() }));
      }
    };
    const embedder = new Embedder(clock, policy, clients, onUpstreamCall);
    this.ctx = {
      clock,
      policy,
      slots: this.slots,
      breaker: this.breaker,
      router: new Router({
        ...(this.breaker !== undefined ? { breaker: this.breaker } : {}),
        fallback: policy.fallback.enabled && deps.fallback !== undefined,
        batchToFallback: policy.fallback.forBatchPriority,
        fallbackModel: deps.fallback !== undefined,
      }),
      ...(deps.contextTokens !== undefined ? { contextTokens: deps.contextTokens } : {}),
      retry: new RetryPolicy({
        maxAttempts: policy.retry.maxAttempts,
        retryOn: policy.retry.retryOn,
        backoff: backoffFromPolicy(policy.retry),
        honorRetryAfter: policy.retry.honorRetryAfter,
        maxRetryAfterMs: policy.retry.maxRetryAfterMs,
        ...(this.budget !== undefined ? { budget: this.budget } : {}),
      }),
      budget: this.budget,
      load: new LoadSignal(),
      random: deps.random.derive('engine/backoff'),
      clients,
      embedder,
      chatBatcher: new ChatBatcher(clock, policy, clients, onUpstreamCall),
      counters,
      emit: (make) => this.emit(make),
      hasListeners: () => this.listeners.size > 0,
    };
  }

  /** Runs one request to its single outcome. Never rejects. */
  submit(req: EngineRequest, signal?: AbortSignal): Promise<EngineResult> {
    this.counters.submitted++;
    this.active++;
    const submitMs = this.clock.now();
    let work: Promise<EngineResult>;
    try {
      work = this.admit(req, signal, submitMs);
    } catch (error) {
      work = Promise.reject(error);
    }
    return work.then(
      (r) => this.finish(r),
      (error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        const code = error instanceof HarnessError ? error.code : 'INTERNAL';
        return this.finish(new Job(req, submitMs).result('failed', this.clock.now(), { error: { code, message } }));
      },
    );
  }

  /** Queue depth, in-flight calls, the concurrency limit, breaker state, budget level and counters. */
  snapshot(): EngineSnapshot {
    return {
      queueDepth: this.slots.waiting,
      inFlight: this.slots.semaphore.inFlight,
      concurrencyLimit: this.slots.semaphore.limit,
      breaker: this.breaker?.state ?? 'closed',
      budgetLevel: this.budget?.level,
      active: this.active,
      counters: { ...this.counters },
      ...(this.cache !== undefined
        ? { cache: { ...(this.cache.store.bytes !== undefined ? { bytes: this.cache.store.bytes } : {}), ...(this.cache.store.size !== undefined ? { entries: this.cache.store.size } : {}) } }
        : {}),
    };
  }

  /** Subscribes to engine events; returns the unsubscribe function. */
  onEvent(listener: (e: EngineEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves when no submitted request is unfinished. */
  onIdle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private emit(make: () => EngineEvent): void {
    if (this.listeners.size === 0) return;
    const e = make();
    for (const l of this.listeners) l(e);
  }

  private finish(r: EngineResult): EngineResult {
    this.counters[r.outcome]++;
    if (r.deduped === undefined) this.counters.tokensDelivered += r.tokens;
    if (this.listeners.size > 0) this.emit(() => ({ type: 'done', result: r }));
    if (--this.active === 0 && this.idleWaiters.length > 0) {
      const ws = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of ws) w();
    }
    return r;
  }

  private async admit(req: EngineRequest, signal: AbortSignal | undefined, submitMs: number): Promise<EngineResult> {
    const job = new Job(req, submitMs);
    if (signal?.aborted === true) return job.result('cancelled', submitMs, { error: { code: 'CANCELLED', message: abortReason(signal).message } });
    if (req.kind === 'chat' ? req.request === undefined : req.embedding === undefined) {
      const field = req.kind === 'chat' ? 'request' : 'embedding';
      return job.result('failed', submitMs, { error: { code: 'BAD_REQUEST', message: `${field}: expected a ${req.kind} request, got undefined` } });
    }
    if (this.limiter !== undefined) {
      const d = this.limiter.check(req.tenant, requestTokens(req, this.countPromptTokens));
      if (!d.allowed) {
        const retryAfterMs = Number.isFinite(d.retryAfterMs) ? Math.ceil(d.retryAfterMs) : undefined;
        this.emit(() => ({ type: 'shed', id: req.id, reason: 'rate-limited', ...(retryAfterMs !== undefined ? { retryAfterMs } : {}), atMs: submitMs }));
        const message = `rate limited (${d.scope} ${d.limit} per minute)`;
        return job.result('shed', submitMs, { error: { code: 'RATE_LIMITED', message }, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
      }
    }
    const cacheKey = this.cache === undefined ? undefined : cacheKeyOf(req);
    if (this.cache !== undefined && cacheKey !== undefined) {
      const dedup = this.dedup;
      return runCached(
        {
          clock: this.clock,
          cache: this.cache,
          counters: this.counters,
          emit: (make) => this.emit(make),
          breakerOpen: () => this.breaker?.state === 'open',
          coalesce: this.policy.cache.coalesce && dedup !== undefined,
          inFlight: (key) => this.leaders.has(key),
          run: (j, s, key) => this.run(j, s, key),
          forget: (key) => dedup?.delete(key),
        },
        cacheKey,
        job,
        signal,
      );
    }
    return this.run(job, signal, req.idempotencyKey);
  }

  /** Runs a request, deduplicated under `key` when dedup is on and there is a key. */
  private run(job: Job, signal: AbortSignal | undefined, key: string | undefined): Promise<EngineResult> {
    if (this.dedup === undefined || key === undefined) return runJob(this.ctx, job, signal);
    return this.deduplicated(this.dedup, key, job, signal);
  }

  /**
   * Joins an in-flight twin (following its tokens live) or returns its stored result; otherwise runs as the
   * leader. Only `ok` results are shared and cached. A joiner whose leader was cancelled runs again itself,
   * continuing after the tokens it already received.
   */
  private async deduplicated(dedup: Dedup<EngineResult>, key: string, job: Job, signal: AbortSignal | undefined): Promise<EngineResult> {
    const req = job.req;
    // What this caller already received from twins (kept across rounds: a second twin replays from 0).
    let firstTokenAtMs: number | undefined;
    let followed = 0;
    let followedText = '';
    const onTwinTokens = (c: TokenChunk, charsBefore: number): void => {
      const end = c.index + c.count;
      if (end <= followed) return;
      const fresh = c.index >= followed ? c : { index: followed, count: end - followed, text: c.text.slice(followedText.length - charsBefore), atMs: c.atMs };
      firstTokenAtMs ??= fresh.atMs;
      followed = end;
      followedText += fresh.text;
      req.onTokens?.(fresh);
      req.onTokenTimes?.(fresh.atMs, fresh.count);
    };
    for (let round = 0; ; round++) {
      const twin = this.leaders.get(key);
      const unfollow = twin?.follow(onTwinTokens, this.clock.now());
      let leading = false;
      const run = dedup.run(key, async () => {
        leading = true;
        this.leaders.set(key, job);
        try {
          const r = await runJob(this.ctx, job, signal);
          if (r.outcome !== 'ok') throw withoutStack(() => new Unshared(r));
          return r;
        } finally {
          if (this.leaders.get(key) === job) this.leaders.delete(key);
        }
      });
      if (leading) {
        return run.then(
          (x) => x.value,
          (e: unknown) => {
            if (e instanceof Unshared) return e.result;
            throw e;
          },
        );
      }
      let shared: EngineResult;
      try {
        const waited = await this.awaitAsFollower(run.then((x) => x.value), job, signal, () => followed);
        if ('own' in waited) {
          // Our own deadline or cancellation ended the wait: report what we received from the twin.
          if (followed > 0 && twin !== undefined) job.seed(followed, followedText, twin.model, firstTokenAtMs);
          return job.result(waited.own, this.clock.now(), { error: waited.error, deduped: 'joined' });
        }
        shared = waited.shared;
      } catch (e) {
        if (!(e instanceof Unshared)) throw e;
        if (e.result.outcome === 'cancelled' && round === 0 && signal?.aborted !== true) {
          // The leader's caller gave up, not ours: run again, after what we already received.
          // Send the twin's request, so that the upstream continues the very text we already have.
          if (followed > 0 && twin !== undefined) job.seed(followed, followedText, twin.model, firstTokenAtMs, twin.request);
          continue;
        }
        shared = e.result;
      } finally {
        unfollow?.();
      }
      const now = this.clock.now();
      const source = twin === undefined ? 'cached' : 'joined';
      if (followed < shared.tokens && shared.outcome === 'ok') {
        // Cached, or a join that missed the end: hand over the rest in one chunk.
        firstTokenAtMs ??= now;
        req.onTokens?.({ index: followed, count: shared.tokens - followed, text: shared.text.slice(followedText.length), atMs: now });
        req.onTokenTimes?.(now, shared.tokens - followed);
      }
      this.counters[source === 'cached' ? 'dedupCached' : 'dedupJoined']++;
      const { firstTokenAtMs: _leaderFirst, retryAfterMs: _ra, billed: _billed, ...rest } = shared;
      return {
        ...rest,
        id: req.id,
        attempts: 0,
        upstreamCalls: 0,
        resumes: 0,
        queuedMs: 0,
        backoffMs: 0,
        endAtMs: now,
        deduped: source,
        ...(firstTokenAtMs !== undefined ? { firstTokenAtMs } : {}),
      };
    }
  }

  /** Waits for a shared result, bounded by the follower's own deadline and signal (which end it alone). */
  private async awaitAsFollower(
    shared: Promise<EngineResult>,
    job: Job,
    signal: AbortSignal | undefined,
    received: () => number = () => 0,
  ): Promise<{ shared: EngineResult } | { own: 'cancelled' | 'timeout'; error: { code: string; message: string } }> {
    const p = this.policy;
    // As for a leader: the policy's default deadline bounds only the wait for the first token.
    const untilFirstToken = job.req.deadlineMs === undefined && p.deadline.untilFirstToken;
    const timeoutMs = job.req.deadlineMs ?? (p.deadline.enabled ? p.deadline.timeoutMs : Number.POSITIVE_INFINITY);
    if (timeoutMs === Number.POSITIVE_INFINITY && signal === undefined) return { shared: await shared };
    const deadline = new Deadline(this.clock, timeoutMs, { startMs: job.submitMs, tokensReceived: () => 0 });
    try {
      return await new Promise<{ shared: EngineResult } | { own: 'cancelled' | 'timeout'; error: { code: string; message: string } }>((resolve, reject) => {
        const onAbort = (): void => {
          const cancelled = signal?.aborted === true;
          if (!cancelled && untilFirstToken && received() > 0) return;
          const error = cancelled ? abortReason(signal) : (deadline.signal.reason as Error);
          resolve({ own: cancelled ? 'cancelled' : 'timeout', error: { code: cancelled ? 'CANCELLED' : 'DEADLINE_EXCEEDED', message: error.message } });
        };
        if (signal?.aborted === true) return onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
        deadline.signal.addEventListener('abort', onAbort, { once: true });
        shared.then((r) => resolve({ shared: r }), reject).finally(() => {
          signal?.removeEventListener('abort', onAbort);
          deadline.signal.removeEventListener('abort', onAbort);
        });
      });
    } finally {
      deadline.dispose();
    }
  }
}
