/**
 * Runs sweep tasks across worker threads (one task per worker at a time, so both cores are busy), or in this
 * thread with `workers: 0`. Each task is independent and deterministic, so the order they finish in never changes
 * a figure; results come back in task order.
 */
import { Worker } from 'node:worker_threads';
import { AbortError, HarnessError, abortReason } from '../../src/errors.js';
import { executeTask, type RunTask, type TaskRecord } from './task.js';

/** Messages a worker posts. */
export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'progress'; readonly key: string; readonly simulatedMs: number }
  | { readonly type: 'done'; readonly record: TaskRecord }
  | { readonly type: 'error'; readonly key: string; readonly message: string };

/** A run failed inside the sweep (a bug or a scenario that cannot run); the CLI exits 1. */
export class TaskFailedError extends HarnessError {
  constructor(readonly key: string, detail: string) {
    super('RUN_FAILED', `tune: the run ${key} failed: ${detail}`);
  }
}

/** Options of {@link runTasks}. */
export interface PoolOptions {
  /** Worker threads; 0 runs the tasks in this thread, one after another. */
  readonly workers: number;
  /** Stops the sweep: workers are terminated and the promise rejects with an AbortError. */
  readonly signal?: AbortSignal;
  /** Simulated time of a running task, about once per simulated second. */
  readonly onProgress?: (key: string, simulatedMs: number) => void;
  /** Called once per finished task, in finishing order; awaited one at a time (used to append to the resume log). */
  readonly onDone?: (record: TaskRecord) => void | Promise<void>;
}

// From source, worker-boot.mjs registers tsx in the thread first; the compiled package runs worker.js directly.
const WORKER_URL = import.meta.url.endsWith('.ts') ? new URL('./worker-boot.mjs', import.meta.url) : new URL('./worker.js', import.meta.url);

/** Runs every task and returns their records in task order. Keys must be unique. */
export async function runTasks(tasks: readonly RunTask[], o: PoolOptions): Promise<TaskRecord[]> {
  const index = new Map<string, number>();
  tasks.forEach((t, i) => {
    if (index.has(t.key)) throw new HarnessError('DUPLICATE_TASK', `tune: expected unique task keys, got ${t.key} twice`);
    index.set(t.key, i);
  });
  if (tasks.length === 0) return [];
  return o.workers <= 0 ? runInProcess(tasks, o) : runInWorkers(tasks, index, o);
}

async function runInProcess(tasks: readonly RunTask[], o: PoolOptions): Promise<TaskRecord[]> {
  const out: TaskRecord[] = [];
  for (const t of tasks) {
    if (o.signal?.aborted) throw new AbortError(o.signal.reason);
    const r = await executeTask(t, (ms) => o.onProgress?.(t.key, ms)).catch((e: unknown) => {
      throw new TaskFailedError(t.key, e instanceof Error ? e.message : String(e));
    });
    await o.onDone?.(r);
    out.push(r);
  }
  return out;
}

function runInWorkers(tasks: readonly RunTask[], index: ReadonlyMap<string, number>, o: PoolOptions): Promise<TaskRecord[]> {
  return new Promise<TaskRecord[]>((resolve, reject) => {
    const results: Array<TaskRecord | undefined> = new Array<TaskRecord | undefined>(tasks.length);
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
    if (o.signal?.aborted) return onAbort();
    o.signal?.addEventListener('abort', onAbort, { once: true });

    const feed = (w: Worker): void => {
      if (settled) return;
      const t = tasks[next];
      if (t === undefined) return;
      next++;
      w.postMessage(t);
    };

    const count = Math.min(o.workers, tasks.length);
    for (let i = 0; i < count; i++) {
      const w = new Worker(WORKER_URL);
      workers.push(w);
      w.on('message', (m: FromWorker) => {
        if (settled) return;
        switch (m.type) {
          case 'ready':
            return feed(w);
          case 'progress':
            return o.onProgress?.(m.key, m.simulatedMs);
          case 'error':
            return fail(new TaskFailedError(m.key, m.message));
          case 'done': {
            const i = index.get(m.record.key);
            if (i === undefined) return fail(new TaskFailedError(m.record.key, 'a worker returned a task that was never sent'));
            results[i] = m.record;
            feed(w);
            chain = chain.then(() => o.onDone?.(m.record));
            if (++finished === tasks.length) {
              chain.then(() => {
                if (settled) return;
                settled = true;
                stopAll();
                resolve(results as TaskRecord[]);
              }, fail);
            } else chain.catch(fail);
            return;
          }
        }
      });
      w.on('error', (e) => fail(new TaskFailedError('(worker)', e instanceof Error ? e.message : String(e))));
      w.on('exit', (code) => {
        if (!settled) fail(new TaskFailedError('(worker)', `a worker thread exited with code ${code} before the sweep finished`));
      });
    }
  });
}
