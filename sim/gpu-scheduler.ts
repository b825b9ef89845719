/**
 * The GPU's batch scheduler and KV block accounting (sim/gpu.ts), after vLLM's V1 scheduler with chunked prefill:
 * a step first serves running sequences (decode 1 token, or the next prefill chunk), then admits waiting ones FCFS
 * while slots (`maxNumSeqs`), the token budget (`maxBatchedTokens`) and KV blocks allow. When KV blocks run out the
 * newest running sequence is preempted (recompute: its blocks are freed and it re-prefills prompt + output so far).
 */
import type { Clock } from '../src/time/clock.js';
import type { Seq } from './gpu-seq.js';
import { BlockHasher, PrefixCache } from './prefix-cache.js';
import { WaitingQueue } from './gpu-waiting.js';
import type { GpuProfile } from './profiles.js';

/** The GPU counters the scheduler adds to (the GPU's own stats object). */
export interface SchedulerCounters {
  wastedTokens: number;
  preemptions: number;
}

/** @internal Running list, waiting queue, free KV blocks and the batch of the step in flight. */
export class BatchScheduler {
  readonly running: Seq[] = [];
  /** FCFS; preempted sequences go back to the front. Aborted ones are removed lazily. */
  readonly waiting = new WaitingQueue();
  freeBlocks: number;
  /**
   * The sequences of the step in flight, `batch[0, batchSize)` (built by `schedule`, taken by the GPU at the step's
   * end). The array is reused from step to step (the GPU swaps in an empty one), so slots past `batchSize` are empty.
   */
  batch: Array<Seq | undefined> = [];
  batchSize = 0;
  /** The prefix cache; undefined when the profile turns caching off. */
  readonly cache: PrefixCache | undefined;

  constructor(
    private readonly profile: GpuProfile,
    private readonly clock: Clock,
    private readonly counters: SchedulerCounters,
  ) {
    this.freeBlocks = profile.kvBlocks;
    this.cache = profile.prefixCaching === false ? undefined : new PrefixCache(profile.kvBlocks);
  }

  /** Removes a finished or aborted sequence from the running list and frees its blocks. */
  release(seq: Seq): void {
    this.freeSeqBlocks(seq);
    const i = this.running.indexOf(seq);
    if (i >= 0) this.running.splice(i, 1);
  }

  /**
   * Gives a sequence's blocks back: private ones to the empty pool, cached ones to the free LRU once no other
   * sequence holds them (a block shared by two sequences is one block of memory).
   */
  private freeSeqBlocks(seq: Seq): void {
    let freed = seq.blocks - seq.held.length;
    if (this.cache !== undefined) for (const b of seq.held) if (this.cache.release(b)) freed++;
    this.freeBlocks += freed;
    seq.blocks = 0;
    seq.held = [];
    seq.registeredTo = 0;
  }

  /** Takes `n` free blocks, evicting the least recently used cached ones when no empty block is left. */
  private takeBlocks(n: number): void {
    if (n <= 0) return;
    const empty = this.freeBlocks - (this.cache?.evictable ?? 0);
    if (n > empty) this.cache?.evict(n - empty);
    this.freeBlocks -= n;
  }

  /**
   * At a step's end: registers the sequence's newly computed full blocks that have an identity (prompt segments,
   * then its own output), so later prompts that share them skip their prefill.
   */
  registerComputed(seq: Seq): void {
    const cache = this.cache;
    const h = seq.hasher;
    if (cache === undefined || h === undefined) return;
    // Most steps add one token to a block already counted: nothing new to register (the bound below is at most this).
    if (seq.computed < (seq.registeredTo + 1) * this.profile.kvBlockTokens) return;
    const upTo = Math.min(Math.floor(seq.computed / this.profile.kvBlockTokens), h.hashableBlocks, seq.blocks);
    for (; seq.registeredTo < upTo; seq.registeredTo++) {
      const b = cache.register(h.hash(seq.registeredTo));
      if (b !== undefined) seq.held.push(b);
    }
  }

  /**
   * On scheduling a sequence with nothing computed: takes the leading blocks of its prompt found in the cache and
   * counts them as computed. At least one token is always left to compute (the last one's logits are needed), as
   * vLLM does. Hits count toward `vllm:prefix_cache_hits` on the first scheduling only.
   */
  private lookupPrefix(seq: Seq): void {
    const cache = this.cache;
    if (cache === undefined) return;
    const B = this.profile.kvBlockTokens;
    seq.hasher ??= new BlockHasher(seq.prefix ?? [], seq.prompt, seq.outputId, seq.endIndex, B);
    const first = seq.firstScheduledMs < 0;
    const queried = seq.prompt + seq.generated;
    const hits = cache.lookup(seq.hasher, Math.floor((queried - 1) / B));
    for (const b of hits) if (cache.take(b)) this.freeBlocks--;
    seq.held = hits;
    seq.blocks = hits.length;
    seq.registeredTo = hits.length;
    seq.computed = hits.length * B;
    if (first) {
      // Counted once per request (a preempted sequence looking up again is not a new query), in prompt tokens.
      cache.queries += seq.prompt;
      seq.cachedTokens = Math.min(seq.prompt, seq.computed);
      cache.hits += seq.cachedTokens;
    }
  }

  /** Drops aborted sequences from the running list, freeing their blocks (vLLM frees them when it next schedules). */
  reapAborted(): void {
    let w = 0;
    for (let r = 0; r < this.running.length; r++) {
      const seq = this.running[r] as Seq;
      if (seq.status === 'running') this.running[w++] = seq;
      else this.freeSeqBlocks(seq);
    }
    this.running.length = w;
  }

  /** Empties the running list, the waiting queue and the batch; returns running then waiting sequences (a crash). */
  drain(): Seq[] {
    const victims = [...this.running, ...this.waiting.drain()];
    this.running.length = 0;
    this.batch.fill(undefined, 0, this.batchSize);
    this.batchSize = 0;
    return victims;
  }

  /** Every KV block is free again and the prefix cache is empty (after a crash). */
  freeAllBlocks(): void {
    this.freeBlocks = this.profile.kvBlocks;
    this.cache?.clear();
  }

  /** Blocks a sequence needs to hold `tokens` tokens of KV. */
  private blocksFor(tokens: number): number {
    return Math.ceil(tokens / this.profile.kvBlockTokens);
  }

  /** Builds the next batch; false when there is nothing to run. */
  schedule(): boolean {
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
      this.takeBlocks(extra);
      seq.blocks += extra;
      seq.inFlight = need;
      budget -= need;
      batch[this.batchSize++] = seq;
    }
    // vLLM admits nothing in a step that had to preempt (unless that left the step empty: never idle with work).
    while ((!preempted || this.batchSize === 0) && budget > 0 && this.running.length < p.maxNumSeqs && this.waiting.count > 0) {
      const seq = this.waiting.peek();
      if (seq === undefined) break;
      if (seq.computed === 0 && seq.blocks === 0) this.lookupPrefix(seq);
      const room = this.freeBlocks * p.kvBlockTokens;
      const need = Math.min(seq.target - seq.computed, budget, room);
      if (need <= 0) {
        // Not admitted after all: the cached blocks it took go back (they stay cached).
        this.freeSeqBlocks(seq);
        seq.computed = 0;
        break;
      }
      this.waiting.pop();
      const blocks = this.blocksFor(seq.computed + need) - seq.blocks;
      this.takeBlocks(blocks);
      seq.blocks += blocks;
      seq.status = 'running';
      if (seq.firstScheduledMs < 0) seq.firstScheduledMs = this.clock.now();
      seq.inFlight = need;
      budget -= need;
      this.running.push(seq);
      batch[this.batchSize++] = seq;
    }
    return this.batchSize > 0;
  }

  private preempt(seq: Seq): void {
    this.running.pop();
    this.freeSeqBlocks(seq);
    // Recompute: the output generated so far is computed again; that second computation reaches no client.
    this.counters.wastedTokens += seq.generated - seq.startIndex;
    seq.redoTo = Math.max(seq.redoTo, seq.computed);
    seq.computed = 0;
    seq.inFlight = 0;
    seq.status = 'waiting';
    this.counters.preemptions++;
    this.waiting.unshift(seq);
    const batch = this.batch;
    const n = this.batchSize;
    for (let i = 0; i < n; i++) {
      if (batch[i] !== seq) continue;
      batch.copyWithin(i, i + 1, n);
      batch[n - 1] = undefined;
      this.batchSize = n - 1;
      break;
    }
  }
}
