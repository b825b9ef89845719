/**
 * Automatic prefix caching of the mock GPU, after vLLM's (V1 KV cache manager):
 * - a prompt is cut into fixed-size token blocks (`kvBlockTokens`), and block i is named by a hash chained over
 *   block i−1's hash and block i's content, so a block hash stands for the whole prefix up to it;
 * - a computed full block is registered under its hash while its sequence runs; when no running sequence holds it
 *   any more it stays in the KV pool as a free but cached block, in LRU order;
 * - a new sequence walks its block hashes and takes every leading block found: those tokens are not prefilled;
 * - under memory pressure a block is taken from the empty blocks first, then by evicting the least recently
 *   freed cached block (vLLM keeps one free queue in eviction order; taking empty blocks first is the same order
 *   once the pool has filled, and only kinder before).
 *
 * Token content is not known to a token-free mock, so content is named by {@link PrefixSegment}s: (segment id,
 * offset) pairs stand for tokens. Two prompts share a block exactly when their segments agree up to its end.
 */
import type { PrefixSegment } from '../src/upstream/model-client.js';
import { HashTable } from './prefix-cache-table.js';
import { hashString, mix32 } from './tokens.js';

/** A cached KV block: its chained hash and how many running sequences hold it. */
export interface CachedBlock {
  readonly hash: number;
  ref: number;
  /** Neighbours in the free list while no sequence holds it (see PrefixCache). */
  older: CachedBlock | undefined;
  newer: CachedBlock | undefined;
}

/** Two independent 32-bit lanes of a chained hash, folded into one 53-bit safe integer as the block's key. */
function fold(a: number, b: number): number {
  return (a >>> 0) * 2 ** 21 + ((b >>> 0) >>> 11);
}

/**
 * Chained block hashes of one sequence's tokens: its prompt segments, then (when the segments cover the whole
 * prompt) its own output, named `outputId`. Hashes are computed lazily, in order, and kept.
 */
export class BlockHasher {
  private readonly segs: Array<{ a: number; b: number; tokens: number }> = [];
  /** Tokens that have an identity (beyond them every token is unique, so no block past them can be shared). */
  readonly hashableTokens: number;
  private readonly hashes: number[] = [];
  private laneA = 0x243f6a88;
  private laneB = 0x85a308d3;
  private seg = 0;
  private offset = 0;

  constructor(
    segments: readonly PrefixSegment[],
    promptTokens: number,
    outputId: string | undefined,
    outputTokens: number,
    private readonly blockTokens: number,
  ) {
    let covered = 0;
    for (const s of segments) {
      const t = Math.min(s.tokens, promptTokens - covered);
      if (t <= 0) break;
      this.segs.push({ a: hashString(s.id), b: hashString(s.id, 0x9747b28c), tokens: t });
      covered += t;
    }
    if (covered === promptTokens && outputId !== undefined && outputTokens > 0) {
      this.segs.push({ a: hashString(outputId), b: hashString(outputId, 0x9747b28c), tokens: outputTokens });
      covered += outputTokens;
    }
    this.hashableTokens = covered;
  }

  /** Full blocks that have an identity. */
  get hashableBlocks(): number {
    return Math.floor(this.hashableTokens / this.blockTokens);
  }

  /** The hash of block `i` (< hashableBlocks). */
  hash(i: number): number {
    while (this.hashes.length <= i) this.next();
    return this.hashes[i] as number;
  }

  private next(): void {
    let a = this.laneA;
    let b = this.laneB;
    let need = this.blockTokens;
    while (need > 0) {
      const s = this.segs[this.seg];
      if (s === undefined) throw new RangeError('BlockHasher: block past the hashable tokens');
      const take = Math.min(need, s.tokens - this.offset);
      // Each piece of the block: which segment, from which offset, how long.
      a = mix32(Math.imul(a ^ s.a, 0x9e3779b1) + this.offset * 0x27d4eb2f + take);
      b = mix32(Math.imul(b ^ s.b, 0x85ebca77) + this.offset * 0x165667b1 + take * 0x61c88647);
      need -= take;
      this.offset += take;
      if (this.offset === s.tokens) {
        this.seg++;
        this.offset = 0;
      }
    }
    this.laneA = a;
    this.laneB = b;
    this.hashes.push(fold(a, b));
  }
}

/** The cache of one GPU: blocks by hash, and the free ones in LRU order. Token counters are vLLM's. */
export class PrefixCache {
  private readonly byHash: HashTable<CachedBlock>;
  /**
   * Cached blocks no sequence holds, least recently freed first: a list threaded through the blocks themselves
   * (no hashing to free or take a block, which a Map of hundreds of thousands of blocks made slow).
   */
  private oldest: CachedBlock | undefined;
  private newest: CachedBlock | undefined;
  private freeCount = 0;
  /** Prompt tokens looked up (`vllm:prefix_cache_queries`). */
  queries = 0;
  /** Prompt tokens found cached (`vllm:prefix_cache_hits`). */
  hits = 0;
  /** Cached blocks evicted to make room. */
  evictions = 0;

  /** @param kvBlocks the KV pool's size, which bounds the blocks cached: the table is made that large at once. */
  constructor(kvBlocks = 0) {
    this.byHash = new HashTable<CachedBlock>(2 * kvBlocks);
  }

  /** Free blocks that still hold a cached prefix (evictable). */
  get evictable(): number {
    return this.freeCount;
  }

  /** Cached blocks, held or free. */
  get size(): number {
    return this.byHash.size;
  }

  /** The leading blocks of `hasher` found in the cache, at most `maxBlocks`; not yet taken. */
  lookup(hasher: BlockHasher, maxBlocks: number): CachedBlock[] {
    const out: CachedBlock[] = [];
    const n = Math.min(maxBlocks, hasher.hashableBlocks);
    for (let i = 0; i < n; i++) {
      const b = this.byHash.get(hasher.hash(i));
      if (b === undefined) break;
      out.push(b);
    }
    return out;
  }

  /** A sequence takes a cached block; true when it was free (it leaves the free pool). */
  take(b: CachedBlock): boolean {
    const wasFree = b.ref === 0;
    if (wasFree) this.unlink(b);
    b.ref++;
    return wasFree;
  }

  /** A sequence lets go of a cached block; true when no one holds it now (it joins the free pool, most recent). */
  release(b: CachedBlock): boolean {
    b.ref--;
    if (b.ref > 0) return false;
    // Held until now, so not in the free list: it joins as the most recent.
    b.older = this.newest;
    b.newer = undefined;
    if (this.newest === undefined) this.oldest = b;
    else this.newest.newer = b;
    this.newest = b;
    this.freeCount++;
    return true;
  }

  private unlink(b: CachedBlock): void {
    if (b.older === undefined) this.oldest = b.newer;
    else b.older.newer = b.newer;
    if (b.newer === undefined) this.newest = b.older;
    else b.newer.older = b.older;
    b.older = b.newer = undefined;
    this.freeCount--;
  }

  /** Registers a block a sequence just computed (held by it); undefined when that hash is cached already. */
  register(hash: number): CachedBlock | undefined {
    if (this.byHash.has(hash)) return undefined;
    const b: CachedBlock = { hash, ref: 1, older: undefined, newer: undefined };
    this.byHash.set(hash, b);
    return b;
  }

  /** Evicts the `n` least recently freed cached blocks (their memory is about to be reused). */
  evict(n: number): void {
    for (; n > 0 && this.oldest !== undefined; n--) {
      const b = this.oldest;
      this.unlink(b);
      this.byHash.delete(b.hash);
      this.evictions++;
    }
  }

  /** Forgets everything (a crash: the restarted process starts cold). */
  clear(): void {
    this.byHash.clear();
    for (let b = this.oldest; b !== undefined; ) {
      const next: CachedBlock | undefined = b.newer;
      b.older = b.newer = undefined;
      b = next;
    }
    this.oldest = this.newest = undefined;
    this.freeCount = 0;
  }
}
