import type { ChunkSeries } from './recorder.js';
import type { TokenChunk } from './types.js';

/** Chunks a request's arrays start with room for unless told how many to expect; they double from there. */
const INITIAL_CAPACITY = 16;
/** Most chunks room is made for up front (a hint of a long answer need not come true). */
const MAX_INITIAL_CAPACITY = 4096;
const EMPTY = new Float64Array(0);

/**
 * A request's token chunks as they arrive (when, and how many tokens), kept in typed arrays while the request runs
 * and turned into `TokenChunk` objects only when it completes. A virtual run keeps thousands of streams open, each
 * growing by one chunk per GPU step: an object per chunk, or a JS array's backing store, lives as long as its request
 * and is what the garbage collector would spend its time copying and promoting. A typed array's storage lies outside
 * the collected heap, and most chunks carry one token, so the counts are stored only once one differs from 1.
 */
export class ChunkTimes implements ChunkSeries {
  /** No room until the first chunk: many requests end without one. */
  #atMs: Float64Array = EMPTY;
  /** Tokens per chunk; undefined while every chunk so far had one. */
  #counts: Float64Array | undefined;
  #length = 0;
  readonly #initial: number;

  /** @param expectedChunks room to make at the first chunk (the tokens the request asks for, say). @default 16 */
  constructor(expectedChunks = INITIAL_CAPACITY) {
    this.#initial = Math.max(1, Math.min(MAX_INITIAL_CAPACITY, Math.ceil(expectedChunks) || INITIAL_CAPACITY));
  }

  /** A chunk of `count` tokens arrived at `atMs`. */
  push(atMs: number, count: number): void {
    const i = this.#length;
    if (i === this.#atMs.length) this.#grow();
    this.#atMs[i] = atMs;
    if (this.#counts !== undefined) this.#counts[i] = count;
    else if (count !== 1) {
      this.#counts = new Float64Array(this.#atMs.length).fill(1, 0, i);
      this.#counts[i] = count;
    }
    this.#length = i + 1;
  }

  #grow(): void {
    const atMs = new Float64Array(this.#atMs.length === 0 ? this.#initial : this.#atMs.length * 2);
    atMs.set(this.#atMs);
    this.#atMs = atMs;
    if (this.#counts !== undefined) {
      const counts = new Float64Array(atMs.length);
      counts.set(this.#counts);
      this.#counts = counts;
    }
  }

  /** Chunks so far. */
  get length(): number {
    return this.#length;
  }

  /** When chunk `i` (< length) arrived. */
  atMsAt(i: number): number {
    return this.#atMs[i] as number;
  }

  /** Tokens in chunk `i` (< length). */
  countAt(i: number): number {
    return this.#counts === undefined ? 1 : (this.#counts[i] as number);
  }

  /** The chunks in arrival order, as a RequestObservation carries them. */
  toChunks(): TokenChunk[] {
    const n = this.#length;
    const out: TokenChunk[] = new Array<TokenChunk>(n);
    const atMs = this.#atMs;
    const counts = this.#counts;
    for (let i = 0; i < n; i++) out[i] = { atMs: atMs[i] as number, count: counts === undefined ? 1 : (counts[i] as number) };
    return out;
  }
}
