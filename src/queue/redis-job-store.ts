/**
 * The JobStore on Redis: job records, token logs (the checkpoints) and idempotency keys shared by every API
 * and worker process. Writes are Lua scripts (see redis-scripts.ts) that also PUBLISH the change, so `watch`
 * (the SSE stream) works from any process. Finished results expire after `resultTtlMs`; dead-lettered jobs
 * stay until requeued.
 */
import type { Redis } from 'ioredis';
import { JobNotFoundError } from '../jobs/errors.js';
import { newJobRecord, type JobPatch, type JobRecord, type JobRetention, type JobStore, type JobStoreEvent, type NewJob, type StoredChunk } from '../jobs/job-store.js';
import { HarnessError } from '../errors.js';
import { LeaseLostError, QueueUnavailableError } from './errors.js';
import { APPEND_LUA, CREATE_LUA, DISCARD_LUA, UPDATE_LUA } from './redis-scripts.js';

/** Options of {@link RedisJobStore}. */
export interface RedisJobStoreOptions {
  /** Commands (fail-fast for the API, patient for workers). The caller keeps it. */
  readonly redis: Redis;
  /** Key prefix shared by every process of one deployment. @default 'engine:' */
  readonly prefix?: string;
  /** How long a finished (not dead-lettered) job, its token log and its idempotency key are kept. @default 86_400_000 (24 h) */
  readonly resultTtlMs?: number;
}

/** Only apply a write if the job is still in this cycle and/or not terminal (a worker's fence). */
export interface WriteGuard {
  readonly cycle?: number;
  /** Only while the job is not terminal. */
  readonly open?: boolean;
}

/** What a fenced checkpoint commit did. */
export type AppendOutcome = 'committed' | 'duplicate';

type Scripts = {
  jobCreate(k1: string, k2: string, k3: string, ...argv: string[]): Promise<[number, string[]?, string?]>;
  jobUpdate(k1: string, k2: string, k3: string, ...argv: string[]): Promise<[number, string[]?, string?]>;
  jobAppend(k1: string, k2: string, k3: string, ...argv: string[]): Promise<number>;
  jobDiscard(k1: string, k2: string, k3: string, ...argv: string[]): Promise<number>;
};

type Listener = (e: JobStoreEvent) => void;

/** Decodes a stored hash (flat [field, value, ...]) and the output into a record. */
export function decodeJob(flat: readonly string[], output: string): JobRecord {
  const o: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const k = flat[i] as string;
    const v = flat[i + 1] as string;
    if (k.startsWith('_')) continue;
    o[k] = k === 'tokens' ? Number(v) : JSON.parse(v);
  }
  o['output'] = output;
  return o as unknown as JobRecord;
}

/** An error answer of Redis itself (a script's error_reply, a wrong type...), as opposed to a lost connection. */
function isReplyError(e: unknown): e is Error {
  return e instanceof Error && e.name === 'ReplyError';
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A JobStore shared through Redis. */
export class RedisJobStore implements JobStore {
  readonly prefix: string;
  private readonly redis: Redis;
  private readonly scripts: Scripts;
  private readonly ttlMs: number;
  readonly retention: JobRetention;
  private subscriber: Redis | undefined;
  private readonly watchers = new Map<string, Set<Listener>>();
  /** Subscriptions not yet confirmed: reads of that job wait for them, so no event falls between. */
  private readonly subscribing = new Map<string, Promise<unknown>>();
  /** Last token index forwarded per watched job, to resend only what a reconnect may have lost. */
  private readonly forwarded = new Map<string, number>();
  private closed = false;

  constructor(o: RedisJobStoreOptions) {
    this.redis = o.redis;
    this.prefix = o.prefix ?? 'engine:';
    this.ttlMs = o.resultTtlMs ?? 86_400_000;
    if (!(Number.isInteger(this.ttlMs) && this.ttlMs >= 1000)) throw new RangeError(`resultTtlMs: expected an integer >= 1000, got ${String(o.resultTtlMs)}`);
    this.retention = { kind: 'ttl', ttlMs: this.ttlMs };
    if (!/^[A-Za-z0-9_.:{}-]{1,64}$/.test(this.prefix)) throw new RangeError(`prefix: expected 1 to 64 of [A-Za-z0-9_.:{}-], got ${JSON.stringify(this.prefix)}`);
    const define = (name: string, keys: number, lua: string): void => {
      if (!(name in this.redis)) this.redis.defineCommand(name, { numberOfKeys: keys, lua });
    };
    define('jobCreate', 3, CREATE_LUA);
    define('jobUpdate', 3, UPDATE_LUA);
    define('jobAppend', 3, APPEND_LUA);
    define('jobDiscard', 3, DISCARD_LUA);
    this.scripts = this.redis as unknown as Scripts;
  }

  /** Opens the subscriber connection (for `watch`) now rather than on the first watch; resolves once it is up. */
  async connect(): Promise<void> {
    const s = this.sub();
    if (s.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      const onReady = (): void => {
        s.off('end', onEnd);
        resolve();
      };
      const onEnd = (): void => {
        s.off('ready', onReady);
        reject(new QueueUnavailableError('the subscriber connection closed'));
      };
      s.once('ready', onReady);
      s.once('end', onEnd);
    });
  }

  /** The connection is up (the API's readiness). */
  get connected(): boolean {
    return this.redis.status === 'ready' && (this.subscriber === undefined || this.subscriber.status === 'ready');
  }

  private jobKey(id: string): string {
    return `${this.prefix}job:${id}`;
  }

  private keys(id: string): [string, string, string] {
    const k = this.jobKey(id);
    return [k, `${k}:log`, `${k}:out`];
  }

  private idemKey(tenant: string, key: string): string {
    return `${this.prefix}idem:${encodeURIComponent(tenant)}:${key}`;
  }

  /** Turns connection failures into a 503 (nothing was accepted); keeps our own errors. */
  private async guard<T>(what: string, p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (e) {
      if (e instanceof HarnessError || e instanceof RangeError) throw e;
      if (isReplyError(e) && !/^(LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|BUSY)/.test(e.message)) throw e;
      throw new QueueUnavailableError(`${what} failed: ${errorText(e)}`, 1000, { cause: e });
    }
  }

  async create(n: NewJob): Promise<{ job: JobRecord; created: boolean }> {
    const job = newJobRecord(n);
    const fields: string[] = [];
    for (const [k, v] of Object.entries(job)) {
      if (k === 'output' || v === undefined) continue;
      fields.push(k, k === 'tokens' ? String(v) : JSON.stringify(v));
    }
    const idem = n.idempotencyKey === undefined ? undefined : this.idemKey(n.tenant, n.idempotencyKey);
    fields.push('_tenant', n.tenant);
    if (idem !== undefined) fields.push('_idem', idem);
    const key = this.jobKey(n.id);
    let r: [number, string[]?, string?];
    try {
      r = await this.guard('create', this.scripts.jobCreate(key, idem ?? key, this.outboxKey, n.id, `${this.prefix}job:`, idem === undefined ? '0' : '1', ...fields));
    } catch (e) {
      if (isReplyError(e) && e.message.startsWith('DUPLICATE_ID')) throw new RangeError(`job id: expected a new id, got ${JSON.stringify(n.id)} twice`);
      throw e;
    }
    if (r[0] === 1) return { job, created: true };
    return { job: decodeJob(r[1] ?? [], r[2] ?? ''), created: false };
  }

  async get(id: string): Promise<JobRecord | undefined> {
    await this.subscribing.get(id);
    const [k, , out] = this.keys(id);
    const res = await this.guard('get', this.redis.multi().hgetall(k).get(out).exec());
    const hash = res?.[0]?.[1] as Record<string, string> | undefined;
    if (hash === undefined || Object.keys(hash).length === 0) return undefined;
    return decodeJob(Object.entries(hash).flat(), (res?.[1]?.[1] as string | null) ?? '');
  }

  update(id: string, patch: JobPatch): Promise<JobRecord> {
    return this.updateIf(id, {}, patch).then((j) => {
      if (j === undefined) throw new JobNotFoundError(id);
      return j;
    });
  }

  /**
   * Applies a patch only if the guard holds; undefined when it does not (or no such job, without a guard).
   * Workers write through this, so a delivery that lost its lease cannot overwrite a newer cycle or a
   * terminal state.
   */
  async updateIf(id: string, g: WriteGuard, patch: JobPatch): Promise<JobRecord | undefined> {
    const { resetOutput, ...fields } = patch;
    const set: string[] = [];
    const del: string[] = [];
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) del.push(k);
      else set.push(k, JSON.stringify(v));
    }
    const [k1, k2, k3] = this.keys(id);
    const r = await this.guard(
      'update',
      this.scripts.jobUpdate(k1, k2, k3, id, this.prefix, g.cycle === undefined ? '' : JSON.stringify(g.cycle), g.open === true ? '1' : '0', resetOutput === true ? '1' : '0', String(this.ttlMs), String(set.length / 2), ...set, ...del),
    );
    if (r[0] !== 1) return undefined;
    return decodeJob(r[1] ?? [], r[2] ?? '');
  }

  async discard(id: string): Promise<void> {
    const [k1, k2, k3] = this.keys(id);
    await this.guard('discard', this.scripts.jobDiscard(k1, k2, k3, id, this.prefix));
    await this.outboxDone(id).catch(() => undefined);
  }

  /** The sorted set of created jobs not yet known to be in the queue (see CREATE_LUA). */
  get outboxKey(): string {
    return `${this.prefix}outbox`;
  }

  /** The job is in the queue (or gone): out of the outbox. */
  async outboxDone(id: string): Promise<void> {
    await this.guard('outbox', this.redis.zrem(this.outboxKey, id));
  }

  /** Ids that entered the outbox at least `olderThanMs` ago (by Redis's clock), oldest first. */
  async outboxOlderThan(olderThanMs: number, limit = 1000): Promise<string[]> {
    const [sec, usec] = await this.guard('outbox', this.redis.time());
    const nowMs = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
    return this.guard('outbox', this.redis.zrangebyscore(this.outboxKey, '-inf', nowMs - olderThanMs, 'LIMIT', 0, limit));
  }

  async listDeadLetter(tenant: string, o: { limit?: number } = {}): Promise<JobRecord[]> {
    const limit = o.limit ?? 10_000;
    if (limit <= 0) return [];
    const ids = await this.guard('list', this.redis.zrange(`${this.prefix}dead:${tenant}`, 0, limit - 1));
    const jobs = await Promise.all(ids.map((id) => this.get(id)));
    return jobs.filter((j): j is JobRecord => j !== undefined && j.deadLetter);
  }

  appendTokens(id: string, c: { index: number; count: number; text: string }): Promise<void> {
    return this.commit(id, undefined, c).then(() => undefined);
  }

  /**
   * The checkpoint commit: appends a chunk only at the committed end of the cycle `cycle` (fenced). A chunk
   * already committed is a `duplicate` (nothing written); anything else that cannot be appended is a
   * LeaseLostError (the job was taken over, requeued or finished) or a JobNotFoundError.
   */
  async commit(id: string, cycle: number | undefined, c: { index: number; count: number; text: string }): Promise<AppendOutcome> {
    const [k1, k2, k3] = this.keys(id);
    const r = await this.guard('append', this.scripts.jobAppend(k1, k2, k3, id, this.prefix, String(c.index), String(c.count), c.text, JSON.stringify(c.text), cycle === undefined ? '' : String(cycle)));
    switch (r) {
      case 1:
        return 'committed';
      case 0:
        return 'duplicate';
      case -2:
        throw new JobNotFoundError(id);
      case -1:
        throw new LeaseLostError(id, `a chunk at token ${c.index} past the committed end (another delivery wrote less)`);
      case -3:
        throw new LeaseLostError(id, `a write to cycle ${String(cycle)} after a requeue started another`);
      case -4:
        throw new LeaseLostError(id, 'a write after the job became terminal');
      default:
        throw new LeaseLostError(id, `a chunk at token ${c.index} straddling the committed end`);
    }
  }

  async readTokens(id: string, afterIndex: number): Promise<StoredChunk[]> {
    await this.subscribing.get(id);
    const raw = await this.guard('read', this.redis.lrange(`${this.jobKey(id)}:log`, 0, -1));
    const out: StoredChunk[] = [];
    for (const s of raw) {
      const c = JSON.parse(s) as StoredChunk;
      if (c.index + c.count - 1 > afterIndex) out.push(c);
    }
    return out;
  }

  watch(id: string, listener: Listener): () => void {
    let set = this.watchers.get(id);
    if (set === undefined) {
      this.watchers.set(id, (set = new Set()));
      const channel = `${this.prefix}ev:${id}`;
      const p = this.sub()
        .subscribe(channel)
        .catch(() => undefined)
        .finally(() => {
          if (this.subscribing.get(id) === p) this.subscribing.delete(id);
        });
      this.subscribing.set(id, p);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.watchers.get(id) === set) {
        this.watchers.delete(id);
        this.forwarded.delete(id);
        void this.subscriber?.unsubscribe(`${this.prefix}ev:${id}`).catch(() => undefined);
      }
    };
  }

  /** Closes the subscriber connection (the command connection is the caller's). */
  async close(): Promise<void> {
    this.closed = true;
    this.watchers.clear();
    const s = this.subscriber;
    this.subscriber = undefined;
    if (s !== undefined) await s.quit().catch(() => s.disconnect());
  }

  private sub(): Redis {
    if (this.subscriber !== undefined) return this.subscriber;
    // A patient duplicate: subscriptions are restored by ioredis after a reconnect; `resync` then replays
    // what may have been published while the connection was down.
    const s = this.redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, lazyConnect: false });
    s.on('error', () => undefined);
    let first = true;
    s.on('ready', () => {
      if (first) first = false;
      else void this.resync();
    });
    s.on('message', (channel: string, message: string) => this.onMessage(channel, message));
    this.subscriber = s;
    return s;
  }

  private onMessage(channel: string, message: string): void {
    const id = channel.slice(this.prefix.length + 3);
    const set = this.watchers.get(id);
    if (set === undefined) return;
    const m = JSON.parse(message) as { t: 'k'; c: StoredChunk } | { t: 'u'; h: string[] | Record<string, never>; o: string };
    let e: JobStoreEvent;
    if (m.t === 'k') {
      this.forwarded.set(id, Math.max(this.forwarded.get(id) ?? -1, m.c.index + m.c.count - 1));
      e = { type: 'tokens', chunk: m.c };
    } else {
      e = { type: 'update', job: decodeJob(Array.isArray(m.h) ? m.h : [], m.o) };
    }
    for (const l of [...set]) l(e);
  }

  /** After a reconnect: sends each watcher the chunks it may have missed, then the record as it is now. */
  private async resync(): Promise<void> {
    for (const id of [...this.watchers.keys()]) {
      if (this.closed) return;
      try {
        const chunks = await this.readTokens(id, this.forwarded.get(id) ?? -1);
        const job = await this.get(id);
        const set = this.watchers.get(id);
        if (set === undefined) continue;
        for (const c of chunks) {
          this.forwarded.set(id, Math.max(this.forwarded.get(id) ?? -1, c.index + c.count - 1));
          for (const l of [...set]) l({ type: 'tokens', chunk: c });
        }
        if (job !== undefined) for (const l of [...set]) l({ type: 'update', job });
      } catch {
        // Redis went away again: the next 'ready' resyncs.
      }
    }
  }
}
