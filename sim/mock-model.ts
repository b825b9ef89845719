/**
 * One served mock model: a simulated GPU (sim/gpu.ts) behind admission (faults, provider rate limits, context
 * window, waiting-queue limit) and delivery (sim/generation.ts). Both transports, the fastify server and the
 * in-process ModelClient, drive this class, so they behave the same minus sockets.
 *
 * Errors thrown by `generate` and `embed` are the typed errors of src/upstream/errors.ts. The 429 and 503 ones are
 * subclasses carrying `headers` (lower-case names: `retry-after`, `retry-after-ms`, `x-ratelimit-*`) for the
 * transport to send: {@link MockRateLimitedError}, {@link MockOverloadedError}.
 */
import { abortReason, ValidationError } from '../src/errors.js';
import type { Random } from '../src/random.js';
import type { Clock, Timer } from '../src/time/clock.js';
import { BadRequestError, ConnectionRefusedError, ContextLengthExceededError } from '../src/upstream/errors.js';
import { injectedError, MockOverloadedError, withoutStack } from './mock-errors.js';
import type { EmbeddingItem, EmbeddingRequest, EmbeddingResult } from '../src/upstream/model-client.js';
import { sampler, type RandomSource } from './distributions.js';
import { parseFaultHeader, type HeaderFaults } from './fault-header.js';
import { FaultPlan, type FaultPlanInput, type RequestFaults } from './faults.js';
import { GenerationStream, type GenerationEnd, type GenerationOutcome } from './generation.js';
import { Gpu, type SeqHandle } from './gpu.js';
import { embeddingMs, resolveProfile, type GpuProfile, type ProfileOverrides } from './profiles.js';
import { ProviderRateLimiter, type ProviderLimitsInput } from './rate-limit.js';
import { estimatePromptTokens, estimateTextTokens, KeyedRandom, mix32, requestKey } from './tokens.js';
import type { GenerateRequest, Generation, SignalSource } from './types.js';

export { MockOverloadedError, MockRateLimitedError } from './mock-errors.js';

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
}

/** Events of a model, for histograms, reports and the process supervisor. */
export type MockModelEvent =
  | {
      readonly type: 'request-done';
      readonly id: string;
      readonly outcome: GenerationOutcome;
      /** From `generate` being called to the first token made visible; undefined when none was. */
      readonly ttftMs: number | undefined;
      readonly e2eMs: number;
      /** Time waiting for a GPU slot; undefined when never scheduled. */
      readonly queueMs: number | undefined;
      /** Gap before each token after the first (a chunk of k tokens spreads its gap over k). */
      readonly itlMs: readonly number[] | undefined;
      readonly promptTokens: number;
      /** Tokens delivered by this call. */
      readonly completionTokens: number;
    }
  | { readonly type: 'request-rejected'; readonly id: string; readonly status: number | undefined; readonly code: string }
  | { readonly type: 'fault'; readonly kind: string; readonly id?: string }
  | { readonly type: 'crash'; readonly downtimeMs: number; readonly coldStartMs: number }
  | { readonly type: 'ready' };

/** A snapshot of a model's counters. */
export interface MockModelMetrics {
  readonly running: number;
  readonly waiting: number;
  /** KV blocks in use, 0..1. */
  readonly kvCacheUsage: number;
  /** GPU busy time over time since creation, 0..1. */
  readonly busyFraction: number;
  /** Mean sequences per generation step. */
  readonly meanBatchSize: number;
  readonly tokensComputed: number;
  readonly outputTokens: number;
  /** Output tokens computed that no client received (aborted, disconnected, held back, recomputed after preemption). */
  readonly wastedTokens: number;
  readonly preemptions: number;
  readonly steps: number;
  readonly busyMs: number;
  readonly elapsedMs: number;
  /** Generate and embed calls received. */
  readonly requests: number;
  /** Generations open now. */
  readonly inFlight: number;
  readonly completed: number;
  readonly rejected: number;
  readonly embeddingCalls: number;
  /** Injected faults by kind: `status-429`, `rate-limit`, `queue-full`, `disconnect`, `stall`, `hang`, `crash`, `refused`, `cold-start`. */
  readonly faultCounts: Readonly<Record<string, number>>;
}

type State = 'ready' | 'cold-start' | 'crashed';

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
  private readonly limitsInput: ProviderLimitsInput | undefined;
  private readonly listeners = new Set<(e: MockModelEvent) => void>();
  private readonly counts: Record<string, number> = {};
  private readonly hanging = new Set<(e: Error) => void>();
  /** Generations not yet ended (some may be past the GPU, still delivering). */
  private readonly open = new Set<GenerationStream>();
  private phaseTimers: Timer[] = [];
  private readyTimer: Timer | undefined;
  private downUntilMs = -Infinity;
  private coldUntilMs = -Infinity;
  private closed = false;
  private requests = 0;
  private completed = 0;
  private rejected = 0;
  private readonly lengthSource = { current: new KeyedRandom(0) };
  private readonly drawLength: () => number;

  constructor(o: MockModelOptions) {
    this.name = o.name;
    this.profile = resolveProfile(o.profile);
    if (this.profile.contextWindow > this.profile.kvBlocks * this.profile.kvBlockTokens) {
      // A sequence that cannot fit the KV cache alone would wait forever.
      throw new ValidationError('profile.kvBlocks', `at least ${Math.ceil(this.profile.contextWindow / this.profile.kvBlockTokens)} blocks (one full context window must fit)`, this.profile.kvBlocks);
    }
    this.clock = o.clock;
    this.random = o.random;
    this.seed = `${String(o.random.seed)}/${o.random.path}`;
    this.limitsInput = o.rateLimits;
    this.limiter = this.newLimiter();
    this.plan = new FaultPlan(o.faults ?? {}, o.random.derive('faults'), o.clock.now());
    this.gpu = new Gpu(this.profile, o.clock, { stepMultiplier: () => this.plan.brownout(this.clock.now()) });
    const src: RandomSource = { next: () => this.lengthSource.current.next() };
    this.drawLength = sampler(this.profile.outputTokens, src);
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

  health(): { ready: boolean; state: State } {
    const state = this.state();
    return { ready: state === 'ready', state };
  }

  onEvent(listener: (e: MockModelEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Crashes now: everything in flight dies, connections are refused for `downtimeMs`, then 503 for `coldStartMs`. */
  crash(downtimeMs: number, coldStartMs: number): void {
    this.count('crash');
    this.emit({ type: 'crash', downtimeMs, coldStartMs });
    this.enterDowntime(downtimeMs, coldStartMs);
    this.killAll(() => new ConnectionRefusedError(`model ${this.name} crashed`));
  }

  /** Stops every timer and ends everything in flight; later calls are refused. */
  close(): void {
    this.closed = true;
    for (const t of this.phaseTimers) t.cancel();
    this.readyTimer?.cancel();
    this.killAll(() => new ConnectionRefusedError(`model ${this.name} is closed`));
  }

  metrics(): MockModelMetrics {
    const s = this.gpu.stats();
    return {
      running: this.gpu.runningCount,
      waiting: this.gpu.waiting,
      kvCacheUsage: this.gpu.kvUsage,
      busyFraction: s.elapsedMs > 0 ? Math.min(1, s.busyMs / s.elapsedMs) : 0,
      meanBatchSize: s.steps > 0 ? s.batchedSeqs / s.steps : 0,
      tokensComputed: s.tokensComputed,
      outputTokens: s.outputTokens,
      wastedTokens: s.wastedTokens,
      preemptions: s.preemptions,
      steps: s.steps,
      busyMs: s.busyMs,
      elapsedMs: s.elapsedMs,
      requests: this.requests,
      inFlight: this.open.size,
      completed: this.completed,
      rejected: this.rejected,
      embeddingCalls: s.embeddingCalls,
      faultCounts: { ...this.counts },
    };
  }

  // ---- generation ----

  /** Admits a generation, or throws a typed error. See sim/types.ts for the event order. */
  async generate(req: GenerateRequest, signal: AbortSignal): Promise<Generation> {
    this.requests++;
    const startMs = this.clock.now();
    try {
      const f = await this.admitCommon(req.id, req.fault, signal);
      return this.admitted(req, f, signal, startMs);
    } catch (err) {
      this.refused(req.id, err);
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
    this.requests++;
    const startMs = this.clock.now();
    try {
      const f = this.decideFaults(req.id, req.fault);
      if (f.networkDelayMs > 0 || f.hang) return this.startAfterWait(req, f, abort.signal, startMs);
      this.rejectInjected(req.id, f);
      return this.admitted(req, f, abort, startMs);
    } catch (err) {
      this.refused(req.id, err);
      throw err;
    }
  }

  private async startAfterWait(req: GenerateRequest, f: RequestFaults, signal: AbortSignal, startMs: number): Promise<Generation> {
    try {
      if (signal.aborted) throw abortReason(signal);
      if (f.networkDelayMs > 0) {
        await this.clock.sleep(f.networkDelayMs, signal);
        this.assertUp(req.id);
      }
      if (f.hang) {
        this.count('hang', req.id);
        await this.hangUntilAborted(signal);
      }
      this.rejectInjected(req.id, f);
      return this.admitted(req, f, signal, startMs);
    } catch (err) {
      this.refused(req.id, err);
      throw err;
    }
  }

  /**
   * Admission after the common checks: prompt size, context window, rate limits, waiting queue, crash; then the
   * GPU. A SignalSource is read only once the request is admitted.
   */
  private admitted(req: GenerateRequest, f: RequestFaults, signal: AbortSignal | SignalSource, startMs: number): Generation {
    const promptTokens = req.promptTokens ?? estimatePromptTokens(req);
    // vLLM refuses an empty prompt; a zero-token sequence would never be scheduled.
    if (promptTokens < 1) throw new BadRequestError(`prompt: expected at least 1 token, got ${promptTokens}`);
    const window = this.profile.contextWindow;
    if (promptTokens + (req.maxTokens ?? 0) > window || promptTokens >= window) {
      throw new ContextLengthExceededError(promptTokens + (req.maxTokens ?? 1), window);
    }
    const key = requestKey(this.seed, req.id);
    const cap = Math.min(req.maxTokens ?? Infinity, window - promptTokens);
    const wanted = req.outputTokens ?? this.outputLength(key);
    const endIndex = Math.min(wanted, cap);
    const finishReason = wanted > cap ? 'length' : 'stop';
    const headers = this.limiter?.admit(req.apiKey, promptTokens + (req.maxTokens ?? endIndex)) ?? {};
    const maxWaiting = f.queueFull.maxWaiting ?? this.profile.maxWaiting;
    if (this.gpu.queuedBeyondSlots >= maxWaiting) {
      this.count('queue-full', req.id);
      throw injectedError(f.queueFull.status, f.queueFull.retryAfterMs ?? 1000, `waiting queue full (${this.gpu.waiting} waiting)`);
    }
    if (f.crash !== undefined) {
      this.crash(f.crash.downtimeMs, f.crash.coldStartMs);
      throw new ConnectionRefusedError(`model ${this.name} crashed while admitting request ${req.id}`);
    }
    if (f.stall !== undefined) this.count('stall', req.id);
    const startIndex = Math.min(req.resumeFrom ?? 0, endIndex);
    const s = signal instanceof AbortSignal ? signal : signal.signal;
    return { headers, events: this.startGeneration(req.id, key, promptTokens, startIndex, endIndex, finishReason, f, s, startMs) };
  }

  /** Counts a refused request and tells the listeners. */
  private refused(id: string, err: unknown): void {
    this.rejected++;
    if (this.listeners.size > 0) {
      const e = err as { status?: number; code?: string };
      this.emit({ type: 'request-rejected', id, status: e.status, code: e.code ?? 'UNKNOWN' });
    }
  }

  private startGeneration(
    id: string,
    key: number,
    promptTokens: number,
    startIndex: number,
    endIndex: number,
    finishReason: 'stop' | 'length',
    f: RequestFaults,
    signal: AbortSignal,
    startMs: number,
  ): GenerationStream {
    const ref: { handle?: SeqHandle } = {};
    const stream = new GenerationStream(
      this.clock,
      {
        key,
        startIndex,
        endIndex,
        promptTokens,
        finishReason,
        ttftDelayMs: f.ttftDelayMs,
        jitterMs: f.jitterMs,
        disconnect: f.disconnect,
        stall: f.stall,
        recordItl: this.listeners.size > 0,
      },
      signal,
      (end: GenerationEnd) => {
        this.open.delete(stream);
        if (end.outcome === 'stop' || end.outcome === 'length') this.completed++;
        else ref.handle?.abort();
        if (end.outcome === 'disconnect') this.count('disconnect', id);
        this.gpu.recordWaste(end.undelivered);
        if (this.listeners.size > 0) {
          this.emit({
            type: 'request-done',
            id,
            outcome: end.outcome,
            ttftMs: end.firstTokenMs === undefined ? undefined : end.firstTokenMs - startMs,
            e2eMs: end.endMs - startMs,
            queueMs: ref.handle?.queueMs,
            itlMs: end.itlMs,
            promptTokens,
            completionTokens: end.deliveredTo - startIndex,
          });
        }
      },
    );
    this.open.add(stream);
    ref.handle = this.gpu.submit({ promptTokens, startIndex, endIndex }, stream);
    return stream;
  }

  private outputLength(key: number): number {
    // Drawn from the request's own stream: every attempt of a request gets the same length, so resumes line up.
    this.lengthSource.current = new KeyedRandom(mix32(key ^ 0x5bd1e995));
    return Math.max(1, Math.round(this.drawLength()));
  }

  // ---- embeddings ----

  /** One forward pass for a batch of inputs: cost = per call + per item + per token, on the GPU's clock. */
  async embed(req: EmbeddingRequest, signal: AbortSignal): Promise<EmbeddingResult> {
    this.requests++;
    try {
      const f = await this.admitCommon(req.id, req.fault, signal);
      const tokens = req.inputs.map((t, i) => req.inputTokens?.[i] ?? estimateTextTokens(t));
      const ok = tokens.map((n, i) => n > 0 && n <= this.profile.contextWindow && req.inputs[i] !== undefined);
      let total = 0;
      let items = 0;
      tokens.forEach((n, i) => {
        if (ok[i]) {
          total += n;
          items++;
        }
      });
      this.limiter?.admit(req.apiKey, total);
      if (f.crash !== undefined) {
        this.crash(f.crash.downtimeMs, f.crash.coldStartMs);
        throw new ConnectionRefusedError(`model ${this.name} crashed while admitting request ${req.id}`);
      }
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          job.abort();
          reject(abortReason(signal));
        };
        const job = this.gpu.submitEmbedding(
          embeddingMs(this.profile.embedding, items, total),
          () => {
            signal.removeEventListener('abort', onAbort);
            resolve();
          },
          () => {
            signal.removeEventListener('abort', onAbort);
            reject(new ConnectionRefusedError(`model ${this.name} crashed`));
          },
        );
        signal.addEventListener('abort', onAbort, { once: true });
      });
      const out: EmbeddingItem[] = req.inputs.map((text, i) => {
        const n = tokens[i] as number;
        if (ok[i]) return { ok: true, embedding: this.vector(text), tokens: n };
        return {
          ok: false,
          error: n > this.profile.contextWindow ? new ContextLengthExceededError(n, this.profile.contextWindow) : new BadRequestError(`input[${i}]: expected non-empty text, got an empty string`),
        };
      });
      this.completed++;
      return { items: out, usage: { promptTokens: total } };
    } catch (err) {
      this.rejected++;
      throw err;
    }
  }

  private vector(text: string): number[] {
    const r = new KeyedRandom(requestKey(this.seed, `embedding:${text}`));
    const v: number[] = [];
    let norm = 0;
    for (let i = 0; i < this.profile.embedding.dimensions; i++) {
      const x = r.next() * 2 - 1;
      v.push(x);
      norm += x * x;
    }
    const k = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    return v.map((x) => x * k);
  }

  // ---- admission shared by generate and embed ----

  /** Liveness, the header, network delay, hang and injected statuses. Returns the request's faults. */
  private async admitCommon(id: string, faultHeader: string | undefined, signal: AbortSignal): Promise<RequestFaults> {
    if (signal.aborted) throw abortReason(signal);
    const f = this.decideFaults(id, faultHeader);
    if (f.networkDelayMs > 0) {
      await this.clock.sleep(f.networkDelayMs, signal);
      this.assertUp(id);
    }
    if (f.hang) {
      this.count('hang', id);
      await this.hangUntilAborted(signal);
    }
    this.rejectInjected(id, f);
    return f;
  }

  /** Liveness, then the request's faults: the `x-mock-fault` header's and the plan's draws. */
  private decideFaults(id: string, faultHeader: string | undefined): RequestFaults {
    this.assertUp(id);
    const header: HeaderFaults | undefined = faultHeader === undefined ? undefined : parseFaultHeader(faultHeader);
    return this.plan.decide(this.clock.now(), header);
  }

  /** A hang: never resolves; rejects when the signal aborts or the model crashes. */
  private hangUntilAborted(signal: AbortSignal): Promise<never> {
    return new Promise<never>((_, reject) => {
      const fail = (e: Error): void => {
        this.hanging.delete(fail);
        signal.removeEventListener('abort', onAbort);
        reject(e);
      };
      const onAbort = (): void => fail(abortReason(signal));
      this.hanging.add(fail);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Throws the injected status of this request, if it drew one. */
  private rejectInjected(id: string, f: RequestFaults): void {
    if (f.reject !== undefined) {
      this.count(`status-${f.reject.status}`, id);
      throw injectedError(f.reject.status, f.reject.retryAfterMs, `injected ${f.reject.kind} fault`);
    }
  }

  // ---- crash and cold start ----

  private state(): State {
    const now = this.clock.now();
    if (this.closed || now < this.downUntilMs) return 'crashed';
    if (now < this.coldUntilMs) return 'cold-start';
    return 'ready';
  }

  private assertUp(id: string): void {
    const state = this.state();
    if (state === 'crashed') {
      this.count('refused', id);
      throw new ConnectionRefusedError(`connection refused: model ${this.name} is ${this.closed ? 'closed' : 'down'}`);
    }
    if (state === 'cold-start') {
      this.count('cold-start', id);
      const wait = this.coldUntilMs - this.clock.now();
      throw withoutStack(() => new MockOverloadedError(wait, `overloaded (503): model ${this.name} is starting (cold start, ${Math.ceil(wait)}ms left)`));
    }
  }

  private enterDowntime(downtimeMs: number, coldStartMs: number): void {
    const now = this.clock.now();
    this.downUntilMs = now + downtimeMs;
    this.coldUntilMs = now + downtimeMs + coldStartMs;
    // A restarted process has lost its rate-limit buckets, as a real one would.
    this.limiter = this.newLimiter();
    this.readyTimer?.cancel();
    this.readyTimer = this.clock.setTimer(downtimeMs + coldStartMs, () => {
      this.readyTimer = undefined;
      this.emit({ type: 'ready' });
    }, `mock-ready:${this.name}`);
  }

  private killAll(error: () => Error): void {
    this.gpu.crash();
    for (const stream of [...this.open]) stream.onDrop();
    for (const fail of [...this.hanging]) fail(error());
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
      if (kinds.includes('stall')) this.count('stall');
    }
  }

  private newLimiter(): ProviderRateLimiter | undefined {
    if (this.limitsInput === undefined) return undefined;
    const l = new ProviderRateLimiter(this.limitsInput, () => this.clock.now());
    return l.unlimited ? undefined : l;
  }

  private count(kind: string, id?: string): void {
    this.counts[kind] = (this.counts[kind] ?? 0) + 1;
    if (this.listeners.size > 0) this.emit(id === undefined ? { type: 'fault', kind } : { type: 'fault', kind, id });
  }

  private emit(e: MockModelEvent): void {
    for (const l of this.listeners) l(e);
  }
}
