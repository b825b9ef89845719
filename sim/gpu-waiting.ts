/**
 * The GPU's waiting queue (sim/gpu.ts): FCFS, with preempted sequences going back to the front. Aborted sequences
 * are removed lazily (skipped when they reach the head), so `count` is kept apart from the array's length.
 */
import type { Seq } from './gpu-seq.js';

/** @internal FCFS queue of waiting sequences with O(1) push, pop and push-front. */
export class WaitingQueue {
  /** Slots before `head` are cleared as they are consumed, so a finished sequence is not kept alive by the queue. */
  private q: Array<Seq | undefined> = [];
  private head = 0;
  /** Waiting sequences in the queue (aborted ones not counted). */
  count = 0;

  push(seq: Seq): void {
    this.q.push(seq);
    this.count++;
  }

  /** A waiting sequence left the queue by being aborted; its slot is skipped when it reaches the head. */
  discount(): void {
    this.count--;
  }

  /** The first sequence still waiting, or undefined; skipped (aborted) slots before it are cleared. */
  peek(): Seq | undefined {
    while (this.head < this.q.length) {
      const seq = this.q[this.head] as Seq;
      if (seq.status === 'waiting') return seq;
      this.q[this.head++] = undefined;
    }
    return undefined;
  }

  /** Removes the sequence `peek` returned. */
  pop(): void {
    this.q[this.head++] = undefined;
    this.count--;
    if (this.head > 1024 && this.head * 2 > this.q.length) {
      this.q = this.q.slice(this.head);
      this.head = 0;
    }
  }

  /** Puts a (preempted) sequence back at the front. */
  unshift(seq: Seq): void {
    if (this.head > 0) this.q[--this.head] = seq;
    else this.q.unshift(seq);
    this.count++;
  }

  /** Empties the queue and returns what was in it, aborted slots included (a crash). */
  drain(): Seq[] {
    const rest = this.q.slice(this.head) as Seq[];
    this.q = [];
    this.head = 0;
    this.count = 0;
    return rest;
  }
}
