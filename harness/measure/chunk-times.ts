import type { ChunkSeries } from './recorder.js';
import type { TokenChunk } from './types.js';

/** Chunks a request's arrays start with room for unless told how many to expect; they double from there. */
const INITIAL_CAPACITY = 16;
/** Most chunks room is made for up front (a hint of a long answer need not come true). */
const MAX_INITIAL_CAPACITY = 4096;

/** `a`'s elements in a new array with room for `n` (a fresh `new Array(n)` keeps fast elements). */
function grown(a: readonly number[], n: number): number[] {
  const out = new Array<number>(n);
  for (let i = 0; i < a.length; i++) out[i] = a[i] as number;
  return out;
}

/**
 * A request's token chunks as they arrive (when, and how many tokens), kept in number arrays while the request runs
 * and read in place by the recorder (`ChunkSeries`); `TokenChunk` objects are made only if something asks for them.
 * A virtual run keeps thousands of streams open, each growing by one chunk per GPU step: an object per chunk, or an
 * array grown one push at a time (copied every few chunks), lives as long as its request and is what the garbage
 * collector would spend its time copying and promoting. So the arrays are sized from the tokens the request asks for,
 * and most chunks carry one token: the counts are stored only once one differs from 1.
 */
export class ChunkTimes implements ChunkSeries {
  /** No room until the first chunk: many requests end without one. */
  #atMs: number[] = [];
  /** Tokens per chunk; undefined while every chunk so far had one. */
  #counts: number[] | undefined;
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
      this.#counts = new Array<number>(this.#atMs.length).fill(1, 0, i);
      this.#counts[i] = count;
    }
    this.#length = i + 1;
  }

  #grow(): void {
    // Room made ahead, once per doubling: pushing one at a time would grow (copy) the arrays every few chunks.
    const n = this.#atMs.length === 0 ? this.#initial : this.#atMs.length * 2;
    this.#atMs = grown(this.#atMs, n);
    if (this.#counts !== undefined) this.#counts = grown(this.#counts, n);
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
