/**
 * The continuous-batching step loop of one GPU, on a Clock, after vLLM's scheduler (V1, chunked prefill):
 * each step first serves running sequences (decode 1 token, or the next prefill chunk), then admits waiting ones
 * FCFS while slots (`maxNumSeqs`), the token budget (`maxBatchedTokens`) and KV blocks allow. A step lasts
 * `stepMs(batchedTokens, contextTokens) × multiplier`; at its end every sequence whose context is complete emits
 * one token. When KV blocks run out the newest running sequence is preempted (recompute: its blocks are freed and
 * it re-prefills prompt + output so far). TTFT and inter-token latency therefore come out of real queueing.
 *
 * One timer per step, none per token, and none at all when idle, so VirtualClock runs end.
 */
import type { Clock, Timer } from '../src/time/clock.js';
import { stepMs, type GpuProfile } from './profiles.js';

/** Receives a sequence's progress, synchronously at step ends. */
export interface SeqSink {
  /** Token `index` of the output was computed (one per step per sequence). */
  onToken(index: number): void;
  /** Every token was computed; called right after the last `onToken`. */
  onFinish(): void;
  /** The GPU dropped the sequence (crash). */
  onDrop(): void;
}

/** A sequence to run. */
export interface SeqInput {
  /** Prompt tokens. */
  readonly promptTokens: number;
  /** Output tokens already produced by an earlier attempt (a resume): they are prefilled, not generated. */
  readonly startIndex: number;
  /** Output index to stop at (exclusive); must be ≥ startIndex. */
  readonly endIndex: number;
}

/** A handle on a submitted sequence. */
export interface SeqHandle {
  /** Drops the sequence: a waiting one leaves the queue now, a running one frees its slot and blocks at the next step. */
  abort(): void;
  /** Ms from submit to first being scheduled; undefined while still waiting. */
  readonly queueMs: number | undefined;
}

type Status = 'waiting' | 'running' | 'done' | 'aborted';

class Seq implements SeqHandle {
  status: Status = 'waiting';
  /** Tokens whose KV is computed. */
  computed = 0;
  /** Next output index to emit. */
  generated: number;
  blocks = 0;
  firstScheduledMs = -1;
  /** Tokens scheduled in the step in flight (0 when not in it). */
  inFlight = 0;

  constructor(
    readonly gpu: Gpu,
    readonly prompt: number,
    readonly startIndex: number,
    readonly endIndex: number,
    readonly sink: SeqSink,
    readonly submittedMs: number,
  ) {
    this.generated = startIndex;
  }

  /** Context that must be computed before the next token can be emitted. */
  get target(): number {
    return this.prompt + this.generated;
  }

  get queueMs(): number | undefined {
    return this.firstScheduledMs < 0 ? undefined : this.firstScheduledMs - this.submittedMs;
  }

  abort(): void {
    if (this.status === 'waiting' || this.status === 'running') this.gpu.abortSeq(this);
  }
}

interface EmbedJob {
  readonly costMs: number;
  readonly done: () => void;
  readonly dropped: () => void;
  aborted: boolean;
}

/** Options of a {@link Gpu}. */
export interface GpuOptions {
  /** Step-time multiplier, read at the start of each step (a brownout). @default () => 1 */
  readonly stepMultiplier?: () => number;
}

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
}

/** A continuous-batching GPU. */
export class Gpu {
  private readonly running: Seq[] = [];
  /** FCFS; preempted sequences go back to the front. Aborted ones are removed lazily. */
  /** Slots before `waitingHead` are cleared as they are consumed, so a finished sequence is not kept alive by the queue. */
  private waitingQ: Array<Seq | undefined> = [];
  private waitingHead = 0;
  private waitingCount = 0;
  private readonly embedQ: EmbedJob[] = [];
  private freeBlocks: number;
  private timer: Timer | undefined;
  private batch: Seq[] = [];
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
  private readonly createdMs: number;
  private readonly multiplier: () => number;
  private s = {
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
    this.freeBlocks = profile.kvBlocks;
    this.createdMs = clock.now();
    this.multiplier = options.stepMultiplier ?? (() => 1);
  }

  /** Sequences holding a slot. */
  get runningCount(): number {
    return this.running.length;
  }

  /** Sequences waiting for a slot (preempted ones included). */
  get waiting(): number {
    return this.waitingCount;
  }

  /** Waiting sequences beyond the free slots: those that will really have to wait for a slot. */
  get queuedBeyondSlots(): number {
    return Math.max(0, this.waitingCount - Math.max(0, this.profile.maxNumSeqs - this.running.length));
  }

  /** Share of KV blocks in use, 0..1. */
  get kvUsage(): number {
    return 1 - this.freeBlocks / this.profile.kvBlocks;
  }

  /** True when no step is in flight and nothing is queued. */
  get idle(): boolean {
    return this.timer === undefined;
  }

  stats(): GpuStats {
    const inFlight = this.timer === undefined || this.stepKind === 'kick' ? 0 : this.clock.now() - this.stepStartMs;
    return { ...this.s, busyMs: this.s.busyMs + inFlight, elapsedMs: this.clock.now() - this.createdMs };
  }

  /** Adds output tokens that were computed but never reached a client (the owner knows about held-back tokens). */
  recordWaste(tokens: number): void {
    this.s.wastedTokens += tokens;
  }

  /** Queues a sequence. The caller checks that prompt + output fit the KV cache and the waiting limit. */
  submit(input: SeqInput, sink: SeqSink): SeqHandle {
    const seq = new Seq(this, input.promptTokens, input.startIndex, input.endIndex, sink, this.clock.now());
    if (seq.endIndex <= seq.startIndex) {
      seq.status = 'done';
      seq.firstScheduledMs = seq.submittedMs;
      sink.onFinish();
      return seq;
    }
    this.waitingQ.push(seq);
    this.waitingCount++;
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
    const victims = [...this.running, ...(this.waitingQ.slice(this.waitingHead) as Seq[])];
    this.running.length = 0;
    this.waitingQ = [];
    this.waitingHead = 0;
    this.waitingCount = 0;
    this.batch = [];
    const jobs = this.embedInFlight === undefined ? [...this.embedQ] : [this.embedInFlight, ...this.embedQ];
    this.embedQ.length = 0;
    this.embedInFlight = undefined;
    for (const job of jobs) if (!job.aborted) job.dropped();
    this.freeBlocks = this.profile.kvBlocks;
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
    if (seq.status === 'waiting') this.waitingCount--;
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
    this.reapAborted();
    const job = this.peekEmbedJob();
    if (job !== undefined && (this.stepKind !== 'embed' || this.running.length + this.waitingCount === 0)) {
      this.beginEmbed();
      return;
    }
    if (!this.schedule()) {
      if (job !== undefined) this.beginEmbed();
      else this.stepKind = undefined;
      return;
    }
    let batched = 0;
    let context = 0;
    for (const seq of this.batch) {
      batched += seq.inFlight;
      context += seq.computed + seq.inFlight;
    }
    this.s.steps++;
    this.s.batchedSeqs += this.batch.length;
    this.s.tokensComputed += batched;
    this.begin('gen', stepMs(this.profile.step, batched, context));
  }

  private begin(kind: 'gen' | 'embed', baseMs: number): void {
    const now = this.clock.now();
    this.stepKind = kind;
    this.stepStartMs = this.chainFromMs ?? now;
    this.chainFromMs = undefined;
    this.stepDueMs = this.stepStartMs + baseMs * Math.max(0, this.multiplier());
    this.timer = this.clock.setTimer(Math.max(0, this.stepDueMs - now), this.onStepEnd, kind === 'gen' ? 'gpu-step' : 'gpu-embed');
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
      const batch = this.batch;
      this.batch = [];
      for (const seq of batch) this.finishStep(seq);
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
    seq.computed += n;
    if (!emits) return;
    const index = seq.generated++;
    this.s.outputTokens++;
    seq.sink.onToken(index);
    if (seq.generated >= seq.endIndex && seq.status === 'running') {
      seq.status = 'done';
      this.release(seq);
      seq.sink.onFinish();
    }
  }

  /** Removes a finished or aborted sequence from the running list and frees its blocks. */
  private release(seq: Seq): void {
    this.freeBlocks += seq.blocks;
    seq.blocks = 0;
    const i = this.running.indexOf(seq);
    if (i >= 0) this.running.splice(i, 1);
  }

  private reapAborted(): void {
    let w = 0;
    for (let r = 0; r < this.running.length; r++) {
      const seq = this.running[r] as Seq;
      if (seq.status === 'running') this.running[w++] = seq;
      else {
        this.freeBlocks += seq.blocks;
        seq.blocks = 0;
      }
    }
    this.running.length = w;
  }

  /** Blocks a sequence needs to hold `tokens` tokens of KV. */
  private blocksFor(tokens: number): number {
    return Math.ceil(tokens / this.profile.kvBlockTokens);
  }

  /** Builds the next batch; false when there is nothing to run. */
  private schedule(): boolean {
    const p = this.profile;
    let budget = p.maxBatchedTokens;
    let preempted = false;
    const batch = this.batch;
    for (let i = 0; i < this.running.length && budget > 0; i++) {
      const seq = this.running[i] as Seq;
      const need = Math.min(seq.target - seq.computed, budget);
      let extra = this.blocksFor(seq.computed + need) - seq.blocks;
      while (extra > this.freeBlocks) {
        const victim = this.running[this.running.length - 1] as Seq;
        this.preempt(victim);
        preempted = true;
        if (victim === seq) break;
      }
      if (seq.status !== 'running') break; // preempted itself: every later one is gone too
      extra = Math.max(0, extra);
      this.freeBlocks -= extra;
      seq.blocks += extra;
      seq.inFlight = need;
      budget -= need;
      batch.push(seq);
    }
    // vLLM admits nothing in a step that had to preempt (unless that left the step empty: never idle with work).
    while ((!preempted || batch.length === 0) && budget > 0 && this.running.length < p.maxNumSeqs && this.waitingCount > 0) {
      const seq = this.peekWaiting();
      if (seq === undefined) break;
      const room = this.freeBlocks * p.kvBlockTokens;
      const need = Math.min(seq.target - seq.computed, budget, room);
      if (need <= 0) break;
      this.popWaiting();
      const blocks = this.blocksFor(need);
      this.freeBlocks -= blocks;
      seq.blocks = blocks;
      seq.status = 'running';
      if (seq.firstScheduledMs < 0) seq.firstScheduledMs = this.clock.now();
      seq.inFlight = need;
      budget -= need;
      this.running.push(seq);
      batch.push(seq);
    }
    return batch.length > 0;
  }

  private preempt(seq: Seq): void {
    this.running.pop();
    this.freeBlocks += seq.blocks;
    seq.blocks = 0;
    // Recompute: the output generated so far is computed again; that second computation reaches no client.
    this.s.wastedTokens += seq.generated - seq.startIndex;
    seq.computed = 0;
    seq.inFlight = 0;
    seq.status = 'waiting';
    this.s.preemptions++;
    this.unshiftWaiting(seq);
    const bi = this.batch.indexOf(seq);
    if (bi >= 0) this.batch.splice(bi, 1);
  }

  private peekWaiting(): Seq | undefined {
    while (this.waitingHead < this.waitingQ.length) {
      const seq = this.waitingQ[this.waitingHead] as Seq;
      if (seq.status === 'waiting') return seq;
      this.waitingQ[this.waitingHead++] = undefined;
    }
    return undefined;
  }

  private popWaiting(): void {
    this.waitingQ[this.waitingHead++] = undefined;
    this.waitingCount--;
    if (this.waitingHead > 1024 && this.waitingHead * 2 > this.waitingQ.length) {
      this.waitingQ = this.waitingQ.slice(this.waitingHead);
      this.waitingHead = 0;
    }
  }

  private unshiftWaiting(seq: Seq): void {
    if (this.waitingHead > 0) this.waitingQ[--this.waitingHead] = seq;
    else this.waitingQ.unshift(seq);
    this.waitingCount++;
  }
}
