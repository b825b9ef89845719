/**
 * The sweep worker thread: runs tasks one at a time as the pool sends them, posting progress and records back.
 * Loaded through worker-boot.mjs, which registers tsx in the thread first.
 */
import { parentPort } from 'node:worker_threads';
import { executeTask, type RunTask } from './task.js';
import type { FromWorker } from './pool.js';

const port = parentPort;
if (port === null) throw new Error('harness/tune/worker.ts: expected to run in a worker thread, got the main thread');

port.on('message', (task: RunTask) => {
  const post = (m: FromWorker): void => port.postMessage(m);
  executeTask(task, (simulatedMs) => post({ type: 'progress', key: task.key, simulatedMs })).then(
    (record) => post({ type: 'done', key: task.key, record }),
    (e: unknown) => post({ type: 'error', key: task.key, message: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
  );
});
port.postMessage({ type: 'ready' } satisfies FromWorker);
