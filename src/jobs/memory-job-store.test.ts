import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JobStoreEvent, NewJob } from './job-store.js';
import { InMemoryJobStore } from './memory-job-store.js';

const spec = { model: 'm', prompt: 'p', priority: 'interactive' } as const;
const job = (id: string, o: Partial<NewJob> = {}): NewJob => ({ id, tenant: 't', spec, fingerprint: 'f', createdAtMs: 1, ...o });

describe('InMemoryJobStore', () => {
  it('creates once per (tenant, idempotency key), atomically', async () => {
    const s = new InMemoryJobStore();
    const [a, b] = await Promise.all([s.create(job('a', { idempotencyKey: 'k' })), s.create(job('b', { idempotencyKey: 'k' }))]);
    expect([a.created, b.created]).toEqual([true, false]);
    expect(b.job.id).toBe('a');
    expect((await s.create(job('c', { idempotencyKey: 'k', tenant: 'other' }))).created).toBe(true);
    await expect(s.create(job('a'))).rejects.toThrow(/expected a new id/);
  });

  it('discard releases the idempotency key', async () => {
    const s = new InMemoryJobStore();
    await s.create(job('a', { idempotencyKey: 'k' }));
    await s.discard('a');
    expect(await s.get('a')).toBeUndefined();
    expect((await s.create(job('b', { idempotencyKey: 'k' }))).created).toBe(true);
  });

  it('update merges, clears fields set to undefined, and rejects unknown ids naming them', async () => {
    const s = new InMemoryJobStore();
    await s.create(job('a'));
    await s.update('a', { status: 'failed', error: { code: 'X', message: 'x' }, deadLetter: true });
    const j = await s.update('a', { status: 'queued', error: undefined, deadLetter: false });
    expect(j.status).toBe('queued');
    expect('error' in j).toBe(false);
    await expect(s.update('zz', { status: 'running' })).rejects.toThrow('job: expected an existing job id, got "zz"');
  });

  it('readTokens returns exactly the chunks after an index, for any chunking (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 0, maxLength: 30 }), fc.integer({ min: -1, max: 120 }), async (sizes, after) => {
        const s = new InMemoryJobStore();
        await s.create(job('a'));
        let index = 0;
        for (const count of sizes) {
          await s.appendTokens('a', { index, count, text: `<${index}+${count}>` });
          index += count;
        }
        const got = await s.readTokens('a', after);
        const want: string[] = [];
        let i = 0;
        for (const count of sizes) {
          if (i + count - 1 > after) want.push(`<${i}+${count}>`);
          i += count;
        }
        expect(got.map((c) => c.text)).toEqual(want);
        const j = await s.get('a');
        expect(j?.tokens).toBe(index);
        expect(j?.output).toBe(sizes.length === 0 ? '' : (await s.readTokens('a', -1)).map((c) => c.text).join(''));
      }),
      { numRuns: 200, seed: 3 },
    );
  });

  it('watch reports appends and updates in order; resetOutput starts a new log', async () => {
    const s = new InMemoryJobStore();
    await s.create(job('a'));
    const seen: JobStoreEvent[] = [];
    const off = s.watch('a', (e) => seen.push(e));
    await s.appendTokens('a', { index: 0, count: 2, text: 'ab' });
    await s.update('a', { status: 'failed', deadLetter: true });
    await s.update('a', { status: 'queued', cycle: 2, deadLetter: false, resetOutput: true });
    await s.appendTokens('a', { index: 0, count: 1, text: 'z' });
    off();
    await s.appendTokens('a', { index: 1, count: 1, text: 'y' });
    expect(seen.map((e) => (e.type === 'tokens' ? `t${e.chunk.cycle}:${e.chunk.text}` : `u:${e.job.status}`))).toEqual(['t1:ab', 'u:failed', 'u:queued', 't2:z']);
    expect(await s.readTokens('a', -1)).toEqual([
      { cycle: 2, index: 0, count: 1, text: 'z' },
      { cycle: 2, index: 1, count: 1, text: 'y' },
    ]);
    expect((await s.get('a'))?.output).toBe('zy');
  });

  it('evicts the oldest finished jobs past maxJobs, never live or dead-lettered ones', async () => {
    const s = new InMemoryJobStore({ maxJobs: 3 });
    await s.create(job('done1', { idempotencyKey: 'k1' }));
    await s.update('done1', { status: 'succeeded' });
    await s.create(job('dead'));
    await s.update('dead', { status: 'failed', deadLetter: true });
    await s.create(job('live'));
    await s.create(job('new'));
    expect(await s.get('done1')).toBeUndefined();
    expect((await s.create(job('again', { idempotencyKey: 'k1' }))).created).toBe(true);
    expect(await s.get('dead')).toBeDefined();
    expect(await s.get('live')).toBeDefined();
    expect(s.size).toBe(4); // only finished, non-dead-lettered jobs are evictable: none left
  });
});

describe('InMemoryJobStore byte cap', () => {
  const big = 'x'.repeat(512 * 1024);

  it('stays within its byte cap while large finished results pile up, forgetting the longest finished first', async () => {
    const maxBytes = 16 * 1024 * 1024;
    const s = new InMemoryJobStore({ maxBytes });
    for (let i = 0; i < 200; i++) {
      const id = `j${i}`;
      await s.create(job(id));
      await s.update(id, { status: 'running' });
      // Four 512 KiB chunks: about 4 MiB accounted per job (text counted as UTF-16, in the log and the output).
      for (let c = 0; c < 4; c++) await s.appendTokens(id, { index: c, count: 1, text: big });
      await s.update(id, { status: 'succeeded', finishedAtMs: i });
      expect(s.bytes).toBeLessThanOrEqual(maxBytes);
    }
    expect(s.evicted).toBeGreaterThan(150);
    // The newest results are there in full; the oldest are gone.
    expect((await s.get('j199'))?.output.length).toBe(4 * big.length);
    expect(await s.get('j0')).toBeUndefined();
    expect(s.bytes).toBeGreaterThan(0);
  });

  /** Text whose append takes the store just past `maxBytes` (by less than one empty job's bytes). */
  const justOver = (s: InMemoryJobStore, maxBytes: number): string => 'y'.repeat(Math.ceil((maxBytes - s.bytes - 96 + 400) / 4));

  it('never evicts queued or running jobs, and evicts by finish order, not creation order', async () => {
    const maxBytes = 4 * 1024 * 1024;
    const s = new InMemoryJobStore({ maxBytes });
    await s.create(job('early'));
    await s.create(job('late'));
    await s.update('late', { status: 'succeeded' });
    await s.update('early', { status: 'succeeded' });
    await s.create(job('running'));
    await s.update('running', { status: 'running' });
    // The running job's output pushes the store over its cap: a finished job goes, 'late' (finished first) first.
    await s.appendTokens('running', { index: 0, count: 1, text: justOver(s, maxBytes) });
    expect(s.bytes).toBeLessThanOrEqual(maxBytes);
    expect(await s.get('late')).toBeUndefined();
    expect(await s.get('early')).toBeDefined();
    await s.appendTokens('running', { index: 1, count: 1, text: 'y'.repeat(1000) });
    expect(await s.get('early')).toBeUndefined();
    // Alone and over the cap, the running job stays.
    expect((await s.get('running'))?.status).toBe('running');
    expect(s.evicted).toBe(2);
  });

  it('keeps dead-lettered jobs until no other finished job is left to evict', async () => {
    const maxBytes = 4 * 1024 * 1024;
    const s = new InMemoryJobStore({ maxBytes });
    await s.create(job('dead'));
    await s.update('dead', { status: 'failed', deadLetter: true });
    await s.create(job('done'));
    await s.update('done', { status: 'succeeded' });
    await s.create(job('r'));
    await s.appendTokens('r', { index: 0, count: 1, text: justOver(s, maxBytes) });
    expect(await s.get('done')).toBeUndefined();
    expect(await s.get('dead')).toBeDefined();
    await s.appendTokens('r', { index: 1, count: 1, text: 'z'.repeat(1000) });
    expect(await s.get('dead')).toBeUndefined();
  });

  it('says how long it keeps results', () => {
    expect(new InMemoryJobStore({ maxBytes: 2048 }).retention).toEqual({ kind: 'capped', maxBytes: 2048, maxJobs: 100_000 });
    expect(() => new InMemoryJobStore({ maxBytes: 10 })).toThrow('maxBytes: expected an integer >= 1024, got 10');
  });
});
