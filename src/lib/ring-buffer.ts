/**
 * A growable double-ended queue on a power-of-two circular array: O(1) push/shift/pop at both ends, no
 * re-indexing like `Array.prototype.shift`. The engine's semaphore waiters and queue classes sit on it.
 */
export class RingBuffer<T> {
  private buf: Array<T | undefined>;
  private head = 0;
  private count = 0;
  private mask: number;

  /** @param initialCapacity rounded up to a power of two. @default 16 */
  constructor(initialCapacity = 16) {
    let cap = 4;
    while (cap < initialCapacity) cap <<= 1;
    this.buf = new Array<T | undefined>(cap);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.count;
  }

  /** Appends at the back. */
  push(item: T): void {
    if (this.count === this.buf.length) this.grow();
    this.buf[(this.head + this.count) & this.mask] = item;
    this.count++;
  }

  /** Inserts at the front. */
  unshift(item: T): void {
    if (this.count === this.buf.length) this.grow();
    this.head = (this.head - 1) & this.mask;
    this.buf[this.head] = item;
    this.count++;
  }

  /** Removes and returns the front item. */
  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.buf[this.head];
    this.buf[this.head] = undefined; // let the GC have it
    this.head = (this.head + 1) & this.mask;
    this.count--;
    return item;
  }

  /** Removes and returns the back item. */
  pop(): T | undefined {
    if (this.count === 0) return undefined;
    this.count--;
    const i = (this.head + this.count) & this.mask;
    const item = this.buf[i];
    this.buf[i] = undefined;
    return item;
  }

  peekFront(): T | undefined {
    return this.count === 0 ? undefined : this.buf[this.head];
  }

  peekBack(): T | undefined {
    return this.count === 0 ? undefined : this.buf[(this.head + this.count - 1) & this.mask];
  }

  /** Keeps only the items for which `keep` is true, preserving order, in O(n). */
  filter(keep: (item: T) => boolean): void {
    const n = this.count;
    let w = 0;
    for (let r = 0; r < n; r++) {
      const item = this.buf[(this.head + r) & this.mask] as T;
      if (keep(item)) this.buf[(this.head + w++) & this.mask] = item;
    }
    for (let i = w; i < n; i++) this.buf[(this.head + i) & this.mask] = undefined;
    this.count = w;
  }

  /** Items front to back (a copy). */
  toArray(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.buf[(this.head + i) & this.mask] as T);
    return out;
  }

  clear(): void {
    this.buf.fill(undefined);
    this.head = 0;
    this.count = 0;
  }

  private grow(): void {
    const old = this.buf;
    const cap = old.length * 2;
    const next = new Array<T | undefined>(cap);
    for (let i = 0; i < this.count; i++) next[i] = old[(this.head + i) & this.mask];
    this.buf = next;
    this.head = 0;
    this.mask = cap - 1;
  }
}
