/**
 * The fault state of the chaos proxy (`sim --proxy URL`): the same fault plan as a mock model (sim/faults.ts: the
 * `x-mock-fault` header, `--faults` plans and timelines, `PUT /mock/faults`), the same crash and cold-start states
 * (sim/mock-liveness.ts), the same hangs (sim/mock-admission.ts) and fault counters (sim/mock-model-events.ts), with
 * no GPU behind them: the answers come from the real upstream. It stands in for a model on the control plane
 * (`/mock/faults`, `/mock/stats`) and in `/metrics`, under the name `primary`, so scripts and the harness written
 * for the mock read the proxy unchanged.
 */
import type { Random } from '../src/random.js';
import type { Clock, Timer } from '../src/time/clock.js';
import { ConnectionRefusedError } from '../src/upstream/errors.js';
import { parseFaultHeader } from './fault-header.js';
import { FaultPlan, type FaultPlanInput, type RequestFaults } from './faults.js';
import { Hangs } from './mock-admission.js';
import { Liveness, type ModelState } from './mock-liveness.js';
import { ModelEvents, type MockModelEvent } from './mock-model-events.js';

/** The name the proxy's fault plan goes by on the control plane and in metrics. */
export const PROXY_MODEL_NAME = 'primary';

/** A relay in flight, as the fault state sees it: it can be hit by a mid-stream phase or killed by a crash. */
export interface OpenRelay {
  /** A disconnect/stall phase started while this relay was open. Returns the kinds applied. */
  injectMidStream(f: Pick<RequestFaults, 'disconnect' | 'stall'>): string[];
  /** The proxy crashed: the connection dies with it (reset). */
  kill(): void;
}

/** Counters of what the proxy relayed (beside the injected faults, by kind). */
export interface ProxyCounters {
  /** Requests the proxy received on relayed routes. */
  requests: number;
  /** Requests sent to the upstream (each once: the proxy never retries). */
  upstreamRequests: number;
  /** Upstream requests that failed before an answer (refused, reset, timed out). */
  upstreamErrors: number;
  /** Upstream answers relayed to the end, unchanged, by status. */
  relayedByStatus: Record<string, number>;
  /** Answers the proxy cut or held by a fault (disconnect, stall that was left). */
  faulted: number;
  /** Body bytes relayed from the upstream to clients. */
  bytesRelayed: number;
  /** Token events relayed on streams the proxy parsed (faulted streams; unfaulted ones are piped unparsed). */
  tokensRelayed: number;
  /** Requests answered by the proxy itself: an injected status, a cold start, a refusal. */
  injected: number;
  /** Upstream requests cancelled because the client left first. */
  cancelled: number;
}

/** The chaos proxy's fault plan, liveness and counters. */
export class ProxyFaults {
  readonly name = PROXY_MODEL_NAME;
  readonly events = new ModelEvents();
  readonly hangs = new Hangs();
  readonly counters: ProxyCounters = {
    requests: 0,
    upstreamRequests: 0,
    upstreamErrors: 0,
    relayedByStatus: {},
    faulted: 0,
    bytesRelayed: 0,
    tokensRelayed: 0,
    injected: 0,
    cancelled: 0,
  };
  readonly open = new Set<OpenRelay>();
  private plan: FaultPlan;
  private readonly liveness: Liveness;
  private phaseTimers: Timer[] = [];
  private readonly startedAtMs: number;

  constructor(
    private readonly clock: Clock,
    private readonly random: Random,
    faults: FaultPlanInput = {},
  ) {
    this.startedAtMs = clock.now();
    this.plan = new FaultPlan(faults, random.derive('faults'), clock.now());
    this.liveness = new Liveness(clock, this.name, this.events);
    this.armPhases();
  }

  setFaults(plan: unknown): void {
    this.plan = new FaultPlan(plan, this.random.derive('faults'), this.clock.now());
    this.armPhases();
  }

  getFaults(): FaultPlanInput {
    return this.plan.input;
  }

  health(): { ready: boolean; state: ModelState } {
    const state = this.liveness.state();
    return { ready: state === 'ready', state };
  }

  onEvent(listener: (e: MockModelEvent) => void): () => void {
    return this.events.on(listener);
  }

  /**
   * Liveness, then this request's faults (header and plan). Throws what the proxy answers itself while it is down
   * (ConnectionRefusedError: the socket is reset) or starting (503), and a 400 for a malformed `x-mock-fault`.
   */
  decide(id: string, faultHeader: string | undefined): RequestFaults {
    this.liveness.assertUp(id);
    return this.plan.decide(this.clock.now(), faultHeader === undefined ? undefined : parseFaultHeader(faultHeader));
  }

  /** Throws unless the proxy is up (after a wait, a crash may have happened meanwhile). */
  assertUp(id: string): void {
    this.liveness.assertUp(id);
  }

  /** Crashes now: every relay in flight is reset, hanging requests end, and the listener closes for `downtimeMs`. */
  crash(downtimeMs: number, coldStartMs: number): void {
    this.events.count('crash');
    this.events.emit({ type: 'crash', downtimeMs, coldStartMs });
    this.liveness.enterDowntime(downtimeMs, coldStartMs, () => undefined);
    for (const r of [...this.open]) r.kill();
    this.hangs.failAll(() => new ConnectionRefusedError('the chaos proxy crashed'));
  }

  /** Stops the timeline and ends what is in flight. */
  close(): void {
    this.liveness.close();
    for (const t of this.phaseTimers) t.cancel();
    for (const r of [...this.open]) r.kill();
    this.hangs.failAll(() => new ConnectionRefusedError('the chaos proxy is closed'));
  }

  /** The snapshot of /mock/stats: a model's fields (no GPU: its figures are 0) and the proxy's relay counters. */
  metrics(): Omit<ReturnType<ModelEvents['metrics']>, 'billedCalls' | 'billedInputTokens' | 'billedCachedInputTokens' | 'billedOutputTokens'> & {
    readonly proxy: ProxyCounters;
  } {
    // No billing figures: the real model behind the proxy bills, and the proxy cannot see its prices or caching.
    const elapsedMs = this.clock.now() - this.startedAtMs;
    const c = this.counters;
    return {
      running: this.open.size,
      waiting: 0,
      kvCacheUsage: 0,
      busyFraction: 0,
      meanBatchSize: 0,
      tokensComputed: 0,
      outputTokens: 0,
      wastedTokens: 0,
      preemptions: 0,
      steps: 0,
      busyMs: 0,
      elapsedMs,
      requests: c.requests,
      inFlight: this.open.size,
      completed: Object.values(c.relayedByStatus).reduce((s, n) => s + n, 0),
      rejected: this.events.rejected,
      embeddingCalls: 0,
      // The real model behind the proxy keeps its own prefix cache; the proxy cannot see it.
      prefixCacheQueries: 0,
      prefixCacheHits: 0,
      faultCounts: this.events.faultCounts(),
      proxy: { ...c, relayedByStatus: { ...c.relayedByStatus } },
    };
  }

  /** Crash phases at their times; at each disconnect/stall phase, every open relay rolls for it. */
  private armPhases(): void {
    for (const t of this.phaseTimers) t.cancel();
    const now = this.clock.now();
    const delayMs = (atMs: number): number => Math.max(0, atMs - now);
    this.phaseTimers = this.plan.crashPhases().map((c) => this.clock.setTimer(delayMs(c.atMs), () => this.crash(c.downtimeMs, c.coldStartMs), 'proxy-crash'));
    for (const atMs of this.plan.midStreamPhases()) {
      this.phaseTimers.push(
        this.clock.setTimer(
          delayMs(atMs),
          () => {
            for (const r of [...this.open]) {
              const kinds = r.injectMidStream(this.plan.decideMidStream(this.clock.now()));
              if (kinds.includes('stall')) this.events.count('stall');
            }
          },
          'proxy-midstream',
        ),
      );
    }
  }
}
