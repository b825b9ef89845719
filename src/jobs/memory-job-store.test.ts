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
