import { AbortError } from '../errors.js';
import type { Policy } from '../policy.js';
import type { Random } from '../random.js';
import type { Clock } from '../time/clock.js';
import type { ContextLengthExceededError } from '../upstream/errors.js';
import { capabilitiesOf, type ModelClient, type UpstreamCapabilities } from '../upstream/model-client.js';
import { completedCall, failedCall } from './billed-usage.js';
import { BreakerOpenError, type BreakerTicket, type CircuitBreaker } from './breaker.js';
import { classify, type Classification } from './classify.js';
import type { LoadSignal } from './load-signal.js';
import { CancelScope } from './deadline.js';
import type { ChatBatcher } from './chat-batch.js';
import type { Embedder } from './embed.js';
import type { EngineCounters, EngineEvent, EngineResult, ShedReason } from './engine-types.js';
import type { Job } from './job.js';
import type { RetryPolicy } from './retry.js';
import type { RetryBudget } from './retry-budget.js';
import { hedgeBudgetOf, routeMetaOf } from './route-meta.js';
import { estimateTokens, trimContext, type Router } from './router.js';
import { ShedError, type Slot, type Slots } from './slots.js';
import { streamAttempt, type StreamAttemptInfo } from './stream-attempt.js';

/** What the attempt loop needs from the engine. */
export interface RunContext {
  readonly clock: Clock;
  readonly policy: Policy;
  readonly slots: Slots;
  readonly router: Router;
  /** The primary's breaker, if any: a retry that must wait for it open is paced by it. */
  readonly breaker: CircuitBreaker | undefined;
  readonly retry: RetryPolicy;
  readonly budget: RetryBudget | undefined;
  /** Recent times to first event: tells a busy upstream's timeouts from a hung one's. */
  readonly load: LoadSignal;
  /** Backoff jitter stream. */
  readonly random: Random;
  readonly clients: { readonly primary: ModelClient; readonly fallback?: ModelClient };
  readonly embedder: Embedder;
  /** Batchable chat jobs into multi-prompt completions calls (src/engine/chat-batch.ts). */
  readonly chatBatcher: ChatBatcher;
  readonly counters: EngineCounters;
  /** The models' context windows, when known (see `EngineDeps.contextTokens`). */
  readonly contextTokens?: { readonly primary?: number; readonly fallback?: number };
  /** Emits only when someone listens (events are built lazily). */
  emit(make: () => EngineEvent): void;
  /** Someone listens: guard hot-path `emit` calls with it, so no closure is allocated for nothing. */
  hasListeners(): boolean;
}

const CANCELLED: Classification = classify(new AbortError());

function errorInfo(error: unknown): { code: string; message: string } {
  const c = classify(error);
  return { code: c.code, message: error instanceof Error ? error.message : String(error) };
}

/** What the breaker was told about a failed attempt (`load`: a failure that load explains, so not counted). */
type BreakerVerdict = 'failure' | 'load' | 'ignored' | 'success';

function reportTicket(ticket: BreakerTicket | undefined, c: Classification, load: boolean): BreakerVerdict | undefined {
  if (ticket === undefined) return undefined;
  // A timeout that overload explains (a busy upstream) is not a failure: the breaker opens on failure, not load.
  if (load) {
    ticket.ignore();
    return 'load';
  }
  if (c.breakerFailure) {
    ticket.failure(c.code);
    return 'failure';
  }
  // The upstream answered sanely, so it is healthy even though this request cannot succeed.
  if (c.kind === 'bad-request' || c.kind === 'context-length') {
    ticket.success();
    return 'success';
  }
  ticket.ignore();
  return 'ignored';
}

/**
 * The attempt loop of one request: slot -> route -> attempt -> classify -> (trim | retry with backoff | end).
 * A retry that waits gives its slot back and re-enters the queue with a not-before time, unless the policy
 * says to hold the slot while sleeping. Resolves with exactly one result; never rejects for upstream errors.
 */
export async function runJob(ctx: RunContext, job: Job, callerSignal: AbortSignal | undefined): Promise<EngineResult> {
  const { clock, policy, counters } = ctx;
  const timeoutMs = job.req.deadlineMs ?? (policy.deadline.enabled ? policy.deadline.timeoutMs : Number.POSITIVE_INFINITY);
  // The policy's default deadline (not one the request carries) only bounds the wait for the first token.
  const untilFirstToken = job.req.deadlineMs === undefined && policy.deadline.untilFirstToken;
  const scope = new CancelScope(clock, timeoutMs, { startMs: job.submitMs, caller: callerSignal, progress: job, untilFirstToken });
  const state = ctx.retry.begin(ctx.random);
  ctx.budget?.onRequest();
  let slot: Slot | undefined;
  let notBeforeMs: number | undefined;
  routeBySize(ctx, job);
  // For a fleet upstream (src/fleet): the request's routing metadata, and the budget its hedges draw from.
  const routeMeta = routeMetaOf(job.req);
  const hedgeBudget = policy.fleet.hedging.enabled ? hedgeBudgetOf(ctx.budget, () => retryInputTokens(job, false)) : undefined;

  try {
    for (;;) {
      if (scope.reason !== undefined) return finish(ctx, job, scope, scope.reason);
      if (slot === undefined) {
        const t0 = clock.now();
        if (notBeforeMs === undefined) slot = ctx.slots.tryAcquire();
        if (slot === undefined) {
          const meta = { priority: job.priority, deadlineAtMs: scope.atMs, ...(notBeforeMs !== undefined ? { notBeforeMs } : {}) };
          const waiting = scope.child();
          try {
            slot = await ctx.slots.acquire(meta, waiting);
          } catch (error) {
            return finish(ctx, job, scope, error);
          } finally {
            scope.release(waiting);
          }
        }
        const now = clock.now();
        const eligibleAt = notBeforeMs === undefined ? t0 : Math.max(t0, Math.min(now, notBeforeMs));
        job.backoffMs += eligibleAt - t0;
        job.queuedMs += now - eligibleAt;
        notBeforeMs = undefined;
      }

      const hint = job.req.modelHint;
      const route = ctx.router.route({
        priority: job.priority,
        // A deployment's name (a fleet upstream routes by it) is no hint to the engine's primary/fallback router.
        ...(hint === 'primary' || hint === 'fallback' ? { modelHint: hint } : {}),
        ...(job.lockedTo !== undefined ? { lockedTo: job.lockedTo } : {}),
        ...(job.sizeRoute !== undefined ? { preferFallback: true } : {}),
      });
      if (route.model === undefined) {
        counters.breakerRejected++;
        // Nothing to fall back to: wait (without a slot, in the queue) until the breaker lets probes through,
        // when the deadline leaves room for that, instead of failing a request the primary may serve in a moment.
        // The wait is not an attempt and spends no retry budget; it counts as backoff.
        const waitMs = breakerWaitMs(ctx, route.retryAfterMs);
        if (policy.breaker.waitWhenOpen && waitMs < scope.remainingMs()) {
          ctx.emit(() => ({ type: 'retry', id: job.req.id, attempt: job.attempts, delayMs: waitMs, cause: 'breaker-open', code: 'BREAKER_OPEN', holdsSlot: false, atMs: clock.now() }));
          slot?.release();
          slot = undefined;
          notBeforeMs = clock.now() + waitMs;
          continue;
        }
        job.attempts++;
        counters.attempts++;
        ctx.emit(() => ({ type: 'give-up', id: job.req.id, reason: 'breaker-open', code: 'BREAKER_OPEN', atMs: clock.now() }));
        return finish(ctx, job, scope, new BreakerOpenError(route.retryAfterMs), { retryAfterMs: Math.ceil(route.retryAfterMs) });
      }
      job.attempts++;
      counters.attempts++;
      state.onAttempt();
      const model = route.model;
      if (!job.started) job.model = model;
      job.viaFallback = route.degraded;
      if (route.degraded) counters.fallbacks++;
      const client = model === 'fallback' ? (ctx.clients.fallback ?? ctx.clients.primary) : ctx.clients.primary;
      const caps = capabilitiesOf(client);
      const resumeFrom = policy.resume.enabled && caps.continuation && job.delivered > 0 && job.req.kind === 'chat' ? job.delivered : undefined;
      // A restart onto delivered tokens from an upstream that will not repeat them: only `resume.splice` gets here.
      if (resumeFrom === undefined && job.delivered > 0 && !caps.reproducible) job.spliced = true;
      if (resumeFrom !== undefined) {
        job.resumes++;
        counters.resumes++;
      }
      if (ctx.hasListeners()) ctx.emit(() => ({ type: 'attempt', id: job.req.id, attempt: job.attempts, model, ...(resumeFrom !== undefined ? { resumeFrom } : {}), atMs: clock.now() }));

      const startMs = clock.now();
      const deliveredBefore = job.delivered;
      const inFlight = ctx.slots.semaphore.inFlight;
      const info: StreamAttemptInfo = { firstEventMs: undefined, gotEvent: false, discarded: 0 };
      const controller = scope.child();
      try {
        if (job.req.kind === 'embedding') {
          job.embeddings = await ctx.embedder.call(model, job, controller.signal);
        } else if (ctx.chatBatcher.accepts(model, job)) {
          await ctx.chatBatcher.call(model, job, controller.signal);
        } else {
          job.upstreamCalls++;
          counters.upstreamCalls++;
          await streamAttempt(clock, client, job, {
            controller,
            resumeFrom,
            idleMs: policy.idleTimeout.enabled ? policy.idleTimeout.idleMs : undefined,
            route: routeMeta,
            hedgeBudget,
            // A half-open probe is judged on whether the upstream answers: it succeeds at its first event, so the
            // breaker closes as soon as the upstream is healthy, not when a long probe's stream ends (a 5,000-token
            // probe kept burst-1000's breaker half-open, all traffic on the fallback, for 40 s after the crash).
            onFirstEvent: route.ticket?.probe === true ? () => route.ticket?.success() : undefined,
          }, info);
        }
        counters.tokensDiscarded += info.discarded;
        billAttempt(job, model, resumeFrom, deliveredBefore, info, undefined);
        scope.release(controller);
        route.ticket?.success();
        if (info.firstEventMs !== undefined && model === 'primary') ctx.load.success(info.firstEventMs);
        ctx.budget?.onSuccess();
        ctx.slots.sample({ rttMs: info.firstEventMs ?? clock.now() - startMs, inFlight, dropped: false });
        const now = clock.now();
        if (job.spliced) return job.result('degraded', now, { degraded: 'spliced' });
        if (job.sizeRoute !== undefined && model === 'fallback' && !job.contextTrimmed) return job.result('degraded', now, { degraded: job.sizeRoute });
        if (job.viaFallback) return job.result('degraded', now, { degraded: 'fallback' });
        if (job.contextTrimmed) return job.result('degraded', now, { degraded: 'context-trimmed' });
        return job.result('ok', now);
      } catch (error) {
        counters.tokensDiscarded += info.discarded;
        scope.release(controller);
        const c = scope.reason !== undefined ? CANCELLED : classify(error);
        billAttempt(job, model, resumeFrom, deliveredBefore, info, c);
        const load = c.kind === 'idle-timeout' && ctx.load.isLoad(info.gotEvent, policy.idleTimeout.idleMs);
        const verdict = reportTicket(route.ticket, c, load);
        if (c.final) {
          // Abandoned (client cancel or the deadline) before the upstream sent anything: it did not answer within
          // what the caller would wait, a congestion signal for the limit (the clients' timeouts are what an
          // upstream queue looks like from outside). After the first event it says nothing about the upstream.
          if (!info.gotEvent) ctx.slots.sample({ rttMs: clock.now() - startMs, inFlight, dropped: true });
          return finish(ctx, job, scope, error);
        }
        if (c.retryable) ctx.budget?.onFailure();
        ctx.slots.sample({ rttMs: info.firstEventMs ?? clock.now() - startMs, inFlight, dropped: c.congestion });
        ctx.emit(() => ({ type: 'attempt-failed', id: job.req.id, attempt: job.attempts, model, code: c.code, ...(verdict !== undefined ? { breaker: verdict } : {}), atMs: clock.now() }));

        if (job.started && job.req.kind === 'chat' && (job.passedThrough || !canGoOn(caps, policy))) {
          if (job.req.buffered === true && !job.followed) {
            // Nothing reached the caller yet: drop this output and let the retry start from scratch.
            counters.tokensDiscarded += job.discard();
          } else {
            // Output reached the caller and this upstream cannot continue it: end explicitly partial, never splice.
            ctx.emit(() => ({ type: 'give-up', id: job.req.id, reason: 'no-continuation', code: c.code, atMs: clock.now() }));
            return finish(ctx, job, scope, error);
          }
        }

        if (c.kind === 'context-length' && model === 'primary' && job.delivered === 0 && job.sizeRoute === undefined && fallbackFits(ctx, error as ContextLengthExceededError)) {
          // A larger-context deployment before trimming (LiteLLM's context-window fallbacks): nothing is lost.
          job.sizeRoute = 'context-fallback';
          counters.contextFallbacks++;
          ctx.emit(() => ({ type: 'retry', id: job.req.id, attempt: job.attempts, delayMs: 0, cause: 'context-fallback', code: c.code, holdsSlot: true, atMs: clock.now() }));
          continue;
        }
        if (c.kind === 'context-length' && policy.contextTrim.enabled && !job.contextTrimmed && job.delivered === 0 && job.request !== undefined) {
          const trimmed = trimContext(job.request, error as ContextLengthExceededError);
          if (trimmed !== undefined) {
            job.request = trimmed;
            job.contextTrimmed = true;
            counters.contextTrims++;
            ctx.emit(() => ({ type: 'retry', id: job.req.id, attempt: job.attempts, delayMs: 0, cause: 'context-trim', code: c.code, holdsSlot: true, atMs: clock.now() }));
            continue;
          }
        }

        // A request's own attempt limit (below the policy's) ends it before the retry policy is asked.
        const ownLimit = job.req.maxAttempts !== undefined && job.attempts >= job.req.maxAttempts;
        // The primary failed and its breaker is open by now: the retry goes to the fallback, not to the failing
        // upstream, so it neither spends the retry budget nor backs off (both protect the upstream that failed).
        const diverted = model === 'primary' && divertedByBreaker(ctx, job);
        const d = ownLimit
          ? ({ retry: false, reason: 'max-attempts' } as const)
          : state.decide(c, scope.remainingMs(), retryInputTokens(job, policy.resume.enabled), diverted || gatedByBreaker(ctx, job));
        if (!d.retry) {
          if (d.reason === 'budget') counters.budgetDenied++;
          ctx.emit(() => ({ type: 'give-up', id: job.req.id, reason: d.reason, code: c.code, atMs: clock.now() }));
          return finish(ctx, job, scope, error, c.retryAfterMs !== undefined ? { retryAfterMs: c.retryAfterMs } : {});
        }
        counters.retries++;
        if (diverted) {
          ctx.emit(() => ({ type: 'retry', id: job.req.id, attempt: job.attempts, delayMs: 0, cause: 'fallback', code: c.code, holdsSlot: true, atMs: clock.now() }));
          continue;
        }
        const holdsSlot = policy.retry.holdSlotWhileWaiting || d.delayMs <= 0;
        ctx.emit(() => ({ type: 'retry', id: job.req.id, attempt: job.attempts, delayMs: d.delayMs, cause: d.cause, code: c.code, holdsSlot, atMs: clock.now() }));
        if (d.delayMs <= 0) continue;
        if (holdsSlot) {
          const t0 = clock.now();
          const waiting = scope.child();
          try {
            await clock.sleep(d.delayMs, waiting.signal);
          } catch (abort) {
            return finish(ctx, job, scope, abort);
          } finally {
            scope.release(waiting);
            job.backoffMs += clock.now() - t0;
          }
        } else {
          // Give the slot back while waiting: the retry re-enters the queue (or the semaphore) not before then.
          slot?.release();
          slot = undefined;
          notBeforeMs = clock.now() + d.delayMs;
        }
      }
    }
  } finally {
    slot?.release();
    scope.dispose();
  }
}

/**
 * How long a request waits for an open breaker: until it lets probes through, spread over a short jittered
 * window so that the waiters do not all arrive in the same instant (at least 1 ms, so a half-open breaker
 * whose probes are all out is asked again a moment later, not in a spin).
 */
function breakerWaitMs(ctx: RunContext, retryAfterMs: number): number {
  const spreadMs = Math.min(250, ctx.policy.breaker.openMs / 4);
  return Math.max(HALF_OPEN_RECHECK_MS, retryAfterMs) + ctx.random.next() * spreadMs;
}

/**
 * Whether the next attempt of `job` goes to the fallback because the primary's breaker is open: the breaker is open
 * (not half-open, where the attempt could be a probe of the primary), a fallback takes breaker failover, and the
 * answer is not locked to the primary (tokens from it were delivered). A retry after a failure of the fallback
 * itself is not diverted: it is a retry against the upstream that failed.
 */
function divertedByBreaker(ctx: RunContext, job: Job): boolean {
  const b = ctx.breaker;
  if (b === undefined || b.state !== 'open' || job.lockedTo !== undefined) return false;
  return ctx.policy.fallback.enabled && ctx.clients.fallback !== undefined;
}

/**
 * Whether the next attempt of `job` must wait for the primary's open breaker: the breaker is open (not half-open),
 * the policy waits for it, and the attempt has to go to the primary (its answer is locked there, or there is no
 * fallback to route to). Such a retry reaches the upstream only after the probes succeeded, through slow start.
 */
function gatedByBreaker(ctx: RunContext, job: Job): boolean {
  const b = ctx.breaker;
  if (b === undefined || !ctx.policy.breaker.waitWhenOpen || b.state !== 'open') return false;
  const fallback = ctx.policy.fallback.enabled && ctx.clients.fallback !== undefined;
  return job.lockedTo === 'primary' || (!fallback && job.lockedTo === undefined && job.req.modelHint !== 'fallback');
}

/**
 * Sends a chat request whose token budget (prompt + max output tokens) exceeds `smallerModel.aboveTokens` to the
 * fallback model, the smaller deployment, when there is one.
 */
function routeBySize(ctx: RunContext, job: Job): void {
  const above = ctx.policy.smallerModel.aboveTokens;
  const r = job.request;
  if (above === undefined || r === undefined || job.req.kind !== 'chat' || !ctx.router.hasFallbackModel) return;
  const prompt = r.promptTokens ?? estimateTokens(r.messages?.map((m) => m.content).join('') ?? r.prompt ?? '');
  if (prompt + (r.maxTokens ?? r.outputTokens ?? 0) <= above) return;
  job.sizeRoute = 'smaller-model';
  ctx.counters.smallerModel++;
}

/**
 * Whether a prompt the primary refused for its context window should go to the fallback: context fallback is on,
 * a fallback model exists, and its window is larger than the primary's (or unknown, so it is tried once).
 */
function fallbackFits(ctx: RunContext, error: ContextLengthExceededError): boolean {
  if (!ctx.policy.contextFallback.enabled || !ctx.router.hasFallbackModel) return false;
  const fallback = ctx.contextTokens?.fallback;
  const primary = ctx.contextTokens?.primary ?? error.maxContextTokens;
  return fallback === undefined || !(primary > 0) || fallback > primary;
}

/** A half-open breaker with every probe out is asked again after this long (plus the spread). */
const HALF_OPEN_RECHECK_MS = 50;

/**
 * Whether a stream that broke after tokens reached the caller may be retried on this upstream: it continues the
 * prefix (and the policy resumes), or a restart reproduces the same text, or the policy splices (the anti-pattern).
 */
function canGoOn(caps: UpstreamCapabilities, policy: Policy): boolean {
  return (policy.resume.enabled && caps.continuation) || caps.reproducible || policy.resume.splice;
}

/**
 * Input tokens a retry of `job` will send: its prompt (given, or estimated at 4 characters a token), plus the
 * delivered prefix when it resumes. What a token retry budget spends.
 */
/** Records what an attempt was billed (src/engine/billed-usage.ts); `failure` undefined = it completed. */
function billAttempt(job: Job, model: 'primary' | 'fallback', resumeFrom: number | undefined, deliveredBefore: number, info: StreamAttemptInfo, failure: Classification | undefined): void {
  const facts = { model, promptTokens: retryInputTokens(job, false), resumeFrom: resumeFrom ?? 0, repeated: info.discarded, delivered: Math.max(0, job.delivered - deliveredBefore), gotEvent: info.gotEvent };
  if (job.req.kind === 'embedding') {
    // Embeddings bill their inputs once the pass ran: the engine's count (the upstream's usage is per batch).
    if (failure === undefined) job.bills.push({ ...completedCall({ ...facts, repeated: 0, delivered: 0 }, undefined), outputTokens: 0 });
    return;
  }
  const bill = failure === undefined ? completedCall(facts, job.usage) : failedCall(facts, failure);
  if (bill === 'unknown') job.billsUnknown = true;
  else if (bill !== undefined) job.bills.push(info.deployment === undefined ? bill : { ...bill, deployment: info.deployment });
}

function retryInputTokens(job: Job, resume: boolean): number {
  const r = job.request;
  const e = job.req.embedding;
  const prompt =
    r !== undefined
      ? (r.promptTokens ?? Math.ceil(((r.prompt?.length ?? 0) + (r.messages ?? []).reduce((n, m) => n + m.content.length, 0)) / 4))
      : e !== undefined
        ? (e.inputTokens?.reduce((a, b) => a + b, 0) ?? Math.ceil(e.inputs.reduce((n, x) => n + x.length, 0) / 4))
        : 1;
  return prompt + (resume ? job.delivered : 0);
}

/** The result of a request that did not succeed, by what ended it. */
function finish(ctx: RunContext, job: Job, scope: CancelScope, error: unknown, extra: Partial<EngineResult> = {}): EngineResult {
  const now = ctx.clock.now();
  if (scope.cancelled) return job.result('cancelled', now, { error: errorInfo(scope.reason) });
  if (scope.expired) {
    const reason = scope.reason;
    // Never dispatched: the queue dropped it (shed); otherwise the request ran out of time.
    if (job.attempts === 0) return shed(job, now, 'expired', errorInfo(reason), undefined, ctx);
    return job.result('timeout', now, { error: errorInfo(reason) });
  }
  if (error instanceof ShedError) {
    if (job.attempts > 0 && error.reason === 'expired') return job.result('timeout', now, { error: errorInfo(error) });
    return shed(job, now, error.reason, errorInfo(error), error.retryAfterMs, ctx);
  }
  if (job.started) return job.result('degraded', now, { degraded: 'partial', error: errorInfo(error), ...extra });
  return job.result('failed', now, { error: errorInfo(error), ...extra });
}

function shed(
  job: Job,
  now: number,
  reason: ShedReason,
  error: { code: string; message: string },
  retryAfterMs: number | undefined,
  ctx: RunContext,
): EngineResult {
  ctx.emit(() => ({ type: 'shed', id: job.req.id, reason, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}), atMs: now }));
  return job.result('shed', now, { error, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
}
