/**
 * The job queue's gauges on the OpenTelemetry meter (so they appear on `/metrics` next to the engine's), per
 * queue: depth (waiting), active, delayed (retry backoff), stalled recoveries, dead letters, and whether the
 * queue is reachable. For the Redis queue the counts are the whole deployment's, whichever API process is
 * scraped.
 */
import type { BatchObservableCallback, Meter } from '@opentelemetry/api';
import type { JobQueue } from './job-queue.js';

/** Registers the gauges; returns the function that removes them. */
export function observeQueue(meter: Meter, queue: JobQueue): () => void {
  const depth = meter.createObservableGauge('job_queue_depth', { description: 'Jobs waiting to be taken, per queue' });
  const active = meter.createObservableGauge('job_queue_active', { description: 'Jobs being run, per queue' });
  const delayed = meter.createObservableGauge('job_queue_delayed', { description: 'Jobs waiting out a retry backoff, per queue' });
  const stalled = meter.createObservableGauge('job_queue_stalled', { description: 'Jobs recovered after their lease expired (worker died or stalled), since the queue was created' });
  const dead = meter.createObservableGauge('job_queue_dead_letter', { description: 'Jobs failed for good and waiting for a requeue, per queue' });
  const up = meter.createObservableGauge('job_queue_up', { description: '1 when the queue is reachable and takes new work, else 0' });
  const gauges = [depth, active, delayed, stalled, dead, up];
  const attrs = { queue: queue.name, kind: queue.kind };
  const callback: BatchObservableCallback = async (r) => {
    r.observe(up, queue.health().ready ? 1 : 0, attrs);
    try {
      const c = await queue.counts();
      r.observe(depth, c.waiting, attrs);
      r.observe(active, c.active, attrs);
      r.observe(delayed, c.delayed, attrs);
      r.observe(stalled, c.stalled, attrs);
      r.observe(dead, c.deadLetter, attrs);
    } catch {
      // Unreachable: only `job_queue_up` (0) is reported, no stale counts.
    }
  };
  meter.addBatchObservableCallback(callback, gauges);
  return () => meter.removeBatchObservableCallback(callback, gauges);
}
