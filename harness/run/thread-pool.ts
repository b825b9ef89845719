/**
 * Runs independent tasks across worker threads, one task per thread at a time, so both cores of a small machine
 * are busy. Each task is deterministic and runs in a fresh world, so the order they finish in never changes a
 * figure; results come back in task order. The sweep (harness/tune/pool.ts) and the scenario runner's policies
 * (harness/run/policy-threads.ts) use it, each with a worker module of its own that speaks {@link FromThread}.
 */
import { Worker } from 'node:worker_threads';
import { AbortError, abortReason } from '../../src/errors.js';

/** Messages a worker thread posts. */
export type FromThread<R> =
  | { readonly type: 'ready' }
  | { readonly type: 'progress'; readonly key: string; readonly simulatedMs: number }
  | { readonly type: 'done'; readonly key: string; readonly record: R }
  | { readonly type: 'error'; readonly key: string; readonly message: string };

/** Options of {@link runInThreads}. */
export interface ThreadPoolOptions<R> {
  /** Worker threads, at least 1 (at most one per task). */
  readonly workers: number;
  /** The worker module (from source, a `.mjs` boot file that registers tsx first). */
  readonly workerUrl: URL;
  /** Stops the run: workers are terminated and the promise rejects with an AbortError. */
  readonly signal?: AbortSignal;
  /** Simulated time of a running task, about once per simulated second. */
  readonly onProgress?: (key: string, simulatedMs: number) => void;
  /** Called once per finished task, in finishing order; awaited one at a time. */
  readonly onDone?: (key: string, record: R) => void | Promise<void>;
  /** The error a failed task (or a dead worker, key `(worker)`) rejects with. */
  readonly failure: (key: string, message: string) => Error;
}

/** Posts each task to a free worker thread and returns the records in task order. Keys must be unique. */
export function runInThreads<T extends { readonly key: string }, R>(tasks: readonly T[], o: ThreadPoolOptions<R>): Promise<R[]> {
  const index = new Map(tasks.map((t, i) => [t.key, i] as const));
  return new Promise<R[]>((resolve, reject) => {
    const results: Array<R | undefined> = new Array<R | undefined>(tasks.length);
    const workers: Worker[] = [];
    let next = 0;
    let finished = 0;
    let settled = false;
    let chain: Promise<void> = Promise.resolve();

    const stopAll = (): void => {
      o.signal?.removeEventListener('abort', onAbort);
      for (const w of workers) void w.terminate();
    };
    const fail = (e: unknown): void => {
      if (settled) return;
      settled = true;
      stopAll();
      reject(e);
    };
    const onAbort = (): void => fail(new AbortError(o.signal === undefined ? undefined : abortReason(o.signal)));
    if (tasks.length === 0) return resolve([]);
    if (o.signal?.aborted) return onAbort();
    o.signal?.addEventListener('abort', onAbort, { once: true });

    const feed = (w: Worker): void => {
      if (settled) return;
      const t = tasks[next];
      if (t === undefined) return;
      next++;
      w.postMessage(t);
    };

    const count = Math.max(1, Math.min(o.workers, tasks.length));
    for (let i = 0; i < count; i++) {
      const w = new Worker(o.workerUrl);
      workers.push(w);
      w.on('message', (m: FromThread<R>) => {
        if (settled) return;
        switch (m.type) {
          case 'ready':
            return feed(w);
          case 'progress':
            return o.onProgress?.(m.key, m.simulatedMs);
          case 'error':
            return fail(o.failure(m.key, m.message));
          case 'done': {
            const i = index.get(m.key);
            if (i === undefined) return fail(o.failure(m.key, 'a worker returned a task that was never sent'));
            results[i] = m.record;
            feed(w);
            chain = chain.then(() => o.onDone?.(m.key, m.record));
            if (++finished === tasks.length) {
              chain.then(() => {
                if (settled) return;
                settled = true;
                stopAll();
                resolve(results as R[]);
              }, fail);
            } else chain.catch(fail);
            return;
          }
        }
      });
      w.on('error', (e) => fail(o.failure('(worker)', e instanceof Error ? e.message : String(e))));
      w.on('exit', (code) => {
        if (!settled) fail(o.failure('(worker)', `a worker thread exited with code ${code} before the run finished`));
      });
    }
  });
}
