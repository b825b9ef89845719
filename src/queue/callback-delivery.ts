/**
 * Completion callbacks in Redis mode, sent by the workers. A job made terminal with a `callbackUrl` gets
 * `callback: pending` in the same write, and its id goes into a Redis sorted set (the callback outbox, scored by
 * when it is due). Every worker polls the outbox: it claims a due id with a lease (one Lua step, so one worker
 * at a time), POSTs the job view with the same CallbackSender as the in-memory service (same attempts, backoff
 * and timeout), records `delivered` or `failed` on the job and takes the id out. While a delivery runs its claim
 * is renewed every third of the lease, so a slow receiver never makes a live worker's claim run out; a worker
 * that dies mid-delivery stops renewing, and once its lease runs out another sends again: delivery is at least
 * once per terminal state, and each POST carries `x-delivery-id: <job id>:<cycle>` so the receiver can drop a
 * repeat. Polling goes on while deliveries run (up to `maxInFlight` at once): one slow receiver does not hold up
 * the callbacks of other jobs.
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

/** KEYS: the outbox. ARGV: id, the lease end this worker set, the new lease end. 1 when still ours and renewed. */
const RENEW_LUA = `
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s or tonumber(s) ~= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
`;

/** Options of {@link CallbackDelivery}. */
export interface CallbackDeliveryOptions {
  readonly redis: Redis;
  readonly store: RedisJobStore;
  readonly clock: Clock;
  readonly sender: CallbackSender;
  /**
   * How long a claim lasts without renewal; a worker renews its claims every third of it while it delivers, so
   * past it (after a worker died) another worker sends again. @default 60_000
   */
  readonly leaseMs?: number;
  /** How often the outbox is polled. @default 500 */
  readonly pollMs?: number;
  /** Deliveries one worker runs at once; due callbacks past it wait for the next poll. @default 64 */
  readonly maxInFlight?: number;
}

type Scripts = {
  jobCallbackClaim(k: string, id: string, nowMs: string, untilMs: string): Promise<number>;
  jobCallbackRenew(k: string, id: string, heldUntilMs: string, untilMs: string): Promise<number>;
};

export class CallbackDelivery {
  private readonly o: CallbackDeliveryOptions;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly maxInFlight: number;
  private timer: Timer | undefined;
  private renewTimer: Timer | undefined;
  private closed = false;
  private readonly stop = new AbortController();
  /** Deliveries running in this process: job id to the lease end this worker last wrote. */
  private readonly claims = new Map<string, number>();
  private readonly inFlight = new Set<Promise<void>>();

  constructor(o: CallbackDeliveryOptions) {
    this.o = o;
    this.leaseMs = o.leaseMs ?? 60_000;
    this.pollMs = o.pollMs ?? 500;
    this.maxInFlight = o.maxInFlight ?? 64;
    if (!(Number.isInteger(this.leaseMs) && this.leaseMs >= 100)) throw new RangeError(`leaseMs: expected an integer >= 100, got ${String(o.leaseMs)}`);
    if (!(this.pollMs > 0)) throw new RangeError(`pollMs: expected a number > 0, got ${String(o.pollMs)}`);
    if (!(Number.isInteger(this.maxInFlight) && this.maxInFlight >= 1)) throw new RangeError(`maxInFlight: expected an integer >= 1, got ${String(o.maxInFlight)}`);
    if (!('jobCallbackClaim' in o.redis)) o.redis.defineCommand('jobCallbackClaim', { numberOfKeys: 1, lua: CLAIM_LUA });
    if (!('jobCallbackRenew' in o.redis)) o.redis.defineCommand('jobCallbackRenew', { numberOfKeys: 1, lua: RENEW_LUA });
  }

  get key(): string {
    return `${this.o.store.prefix}callbacks`;
  }

  /** Deliveries running in this process now. */
  get active(): number {
    return this.claims.size;
  }

  private get scripts(): Scripts {
    return this.o.redis as unknown as Scripts;
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
      void this.claimDue()
        .catch(() => undefined)
        .finally(() => {
          if (!this.closed) this.timer = this.o.clock.setTimer(this.pollMs, tick, 'callback outbox poll');
        });
    };
    const renew = (): void => {
      if (this.closed) return;
      void this.renewClaims()
        .catch(() => undefined)
        .finally(() => {
          if (!this.closed) this.renewTimer = this.o.clock.setTimer(Math.max(1, Math.floor(this.leaseMs / 3)), renew, 'callback claim renewal');
        });
    };
    tick();
    renew();
  }

  /** Claims the due callbacks (as many as fit under `maxInFlight`) and starts their deliveries. */
  private async claimDue(): Promise<Promise<void>[]> {
    const room = this.maxInFlight - this.claims.size;
    if (room <= 0) return [];
    const now = await this.nowMs();
    // Ask for more than there is room for: some of the due ids are claimed by other workers.
    const ids = await this.o.redis.zrangebyscore(this.key, '-inf', now, 'LIMIT', 0, room * 2);
    const runs: Promise<void>[] = [];
    for (const id of ids) {
      if (this.closed || this.claims.size >= this.maxInFlight) break;
      if (this.claims.has(id)) continue;
      const until = now + this.leaseMs;
      if ((await this.scripts.jobCallbackClaim(this.key, id, String(now), String(until))) !== 1) continue;
      this.claims.set(id, until);
      const p = this.deliver(id)
        .catch(() => undefined)
        .finally(() => {
          this.claims.delete(id);
          this.inFlight.delete(p);
        });
      this.inFlight.add(p);
      runs.push(p);
    }
    return runs;
  }

  /** Claims and delivers every due callback; resolves when those deliveries are done. */
  async deliverDue(): Promise<void> {
    await Promise.all(await this.claimDue());
  }

  /** Pushes the lease end of every delivery in flight here; a claim another worker took over is let go. */
  private async renewClaims(): Promise<void> {
    if (this.claims.size === 0) return;
    const now = await this.nowMs();
    for (const [id, heldUntil] of [...this.claims]) {
      const until = now + this.leaseMs;
      const ok = await this.scripts.jobCallbackRenew(this.key, id, String(heldUntil), String(until));
      // Still delivering (not finished meanwhile) and still ours: remember the new lease end.
      if (ok === 1 && this.claims.has(id)) this.claims.set(id, until);
    }
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
    // Shutting down mid-retries: hand the claim back (due now) for another worker to send it.
    if (this.stop.signal.aborted) {
      const held = this.claims.get(id);
      if (held !== undefined) await this.scripts.jobCallbackRenew(this.key, id, String(held), String(await this.nowMs())).catch(() => undefined);
      return;
    }
    await this.o.store.updateIf(id, { cycle: rec.cycle }, { callback: state });
    await this.o.redis.zrem(this.key, id);
  }

  /** Stops polling and retrying; waits for deliveries in flight. */
  async close(): Promise<void> {
    this.closed = true;
    this.timer?.cancel();
    this.renewTimer?.cancel();
    this.stop.abort();
    await Promise.all([...this.inFlight]);
  }
}
