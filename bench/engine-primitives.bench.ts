/**
 * Engine primitives against their well-known peers, same work, same concurrency, interleaved in one run:
 * - Semaphore.execute (and explicit acquire/release) vs p-limit: N tasks through a limit of 16; tasks resolve at
 *   once (a microtask).
 * - BoundedQueue + Semaphore dispatch loop (what the engine does) vs p-queue with concurrency 16.
 * Every candidate returns one promise per task that resolves with the task's own value, and the run waits for
 * all of them. Ratio = ours / peer (> 1: ours is faster).
 */
import pLimit from 'p-limit';
import PQueue from 'p-queue';
import { BoundedQueue } from '../src/engine/queue.js';
import { Semaphore } from '../src/engine/semaphore.js';
import { RealClock } from '../src/time/real-clock.js';
import { compare, type Comparison } from './lib.js';

const CONCURRENCY = 16;
const TASKS_PER_BATCH = 10_000;

/** The unit of work: an async function that resolves at once with a value derived from its input. */
const task = (i: number) => async (): Promise<number> => i * 2;

/** Submits `ops` tasks in batches of TASKS_PER_BATCH (so memory stays flat) and awaits every result. */
async function submitAll(ops: number, submit: (fn: () => Promise<number>) => Promise<number>): Promise<void> {
  for (let done = 0; done < ops; done += TASKS_PER_BATCH) {
    const n = Math.min(TASKS_PER_BATCH, ops - done);
    const ps = new Array<Promise<number>>(n);
    for (let i = 0; i < n; i++) ps[i] = submit(task(i));
    const results = await Promise.all(ps);
    if (results[n - 1] !== (n - 1) * 2) throw new Error('bench: wrong result');
  }
}

/** The engine's dispatch shape: admission into the bounded queue, then a pump that runs while permits are free. */
class QueueDispatcher {
  private readonly queue: BoundedQueue<Job>;
  private readonly sem = new Semaphore({ limit: CONCURRENCY });

  constructor(clock: RealClock) {
    this.queue = new BoundedQueue<Job>(clock, { capacity: Number.POSITIVE_INFINITY });
  }

  add(fn: () => Promise<number>): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      if (!this.queue.offer({ fn, resolve, reject }, { priority: 'interactive' })) reject(new Error('queue full'));
      else this.pump();
    });
  }

  private pump(): void {
    while (this.queue.size > 0) {
      const permit = this.sem.tryAcquire();
      if (permit === undefined) return;
      const next = this.queue.poll();
      if (next === undefined) {
        permit.release();
        return;
      }
      const job = next.item;
      job.fn().then(
        (v) => {
          permit.release();
          job.resolve(v);
          this.pump();
        },
        (e: unknown) => {
          permit.release();
          job.reject(e);
          this.pump();
        },
      );
    }
  }
}

interface Job {
  fn: () => Promise<number>;
  resolve: (v: number) => void;
  reject: (e: unknown) => void;
}

export async function run(): Promise<{ results: Comparison[] }> {
  const clock = new RealClock();
  const opsPerRun = 200_000;
  const runs = 9;
  const semaphore = await compare(
    `Semaphore.execute vs p-limit (limit ${CONCURRENCY}, immediate tasks)`,
    {
      ours: async (ops) => {
        const sem = new Semaphore({ limit: CONCURRENCY });
        await submitAll(ops, (fn) => sem.execute(fn));
      },
      'p-limit': async (ops) => {
        const limit = pLimit(CONCURRENCY);
        await submitAll(ops, (fn) => limit(fn));
      },
    },
    { runs, opsPerRun },
  );
  // The path the engine takes when it must hold a slot across steps: an explicit permit, released by hand.
  const permits = await compare(
    `Semaphore.acquire/release vs p-limit (limit ${CONCURRENCY}, immediate tasks)`,
    {
      ours: async (ops) => {
        const sem = new Semaphore({ limit: CONCURRENCY });
        await submitAll(ops, async (fn) => {
          const permit = await sem.acquire();
          try {
            return await fn();
          } finally {
            permit.release();
          }
        });
      },
      'p-limit': async (ops) => {
        const limit = pLimit(CONCURRENCY);
        await submitAll(ops, (fn) => limit(fn));
      },
    },
    { runs, opsPerRun },
  );
  const queue = await compare(
    `BoundedQueue + Semaphore dispatch vs p-queue (concurrency ${CONCURRENCY}, immediate tasks)`,
    {
      ours: async (ops) => {
        const d = new QueueDispatcher(clock);
        await submitAll(ops, (fn) => d.add(fn));
      },
      'p-queue': async (ops) => {
        const q = new PQueue({ concurrency: CONCURRENCY });
        await submitAll(ops, (fn) => q.add(fn));
      },
    },
    { runs, opsPerRun },
  );
  return { results: [semaphore, permits, queue] };
}
