/**
 * A virtual scenario's policies in parallel: each policy already runs in a fresh world of its own, so running them
 * on worker threads (one per core) gives the same PolicyRuns as running them one after another, in less wall time.
 */
import { HarnessError } from '../../src/errors.js';
import { stableStringify } from '../tune/space.js';
import { runInThreads } from './thread-pool.js';
import type { PolicyRun, VirtualRunOptions } from './virtual.js';

/** One policy's run, as sent to a thread: plain data (it crosses by structured clone). */
export interface PolicyTask extends Omit<VirtualRunOptions, 'onProgress' | 'onRequest' | 'onEngineEvent'> {
  readonly key: string;
}

/** A policy's run failed on its worker thread (a bug or a scenario that cannot run). */
export class PolicyRunFailedError extends HarnessError {
  constructor(readonly key: string, detail: string) {
    super('RUN_FAILED', `scenario: a policy's run failed on its worker thread (${key}): ${detail}`);
  }
}

// From source, the boot file registers tsx in the thread first; the compiled package runs policy-thread.js directly.
const WORKER_URL = import.meta.url.endsWith('.ts') ? new URL('./policy-thread-boot.mjs', import.meta.url) : new URL('./policy-thread.js', import.meta.url);

/**
 * Whether a scenario can run on worker threads: structured clone must keep it exactly (a function, such as a
 * custom workload hook in a scenario file, cannot cross; such a scenario runs in this thread).
 */
export function crossesThreads(value: unknown): boolean {
  try {
    return stableStringify(structuredClone(value)) === stableStringify(value);
  } catch {
    return false;
  }
}

/** Runs each task on a pool of `workers` threads; the runs come back in task order. */
export function runPoliciesInThreads(
  tasks: ReadonlyArray<Omit<PolicyTask, 'key'>>,
  o: { readonly workers: number; readonly signal?: AbortSignal; readonly onProgress?: (index: number, simulatedMs: number) => void },
): Promise<PolicyRun[]> {
  return runInThreads<PolicyTask, PolicyRun>(
    tasks.map((t, i) => ({ ...t, key: String(i) })),
    {
      workers: o.workers,
      workerUrl: WORKER_URL,
      ...(o.signal !== undefined ? { signal: o.signal } : {}),
      onProgress: (key, ms) => o.onProgress?.(Number(key), ms),
      failure: (key, message) => new PolicyRunFailedError(key, message),
    },
  );
}
