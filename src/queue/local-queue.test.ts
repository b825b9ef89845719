/**
 * The embedded queue behind the JobQueue interface, on virtual time: JobService hands jobs to it, its counts
 * follow the engine (waiting for a slot, in flight) and the dead letters (a requeue takes one out).
 */
import { describe, expect, it } from 'vitest';
import type { JobSpec } from '../jobs/job-store.js';
import { JobService } from '../api/jobs.js';
import { InMemoryJobStore } from '../jobs/memory-job-store.js';
import { Engine } from '../engine/engine.js';
import { FakeModel } from '../engine/testing/fake-model.js';
import { resolvePolicy } from '../policy.js';
import { Random } from '../random.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { ServerError } from '../upstream/errors.js';

describe('LocalJobQueue', () => {
  it('is the default queue of JobService; counts waiting, active and dead letters', async () => {
    const clock = new VirtualClock();
    let broken = true;
    const model = new FakeModel(clock, (r) => (r.prompt === 'fail' && broken ? { error: new ServerError(500, 'boom'), ttftMs: 5 } : { tokens: 4, ttftMs: 50, itlMs: 10 }));
    const policy = resolvePolicy('bounded', { retry: { maxAttempts: 1 }, concurrency: { limit: 1 } });
    const engine = new Engine({ clock, random: new Random(1), policy, primary: model });
    const store = new InMemoryJobStore();
    const jobs = new JobService({ engine, store, clock, random: new Random(2) });
    expect(jobs.queue).toMatchObject({ kind: 'memory', name: 'embedded' });
    expect(jobs.queue.health()).toEqual({ ready: true });
    const spec = (prompt: string): JobSpec => ({ model: 'm', prompt, priority: 'interactive' });

    await clock.run(
      (async () => {
        const a = await jobs.submit('t', spec('ok'));
        // Another payload: the same one again would be the same job (its key defaults to the payload's hash).
        await jobs.submit('t', spec('ok, again'));
        expect(await jobs.queue.counts()).toEqual({ waiting: 1, active: 1, delayed: 0, stalled: 0, deadLetter: 0 });
        const f = await jobs.submit('t', spec('fail'));
        await jobs.onIdle();
        expect(await jobs.queue.counts()).toEqual({ waiting: 0, active: 0, delayed: 0, stalled: 0, deadLetter: 1 });
        expect(a.kind).toBe('created');
        if (f.kind !== 'created') throw new Error('expected a created job');
        broken = false;
        const rq = await jobs.requeue('t', f.job.id);
        expect(rq?.kind).toBe('requeued');
        await jobs.onIdle();
        expect((await store.get(f.job.id))?.status).toBe('succeeded');
        expect((await jobs.queue.counts()).deadLetter).toBe(0);
      })(),
    );
    await jobs.close();
  });
});
