import type { TokenChunk } from './types.js';

/**
 * A request's token chunks as they arrive (when, and how many tokens), kept in two number arrays while the request
 * runs and turned into `TokenChunk` objects only when it completes. A virtual run keeps thousands of streams open,
 * each growing by one chunk per GPU step: an object per chunk that lives as long as its request is what the
 * garbage collector would spend its time copying and promoting.
 */
export class ChunkTimes {
  readonly #atMs: number[] = [];
  readonly #counts: number[] = [];

  /** A chunk of `count` tokens arrived at `atMs`. */
  push(atMs: number, count: number): void {
    this.#atMs.push(atMs);
    this.#counts.push(count);
  }

  /** Chunks so far. */
  get length(): number {
    return this.#counts.length;
  }

  /** The chunks in arrival order, as a RequestObservation carries them. */
  toChunks(): TokenChunk[] {
    const out: TokenChunk[] = new Array<TokenChunk>(this.#counts.length);
    for (let i = 0; i < out.length; i++) out[i] = { atMs: this.#atMs[i] as number, count: this.#counts[i] as number };
    return out;
  }
}
