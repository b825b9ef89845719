/**
 * One served mock model: a simulated GPU (sim/gpu.ts) behind admission (faults, provider rate limits, context
 * window, waiting-queue limit) and delivery (sim/generation.ts). Both transports, the fastify server and the
 * in-process ModelClient, drive this class, so they behave the same minus sockets.
 *
 * The pieces live beside it: events and counters (sim/mock-model-events.ts), crash and cold start
 * (sim/mock-liveness.ts), request sizing, injected refusals and hangs (sim/mock-admission.ts), generation start
 * (sim/mock-generation-start.ts) and embeddings (sim/mock-embeddings.ts).
 *
 * Errors thrown by `generate` and `embed` are the typed errors of src/upstream/errors.ts. The 429 and 503 ones are
 * subclasses carrying `headers` (lower-case names: `retry-after`, `retry-after-ms`, `x-ratelimit-*`) for the
 * transport to send: {@link MockRateLimitedError}, {@link MockOverloadedError}.
 */
import { abortReason, ValidationError } from '../src/errors.js';
import type { Random } from '../src/random.js';
import type { Clock, Timer } from '../src/time/clock.js';
import { ConnectionRefusedError } from '../src/upstream/errors.js';
import type { EmbeddingRequest, EmbeddingResult } from '../src/upstream/model-client.js';
import { BillBook, type BilledAttempt, type BillingTotals } from './billing.js';
import { parseFaultHeader, type HeaderFaults } from './fault-header.js';
import { continued } from './continuation.js';
import { FaultPlan, type FaultPlanInput, type RequestFaults } from './faults.js';
import type { GenerationStream } from './generation.js';
import { Gpu } from './gpu.js';
import { Hangs, rejectInjected, RequestSizer } from './mock-admission.js';
import { embeddingItems, embeddingPass, sizeEmbedding } from './mock-embeddings.js';
import { injectedError } from './mock-errors.js';
import { startGeneration, type GenerationHost } from './mock-generation-start.js';
import { Liveness, type ModelState } from './mock-liveness.js';
import { ModelEvents, type MockModelEvent, type MockModelMetrics } from './mock-model-events.js';
import { resolveProfile, type GpuProfile, type ProfileOverrides } from './profiles.js';
import { ProviderRateLimiter, type ProviderLimitsInput } from './rate-limit.js';
import type { GenerateRequest, Generation, SignalSource } from './types.js';

export { MockOverloadedError, MockRateLimitedError } from './mock-errors.js';
export type { MockModelEvent, MockModelMetrics } from './mock-model-events.js';
export type { BilledAttempt, BillingTotals } from './billing.js';

/** Options of a {@link MockModel}. */
export interface MockModelOptions {
  /** The served model name (`model` in requests). */
  readonly name: string;
  /** A profile, a built-in profile name, or overrides of one (`{ base, ...fields }`). */
  readonly profile: GpuProfile | string | ProfileOverrides;
  readonly clock: Clock;
  /** The model's random stream; token text uses its seed, faults derive named streams below it. */
  readonly random: Random;
  /** The fault plan at start-up. @default {} (no faults) */
  readonly faults?: FaultPlanInput;
  /** Provider-style RPM/TPM limits. @default undefined (unlimited) */
  readonly rateLimits?: ProviderLimitsInput;
  /** Start in cold start for this long (answering 503), e.g. after a supervised restart. @default 0 */
  readonly coldStartMs?: number;
  /**
   * The seed of token text and answer lengths. Replicas of one deployment share it, so a request resumed (or hedged)
   * on another replica gets the same answer and continues byte for byte. @default derived from `random`
   */
  readonly textSeed?: string;
}

/** A mock model server's core. */
export class MockModel {
  readonly name: string;
  readonly profile: GpuProfile;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly seed: string;
  private readonly gpu: Gpu;
  private plan: FaultPlan;
  private limiter: ProviderRateLimiter | undefined;
  private limitsInput: ProviderLimitsInput | undefined;
  private readonly events = new ModelEvents();
  private readonly bills = new BillBook();
  private readonly liveness: Liveness;
  private readonly hangs = new Hangs();
  private readonly sizer: RequestSizer;
  /** Generations not yet ended (some may be past the GPU, still delivering). */
  private readonly open = new Set<GenerationStream>();
  private readonly host: GenerationHost;
  private phaseTimers: Timer[] = [];

  constructor(o: MockModelOptions) {
    this.name = o.name;
    this.profile = resolveProfile(o.profile);
    if (this.profile.contextWindow > this.profile.kvBlocks * this.profile.kvBlockTokens) {
      // A sequence that cannot fit the KV cache alone would wait forever.
      throw new ValidationError('profile.kvBlocks', `at least ${Math.ceil(this.profile.contextWindow / this.profile.kvBlockTokens)} blocks (one full context window must fit)`, this.profile.kvBlocks);
    }
    this.clock = o.clock;
    this.random = o.random;
    this.seed = o.textSeed ?? `${String(o.random.seed)}/${o.random.path}`;
    this.limitsInput = o.rateLimits;
    this.limiter = this.newLimiter();
    this.plan = new FaultPlan(o.faults ?? {}, o.random.derive('faults'), o.clock.now());
    this.gpu = new Gpu(this.profile, o.clock, {
      stepMultiplier: (atMs) => this.plan.brownout(atMs),
      nextRateChange: (afterMs) => this.plan.brownoutChangeAfter(afterMs),
    });
    this.sizer = new RequestSizer(this.profile, this.seed);
    this.liveness = new Liveness(o.clock, o.name, this.events);
    this.host = { clock: o.clock, gpu: this.gpu, events: this.events, open: this.open, bills: this.bills, name: o.name };
    if ((o.coldStartMs ?? 0) > 0) this.enterDowntime(0, o.coldStartMs ?? 0);
    this.armPhases();
  }

  // ---- control ----

  /** Replaces the fault plan (validated; an error names the field). Timeline times count from now. */
  setFaults(plan: FaultPlanInput): void {
    this.plan = new FaultPlan(plan, this.random.derive('faults'), this.clock.now());
    this.armPhases();
  }

  getFaults(): FaultPlanInput {
    return this.plan.input;
  }

  /** Replaces the provider rate limits (validated; an error names the field); `{}` removes them. Buckets start full. */
  setRateLimits(limits: ProviderLimitsInput): void {
    const next = new ProviderRateLimiter(limits, () => this.clock.now());
    this.limitsInput = limits;
    this.limiter = next.unlimited ? undefined : next;
  }

  getRateLimits(): ProviderLimitsInput {
    return this.limitsInput ?? {};
  }

  health(): { ready: boolean; state: ModelState } {
    const state = this.liveness.state();
    return { ready: state === 'ready', state };
  }

  onEvent(listener: (e: MockModelEvent) => void): () => void {
    return this.events.on(listener);
  }

  /** Crashes now: everything in flight dies, connections are refused for `downtimeMs`, then 503 for `coldStartMs`. */
  crash(downtimeMs: number, coldStartMs: number): void {
    this.events.count('crash');
    this.events.emit({ type: 'crash', downtimeMs, coldStartMs });
    this.enterDowntime(downtimeMs, coldStartMs);
    this.killAll(() => new ConnectionRefusedError(`model ${this.name} crashed`));
  }

  /** Stops every timer and ends everything in flight; later calls are refused. */
  close(): void {
    this.liveness.close();
    for (const t of this.phaseTimers) t.cancel();
    this.killAll(() => new ConnectionRefusedError(`model ${this.name} is closed`));
  }

  /** Calls `listener` with every call's bill as the call ends (see sim/billing.ts). Returns an unsubscribe. */
  onBill(listener: (b: BilledAttempt) => void): () => void {
    return this.bills.on(listener);
  }

  /** What this model has billed so far. */
  billing(): BillingTotals {
    return this.bills.totals();
  }

  metrics(): MockModelMetrics {
    return this.events.metrics(this.gpu, this.open.size, this.bills.totals());
  }

  // ---- generation ----

  /** Admits a generation, or throws a typed error. See sim/types.ts for the event order. */
  async generate(req: GenerateRequest, signal: AbortSignal): Promise<Generation> {
    this.events.requests++;
    const startMs = this.clock.now();
    try {
      const f = await this.admitCommon(req.id, req.fault, signal);
      return this.admitted(req, f, signal, startMs);
    } catch (err) {
      this.events.refused(req.id, err);
      throw err;
    }
  }

  /**
   * {@link generate} for a transport that pays for every refusal (the HTTP server): the same admission, run
   * synchronously unless a fault makes the request wait (a network delay, a hang). A refusal therefore throws
   * before anything is awaited, and `abort.signal` is read only when the request waits or is admitted, so a
   * refused request never needs an AbortController. Virtual-time callers use `generate`, whose timing is unchanged.
   */
  start(req: GenerateRequest, abort: SignalSource): Generation | Promise<Generation> {
    this.events.requests++;
    const startMs = this.clock.now();
    try {
      const f = this.decideFaults(req.id, req.fault);
      if (f.networkDelayMs > 0 || f.hang) return this.startAfterWait(req, f, abort.signal, startMs);
      rejectInjected(this.events, req.id, f);
      return this.admitted(req, f, abort, startMs);
    } catch (err) {
      this.events.refused(req.id, err);
      throw err;
    }
  }

  private async startAfterWait(req: GenerateRequest, f: RequestFaults, signal: AbortSignal, startMs: number): Promise<Generation> {
    try {
      if (signal.aborted) throw abortReason(signal);
      if (f.networkDelayMs > 0) {
        await this.clock.sleep(f.networkDelayMs, signal);
        this.liveness.assertUp(req.id);
      }
      if (f.hang) {
        this.events.count('hang', req.id);
        await this.hangs.until(signal);
      }
      rejectInjected(this.events, req.id, f);
      return this.admitted(req, f, signal, startMs);
    } catch (err) {
      this.events.refused(req.id, err);
      throw err;
    }
  }

  /**
   * Admission after the common checks: prompt size, context window, rate limits, waiting queue, crash; then the
   * GPU. A SignalSource is read only once the request is admitted.
   */
  private admitted(asked: GenerateRequest, f: RequestFaults, signal: AbortSignal | SignalSource, startMs: number): Generation {
    const req = continued(asked, this.seed);
    const size = this.sizer.size(req);
    const headers = this.limiter?.admit(req.apiKey, size.promptTokens + (req.maxTokens ?? size.endIndex)) ?? {};
    const maxWaiting = f.queueFull.maxWaiting ?? this.profile.maxWaiting;
    if (this.gpu.queuedBeyondSlots >= maxWaiting) {
      this.events.count('queue-full', req.id);
      throw injectedError(f.queueFull.status, f.queueFull.retryAfterMs ?? 1000, `waiting queue full (${this.gpu.waiting} waiting)`);
    }
    if (f.crash !== undefined) {
      this.crash(f.crash.downtimeMs, f.crash.coldStartMs);
      throw new ConnectionRefusedError(`model ${this.name} crashed while admitting request ${req.id}`);
    }
    if (f.stall !== undefined) this.events.count('stall', req.id);
    const startIndex = Math.min(req.resumeFrom ?? 0, size.endIndex);
    const s = signal instanceof AbortSignal ? signal : signal.signal;
    return { headers, events: startGeneration(this.host, req.id, size, startIndex, f, s, startMs) };
  }

  // ---- embeddings ----

  /** One forward pass for a batch of inputs: cost = per call + per item + per token, on the GPU's clock. */
  async embed(req: EmbeddingRequest, signal: AbortSignal): Promise<EmbeddingResult> {
    this.events.requests++;
    try {
      const f = await this.admitCommon(req.id, req.fault, signal);
      const batch = sizeEmbedding(req, this.profile.contextWindow);
      this.limiter?.admit(req.apiKey, batch.totalTokens);
      if (f.crash !== undefined) {
        this.crash(f.crash.downtimeMs, f.crash.coldStartMs);
        throw new ConnectionRefusedError(`model ${this.name} crashed while admitting request ${req.id}`);
      }
      const startMs = this.clock.now();
      await embeddingPass(this.gpu, this.profile, batch, signal, this.name);
      const items = embeddingItems(req, batch, this.profile, this.seed);
      this.events.completed++;
      // Embeddings bill their inputs once the pass ran; a call dropped mid-pass (crash, abort) is not billed.
      this.bills.bill({
        id: req.id,
        model: this.name,
        kind: 'embed',
        startMs,
        endMs: this.clock.now(),
        inputTokens: batch.totalTokens,
        cachedInputTokens: 0,
        outputTokens: 0,
        deliveredTokens: 0,
        recomputedTokens: 0,
        resumeFrom: 0,
        completed: true,
      });
      return { items, usage: { promptTokens: batch.totalTokens } };
    } catch (err) {
      this.events.rejected++;
      throw err;
    }
  }

  // ---- admission shared by generate and embed ----

  /** Liveness, the header, network delay, hang and injected statuses. Returns the request's faults. */
  private async admitCommon(id: string, faultHeader: string | undefined, signal: AbortSignal): Promise<RequestFaults> {
    if (signal.aborted) throw abortReason(signal);
    const f = this.decideFaults(id, faultHeader);
    if (f.networkDelayMs > 0) {
      await this.clock.sleep(f.networkDelayMs, signal);
      this.liveness.assertUp(id);
    }
    if (f.hang) {
      this.events.count('hang', id);
      await this.hangs.until(signal);
    }
    rejectInjected(this.events, id, f);
    return f;
  }

  /** Liveness, then the request's faults: the `x-mock-fault` header's and the plan's draws. */
  private decideFaults(id: string, faultHeader: string | undefined): RequestFaults {
    this.liveness.assertUp(id);
    const header: HeaderFaults | undefined = faultHeader === undefined ? undefined : parseFaultHeader(faultHeader);
    return this.plan.decide(this.clock.now(), header);
  }

  // ---- crash, cold start and the timeline ----

  private enterDowntime(downtimeMs: number, coldStartMs: number): void {
    // A restarted process has lost its rate-limit buckets, as a real one would.
    this.liveness.enterDowntime(downtimeMs, coldStartMs, () => (this.limiter = this.newLimiter()));
  }

  private killAll(error: () => Error): void {
    this.gpu.crash();
    for (const stream of [...this.open]) stream.onDrop();
    this.hangs.failAll(error);
  }

  /**
   * Arms the timers of the plan just set. Every phase is due at or after the plan's anchor (`atMs >= 0`), so none is
   * ever in the past; but a clock can move between the anchor's read and this one (a RealClock does, while the plan
   * is parsed), so a phase due at the anchor (`atMs: 0`) is armed for "now" (0 ms), never dropped as past.
   */
  private armPhases(): void {
    for (const t of this.phaseTimers) t.cancel();
    const now = this.clock.now();
    const delayMs = (atMs: number): number => Math.max(0, atMs - now);
    this.phaseTimers = this.plan
      .crashPhases()
      .map((c) => this.clock.setTimer(delayMs(c.atMs), () => this.crash(c.downtimeMs, c.coldStartMs), `mock-crash:${this.name}`));
    for (const atMs of this.plan.midStreamPhases()) {
      this.phaseTimers.push(this.clock.setTimer(delayMs(atMs), () => this.hitOpenStreams(), `mock-midstream:${this.name}`));
    }
  }

  /** A disconnect/stall phase starts: every stream already open rolls for it (in open order, so draws are deterministic). */
  private hitOpenStreams(): void {
    for (const stream of [...this.open]) {
      const kinds = stream.injectMidStream(this.plan.decideMidStream(this.clock.now()));
      // The stream counts a disconnect when it happens; a stall is counted here, where it is decided.
      if (kinds.includes('stall')) this.events.count('stall');
    }
  }

  private newLimiter(): ProviderRateLimiter | undefined {
    if (this.limitsInput === undefined) return undefined;
    const l = new ProviderRateLimiter(this.limitsInput, () => this.clock.now());
    return l.unlimited ? undefined : l;
  }
}
