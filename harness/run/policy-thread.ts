/**
 * The worker thread of a parallel virtual scenario run: runs the policies it is sent, one at a time, each in a
 * fresh world (harness/run/virtual.ts), and posts each PolicyRun back. Loaded through policy-thread-boot.mjs from
 * source, which registers tsx in the thread first.
 */
import { parentPort } from 'node:worker_threads';
import type { FromThread } from './thread-pool.js';
import type { PolicyTask } from './policy-threads.js';
import { runPolicyVirtual, type PolicyRun } from './virtual.js';

const port = parentPort;
if (port === null) throw new Error('harness/run/policy-thread.ts: expected to run in a worker thread, got the main thread');

port.on('message', (task: PolicyTask) => {
  const post = (m: FromThread<PolicyRun>): void => port.postMessage(m);
  const { key, ...options } = task;
  runPolicyVirtual({ ...options, onProgress: (simulatedMs) => post({ type: 'progress', key, simulatedMs }) }).then(
    (record) => post({ type: 'done', key, record }),
    (e: unknown) => post({ type: 'error', key, message: e instanceof Error ? e.message : String(e) }),
  );
});
port.postMessage({ type: 'ready' } satisfies FromThread<PolicyRun>);
