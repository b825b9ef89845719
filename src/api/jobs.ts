/**
 * The job runner: turns stored jobs into Engine submissions and Engine results back into stored terminal
 * states. Every accepted job reaches exactly one terminal state per cycle: the engine's `submit` never rejects,
 * cancellation and shutdown abort the submission's signal (so the upstream call is aborted too), and a job the
 * engine refuses at admission (a rate-limit shed, reported synchronously) is not accepted at all: it is
 * discarded and the caller gets 429.
 */
import { createHash } from 'node:crypto';
import type { ServicePrices } from '../engine/billed-usage.js';
import { AbortError } from '../errors.js';
import { canonicalJson } from '../engine/cache-key.js';
import type { Engine, EngineEvent, EngineResult, TokenChunk } from '../engine/engine.js';
import { engineRequestFor, terminalPatchFor } from '../queue/engine-job.js';
import { QueueUnavailableError } from '../queue/errors.js';
import type { JobQueue } from '../queue/job-queue.js';
import { LocalJobQueue } from '../queue/local-queue.js';
import type { Random } from '../random.js';
import type { EngineTelemetry } from '../telemetry/engine-telemetry.js';
import type { Clock } from '../time/clock.js';
import type { CallbackSender } from '../jobs/callback-sender.js';
import { isTerminal, type JobPatch, type JobRecord, type JobSpec, type JobStore } from '../jobs/job-store.js';
import { jobView } from '../jobs/job-view.js';

/** Options of {@link JobService}. */
export interface JobServiceOptions {
  readonly engine: Engine;
  readonly store: JobStore;
  readonly clock: Clock;
  /** Job ids are drawn from `random.derive('api/job-ids')`. */
  readonly random: Random;
  readonly telemetry?: EngineTelemetry;
  /** Without it, `callbackUrl` is stored but nothing is sent. */
  readonly callbacks?: CallbackSender;
  /**
   * Where accepted jobs go. The caller keeps it. @default a LocalJobQueue: this process's engine (the embedded
   * in-memory queue)
   */
  readonly queue?: JobQueue;
  /** Prices of the upstreams: a job's `costUsd` (src/engine/billed-usage.ts). @default none (costUsd null) */
  readonly prices?: ServicePrices;
}

/** A refusal at admission: nothing was accepted. */
export interface Refused {
  readonly kind: 'shed';
  readonly retryAfterMs?: number;
  readonly error: { readonly code: string; readonly message: string };
}

export type SubmitResult =
  | { readonly kind: 'created'; readonly job: JobRecord }
  | { readonly kind: 'existing'; readonly job: JobRecord }
  /** The idempotency key was used before with another payload. */
  | { readonly kind: 'conflict'; readonly job: JobRecord }
  | Refused;

interface Running {
  readonly ctl: AbortController;
  /** Store writes of this job, in order (tokens, status), so the terminal update comes last. */
  chain: Promise<unknown>;
  settled: Promise<void>;
  /** Refused at admission: ignore everything this submission produces. */
  refused: boolean;
  readonly baseAttempts: number;
  liveAttempts: number;
}

/** Runs jobs through the engine and keeps their stored state. */
export class JobService {
  private readonly engine: Engine;
  private readonly store: JobStore;
  private readonly clock: Clock;
  private readonly ids: Random;
  private readonly telemetry: EngineTelemetry | undefined;
  private readonly callbacks: CallbackSender | undefined;
  private readonly prices: ServicePrices;
  /** Where accepted jobs go: this process's engine, or a durable queue that workers elsewhere consume. */
  readonly queue: JobQueue;
  private readonly ownQueue: boolean;
  private readonly running = new Map<string, Running>();
  private readonly pendingCallbacks = new Set<Promise<void>>();
  private readonly stopping = new AbortController();
  private readonly wallOriginMs: number;
  private readonly off: () => void;
  /** The job being submitted right now, to catch a synchronous shed. */
  private submitting: { id: string; shed?: Extract<EngineEvent, { type: 'shed' }> } | undefined;
  private seq = 0;

  constructor(o: JobServiceOptions) {
    this.engine = o.engine;
    this.store = o.store;
    this.clock = o.clock;
    this.ids = o.random.derive('api/job-ids');
    this.telemetry = o.telemetry;
    this.callbacks = o.callbacks;
    this.prices = o.prices ?? {};
    const wall = (o.clock as { wallTimeMs?: () => number }).wallTimeMs;
    this.wallOriginMs = typeof wall === 'function' ? wall.call(o.clock) - o.clock.now() : 0;
    this.off = this.engine.onEvent((e) => this.onEngineEvent(e));
    this.ownQueue = o.queue === undefined;
    this.queue = o.queue ?? new LocalJobQueue({ engine: o.engine, start: (job, reset) => this.start(job, reset), cancel: (id) => this.cancelLocal(id) });
  }

  /** Unix-epoch ms now (the clock's time, anchored to wall time when the clock knows it). */
  wallNowMs(): number {
    return Math.floor(this.wallOriginMs + this.clock.now());
  }

  /** Jobs currently in the engine. */
  get active(): number {
    return this.running.size;
  }

  /**
   * Creates and starts a job, or returns the tenant's job with the same idempotency key. Without a key, the key is
   * the payload's hash (`key = idempotency_key or sha256(payload)`): the same payload submitted twice is one job.
   */
  async submit(tenant: string, spec: JobSpec, headerKey?: string): Promise<SubmitResult> {
    const idempotencyKey = headerKey ?? payloadKey(spec);
    const idempotencyKeySource = headerKey !== undefined ? 'header' : 'payload-hash';
    const health = this.queue.health();
    if (!health.ready) throw new QueueUnavailableError(health.reason ?? 'the queue not ready');
    const local = this.queue.kind === 'memory';
    const fingerprint = JSON.stringify(spec);
    const id = this.newId();
    // A job handed to a remote queue runs (and is traced) in a worker process.
    if (local) this.telemetry?.begin(id, { attributes: { tenant, 'job.id': id, 'request.priority': spec.priority, 'request.api': 'jobs' } });
    const { job, created } = await this.store.create({
      id,
      tenant,
      spec,
      fingerprint,
      createdAtMs: this.wallNowMs(),
      idempotencyKey,
      idempotencyKeySource,
    });
    if (!created) {
      if (local) {
        // A replay is answered, not failed: only a key reused with another payload (a 422) is an error.
        if (job.fingerprint !== fingerprint) this.telemetry?.abandon(id, `idempotency key conflict: expected the payload of job ${job.id}, got another`);
        else this.telemetry?.replayed(id, { kind: isTerminal(job.status) ? 'stored' : 'joined', of: job.id });
      }
      // A process that died between storing and enqueueing left the job queued with nothing to run it:
      // enqueueing again is a no-op for a job the queue holds (same id), and repairs the other case.
      else if (job.status === 'queued' && job.fingerprint === fingerprint) await this.queue.enqueue(job);
      return { kind: job.fingerprint === fingerprint ? 'existing' : 'conflict', job };
    }
    let refused: Awaited<ReturnType<JobQueue['enqueue']>>;
    try {
      refused = await this.queue.enqueue(job);
    } catch (error) {
      if (local) this.telemetry?.abandon(id, `enqueue failed: ${error instanceof Error ? error.message : String(error)}`);
      await this.store.discard(id).catch(() => undefined);
      throw error;
    }
    if (refused !== undefined) {
      await this.store.discard(id);
      return refused;
    }
    // Handed to a remote queue: the worker's trace of the job carries the same `job.id`.
    if (!local) this.telemetry?.mark('job.enqueue', { 'job.id': id, tenant, 'request.priority': spec.priority, 'request.api': 'jobs', 'queue.kind': this.queue.kind });
    return { kind: 'created', job };
  }

  /** The job if it exists and belongs to `tenant`. */
  async get(tenant: string, id: string): Promise<JobRecord | undefined> {
    const job = await this.store.get(id);
    return job !== undefined && job.tenant === tenant ? job : undefined;
  }

  /**
   * Cancels a queued or running job: aborts its engine submission (and so its upstream call) and resolves once
   * the job is terminal. A job already terminal is returned as it is, with `cancelled: false`.
   */
  async cancel(tenant: string, id: string): Promise<{ job: JobRecord; cancelled: boolean } | undefined> {
    const job = await this.get(tenant, id);
    if (job === undefined) return undefined;
    if (isTerminal(job.status)) return { job, cancelled: false };
    const cancelled = await this.queue.cancel(id);
    return { job: cancelled ? ((await this.store.get(id)) ?? job) : job, cancelled };
  }

  /** Cancels a job running on this process's engine; resolves once it is terminal. */
  private async cancelLocal(id: string): Promise<boolean> {
    const r = this.running.get(id);
    if (r === undefined) return false;
    r.ctl.abort(new AbortError(new Error('cancelled by the client (DELETE)')));
    await r.settled;
    return true;
  }

  /** The tenant's dead-lettered jobs. */
  deadLetter(tenant: string, limit?: number): Promise<JobRecord[]> {
    return this.store.listDeadLetter(tenant, limit === undefined ? {} : { limit });
  }

  /**
   * Puts a dead-lettered job back: a new attempt cycle on the same id (output and token log start over).
   * `not-dead-letter` when the job is not in the dead-letter list.
   */
  async requeue(tenant: string, id: string): Promise<{ kind: 'requeued'; job: JobRecord } | { kind: 'not-dead-letter'; job: JobRecord } | Refused | undefined> {
    const job = await this.get(tenant, id);
    if (job === undefined) return undefined;
    if (!job.deadLetter || this.running.has(id)) return { kind: 'not-dead-letter', job };
    if (this.queue.kind === 'memory') this.telemetry?.begin(id, { attributes: { tenant, 'job.id': id, 'request.priority': job.spec.priority, 'request.api': 'jobs', 'request.cycle': job.cycle + 1 } });
    const reset: JobPatch = {
      status: 'queued',
      cycle: job.cycle + 1,
      deadLetter: false,
      outcome: undefined,
      degraded: undefined,
      error: undefined,
      retryAfterMs: undefined,
      startedAtMs: undefined,
      finishedAtMs: undefined,
      callback: undefined,
      resetOutput: true,
    };
    const refused = await this.queue.enqueue(job, reset);
    if (refused !== undefined) return refused;
    await this.running.get(id)?.chain;
    return { kind: 'requeued', job: (await this.store.get(id)) ?? job };
  }

  /** Resolves when no job is in the engine and no callback is being delivered. */
  async onIdle(): Promise<void> {
    while (this.running.size > 0 || this.pendingCallbacks.size > 0) {
      await Promise.all([...[...this.running.values()].map((r) => r.settled), ...this.pendingCallbacks]);
    }
  }

  /** Cancels every job still in the engine (they end `cancelled`), stops callback retries, and waits for both. */
  async close(): Promise<void> {
    const reason = new AbortError(new Error('the server is shutting down'));
    this.stopping.abort(reason);
    for (const r of this.running.values()) r.ctl.abort(reason);
    await this.onIdle();
    this.off();
    if (this.ownQueue) await this.queue.close();
  }

  private newId(): string {
    const hex = (n: number): string => n.toString(16).padStart(8, '0');
    return `job_${hex(this.ids.int(0, 0xffffffff))}${hex(this.ids.int(0, 0xffffffff))}${(++this.seq).toString(36)}`;
  }

  /** Submits one cycle. Returns the refusal when the engine shed it at admission (then nothing was changed). */
  private start(job: JobRecord, reset: JobPatch | undefined): Refused | undefined {
    const id = job.id;
    const ctl = new AbortController();
    let settle!: () => void;
    const entry: Running = {
      ctl,
      // Starts resolved: the first write runs after submit has returned, when `refused` is known.
      chain: Promise.resolve(),
      settled: new Promise<void>((resolve) => (settle = resolve)),
      refused: false,
      baseAttempts: reset === undefined ? 0 : job.attempts,
      liveAttempts: 0,
    };
    this.running.set(id, entry);
    if (reset !== undefined) this.write(entry, () => this.store.update(id, reset));
    const req = engineRequestFor(job, (c: TokenChunk) => {
      this.telemetry?.tokens(id, c);
      this.write(entry, () => this.store.appendTokens(id, c));
    });
    this.submitting = { id };
    let result: Promise<EngineResult>;
    try {
      result = this.engine.submit(req, ctl.signal);
    } finally {
      this.telemetry?.admitted(id);
    }
    const shed = this.submitting.shed;
    this.submitting = undefined;
    if (shed !== undefined) {
      entry.refused = true;
      this.running.delete(id);
      settle();
      return {
        kind: 'shed',
        ...(shed.retryAfterMs !== undefined ? { retryAfterMs: shed.retryAfterMs } : {}),
        error: { code: 'RATE_LIMITED', message: `shed at admission (${shed.reason}); retry later` },
      };
    }
    void result.then((r) => this.finish(job, entry, r)).finally(() => {
      if (this.running.get(id) === entry) this.running.delete(id);
      settle();
    });
    return undefined;
  }

  private onEngineEvent(e: EngineEvent): void {
    if (e.type === 'shed' && this.submitting?.id === e.id) {
      // Emitted synchronously inside `submit`: the engine refused it at admission.
      this.submitting.shed = e;
      return;
    }
    if (e.type !== 'attempt') return;
    const r = this.running.get(e.id);
    if (r === undefined) return;
    r.liveAttempts = e.attempt;
    const attempts = r.baseAttempts + e.attempt;
    const startedAtMs = this.wallNowMs();
    this.write(r, async () => {
      const job = await this.store.get(e.id);
      if (job === undefined || isTerminal(job.status)) return;
      await this.store.update(e.id, job.status === 'queued' ? { status: 'running', startedAtMs, attempts } : { attempts });
    });
  }

  /** Chains a store write after the job's earlier ones; a failed write is reported on the terminal state. */
  private write(r: Running, fn: () => Promise<unknown>): void {
    r.chain = r.chain.then(() => (r.refused ? undefined : fn())).catch(() => undefined);
  }

  private async finish(job: JobRecord, r: Running, result: EngineResult): Promise<void> {
    if (r.refused) return;
    await r.chain;
    const patch = terminalPatchFor(job, result, {
      attempts: r.baseAttempts + result.attempts,
      finishedAtMs: this.wallNowMs(),
      callbackPending: this.callbacks !== undefined,
      prices: this.prices,
    });
    const done = await this.store.update(job.id, patch);
    if (job.spec.callbackUrl !== undefined && this.callbacks !== undefined) this.sendCallback(done, job.spec.callbackUrl, this.callbacks);
  }

  private sendCallback(job: JobRecord, url: string, sender: CallbackSender): void {
    const p = sender
      .deliver(url, jobView(job, this.store.retention), { signal: this.stopping.signal, headers: { 'x-job-id': job.id, 'x-delivery-id': `${job.id}:${job.cycle}` } })
      .then((state) => this.store.update(job.id, { callback: state }))
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => this.pendingCallbacks.delete(p));
    this.pendingCallbacks.add(p);
  }
}

/** The default idempotency key of a job: `sha256:` and the hex sha256 of its canonical payload (fields sorted). */
export function payloadKey(spec: JobSpec): string {
  return `sha256:${createHash('sha256').update(canonicalJson(spec)).digest('hex')}`;
}
