import type { Random } from '../random.js';
import type { Clock, Timer } from '../time/clock.js';
import { OverloadedError, StreamInterruptedError } from '../upstream/errors.js';
import {
  NO_CAPABILITIES,
  type CallOptions,
  type CompletionBatchRequest,
  type CompletionBatchResult,
  type EmbeddingRequest,
  type EmbeddingResult,
  type ModelRequest,
  type PushableStream,
  type RouteMeta,
  type StreamEvent,
  type StreamOptions,
  type StreamSink,
  type UpstreamCapabilities,
} from '../upstream/model-client.js';
import type { Balancer } from './balancer.js';
import { createBalancer } from './balancers.js';
import { FleetConfigError } from './errors.js';
import { HedgeDelay } from './hedge-delay.js';
import { pushHedged } from './hedged-push.js';
import { hedgedStream } from './hedged-stream.js';
import { afterReactions, NOTHING_TO_CANCEL, pushFrom } from './push.js';
import { newOutlierRecord, OutlierDetector, outcomeOf, type CallOutcome, type OutlierRecord } from './outlier.js';
import type { FleetPolicy } from './policy-schema.js';
import type { Deployment, FleetEvent, Replica, ReplicaState } from './types.js';

/** One replica inside a deployment: its client, load and outlier record. */
export interface ReplicaEntry {
  readonly id: string;
  readonly replica: Replica;
  outstanding: number;
  calls: number;
  failures: number;
  readonly record: OutlierRecord;
}

/** Options of {@link ReplicaDeployment}. */
export interface DeploymentOptions {
  readonly name: string;
  readonly clock: Clock;
  /** The deployment's own stream (its balancer draws from `random.derive('balancer')`). */
  readonly random: Random;
  readonly policy: FleetPolicy;
  readonly replicas?: readonly Replica[];
}

/**
 * A deployment: one ModelClient over a changing set of replicas. Each call goes to the replica its balancer picks
 * among those in service (not ejected); the outcome feeds outlier ejection; a call that has not answered after the
 * hedge delay may be hedged on another replica (src/fleet/hedged-stream.ts). Throws OverloadedError (503) when no
 * replica is in service.
 */
export class ReplicaDeployment implements Deployment {
  readonly name: string;
  private readonly clock: Clock;
  private readonly policy: FleetPolicy;
  private readonly balancer: Balancer;
  private readonly outlier: OutlierDetector;
  readonly hedgeDelay: HedgeDelay | undefined;
  private entries: ReplicaEntry[] = [];
  private records: OutlierRecord[] = [];
  private readonly listeners = new Set<(e: FleetEvent) => void>();
  private caps: UpstreamCapabilities | undefined;

  constructor(o: DeploymentOptions) {
    this.name = o.name;
    this.clock = o.clock;
    this.policy = o.policy;
    const b = o.policy.balancer;
    this.balancer = createBalancer({ kind: b.kind, random: o.random.derive('balancer'), boundedLoadFactor: b.boundedLoadFactor });
    this.outlier = new OutlierDetector(o.clock, o.policy.ejection, o.name, (e) => this.emit(e));
    this.hedgeDelay = o.policy.hedging.enabled ? new HedgeDelay(o.policy.hedging) : undefined;
    for (const r of o.replicas ?? []) this.add(r, false);
    this.changed();
  }

  /** The intersection of the replicas' capabilities (a deployment's replicas speak one dialect). */
  get capabilities(): UpstreamCapabilities {
    if (this.caps !== undefined) return this.caps;
    const all = this.entries.map((e) => e.replica.client.capabilities ?? NO_CAPABILITIES);
    this.caps = intersectCapabilities(all);
    return this.caps;
  }

  addReplica(replica: Replica): void {
    this.add(replica, true);
    this.changed();
  }

  removeReplica(id: string): void {
    const i = this.entries.findIndex((e) => e.id === id);
    if (i < 0) return;
    const [e] = this.entries.splice(i, 1) as [ReplicaEntry];
    this.records.splice(i, 1);
    this.outlier.forget(e.record);
    this.changed();
    this.emit({ type: 'replica-removed', deployment: this.name, replica: id, atMs: this.clock.now() });
  }

  states(): readonly ReplicaState[] {
    this.outlier.refresh(this.records);
    return this.entries.map((e) => ({
      id: e.id,
      outstanding: e.outstanding,
      ejected: e.record.ejectedUntilMs !== undefined,
      ...(e.record.ejectedUntilMs !== undefined ? { ejectedUntilMs: e.record.ejectedUntilMs } : {}),
      ejections: e.record.ejections,
      calls: e.calls,
      failures: e.failures,
    }));
  }

  onEvent(listener: (e: FleetEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Replicas in the deployment (ejected ones included). */
  get size(): number {
    return this.entries.length;
  }

  /** Replicas in service now (not ejected). */
  inService(): number {
    this.outlier.refresh(this.records);
    return this.entries.length - this.outlier.ejected;
  }

  /** The replica the balancer picks among those in service, other than `exclude`; undefined when there is none. */
  choose(route: RouteMeta | undefined, exclude?: ReplicaEntry): ReplicaEntry | undefined {
    this.outlier.refresh(this.records);
    let candidates = this.entries;
    if (this.outlier.ejected > 0 || exclude !== undefined) {
      candidates = this.entries.filter((e) => e.record.ejectedUntilMs === undefined && e !== exclude);
    }
    if (candidates.length === 0) return undefined;
    return this.balancer.pick(candidates, route) as ReplicaEntry;
  }

  stream(request: ModelRequest, options?: StreamOptions): AsyncIterable<StreamEvent> {
    const budget = options?.hedgeBudget;
    if (this.hedgeDelay !== undefined && budget !== undefined) {
      const o = options ?? {};
      const hedged: PushableStream = {
        [Symbol.asyncIterator]: () => this.hedged(request, o, budget),
        pushTo: (sink) => {
          const entry = this.choose(o.route);
          if (entry === undefined) {
            sink.fail(this.noReplica());
            return NOTHING_TO_CANCEL;
          }
          return pushHedged(this, { entry, request, options: o, budget, delayMs: (this.hedgeDelay as HedgeDelay).delayMs() }, sink);
        },
      };
      return hedged;
    }
    const stream: PushableStream = {
      [Symbol.asyncIterator]: () => this.single(request, options),
      pushTo: (sink) => this.pushSingle(request, options, sink),
    };
    return stream;
  }

  async embed(request: EmbeddingRequest, options?: CallOptions): Promise<EmbeddingResult> {
    const entry = this.choose(undefined);
    if (entry === undefined) throw this.noReplica();
    return this.call(entry, options, () => entry.replica.client.embed(request, options));
  }

  async completeBatch(request: CompletionBatchRequest, options?: CallOptions): Promise<CompletionBatchResult> {
    const entry = this.choose(undefined);
    if (entry === undefined) throw this.noReplica();
    const client = entry.replica.client;
    if (client.completeBatch === undefined) throw new TypeError(`replica ${entry.id} has no completeBatch`);
    return this.call(entry, options, () => (client.completeBatch as NonNullable<typeof client.completeBatch>).call(client, request, options));
  }

  async listModels(options?: CallOptions): Promise<ReadonlyArray<Readonly<Record<string, unknown>> & { readonly id: string }>> {
    const entry = this.entries.find((e) => e.replica.client.listModels !== undefined);
    return entry?.replica.client.listModels?.(options) ?? [];
  }

  /** A call started on `entry`. */
  begin(entry: ReplicaEntry): void {
    entry.outstanding++;
    entry.calls++;
  }

  /** A call on `entry` ended with `outcome` (one `end` per `begin`). */
  end(entry: ReplicaEntry, outcome: CallOutcome): void {
    entry.outstanding--;
    if (outcome === 'gateway' || outcome === 'server-error') entry.failures++;
    // A replica removed meanwhile no longer takes part in ejection.
    if (this.entries.includes(entry)) this.outlier.record(entry.record, outcome, this.records);
  }

  emit(e: FleetEvent): void {
    for (const l of this.listeners) l(e);
  }

  hasListeners(): boolean {
    return this.listeners.size > 0;
  }

  now(): number {
    return this.clock.now();
  }

  setTimer(ms: number, fn: () => void): Timer {
    return this.clock.setTimer(ms, fn, `hedge-delay ${this.name}`);
  }

  /** One call on the replica the balancer picks when the stream is first read (the pick and the count are one step). */
  private async *single(request: ModelRequest, options: StreamOptions | undefined): AsyncGenerator<StreamEvent> {
    const entry = this.choose(options?.route);
    if (entry === undefined) throw this.noReplica();
    this.begin(entry);
    const startMs = this.clock.now();
    let outcome: CallOutcome = 'neutral';
    let first = true;
    try {
      for await (const ev of entry.replica.client.stream(request, options)) {
        if (first) {
          first = false;
          this.hedgeDelay?.add(this.clock.now() - startMs);
        }
        if (ev.type === 'done') outcome = 'answered';
        yield ev;
      }
      if (outcome === 'neutral') outcome = 'gateway';
    } catch (error) {
      outcome = outcomeOf(error, options?.signal);
      throw error;
    } finally {
      this.end(entry, outcome);
    }
  }

  /**
   * The push path of {@link single} (PushableStream.pushTo): the same pick, count, hedge-delay sample and outcome,
   * with the replica's events handed on as they come. The outcome is recorded when the consumer cancels or the
   * stream ends, as `single`'s `finally` does.
   */
  private pushSingle(request: ModelRequest, options: StreamOptions | undefined, sink: StreamSink): { cancel(): void; flush?(): void } {
    const entry = this.choose(options?.route);
    if (entry === undefined) {
      sink.fail(this.noReplica());
      return NOTHING_TO_CANCEL;
    }
    this.begin(entry);
    const startMs = this.clock.now();
    let outcome: CallOutcome = 'neutral';
    let first = true;
    let ended = false;
    const finish = (): void => {
      if (ended) return;
      ended = true;
      this.end(entry, outcome);
    };
    const arrived = (): void => {
      if (!first) return;
      first = false;
      this.hedgeDelay?.add(this.clock.now() - startMs);
    };
    let call: { cancel(): void; flush?(): void } | undefined;
    try {
      call = pushFrom(entry.replica.client.stream(request, options), {
        tokens: (index, count, text) => {
          arrived();
          sink.tokens(index, count, text);
        },
        // The consumer's holding (StreamSink.hold) passes through: a held chunk is never the first, so `arrived`
        // has nothing to do for it.
        get hold() {
          return sink.hold;
        },
        held: (index, count, text, lastAtMs, lastCount) => {
          if (sink.held !== undefined) sink.held(index, count, text, lastAtMs, lastCount);
          else sink.tokens(index, count, text);
        },
        event: (ev) => {
          arrived();
          if (ev.type === 'done') outcome = 'answered';
          sink.event(ev);
        },
        fail: (error) => {
          outcome = outcomeOf(error, options?.signal);
          // Counted where `single`'s `catch` and `finally` would count it: a few promise reactions later.
          afterReactions(finish);
          sink.fail(error);
        },
        ended: () => {
          if (outcome === 'neutral') outcome = 'gateway';
          finish();
          if (sink.ended !== undefined) sink.ended();
          else sink.fail(new StreamInterruptedError(0, 'stream ended without a done event'));
        },
      }, finish);
    } catch (error) {
      outcome = outcomeOf(error, options?.signal);
      finish();
      sink.fail(error);
      return NOTHING_TO_CANCEL;
    }
    const inner = call;
    // The consumer's cancel ends the call (and counts it ended) where `single`'s `finally` would after a `return()`
    // from its loop: a few promise reactions later, so a call picked in the same instant sees the same loads.
    return { cancel: () => afterReactions(() => inner.cancel()), flush: () => inner.flush?.() };
  }

  private async *hedged(request: ModelRequest, options: StreamOptions, budget: { tryAcquire(): boolean }): AsyncGenerator<StreamEvent> {
    const entry = this.choose(options.route);
    if (entry === undefined) throw this.noReplica();
    yield* hedgedStream(this, { entry, request, options, budget, delayMs: (this.hedgeDelay as HedgeDelay).delayMs() });
  }

  private async call<T>(entry: ReplicaEntry, options: CallOptions | undefined, fn: () => Promise<T>): Promise<T> {
    this.begin(entry);
    let outcome: CallOutcome = 'neutral';
    try {
      const r = await fn();
      outcome = 'answered';
      return r;
    } catch (error) {
      outcome = outcomeOf(error, options?.signal);
      throw error;
    } finally {
      this.end(entry, outcome);
    }
  }

  private noReplica(): OverloadedError {
    return new OverloadedError(undefined, `deployment "${this.name}" has no replica in service (503)`);
  }

  private add(replica: Replica, announce: boolean): void {
    if (this.entries.some((e) => e.id === replica.id)) {
      throw new FleetConfigError(`replicas.${this.name}`, `replica id ${JSON.stringify(replica.id)} is used twice`);
    }
    const e: ReplicaEntry = { id: replica.id, replica, outstanding: 0, calls: 0, failures: 0, record: newOutlierRecord(replica.id) };
    this.entries.push(e);
    this.records.push(e.record);
    if (announce) this.emit({ type: 'replica-added', deployment: this.name, replica: replica.id, atMs: this.clock.now() });
  }

  private changed(): void {
    this.caps = undefined;
    this.balancer.replicasChanged?.(this.entries.map((e) => e.id));
  }
}

/** What every one of `all` can do (no capabilities for an empty set). */
export function intersectCapabilities(all: readonly UpstreamCapabilities[]): UpstreamCapabilities {
  if (all.length === 0) return NO_CAPABILITIES;
  return Object.freeze({
    continuation: all.every((c) => c.continuation),
    reproducible: all.every((c) => c.reproducible),
    batchPrompts: all.every((c) => c.batchPrompts === true),
  });
}

/** A stream that fails with `error` when read (before anything is counted). */
export function failing(error: Error): AsyncIterable<StreamEvent> {
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => Promise.reject(error),
      return: () => Promise.resolve({ done: true, value: undefined }),
    }),
  };
}
