/**
 * Runs sweep tasks across worker threads (one task per worker at a time, so both cores are busy), or in this
 * thread with `workers: 0`. Each task is independent and deterministic, so the order they finish in never changes
 * a figure; results come back in task order.
 */
import { AbortError, HarnessError } from '../../src/errors.js';
import { runInThreads, type FromThread } from '../run/thread-pool.js';
import { executeTask, type RunTask, type TaskRecord } from './task.js';

/** Messages a sweep worker posts. */
export type FromWorker = FromThread<TaskRecord>;

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
  const seen = new Set<string>();
  for (const t of tasks) {
    if (seen.has(t.key)) throw new HarnessError('DUPLICATE_TASK', `tune: expected unique task keys, got ${t.key} twice`);
    seen.add(t.key);
  }
  if (tasks.length === 0) return [];
  return o.workers <= 0 ? runInProcess(tasks, o) : runInWorkers(tasks, o);
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

function runInWorkers(tasks: readonly RunTask[], o: PoolOptions): Promise<TaskRecord[]> {
  return runInThreads<RunTask, TaskRecord>(tasks, {
    workers: o.workers,
    workerUrl: WORKER_URL,
    ...(o.signal !== undefined ? { signal: o.signal } : {}),
    ...(o.onProgress !== undefined ? { onProgress: o.onProgress } : {}),
    onDone: (_key, record) => o.onDone?.(record),
    failure: (key, message) => new TaskFailedError(key, message),
  });
}
