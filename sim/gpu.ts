/**
 * The continuous-batching step loop of one GPU, on a Clock, after vLLM's scheduler (V1, chunked prefill):
 * each step first serves running sequences (decode 1 token, or the next prefill chunk), then admits waiting ones
 * FCFS while slots (`maxNumSeqs`), the token budget (`maxBatchedTokens`) and KV blocks allow. A step lasts
 * `stepMs(batchedTokens, contextTokens) × multiplier` (a step straddling a brownout's edge runs at each rate for
 * its share); at its end every sequence whose context is complete emits
 * one token. When KV blocks run out the newest running sequence is preempted (recompute: its blocks are freed and
 * it re-prefills prompt + output so far). TTFT and inter-token latency therefore come out of real queueing.
 * Batch building and KV block accounting live in sim/gpu-scheduler.ts, the waiting queue in sim/gpu-waiting.ts,
 * the sequence record and its contracts in sim/gpu-seq.ts; this file is the step loop, embeddings and stats.
 *
 * One timer per step, none per token, and none at all when idle, so VirtualClock runs end.
 */
import type { Clock, Timer } from '../src/time/clock.js';
import { BatchScheduler } from './gpu-scheduler.js';
import { Seq, type SeqHandle, type SeqInput, type SeqSink } from './gpu-seq.js';
import { stepMs, type GpuProfile } from './profiles.js';

export type { SeqHandle, SeqInput, SeqSink } from './gpu-seq.js';

interface EmbedJob {
  readonly costMs: number;
  readonly done: () => void;
  readonly dropped: () => void;
  aborted: boolean;
}

/** Options of a {@link Gpu}. */
export interface GpuOptions {
  /** Step-time multiplier in force at a time (a brownout). @default () => 1 */
  readonly stepMultiplier?: (atMs: number) => number;
  /**
   * The next time after `afterMs` at which the multiplier may change (a brownout phase's edge), or undefined.
   * A step that straddles an edge runs at each rate for its share of the work. @default none (read once a step)
   */
  readonly nextRateChange?: (afterMs: number) => number | undefined;
}

/** Most rate changes one step integrates over (a guard against a timeline of absurdly many tiny phases). */
const MAX_EDGES_PER_STEP = 10_000;

/** Cumulative counters of a GPU. */
export interface GpuStats {
  readonly steps: number;
  /** Sum over generation steps of the sequences in the step (mean batch size = / steps). */
  readonly batchedSeqs: number;
  /** Ms the GPU spent computing (steps and embedding calls), including the step in flight so far. */
  readonly busyMs: number;
  /** Ms since the GPU was created. */
  readonly elapsedMs: number;
  /** Every token computed: prefill (and recompute) plus decode. */
  readonly tokensComputed: number;
  /** Output tokens emitted. */
  readonly outputTokens: number;
  /** Output tokens computed that no client received (aborted in a step; recomputed after preemption; recorded by the owner). */
  readonly wastedTokens: number;
  readonly preemptions: number;
  readonly embeddingCalls: number;
  /** Prompt tokens looked up in the prefix cache (vLLM's `prefix_cache_queries`); 0 with caching off. */
  readonly prefixCacheQueries: number;
  /** Prompt tokens found in the prefix cache (vLLM's `prefix_cache_hits`). */
  readonly prefixCacheHits: number;
  /** Cached blocks evicted to make room for new ones. */
  readonly prefixCacheEvictions: number;
}

/** A continuous-batching GPU. */
export class Gpu {
  /** Running list, waiting queue, KV blocks and the batch in flight. */
  private readonly sched: BatchScheduler;
  private readonly embedQ: EmbedJob[] = [];
  private timer: Timer | undefined;
  private stepStartMs = 0;
  /** When the current step is due to end. */
  private stepDueMs = 0;
  /**
   * The due time of the step that just ended, while the next one is being started back to back. Steps chain from
   * when the previous one was due, not from when its timer fired: in real time a late timer then does not push
   * every later token back (the GPU would not have waited for our event loop). In virtual time the two are equal.
   */
  private chainFromMs: number | undefined;
  private stepKind: 'gen' | 'embed' | 'kick' | undefined;
  private embedInFlight: EmbedJob | undefined;
  /** The batch array not in use (see onStepEnd); every slot empty. */
  private spareBatch: Array<Seq | undefined> = [];
  private readonly createdMs: number;
  private readonly multiplier: (atMs: number) => number;
  private readonly nextRateChange: ((afterMs: number) => number | undefined) | undefined;
  private readonly s = {
    steps: 0,
    batchedSeqs: 0,
    busyMs: 0,
    tokensComputed: 0,
    outputTokens: 0,
    wastedTokens: 0,
    preemptions: 0,
    embeddingCalls: 0,
  };

  constructor(
    readonly profile: GpuProfile,
    private readonly clock: Clock,
    options: GpuOptions = {},
  ) {
    this.sched = new BatchScheduler(profile, clock, this.s);
    this.createdMs = clock.now();
    this.multiplier = options.stepMultiplier ?? (() => 1);
    this.nextRateChange = options.nextRateChange;
  }

  /** Sequences holding a slot. */
  get runningCount(): number {
    return this.sched.running.length;
  }

  /** Sequences waiting for a slot (preempted ones included). */
  get waiting(): number {
    return this.sched.waiting.count;
  }

  /** Waiting sequences beyond the free slots: those that will really have to wait for a slot. */
  get queuedBeyondSlots(): number {
    return Math.max(0, this.sched.waiting.count - Math.max(0, this.profile.maxNumSeqs - this.sched.running.length));
  }

  /** Share of KV blocks in use, 0..1. */
  get kvUsage(): number {
    return 1 - this.sched.freeBlocks / this.profile.kvBlocks;
  }

  /** True when no step is in flight and nothing is queued. */
  get idle(): boolean {
    return this.timer === undefined;
  }

  stats(): GpuStats {
    const inFlight = this.timer === undefined || this.stepKind === 'kick' ? 0 : this.clock.now() - this.stepStartMs;
    const c = this.sched.cache;
    return {
      ...this.s,
      busyMs: this.s.busyMs + inFlight,
      elapsedMs: this.clock.now() - this.createdMs,
      prefixCacheQueries: c?.queries ?? 0,
      prefixCacheHits: c?.hits ?? 0,
      prefixCacheEvictions: c?.evictions ?? 0,
    };
  }

  /** Adds output tokens that were computed but never reached a client (the owner knows about held-back tokens). */
  recordWaste(tokens: number): void {
    this.s.wastedTokens += tokens;
  }

  /** Queues a sequence. The caller checks that prompt + output fit the KV cache and the waiting limit. */
  submit(input: SeqInput, sink: SeqSink): SeqHandle {
    const seq = new Seq(this, input.promptTokens, input.startIndex, input.endIndex, sink, this.clock.now(), input.prefix, input.outputId);
    if (seq.endIndex <= seq.startIndex) {
      seq.status = 'done';
      seq.firstScheduledMs = seq.submittedMs;
      sink.onFinish();
      return seq;
    }
    this.sched.waiting.push(seq);
    this.kick();
    return seq;
  }

  /**
   * Runs an embeddings call of `costMs` (before the multiplier) as a step of its own, alternating with generation
   * steps when both wait. `done` fires at its end; `dropped` on a crash.
   */
  submitEmbedding(costMs: number, done: () => void, dropped: () => void): { abort(): void } {
    const job: EmbedJob = { costMs, done, dropped, aborted: false };
    this.embedQ.push(job);
    this.kick();
    return {
      abort: () => {
        job.aborted = true;
      },
    };
  }

  /** Drops everything, in flight and queued (a crash). Each sequence's sink gets `onDrop`. */
  crash(): void {
    this.timer?.cancel();
    if (this.timer !== undefined && this.stepKind !== 'kick') this.s.busyMs += this.clock.now() - this.stepStartMs;
    this.timer = undefined;
    this.stepKind = undefined;
    const victims = this.sched.drain();
    const jobs = this.embedInFlight === undefined ? [...this.embedQ] : [this.embedInFlight, ...this.embedQ];
    this.embedQ.length = 0;
    this.embedInFlight = undefined;
    for (const job of jobs) if (!job.aborted) job.dropped();
    this.sched.freeAllBlocks();
    for (const seq of victims) {
      if (seq.status !== 'waiting' && seq.status !== 'running') continue;
      if (seq.inFlight > 0 && seq.computed + seq.inFlight >= seq.target) this.s.wastedTokens++;
      seq.inFlight = 0;
      seq.status = 'aborted';
      seq.sink.onDrop();
    }
  }

  /** @internal */
  abortSeq(seq: Seq): void {
    if (seq.status === 'waiting') this.sched.waiting.discount();
    // A running sequence keeps its blocks until the next step boundary, as vLLM frees them when it next schedules.
    seq.status = 'aborted';
  }

  /**
   * Starts the loop when idle, at the end of the current instant (a zero-delay timer), so that requests arriving
   * at the same moment share the first step, as they would in vLLM's engine loop.
   */
  private kick(): void {
    if (this.timer === undefined) {
      this.stepKind = 'kick';
      this.stepStartMs = this.clock.now();
      this.timer = this.clock.setTimer(0, this.onKick, 'gpu-kick');
    }
  }

  private readonly onKick = (): void => {
    this.timer = undefined;
    this.stepKind = undefined;
    this.startStep();
  };

  private startStep(): void {
    this.sched.reapAborted();
    const job = this.peekEmbedJob();
    if (job !== undefined && (this.stepKind !== 'embed' || this.sched.running.length + this.sched.waiting.count === 0)) {
      this.beginEmbed();
      return;
    }
    if (!this.sched.schedule()) {
      if (job !== undefined) this.beginEmbed();
      else this.stepKind = undefined;
      return;
    }
    let batched = 0;
    let context = 0;
    let pairs = 0;
    const batch = this.sched.batch;
    const size = this.sched.batchSize;
    for (let i = 0; i < size; i++) {
      const seq = batch[i] as Seq;
      batched += seq.inFlight;
      context += seq.computed + seq.inFlight;
      // Causal attention of the new tokens: each attends to the computed context and the new tokens before it.
      if (seq.inFlight > 1) pairs += seq.inFlight * seq.computed + (seq.inFlight * (seq.inFlight + 1)) / 2;
    }
    this.s.steps++;
    this.s.batchedSeqs += size;
    this.s.tokensComputed += batched;
    this.begin('gen', stepMs(this.profile.step, batched, context, pairs));
  }

  private begin(kind: 'gen' | 'embed', baseMs: number): void {
    const now = this.clock.now();
    this.stepKind = kind;
    this.stepStartMs = this.chainFromMs ?? now;
    this.chainFromMs = undefined;
    this.stepDueMs = this.stepEnd(this.stepStartMs, baseMs);
    this.timer = this.clock.setTimer(Math.max(0, this.stepDueMs - now), this.onStepEnd, kind === 'gen' ? 'gpu-step' : 'gpu-embed');
  }

  /**
   * When a step of `baseMs` of work (at rate 1) started at `startMs` ends: the work is spread over the rates in
   * force, so a step that straddles a brownout's edge runs slow only for the part inside it.
   */
  private stepEnd(startMs: number, baseMs: number): number {
    let t = startMs;
    let work = baseMs;
    for (let i = 0; i < MAX_EDGES_PER_STEP; i++) {
      const m = Math.max(0, this.multiplier(t));
      const end = t + work * m;
      const edge = this.nextRateChange?.(t);
      if (edge === undefined || edge <= t || end <= edge || m === 0) return end;
      work -= (edge - t) / m;
      t = edge;
    }
    return t + work * Math.max(0, this.multiplier(t));
  }

  private peekEmbedJob(): EmbedJob | undefined {
    while (this.embedQ.length > 0 && (this.embedQ[0] as EmbedJob).aborted) this.embedQ.shift();
    return this.embedQ[0];
  }

  private beginEmbed(): void {
    const job = this.embedQ.shift() as EmbedJob;
    this.embedInFlight = job;
    this.begin('embed', job.costMs);
  }

  private readonly onStepEnd = (): void => {
    this.timer = undefined;
    this.s.busyMs += this.stepDueMs - this.stepStartMs;
    if (this.stepKind === 'embed') {
      const job = this.embedInFlight;
      this.embedInFlight = undefined;
      this.s.embeddingCalls++;
      if (job !== undefined && !job.aborted) job.done();
    } else {
      // Two batch arrays take turns (a step's batch is rebuilt each step: no new array per step). Each slot is
      // emptied as it is read: the array is handed back empty.
      const batch = this.sched.batch;
      const size = this.sched.batchSize;
      this.sched.batch = this.spareBatch;
      this.sched.batchSize = 0;
      for (let i = 0; i < size; i++) {
        const seq = batch[i] as Seq;
        batch[i] = undefined;
        this.finishStep(seq);
      }
      this.spareBatch = batch;
    }
    if (this.timer === undefined) {
      this.chainFromMs = this.stepDueMs;
      this.startStep();
      this.chainFromMs = undefined;
    }
  };

  private finishStep(seq: Seq): void {
    const n = seq.inFlight;
    seq.inFlight = 0;
    const emits = seq.computed + n >= seq.target;
    if (seq.status !== 'running') {
      if (emits) this.s.wastedTokens++;
      return;
    }
    // Below the context a preemption threw away, the step computed it again (a prefix-cache hit on re-admission
    // skips that part, as it moves `computed` up without a step).
    seq.recomputedTokens += Math.max(0, Math.min(seq.computed + n, seq.redoTo) - seq.computed);
    seq.computed += n;
    // Most steps add one token to a block already counted, or are past the tokens that have an identity (an output
    // without one): registration only once a block with an identity is full (registerComputed's own bounds, here so
    // that a decode step makes no call for nothing).
    const h = seq.hasher;
    if (h !== undefined && seq.registeredTo < h.hashableBlocks && seq.computed >= (seq.registeredTo + 1) * this.profile.kvBlockTokens) {
      this.sched.registerComputed(seq);
    }
    if (!emits) return;
    const index = seq.generated++;
    this.s.outputTokens++;
    seq.sink.onToken(index);
    if (seq.generated >= seq.endIndex && seq.status === 'running') {
      seq.status = 'done';
      this.sched.release(seq);
      seq.sink.onFinish();
    }
  }
}
