import { JobNotFoundError } from './errors.js';
import { isTerminal, newJobRecord, type JobPatch, type JobRecord, type JobStore, type JobStoreEvent, type NewJob, type StoredChunk } from './job-store.js';

/** Options of {@link InMemoryJobStore}. */
export interface InMemoryJobStoreOptions {
  /**
   * Jobs kept. Past this, the oldest finished jobs that are not dead-lettered are forgotten (with their
   * idempotency keys); running, queued and dead-lettered jobs are never evicted. @default 100_000
   */
  readonly maxJobs?: number;
}

interface Entry {
  job: JobRecord;
  chunks: StoredChunk[];
  parts: string[];
}

/** The embedded JobStore: one process, no persistence. Operations apply synchronously, in call order. */
export class InMemoryJobStore implements JobStore {
  private readonly jobs = new Map<string, Entry>();
  /** `tenant \u0000 key` -> job id. */
  private readonly keys = new Map<string, string>();
  private readonly watchers = new Map<string, Set<(e: JobStoreEvent) => void>>();
  private readonly maxJobs: number;

  constructor(o: InMemoryJobStoreOptions = {}) {
    this.maxJobs = o.maxJobs ?? 100_000;
    if (!Number.isInteger(this.maxJobs) || this.maxJobs < 1) throw new RangeError(`maxJobs: expected an integer >= 1, got ${String(o.maxJobs)}`);
  }

  get size(): number {
    return this.jobs.size;
  }

  create(n: NewJob): Promise<{ job: JobRecord; created: boolean }> {
    if (n.idempotencyKey !== undefined) {
      const existing = this.keys.get(keyOf(n.tenant, n.idempotencyKey));
      const e = existing === undefined ? undefined : this.jobs.get(existing);
      if (e !== undefined) return Promise.resolve({ job: e.job, created: false });
    }
    if (this.jobs.has(n.id)) return Promise.reject(new RangeError(`job id: expected a new id, got ${JSON.stringify(n.id)} twice`));
    const job = newJobRecord(n);
    this.jobs.set(n.id, { job, chunks: [], parts: [] });
    if (n.idempotencyKey !== undefined) this.keys.set(keyOf(n.tenant, n.idempotencyKey), n.id);
    this.evict();
    return Promise.resolve({ job, created: true });
  }

  get(id: string): Promise<JobRecord | undefined> {
    return Promise.resolve(this.jobs.get(id)?.job);
  }

  update(id: string, patch: JobPatch): Promise<JobRecord> {
    const e = this.jobs.get(id);
    if (e === undefined) return Promise.reject(new JobNotFoundError(id));
    const { resetOutput, ...fields } = patch;
    if (resetOutput === true) {
      e.chunks = [];
      e.parts = [];
    }
    const next: Record<string, unknown> = { ...e.job, ...fields };
    // `undefined` in a patch clears the field.
    for (const [k, v] of Object.entries(fields)) if (v === undefined) delete next[k];
    if (resetOutput === true) {
      next['output'] = '';
      next['tokens'] = 0;
    }
    e.job = next as unknown as JobRecord;
    this.notify(id, { type: 'update', job: e.job });
    return Promise.resolve(e.job);
  }

  discard(id: string): Promise<void> {
    const e = this.jobs.get(id);
    if (e !== undefined) this.forget(e.job);
    return Promise.resolve();
  }

  listDeadLetter(tenant: string, o: { limit?: number } = {}): Promise<JobRecord[]> {
    const limit = o.limit ?? Number.POSITIVE_INFINITY;
    const out: JobRecord[] = [];
    for (const { job } of this.jobs.values()) {
      if (out.length >= limit) break;
      if (job.tenant === tenant && job.deadLetter) out.push(job);
    }
    return Promise.resolve(out);
  }

  appendTokens(id: string, c: { index: number; count: number; text: string }): Promise<void> {
    const e = this.jobs.get(id);
    if (e === undefined) return Promise.reject(new JobNotFoundError(id));
    const chunk: StoredChunk = { cycle: e.job.cycle, index: c.index, count: c.count, text: c.text };
    e.chunks.push(chunk);
    e.parts.push(c.text);
    e.job = { ...e.job, tokens: c.index + c.count, output: e.job.output + c.text };
    this.notify(id, { type: 'tokens', chunk });
    return Promise.resolve();
  }

  readTokens(id: string, afterIndex: number): Promise<StoredChunk[]> {
    const e = this.jobs.get(id);
    if (e === undefined) return Promise.resolve([]);
    // Chunks are in index order: binary search for the first whose last token is after `afterIndex`.
    let lo = 0;
    let hi = e.chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = e.chunks[mid] as StoredChunk;
      if (c.index + c.count - 1 > afterIndex) hi = mid;
      else lo = mid + 1;
    }
    return Promise.resolve(e.chunks.slice(lo));
  }

  watch(id: string, listener: (e: JobStoreEvent) => void): () => void {
    let set = this.watchers.get(id);
    if (set === undefined) this.watchers.set(id, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.watchers.get(id) === set) this.watchers.delete(id);
    };
  }

  private notify(id: string, e: JobStoreEvent): void {
    const set = this.watchers.get(id);
    if (set === undefined) return;
    for (const l of [...set]) l(e);
  }

  private forget(job: JobRecord): void {
    this.jobs.delete(job.id);
    if (job.idempotencyKey !== undefined) {
      const k = keyOf(job.tenant, job.idempotencyKey);
      if (this.keys.get(k) === job.id) this.keys.delete(k);
    }
  }

  private evict(): void {
    if (this.jobs.size <= this.maxJobs) return;
    for (const { job } of this.jobs.values()) {
      if (this.jobs.size <= this.maxJobs) return;
      if (isTerminal(job.status) && !job.deadLetter) this.forget(job);
    }
  }
}

function keyOf(tenant: string, key: string): string {
  return `${tenant}\u0000${key}`;
}
