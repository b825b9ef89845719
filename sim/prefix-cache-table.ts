/**
 * The prefix cache's blocks by hash (sim/prefix-cache.ts): an open-addressing hash table (linear probing,
 * backward-shift deletion, no tombstones) keyed by a block's 53-bit hash. A `Map` with keys past the small-integer
 * range boxes each key and hashes it as a double, and with hundreds of thousands of blocks it was the prefix cache's
 * main cost; here a key is one slot of a Float64Array (outside the collected heap) and its hash is two integer mixes.
 * Nothing iterates the table, so its layout cannot reach any result.
 */
import { mix32 } from '../src/random.js';

const MIN_CAPACITY = 1024;
const TWO_32 = 4294967296;

/** A map from a non-negative safe-integer hash to a value, for the prefix cache. */
export class HashTable<V> {
  private keys: Float64Array;
  private vals: Array<V | undefined>;
  private mask: number;
  private count = 0;

  constructor(capacity = MIN_CAPACITY) {
    let c = MIN_CAPACITY;
    while (c < capacity) c *= 2;
    this.keys = new Float64Array(c);
    this.vals = new Array<V | undefined>(c).fill(undefined);
    this.mask = c - 1;
  }

  /** Entries held. */
  get size(): number {
    return this.count;
  }

  private slotOf(key: number): number {
    return mix32((key >>> 0) ^ Math.imul(Math.floor(key / TWO_32), 0x9e3779b1)) & this.mask;
  }

  get(key: number): V | undefined {
    for (let i = this.slotOf(key); ; i = (i + 1) & this.mask) {
      const v = this.vals[i];
      if (v === undefined) return undefined;
      if (this.keys[i] === key) return v;
    }
  }

  has(key: number): boolean {
    return this.get(key) !== undefined;
  }

  /** Sets `key` to `value` (not undefined). */
  set(key: number, value: V): void {
    let i = this.slotOf(key);
    for (; ; i = (i + 1) & this.mask) {
      if (this.vals[i] === undefined) break;
      if (this.keys[i] === key) {
        this.vals[i] = value;
        return;
      }
    }
    this.keys[i] = key;
    this.vals[i] = value;
    if (++this.count * 2 > this.vals.length) this.grow();
  }

  /** Removes `key`; true when it was there. */
  delete(key: number): boolean {
    let i = this.slotOf(key);
    for (; ; i = (i + 1) & this.mask) {
      if (this.vals[i] === undefined) return false;
      if (this.keys[i] === key) break;
    }
    // Backward-shift: move later entries of the probe run into the hole when their home slot allows it.
    const mask = this.mask;
    let hole = i;
    for (let j = (i + 1) & mask; this.vals[j] !== undefined; j = (j + 1) & mask) {
      const home = this.slotOf(this.keys[j] as number);
      // The entry at j may move to the hole if its home is not within (hole, j] (cyclically).
      const movable = hole <= j ? home <= hole || home > j : home <= hole && home > j;
      if (!movable) continue;
      this.keys[hole] = this.keys[j] as number;
      this.vals[hole] = this.vals[j];
      hole = j;
    }
    this.vals[hole] = undefined;
    this.keys[hole] = 0;
    this.count--;
    return true;
  }

  clear(): void {
    this.vals.fill(undefined);
    this.keys.fill(0);
    this.count = 0;
  }

  private grow(): void {
    const keys = this.keys;
    const vals = this.vals;
    const c = vals.length * 2;
    this.keys = new Float64Array(c);
    this.vals = new Array<V | undefined>(c).fill(undefined);
    this.mask = c - 1;
    for (let i = 0; i < vals.length; i++) {
      const v = vals[i];
      if (v === undefined) continue;
      const key = keys[i] as number;
      let s = this.slotOf(key);
      while (this.vals[s] !== undefined) s = (s + 1) & this.mask;
      this.keys[s] = key;
      this.vals[s] = v;
    }
  }
}
