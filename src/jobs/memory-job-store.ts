import { JobNotFoundError } from './errors.js';
import { isTerminal, newJobRecord, type JobPatch, type JobRecord, type JobRetention, type JobStore, type JobStoreEvent, type NewJob, type StoredChunk } from './job-store.js';

/** Default byte cap of {@link InMemoryJobStore}: 256 MiB of accounted job data. */
export const DEFAULT_JOB_STORE_MAX_BYTES = 256 * 1024 * 1024;

/** Options of {@link InMemoryJobStore}. */
export interface InMemoryJobStoreOptions {
  /**
   * Jobs kept. Past this, finished jobs are forgotten, the longest finished first (with their idempotency keys);
   * queued and running jobs are never evicted. @default 100_000
   */
  readonly maxJobs?: number;
  /**
   * Accounted bytes kept (see {@link InMemoryJobStore.bytes}). Past this, finished jobs are forgotten the same
   * way: first those not dead-lettered, then dead-lettered ones. @default 256 MiB
   */
  readonly maxBytes?: number;
}

/** Accounted bytes of a job besides its text: the record, its maps' entries. */
const JOB_OVERHEAD_BYTES = 1024;
/** Accounted bytes of one token-log chunk besides its text. */
const CHUNK_OVERHEAD_BYTES = 96;

interface Entry {
  job: JobRecord;
  chunks: StoredChunk[];
  parts: string[];
  /** Accounted bytes of this entry. */
  bytes: number;
}

/** Accounted bytes of a string: UTF-16, two bytes per code unit (what V8 may hold). */
function textBytes(s: string): number {
  return 2 * s.length;
}

function baseBytes(job: JobRecord): number {
  // The spec (prompt or messages) is kept for a requeue: count it once, as its JSON.
  return JOB_OVERHEAD_BYTES + textBytes(job.fingerprint);
}

/** The embedded JobStore: one process, no persistence. Operations apply synchronously, in call order. */
export class InMemoryJobStore implements JobStore {
  private readonly jobs = new Map<string, Entry>();
  /** `tenant \u0000 key` -> job id. */
  private readonly keys = new Map<string, string>();
  private readonly watchers = new Map<string, Set<(e: JobStoreEvent) => void>>();
  /** Finished jobs, in the order they finished (oldest first): the eviction order. */
  private readonly finished = new Set<string>();
  private readonly maxJobs: number;
  private readonly maxBytes: number;
  private totalBytes = 0;
  private evictedCount = 0;
  readonly retention: JobRetention;

  constructor(o: InMemoryJobStoreOptions = {}) {
    this.maxJobs = o.maxJobs ?? 100_000;
    this.maxBytes = o.maxBytes ?? DEFAULT_JOB_STORE_MAX_BYTES;
    if (!Number.isInteger(this.maxJobs) || this.maxJobs < 1) throw new RangeError(`maxJobs: expected an integer >= 1, got ${String(o.maxJobs)}`);
    if (!Number.isInteger(this.maxBytes) || this.maxBytes < 1024) throw new RangeError(`maxBytes: expected an integer >= 1024, got ${String(o.maxBytes)}`);
    this.retention = { kind: 'capped', maxBytes: this.maxBytes, maxJobs: this.maxJobs };
  }

  get size(): number {
    return this.jobs.size;
  }

  /**
   * Accounted bytes of every job kept: per job a fixed overhead, its spec, its output and token log (two bytes
   * per UTF-16 code unit, each chunk with an overhead). An estimate of the heap the store holds, not a measure.
   */
  get bytes(): number {
    return this.totalBytes;
  }

  /** Finished jobs forgotten so far to stay within the caps. */
  get evicted(): number {
    return this.evictedCount;
  }

  create(n: NewJob): Promise<{ job: JobRecord; created: boolean }> {
    if (n.idempotencyKey !== undefined) {
      const existing = this.keys.get(keyOf(n.tenant, n.idempotencyKey));
      const e = existing === undefined ? undefined : this.jobs.get(existing);
      if (e !== undefined) return Promise.resolve({ job: e.job, created: false });
    }
    if (this.jobs.has(n.id)) return Promise.reject(new RangeError(`job id: expected a new id, got ${JSON.stringify(n.id)} twice`));
    const job = newJobRecord(n);
    const bytes = baseBytes(job);
    this.jobs.set(n.id, { job, chunks: [], parts: [], bytes });
    this.totalBytes += bytes;
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
      this.totalBytes -= e.bytes - baseBytes(e.job);
      e.bytes = baseBytes(e.job);
    }
    const next: Record<string, unknown> = { ...e.job, ...fields };
    // `undefined` in a patch clears the field.
    for (const [k, v] of Object.entries(fields)) if (v === undefined) delete next[k];
    if (resetOutput === true) {
      next['output'] = '';
      next['tokens'] = 0;
    }
    e.job = next as unknown as JobRecord;
    // The eviction order is the order jobs finished in; a requeued job leaves it until it finishes again.
    this.finished.delete(id);
    if (isTerminal(e.job.status)) this.finished.add(id);
    const job = e.job;
    this.notify(id, { type: 'update', job });
    this.evict();
    return Promise.resolve(job);
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
    // The text is held twice at most (the chunk and the output): count it once per copy.
    const added = CHUNK_OVERHEAD_BYTES + 2 * textBytes(c.text);
    e.bytes += added;
    this.totalBytes += added;
    e.job = { ...e.job, tokens: c.index + c.count, output: e.job.output + c.text };
    this.notify(id, { type: 'tokens', chunk });
    this.evict();
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
    const e = this.jobs.get(job.id);
    if (e !== undefined) this.totalBytes -= e.bytes;
    this.jobs.delete(job.id);
    this.finished.delete(job.id);
    if (job.idempotencyKey !== undefined) {
      const k = keyOf(job.tenant, job.idempotencyKey);
      if (this.keys.get(k) === job.id) this.keys.delete(k);
    }
  }

  private over(): boolean {
    return this.jobs.size > this.maxJobs || this.totalBytes > this.maxBytes;
  }

  /**
   * Forgets finished jobs, the longest finished first, until within both caps. Dead-lettered jobs go last, and
   * only for the byte cap (the job-count cap never forgets them).
   */
  private evict(): void {
    if (!this.over()) return;
    for (const deadLetterToo of [false, true]) {
      if (deadLetterToo && this.totalBytes <= this.maxBytes) return;
      for (const id of this.finished) {
        if (!this.over() || (deadLetterToo && this.totalBytes <= this.maxBytes)) return;
        const e = this.jobs.get(id);
        if (e === undefined || (e.job.deadLetter && !deadLetterToo)) continue;
        this.forget(e.job);
        this.evictedCount++;
      }
    }
  }
}

function keyOf(tenant: string, key: string): string {
  return `${tenant}\u0000${key}`;
}
