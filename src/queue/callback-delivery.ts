/**
 * Completion callbacks in Redis mode, sent by the workers. A job made terminal with a `callbackUrl` gets
 * `callback: pending` in the same write, and its id goes into a Redis sorted set (the callback outbox, scored by
 * when it is due). Every worker polls the outbox: it claims a due id with a lease (one Lua step, so one worker
 * at a time), POSTs the job view with the same CallbackSender as the in-memory service (same attempts, backoff
 * and timeout), records `delivered` or `failed` on the job and takes the id out. A worker that dies mid-delivery
 * loses its lease and another sends it again: delivery is at least once per terminal state, and each POST carries
 * `x-delivery-id: <job id>:<cycle>` so the receiver can drop a repeat.
 */
import type { Redis } from 'ioredis';
import type { CallbackSender } from '../jobs/callback-sender.js';
import { isTerminal } from '../jobs/job-store.js';
import { jobView } from '../jobs/job-view.js';
import type { Clock, Timer } from '../time/clock.js';
import type { RedisJobStore } from './redis-job-store.js';

/** KEYS: the outbox. ARGV: id, now ms, lease end ms. 1 when claimed (it was due), else 0. */
const CLAIM_LUA = `
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s or tonumber(s) > tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
`;

/** Options of {@link CallbackDelivery}. */
export interface CallbackDeliveryOptions {
  readonly redis: Redis;
  readonly store: RedisJobStore;
  readonly clock: Clock;
  readonly sender: CallbackSender;
  /** How long a claim lasts; past it, another worker may send again. Longer than one whole delivery. @default 60_000 */
  readonly leaseMs?: number;
  /** How often the outbox is polled. @default 500 */
  readonly pollMs?: number;
}

type Claim = { jobCallbackClaim(k: string, id: string, nowMs: string, untilMs: string): Promise<number> };

export class CallbackDelivery {
  private readonly o: CallbackDeliveryOptions;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private timer: Timer | undefined;
  private closed = false;
  private readonly stop = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();

  constructor(o: CallbackDeliveryOptions) {
    this.o = o;
    this.leaseMs = o.leaseMs ?? 60_000;
    this.pollMs = o.pollMs ?? 500;
    if (!(Number.isInteger(this.leaseMs) && this.leaseMs >= 100)) throw new RangeError(`leaseMs: expected an integer >= 100, got ${String(o.leaseMs)}`);
    if (!(this.pollMs > 0)) throw new RangeError(`pollMs: expected a number > 0, got ${String(o.pollMs)}`);
    if (!('jobCallbackClaim' in o.redis)) o.redis.defineCommand('jobCallbackClaim', { numberOfKeys: 1, lua: CLAIM_LUA });
  }

  get key(): string {
    return `${this.o.store.prefix}callbacks`;
  }

  private async nowMs(): Promise<number> {
    const [sec, usec] = await this.o.redis.time();
    return Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
  }

  /** Puts a job's callback in the outbox, due now (a no-op when it is there already). */
  async schedule(id: string): Promise<void> {
    await this.o.redis.zadd(this.key, 'NX', await this.nowMs(), id);
  }

  start(): void {
    if (this.timer !== undefined || this.closed) return;
    const tick = (): void => {
      if (this.closed) return;
      void this.deliverDue()
        .catch(() => undefined)
        .finally(() => {
          if (!this.closed) this.timer = this.o.clock.setTimer(this.pollMs, tick, 'callback outbox poll');
        });
    };
    tick();
  }

  /** Claims and delivers every due callback; resolves when those deliveries are done. */
  async deliverDue(): Promise<void> {
    const now = await this.nowMs();
    const ids = await this.o.redis.zrangebyscore(this.key, '-inf', now, 'LIMIT', 0, 64);
    const claim = this.o.redis as unknown as Claim;
    const runs: Promise<void>[] = [];
    for (const id of ids) {
      if (this.closed) break;
      if ((await claim.jobCallbackClaim(this.key, id, String(now), String(now + this.leaseMs))) !== 1) continue;
      const p = this.deliver(id).finally(() => this.inFlight.delete(p));
      this.inFlight.add(p);
      runs.push(p);
    }
    await Promise.all(runs);
  }

  private async deliver(id: string): Promise<void> {
    const rec = await this.o.store.get(id);
    const url = rec?.spec.callbackUrl;
    if (rec === undefined || url === undefined || !isTerminal(rec.status) || rec.callback?.status !== 'pending') {
      await this.o.redis.zrem(this.key, id);
      return;
    }
    const state = await this.o.sender.deliver(url, jobView(rec, this.o.store.retention), {
      signal: this.stop.signal,
      headers: { 'x-job-id': id, 'x-delivery-id': `${id}:${rec.cycle}` },
    });
    // Shutting down mid-retries: leave it claimed; the lease runs out and another worker sends it.
    if (this.stop.signal.aborted) return;
    await this.o.store.updateIf(id, { cycle: rec.cycle }, { callback: state });
    await this.o.redis.zrem(this.key, id);
  }

  /** Stops polling and retrying; waits for deliveries in flight. */
  async close(): Promise<void> {
    this.closed = true;
    this.timer?.cancel();
    this.stop.abort();
    await Promise.all([...this.inFlight]);
  }
}
