/**
 * A worker process's consumer of the Redis queue. BullMQ hands it a job with a lease (a lock it renews while
 * the job runs); it runs the job through this process's Engine (the same pipeline as the embedded queue, with
 * one upstream attempt per delivery) and commits every chunk to the job store as it streams (the checkpoint).
 * - A worker that dies: its lease expires, BullMQ's stalled-job check puts the job back, and the next delivery
 *   resumes from the checkpoint. Commits are fenced on the token index, so nothing is duplicated or lost.
 * - A retryable failure: the job store says `queued`, and BullMQ re-enqueues it after the policy's backoff
 *   (a delayed job: no slot is held while waiting), within the attempts and the retry budget.
 * - A failure for good: the job is terminal `failed` and dead-lettered, and the BullMQ job fails.
 * Many such processes, on any host, share one queue.
 */
import { RedisResponseStore } from './redis-response-store.js';
import { DelayedError, Queue, QueueEvents, UnrecoverableError, WaitingError, Worker, type Job as BullJob } from 'bullmq';
import type { Redis } from 'ioredis';
import { isTerminal, type JobPatch, type JobRecord } from '../jobs/job-store.js';
import { Engine } from '../engine/engine.js';
import type { ServicePrices } from '../engine/billed-usage.js';
import type { EngineResult, TokenChunk } from '../engine/engine-types.js';
import { retryBudgetFromPolicy, type RetryBudget } from '../engine/retry-budget.js';
import { AbortError } from '../errors.js';
import { withOverrides, type Policy } from '../policy.js';
import type { Random } from '../random.js';
import type { Clock } from '../time/clock.js';
import type { ModelClient } from '../upstream/model-client.js';
import { cancelChannel, cancelFlagKey, stalledKey, type QueuedJobData, type QueueNames } from './bullmq-queue.js';
import { CallbackSender, type CallbackSenderOptions } from '../jobs/callback-sender.js';
import { CallbackDelivery } from './callback-delivery.js';
import { CheckpointClient } from './checkpoint-client.js';
import { engineRequestFor, jobUsagePatch, statusFor, terminalPatchFor } from './engine-job.js';
import { LeaseLostError } from './errors.js';
import { classifyResult, Redelivery } from './redelivery.js';
import { SharedBreaker, SharedRetryBudget, type BreakerGate } from './shared-policy.js';
import { EngineTelemetry } from '../telemetry/engine-telemetry.js';
import type { Telemetry } from '../telemetry/setup.js';
import { WorkerMetrics } from './worker-metrics.js';
import { PayloadUnavailableError, withPayload, type PayloadStore } from '../jobs/payload-store.js';
import type { RedisJobStore } from './redis-job-store.js';

/** Options of {@link QueueWorker}. */
export interface QueueWorkerOptions extends QueueNames {
  /** A patient connection (commands wait out a Redis restart). The caller keeps it. */
  readonly redis: Redis;
  readonly store: RedisJobStore;
  readonly clock: Clock;
  /** The engine's streams (`engine`) and the backoff jitter (`redelivery`). */
  readonly random: Random;
  readonly policy: Policy;
  readonly upstream: { readonly primary: ModelClient; readonly fallback?: ModelClient };
  /** Jobs this process runs at once. @default 32 */
  readonly concurrency?: number;
  /** The lease: a job stays locked to this worker this long past its last renewal (renewed every half). @default 30_000 */
  readonly leaseMs?: number;
  /** How often expired leases are looked for. @default 5_000 */
  readonly stalledIntervalMs?: number;
  /** Lease expiries a job survives; one more fails it (dead letter). @default 5 */
  readonly maxStalled?: number;
  /** `close` waits this long for running jobs, then hands them back to the queue. @default 10_000 */
  readonly drainMs?: number;
  /**
   * Completion callbacks of the jobs this worker finishes (see callback-delivery.ts): the sender's attempts,
   * backoff and timeout, the claim lease and the poll period; `false` sends none. @default the in-memory defaults
   */
  readonly callbacks?: (Omit<CallbackSenderOptions, 'clock'> & { readonly leaseMs?: number; readonly pollMs?: number }) | false;
  /**
   * Keep the retry budget and the primary's breaker in Redis (see shared-policy.ts), so every worker on this
   * Redis and prefix behaves as one policy; otherwise each process has its own. @default false
   */
  readonly sharedPolicy?: boolean;
  /**
   * Metrics (the engine's `engine_*` and the worker's `job_*`, see worker-metrics.ts) and traces: one trace per
   * delivery whose root span carries `job.id` (the correlation key with the API's `job.enqueue` span). The caller
   * keeps it. @default none
   */
  readonly telemetry?: Telemetry;
  /** Where jobs with a `payloadRef` have their payload (the API's store). @default none: such jobs fail PAYLOAD_UNAVAILABLE */
  readonly payloads?: PayloadStore;
  /** Per-token prices of the upstreams (`worker --price`): jobs' `costUsd` and `engine_cost_usd_total`. @default none */
  readonly prices?: ServicePrices;
}

/** Typed events of a worker. */
export type QueueWorkerEvent =
  | { readonly type: 'delivered'; readonly id: string; readonly attempt: number; readonly resumeFrom: number }
  | { readonly type: 'finished'; readonly id: string; readonly status: 'succeeded' | 'failed' | 'cancelled' }
  | { readonly type: 'retry'; readonly id: string; readonly delayMs: number; readonly code: string }
  | { readonly type: 'lease-lost'; readonly id: string; readonly message: string }
  /** The shared breaker refused the primary and there is no fallback: the job waits, no attempt spent. */
  | { readonly type: 'breaker-wait'; readonly id: string; readonly delayMs: number };

/** Redelivery after a retryable failure: BullMQ's backoff strategy reads the delay from it. */
class RetryLaterError extends Error {
  constructor(readonly delayMs: number, message: string) {
    super(message);
    this.name = 'RetryLaterError';
  }
}

interface Running {
  readonly ctl: AbortController;
  readonly cycle: number;
}

/** Consumes the Redis queue with this process's Engine. */
export class QueueWorker {
  readonly engine: Engine;
  readonly worker: Worker<QueuedJobData>;
  private readonly o: QueueWorkerOptions;
  private readonly store: RedisJobStore;
  private readonly clock: Clock;
  private readonly clients: CheckpointClient[];
  private readonly redelivery: Redelivery;
  private readonly budget: RetryBudget | undefined;
  /** With `sharedPolicy`: the budget and breaker every worker shares. */
  readonly shared: { readonly budget: SharedRetryBudget | undefined; readonly breaker: SharedBreaker | undefined } | undefined;
  private readonly running = new Map<string, Running>();
  private readonly listeners = new Set<(e: QueueWorkerEvent) => void>();
  private readonly events: QueueEvents;
  /** For looking jobs up (reconciliation). */
  private readonly lookup: Queue<QueuedJobData>;
  /** Jobs aborted because this process is shutting down (they go back to the queue, not to a terminal state). */
  private readonly handedBack = new Set<string>();
  private subscriber: Redis | undefined;
  private closing = false;
  private readonly drainMs: number;
  /** Sends completion callbacks (every worker polls the shared outbox). */
  readonly callbacks: CallbackDelivery | undefined;
  private readonly observed: EngineTelemetry | undefined;
  private readonly metrics: WorkerMetrics | undefined;
  /** The prices terminal patches apply (`worker --price`); empty when unpriced. */
  private readonly priced: { readonly prices?: ServicePrices };

  constructor(o: QueueWorkerOptions) {
    this.o = o;
    this.priced = o.prices !== undefined ? { prices: o.prices } : {};
    this.store = o.store;
    this.clock = o.clock;
    const concurrency = o.concurrency ?? 32;
    const leaseMs = o.leaseMs ?? 30_000;
    const stalledIntervalMs = o.stalledIntervalMs ?? 5_000;
    const maxStalled = o.maxStalled ?? 5;
    this.drainMs = o.drainMs ?? 10_000;
    if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new RangeError(`concurrency: expected an integer >= 1, got ${String(o.concurrency)}`);
    if (!(Number.isInteger(leaseMs) && leaseMs >= 100)) throw new RangeError(`leaseMs: expected an integer >= 100, got ${String(o.leaseMs)}`);
    if (!(Number.isInteger(stalledIntervalMs) && stalledIntervalMs >= 50)) throw new RangeError(`stalledIntervalMs: expected an integer >= 50, got ${String(o.stalledIntervalMs)}`);
    if (!(Number.isInteger(maxStalled) && maxStalled >= 0)) throw new RangeError(`maxStalled: expected an integer >= 0, got ${String(o.maxStalled)}`);
    const resume = o.policy.resume.enabled;
    const primary = new CheckpointClient(o.upstream.primary, resume);
    const fallback = o.upstream.fallback === undefined ? undefined : new CheckpointClient(o.upstream.fallback, resume);
    this.clients = fallback === undefined ? [primary] : [primary, fallback];
    const sharedKey = `${o.store.prefix}policy:${o.queueName ?? 'engine-jobs'}`;
    this.shared = o.sharedPolicy === true
      ? {
          budget: o.policy.retryBudget.mode === 'off' ? undefined : new SharedRetryBudget(o.redis, `${sharedKey}:budget`, o.policy.retryBudget),
          breaker: o.policy.breaker.enabled ? new SharedBreaker(o.redis, `${sharedKey}:breaker`, o.policy.breaker) : undefined,
        }
      : undefined;
    // One upstream attempt per delivery: retries are redeliveries through the queue (see redelivery.ts). With a
    // shared policy the breaker is the shared one (the engine's own would judge this process's calls only).
    this.engine = new Engine({
      clock: o.clock,
      random: o.random.derive('engine'),
      policy: withOverrides(o.policy, { retry: { maxAttempts: 1 }, ...(this.shared !== undefined ? { breaker: { enabled: false } } : {}) }),
      primary,
      ...(fallback !== undefined ? { fallback } : {}),
      // The response cache on the same Redis: answers are shared with the API processes and the other workers.
      ...(o.policy.cache.enabled ? { responseStore: new RedisResponseStore(o.redis) } : {}),
    });
    this.budget = this.shared !== undefined ? undefined : retryBudgetFromPolicy(o.clock, o.policy.retryBudget);
    if (o.telemetry !== undefined) {
      this.observed = new EngineTelemetry(this.engine, o.telemetry, o.clock, o.prices);
      const budget = this.shared?.budget;
      const breaker = this.shared?.breaker;
      this.metrics = new WorkerMetrics(o.telemetry.meter, {
        ...(budget !== undefined ? { budgetLevel: () => budget.level() } : {}),
        ...(breaker !== undefined ? { breakerState: () => breaker.state() } : {}),
      });
      this.listeners.add((e) => this.metrics?.onEvent(e));
    }
    this.redelivery = new Redelivery({ policy: o.policy, random: o.random.derive('redelivery'), ...(this.budget !== undefined ? { budget: this.budget } : {}) });
    if (o.callbacks !== false) {
      const { leaseMs: cbLeaseMs, pollMs, ...sender } = o.callbacks ?? {};
      this.callbacks = new CallbackDelivery({
        redis: o.redis,
        store: o.store,
        clock: o.clock,
        sender: new CallbackSender({ clock: o.clock, ...sender }),
        ...(cbLeaseMs !== undefined ? { leaseMs: cbLeaseMs } : {}),
        ...(pollMs !== undefined ? { pollMs } : {}),
      });
    }
    const name = o.queueName ?? 'engine-jobs';
    const prefix = o.bullPrefix ?? 'bull';
    this.worker = new Worker<QueuedJobData>(name, (job, token) => this.process(job, token), {
      connection: o.redis,
      prefix,
      concurrency,
      lockDuration: leaseMs,
      stalledInterval: stalledIntervalMs,
      maxStalledCount: maxStalled,
      autorun: false,
      settings: { backoffStrategy: (_made, _type, err) => (err instanceof RetryLaterError ? err.delayMs : 1000) },
    });
    this.worker.on('error', () => undefined);
    this.worker.on('stalled', () => void o.redis.incr(stalledKey(o.store.prefix, name)).catch(() => undefined));
    this.worker.on('lockRenewalFailed', (ids) => {
      for (const id of ids) this.running.get(id)?.ctl.abort(new LeaseLostError(id, 'a lease renewal refused by Redis'));
    });
    // A job BullMQ fails by itself (too many lease expiries, or an exception of ours) is made terminal here.
    this.lookup = new Queue<QueuedJobData>(name, { connection: o.redis, prefix });
    this.lookup.on('error', () => undefined);
    this.events = new QueueEvents(name, { connection: o.redis.duplicate(), prefix });
    this.events.on('error', () => undefined);
    this.events.on('failed', ({ jobId, failedReason }) => void this.reconcileFailed(jobId, failedReason));
  }

  /** Subscribes to worker events; returns the unsubscribe function. */
  onEvent(l: (e: QueueWorkerEvent) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Jobs running in this process now. */
  get active(): number {
    return this.running.size;
  }

  /** Starts taking jobs; resolves once connected. */
  async start(): Promise<void> {
    const sub = this.o.redis.duplicate();
    sub.on('error', () => undefined);
    sub.on('message', (_channel: string, id: string) => {
      this.running.get(id)?.ctl.abort(new AbortError(new Error('cancelled by the client (DELETE)')));
    });
    await sub.subscribe(cancelChannel(this.store.prefix));
    this.subscriber = sub;
    await this.events.waitUntilReady();
    void this.worker.run().catch(() => undefined);
    await this.worker.waitUntilReady();
    this.callbacks?.start();
  }

  /**
   * Stops taking jobs and waits up to `drainMs` for running ones; those still running then go back to the
   * queue (another worker resumes them from their checkpoints).
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const closed = this.worker.close();
    const timer = this.clock.setTimer(this.drainMs, () => {
      for (const [id, r] of this.running) {
        this.handedBack.add(id);
        r.ctl.abort(new AbortError(new Error(`worker shutting down; job ${id} goes back to the queue`)));
      }
    }, 'worker drain');
    await closed.catch(() => undefined);
    timer.cancel();
    await this.callbacks?.close();
    await this.events.close().catch(() => undefined);
    await this.lookup.close().catch(() => undefined);
    const sub = this.subscriber;
    if (sub !== undefined) await sub.quit().catch(() => sub.disconnect());
    this.metrics?.close();
    this.observed?.close();
  }

  private emit(e: QueueWorkerEvent): void {
    for (const l of this.listeners) l(e);
  }

  private wallNowMs(): number {
    const wall = (this.clock as { wallTimeMs?: () => number }).wallTimeMs;
    return Math.floor(typeof wall === 'function' ? wall.call(this.clock) : this.clock.now());
  }

  /** Writes a terminal state (fenced on the cycle) and reports it. */
  private async finish(rec: JobRecord, patch: JobPatch): Promise<void> {
    // The callback is marked pending in the terminal write itself; a crash before `schedule` is repaired by the
    // redelivery of the (still incomplete) BullMQ job, which finds the job terminal with its callback pending.
    const callback = this.callbacks !== undefined && rec.spec.callbackUrl !== undefined;
    const done = await this.store.updateIf(rec.id, { cycle: rec.cycle, open: true }, callback ? { ...patch, callback: { status: 'pending', attempts: 0 } } : patch);
    if (callback && done !== undefined) await this.callbacks?.schedule(rec.id);
    this.emit({ type: 'finished', id: rec.id, status: patch.status as 'succeeded' | 'failed' | 'cancelled' });
  }

  private async process(bj: BullJob<QueuedJobData>, token: string | undefined): Promise<string> {
    const { id, cycle } = bj.data;
    const rec = await this.store.get(id);
    // Discarded, or requeued into another cycle since: nothing to do for this delivery.
    if (rec === undefined || rec.cycle !== cycle) return 'stale';
    if (isTerminal(rec.status)) {
      // A delivery that wrote the terminal state and died before telling BullMQ (and maybe before scheduling
      // the callback: scheduling again is a no-op when it is there).
      if (rec.callback?.status === 'pending') await this.callbacks?.schedule(id);
      if (rec.status === 'failed') throw new UnrecoverableError(`${rec.error?.code ?? 'FAILED'}: ${rec.error?.message ?? 'failed'}`);
      return rec.status;
    }
    const wallMs = this.wallNowMs();
    if ((await this.o.redis.get(cancelFlagKey(this.store.prefix, id))) === String(cycle)) {
      await this.finish(rec, { status: 'cancelled', outcome: 'cancelled', finishedAtMs: wallMs, deadLetter: false, error: { code: 'CANCELLED', message: 'cancelled by the client (DELETE)' } });
      return 'cancelled';
    }
    const remainingMs = rec.spec.deadlineMs === undefined ? undefined : rec.spec.deadlineMs - (wallMs - rec.createdAtMs);
    if (remainingMs !== undefined && remainingMs <= 0) {
      // Expired while queued: dropped, never sent.
      await this.finish(rec, { status: 'failed', outcome: 'shed', finishedAtMs: wallMs, deadLetter: true, error: { code: 'EXPIRED_IN_QUEUE', message: 'expired: the deadline passed while queued' } });
      throw new UnrecoverableError('EXPIRED_IN_QUEUE: the deadline passed while queued');
    }
    // The shared breaker: a refused primary goes to the fallback, or the job waits out the open state unsent.
    let gate: BreakerGate | undefined;
    let toFallback = false;
    if (this.shared?.breaker !== undefined && rec.model !== 'fallback') {
      gate = await this.shared.breaker.allow();
      if (!gate.allowed) {
        if (this.clients[1] !== undefined && this.o.policy.fallback.enabled) toFallback = true;
        else if (token !== undefined) {
          this.emit({ type: 'breaker-wait', id, delayMs: gate.retryAfterMs });
          await bj.moveToDelayed(wallMs + Math.max(1, gate.retryAfterMs), token);
          throw new DelayedError();
        }
      }
    }
    const probe = gate?.allowed === true && gate.probe;
    // Deposited once per job, on its first run (after the breaker gate: a job the gate delays comes back here
    // with nothing counted, and must not deposit twice).
    if (bj.attemptsMade === 0 && rec.attempts === 0) {
      this.budget?.onRequest();
      await this.shared?.budget?.onRequest();
    }
    // The delivery's attempt is counted as it starts: a delivery lost with a killed worker stays counted, and the
    // next one starts from it. The result's own count replaces it at the end (rec.attempts + result.attempts).
    const started = await this.store.updateIf(id, { cycle, open: true }, { status: 'running', attempts: rec.attempts + 1, ...(rec.startedAtMs === undefined ? { startedAtMs: wallMs } : {}) });
    if (started === undefined) {
      await this.shared?.breaker?.release(probe);
      return 'stale';
    }
    this.emit({ type: 'delivered', id, attempt: bj.attemptsMade + 1, resumeFrom: rec.tokens });
    const client = (rec.model === 'fallback' ? this.clients[1] : undefined) ?? this.clients[0];
    if (rec.tokens > 0 && client !== undefined && !client.canContinue(this.o.policy.resume.splice)) {
      // Tokens were committed and this upstream cannot continue them: the job ends explicitly partial.
      await this.shared?.breaker?.release(probe);
      await this.finish(rec, terminalPatchFor(rec, partialResult(rec, wallMs), { attempts: rec.attempts, finishedAtMs: wallMs, callbackPending: false, ...this.priced }));
      return 'succeeded';
    }

    let full: JobRecord;
    try {
      full = await withPayload(rec, this.o.payloads);
    } catch (e) {
      if (!(e instanceof PayloadUnavailableError)) throw e;
      await this.shared?.breaker?.release(probe);
      await this.finish(rec, { status: 'failed', outcome: 'failed', attempts: rec.attempts, finishedAtMs: this.wallNowMs(), deadLetter: true, error: { code: e.code, message: e.message } });
      throw new UnrecoverableError(`${e.code}: ${e.message}`);
    }
    const result = await this.run(full, remainingMs, toFallback);
    if (this.shared?.breaker !== undefined && gate?.allowed === true) {
      // The primary's verdict: a success, a failure that counts against a breaker, or neither (cancelled, lost).
      const verdict = result instanceof Error || result.outcome === 'cancelled' ? undefined : statusFor(result) === 'succeeded' ? false : classifyResult(result).breakerFailure ? true : undefined;
      await (verdict === undefined ? this.shared.breaker.release(probe) : this.shared.breaker.record(verdict, probe));
    }
    if (result instanceof Error) {
      this.emit({ type: 'lease-lost', id, message: result.message });
      // Another delivery (or a requeue) owns the job now; BullMQ refuses our completion for lack of the lock.
      return 'lease-lost';
    }
    const attempts = rec.attempts + result.attempts;
    const finishedAtMs = this.wallNowMs();
    const status = statusFor(result);
    if (status === 'succeeded') {
      this.budget?.onSuccess();
      await this.finish(rec, terminalPatchFor(rec, result, { attempts, finishedAtMs, callbackPending: false, deliveredBefore: rec.tokens, ...this.priced }));
      return status;
    }
    if (result.outcome === 'cancelled') {
      if (this.handedBack.delete(id) && token !== undefined) {
        // Shutting down: hand the job back; the next delivery resumes from the checkpoint.
        await this.store.updateIf(id, { cycle, open: true }, { ...jobUsagePatch(rec, result, this.o.prices ?? {}, rec.tokens), status: 'queued', attempts });
        await bj.moveToWait(token);
        throw new WaitingError();
      }
      await this.finish(rec, terminalPatchFor(rec, result, { attempts, finishedAtMs, callbackPending: false, deliveredBefore: rec.tokens, ...this.priced }));
      return status;
    }
    if (result.outcome === 'shed' && result.error?.code !== 'EXPIRED_IN_QUEUE' && token !== undefined) {
      // This worker's own admission (rate limit, full queue) refused it: later, without spending an attempt.
      await this.store.updateIf(id, { cycle, open: true }, { status: 'queued', attempts });
      await bj.moveToDelayed(finishedAtMs + (result.retryAfterMs ?? 1000), token);
      throw new DelayedError();
    }
    const c = classifyResult(result);
    if (c.retryable) this.budget?.onFailure();
    let d = this.redelivery.decide(id, result, bj.attemptsMade + 1, remainingMs === undefined ? Number.POSITIVE_INFINITY : remainingMs - (finishedAtMs - wallMs));
    // The job's own attempt limit, below the policy's.
    if (d.retry && rec.spec.maxAttempts !== undefined && bj.attemptsMade + 1 >= rec.spec.maxAttempts) d = { retry: false, reason: 'max-attempts' };
    // The shared budget, as the in-process one: a retry paced by a 429's Retry-After spends nothing.
    const paced = d.retry && d.cause === 'retry-after' && c.kind === 'rate-limited';
    if (d.retry && !paced && this.shared?.budget !== undefined && !(await this.shared.budget.tryWithdraw())) d = { retry: false, reason: 'budget' };
    if (d.retry) {
      await this.store.updateIf(id, { cycle, open: true }, {
        // What this delivery's calls were billed counts too: the next delivery adds its own to it.
        ...jobUsagePatch(rec, result, this.o.prices ?? {}, rec.tokens),
        status: 'queued',
        attempts,
        error: result.error,
        retryAfterMs: result.retryAfterMs,
      });
      this.emit({ type: 'retry', id, delayMs: d.delayMs, code: c.code });
      throw new RetryLaterError(Math.max(0, Math.round(d.delayMs)), `${c.code}: ${result.error?.message ?? 'failed'}; retry in ${Math.round(d.delayMs)}ms`);
    }
    await this.finish(rec, terminalPatchFor(rec, result, { attempts, finishedAtMs, callbackPending: false, deliveredBefore: rec.tokens, ...this.priced }));
    throw new UnrecoverableError(`${c.code}: ${result.error?.message ?? 'failed'} (${d.reason})`);
  }

  /** One delivery on the engine, committing each chunk after the checkpoint. The LeaseLostError if fenced off. */
  private async run(rec: JobRecord, remainingMs: number | undefined, toFallback = false): Promise<EngineResult | LeaseLostError> {
    const { id, cycle } = rec;
    const ctl = new AbortController();
    this.running.set(id, { ctl, cycle });
    for (const c of this.clients) c.set(id, { tokens: rec.tokens, chars: rec.output.length, text: rec.output });
    let chain: Promise<unknown> = Promise.resolve();
    let lost: LeaseLostError | undefined;
    const onTokens = (c: TokenChunk): void => {
      this.observed?.tokens(id, c);
      chain = chain.then(async () => {
        if (lost !== undefined) return;
        try {
          await this.store.commit(id, cycle, { index: rec.tokens + c.index, count: c.count, text: c.text });
        } catch (e) {
          lost = e instanceof LeaseLostError ? e : new LeaseLostError(id, e instanceof Error ? e.message : String(e));
          ctl.abort(lost);
        }
      });
    };
    const req = engineRequestFor(rec, onTokens, {
      ...(remainingMs !== undefined ? { deadlineMs: remainingMs } : {}),
      // A resumed stream stays on the model that produced its first tokens.
      ...(rec.tokens > 0 && rec.model !== undefined ? { modelHint: rec.model } : {}),
      ...(toFallback ? { modelHint: 'fallback' as const } : {}),
    });
    // One trace per delivery, correlated with the API's by the job id.
    this.observed?.begin(id, { attributes: { 'job.id': id, tenant: rec.tenant, 'request.api': 'worker', 'request.priority': rec.spec.priority, 'job.cycle': cycle, 'job.attempt': rec.attempts + 1 } });
    try {
      let pending: Promise<EngineResult>;
      try {
        pending = this.engine.submit(req, ctl.signal);
      } finally {
        this.observed?.admitted(id);
      }
      const result = await pending;
      await chain;
      if (lost !== undefined) return lost;
      const reason: unknown = ctl.signal.reason;
      if (reason instanceof LeaseLostError) return reason;
      return result;
    } finally {
      this.running.delete(id);
      for (const c of this.clients) c.clear(id);
    }
  }

  private async reconcileFailed(id: string, reason: string): Promise<void> {
    try {
      const rec = await this.store.get(id);
      if (rec === undefined || isTerminal(rec.status)) return;
      // Only if BullMQ still holds this very cycle as failed (not a requeue that began since).
      const bj = await this.lookup.getJob(id);
      if (bj === undefined || bj.data.cycle !== rec.cycle || (await bj.getState()) !== 'failed') return;
      await this.store.updateIf(id, { cycle: rec.cycle, open: true }, {
        status: 'failed',
        outcome: 'failed',
        deadLetter: true,
        finishedAtMs: this.wallNowMs(),
        error: { code: 'QUEUE_FAILED', message: `the queue failed the job: ${reason}` },
      });
    } catch {
      // Redis away: another worker's QueueEvents sees the same event.
    }
  }
}

/** The result of a job whose committed tokens cannot be continued on its upstream (dialect `openai`). */
function partialResult(rec: JobRecord, atMs: number): EngineResult {
  return {
    id: rec.id,
    outcome: 'degraded',
    degraded: 'partial',
    error: { code: 'NO_CONTINUATION', message: `the upstream cannot continue the ${rec.tokens} tokens already committed` },
    text: rec.output,
    tokens: rec.tokens,
    model: rec.model ?? 'primary',
    attempts: 0,
    upstreamCalls: 0,
    resumes: 0,
    queuedMs: 0,
    backoffMs: 0,
    endAtMs: atMs,
  };
}
