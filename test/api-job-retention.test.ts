/**
 * The in-memory job store's byte cap through the service (issue #21, item 2): large results piling up stay within
 * the cap (accounted bytes), the oldest finished jobs are forgotten (404), and the job view says how long a
 * result is kept.
 */
import { describe, expect, it } from 'vitest';
import { isTerminal } from '../src/jobs/job-store.js';
import type { InMemoryJobStore } from '../src/jobs/memory-job-store.js';
import { ALPHA, servicesClosedAfterEach, waitForJob } from './api-testkit.js';

const service = servicesClosedAfterEach();

describe('job retention (in memory)', () => {
  it('keeps accounted bytes within the cap while large results pile up; the view says how long results are kept', async () => {
    const maxBytes = 512 * 1024;
    const s = service({ service: { jobStoreMaxBytes: maxBytes } });
    const store = s.store as InMemoryJobStore;
    const ids: string[] = [];
    for (let i = 0; i < 16; i++) {
      const r = await s.app.inject({ method: 'POST', url: '/v1/jobs', payload: { prompt: `job ${i}` }, headers: { ...ALPHA, 'x-mock-output-tokens': '1000' } });
      expect(r.statusCode).toBe(202);
      const id = (r.json() as { id: string }).id;
      ids.push(id);
      await waitForJob(store, id, (j) => isTerminal(j.status));
      expect(store.bytes).toBeLessThanOrEqual(maxBytes);
    }
    expect(store.evicted).toBeGreaterThan(0);
    const oldest = await s.app.inject({ method: 'GET', url: `/v1/jobs/${ids[0]}`, headers: ALPHA });
    expect(oldest.statusCode).toBe(404);
    const newest = await s.app.inject({ method: 'GET', url: `/v1/jobs/${ids.at(-1)}`, headers: ALPHA });
    expect(newest.statusCode).toBe(200);
    expect(newest.json()).toMatchObject({ status: 'succeeded', tokens: 1000, retention: { policy: 'until-evicted', max_bytes: maxBytes } });
    expect(newest.json().retention.note).toContain('longest finished first');
  });
});
