import type { PrefixSegment } from '../src/upstream/model-client.js';
import type { BlockHasher, CachedBlock } from './prefix-cache.js';

/**
 * A sequence on the GPU (sim/gpu.ts): the contracts its owner sees (what to run, where its tokens go, a handle to
 * abort it) and the GPU's own record of its progress (context computed, next output index, KV blocks held).
 */

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
  /** Identity of the prompt's leading tokens, for the prefix cache; the rest is unique. @default none */
  readonly prefix?: readonly PrefixSegment[];
  /**
   * Identity of the output tokens (they are a pure function of the request), so that a later prompt resending this
   * output (the next turn of a conversation) can hit its blocks. Used only when `prefix` covers the whole prompt.
   */
  readonly outputId?: string;
}

/** A handle on a submitted sequence. */
export interface SeqHandle {
  /** Drops the sequence: a waiting one leaves the queue now, a running one frees its slot and blocks at the next step. */
  abort(): void;
  /** Ms from submit to first being scheduled; undefined while still waiting. */
  readonly queueMs: number | undefined;
  /** Prompt tokens found in the prefix cache when first scheduled (0 before, or on a miss). */
  readonly cachedTokens: number;
  /** Context tokens computed a second time after a preemption threw their KV away (recompute; 0 without one). */
  readonly recomputedTokens: number;
}

/** Where a sequence is in its life on the GPU. */
export type SeqStatus = 'waiting' | 'running' | 'done' | 'aborted';

/** What a sequence calls back into when its handle aborts it (the GPU). */
export interface SeqOwner {
  abortSeq(seq: Seq): void;
}

/** @internal The GPU's record of one sequence; its owner sees it as a {@link SeqHandle}. */
export class Seq implements SeqHandle {
  status: SeqStatus = 'waiting';
  /** Tokens whose KV is computed. */
  computed = 0;
  /** Next output index to emit. */
  generated: number;
  blocks = 0;
  firstScheduledMs = -1;
  /** Tokens scheduled in the step in flight (0 when not in it). */
  inFlight = 0;
  /** Cached blocks this sequence holds (hits and the blocks it registered); the rest of `blocks` are private. */
  held: CachedBlock[] = [];
  /** Blocks [0, registeredTo) were looked up or registered; later full blocks are registered as they are computed. */
  registeredTo = 0;
  /** Prompt tokens served from the cache at first scheduling. */
  cachedTokens = 0;
  /** Context computed before the last preemption: computing below it again is recompute. */
  redoTo = 0;
  /** Tokens computed again after preemptions (below `redoTo`). */
  recomputedTokens = 0;
  /** Chained block hashes, made on first scheduling when the GPU caches prefixes. */
  hasher: BlockHasher | undefined;

  constructor(
    readonly owner: SeqOwner,
    readonly prompt: number,
    readonly startIndex: number,
    readonly endIndex: number,
    readonly sink: SeqSink,
    readonly submittedMs: number,
    readonly prefix?: readonly PrefixSegment[],
    readonly outputId?: string,
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
    if (this.status === 'waiting' || this.status === 'running') this.owner.abortSeq(this);
  }
}
