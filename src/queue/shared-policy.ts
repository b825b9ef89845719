/**
 * One policy across N workers: the retry budget and the primary's circuit breaker kept in Redis, so that four
 * workers retry no more than one policy allows and all stop calling a failing upstream together. Each is one
 * atomic Lua script over Redis's own clock (`TIME`), so workers on different hosts agree on the window without
 * agreeing on their clocks. Per-process state stays the default (QueueWorker's `sharedPolicy`).
 *
 * - Budget: Finagle's (see engine/retry-budget.ts): each job deposits `ratio` of a retry once, each retry withdraws
 *   one, both expire after `ttlMs` (a bucketed window), on top of a reserve of `minRetriesPerSec · ttl`.
 * - Breaker: closed → open on `consecutiveFailures` in a row (rule `consecutive`) or a failure ratio over the
 *   window with `minThroughput` calls (rule `ratio`); open for `openMs`; then half-open, where up to
 *   `halfOpenProbes` calls are let through, all of which must succeed to close it; one failure reopens it.
 *   Probes not reported within `openMs` (a worker died mid-probe) are given up and new ones let through.
 */
import type { Redis } from 'ioredis';
import { ValidationError } from '../errors.js';
import type { Policy } from '../policy.js';

const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** KEYS: window hash. ARGV: op (deposit|withdraw|level), bucketMs, buckets, deposit, reserve, unit, ttlMs. */
const BUDGET_LUA = `
${NOW}
local bucketMs = tonumber(ARGV[2])
local epoch = math.floor(now / bucketMs)
local oldest = epoch - tonumber(ARGV[3])
local sum = tonumber(ARGV[5])
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if tonumber(all[i]) <= oldest then redis.call('HDEL', KEYS[1], all[i]) else sum = sum + tonumber(all[i + 1]) end
end
local function add(n)
  redis.call('HINCRBY', KEYS[1], tostring(epoch), n)
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[7]) * 2)
end
if ARGV[1] == 'deposit' then add(tonumber(ARGV[4])) return 1 end
if ARGV[1] == 'withdraw' then
  if sum < tonumber(ARGV[6]) then return 0 end
  add(-tonumber(ARGV[6]))
  return 1
end
if sum < 0 then return 0 end
return math.floor(sum / tonumber(ARGV[6]))
`;

/** Milli-retries, as the in-process budget keeps them. */
const UNIT = 1000;

/** A Finagle retry budget shared by every worker on the same Redis and key. */
export class SharedRetryBudget {
  private readonly args: string[];

  constructor(private readonly redis: Redis, private readonly key: string, b: Policy['retryBudget']) {
    if (b.mode !== 'finagle') throw new ValidationError('retryBudget.mode', "'finagle' with a shared policy (the budget kept in Redis)", b.mode);
    const buckets = 10;
    this.args = [String(b.ttlMs / buckets), String(buckets), String(Math.round(b.ratio * UNIT)), String(Math.floor(b.minRetriesPerSec * (b.ttlMs / 1000) * UNIT)), String(UNIT), String(b.ttlMs)];
  }

  private async run(op: 'deposit' | 'withdraw' | 'level'): Promise<number> {
    return Number(await this.redis.eval(BUDGET_LUA, 1, this.key, op, ...this.args));
  }

  /** A new job arrived (deposits `ratio` of a retry). */
  async onRequest(): Promise<void> {
    await this.run('deposit');
  }

  /** True when a retry may go ahead (and takes it). */
  async tryWithdraw(): Promise<boolean> {
    return (await this.run('withdraw')) === 1;
  }

  /** Retries affordable right now. */
  level(): Promise<number> {
    return this.run('level');
  }
}

/**
 * KEYS: state hash, window hash. ARGV: op (allow|success|failure|release|state), rule, consecutiveFailures, failureRatio,
 * minThroughput, bucketMs, buckets, openMs, halfOpenProbes, probe ('1' when the call was a half-open probe).
 * allow → {1} closed, {2} a probe, {0, retryAfterMs} refused. success/failure/state → the state after it.
 */
const BREAKER_LUA = `
${NOW}
local st = redis.call('HGET', KEYS[1], 'state') or 'closed'
local openMs = tonumber(ARGV[8])
local probes = tonumber(ARGV[9])
local function open()
  redis.call('HSET', KEYS[1], 'state', 'open', 'until', now + openMs, 'consecutive', 0, 'inflight', 0, 'ok', 0)
  redis.call('DEL', KEYS[2])
  st = 'open'
end
if st == 'open' and now >= tonumber(redis.call('HGET', KEYS[1], 'until') or 0) then
  redis.call('HSET', KEYS[1], 'state', 'half-open', 'inflight', 0, 'ok', 0, 'since', now)
  st = 'half-open'
end
local op = ARGV[1]
if op == 'allow' then
  if st == 'closed' then return {1} end
  if st == 'open' then return {0, tonumber(redis.call('HGET', KEYS[1], 'until')) - now} end
  -- Probes not reported within openMs (their worker died) are given up, so half-open cannot stick.
  if now - tonumber(redis.call('HGET', KEYS[1], 'since') or now) >= openMs then
    redis.call('HSET', KEYS[1], 'inflight', 0, 'since', now)
  end
  if tonumber(redis.call('HGET', KEYS[1], 'inflight') or 0) < probes then
    redis.call('HINCRBY', KEYS[1], 'inflight', 1)
    return {2}
  end
  return {0, math.max(10, math.floor(openMs / 10))}
end
if op == 'state' then return st end
local probe = ARGV[10] == '1'
if op == 'release' then
  if st == 'half-open' and probe then redis.call('HINCRBY', KEYS[1], 'inflight', -1) end
  return st
end
if st == 'half-open' then
  if not probe then return st end
  redis.call('HINCRBY', KEYS[1], 'inflight', -1)
  if op == 'failure' then open() return st end
  if redis.call('HINCRBY', KEYS[1], 'ok', 1) >= probes then
    redis.call('DEL', KEYS[1], KEYS[2])
    return 'closed'
  end
  return st
end
if st == 'open' then return st end
local bucketMs = tonumber(ARGV[6])
local epoch = math.floor(now / bucketMs)
local field = tostring(epoch) .. (op == 'failure' and ':f' or ':s')
redis.call('HINCRBY', KEYS[2], field, 1)
redis.call('PEXPIRE', KEYS[2], bucketMs * tonumber(ARGV[7]) * 2)
if op == 'success' then redis.call('HSET', KEYS[1], 'consecutive', 0) return st end
local c = redis.call('HINCRBY', KEYS[1], 'consecutive', 1)
if ARGV[2] == 'consecutive' then
  if c >= tonumber(ARGV[3]) then open() end
  return st
end
local oldest = epoch - tonumber(ARGV[7])
local all = redis.call('HGETALL', KEYS[2])
local total, failed = 0, 0
for i = 1, #all, 2 do
  local e, kind = string.match(all[i], '^(-?%d+):(%a)$')
  if tonumber(e) <= oldest then redis.call('HDEL', KEYS[2], all[i])
  else
    total = total + tonumber(all[i + 1])
    if kind == 'f' then failed = failed + tonumber(all[i + 1]) end
  end
end
if total >= tonumber(ARGV[5]) and failed / total >= tonumber(ARGV[4]) then open() end
return st
`;

/** What the shared breaker says about a call. */
export type BreakerGate = { readonly allowed: true; readonly probe: boolean } | { readonly allowed: false; readonly retryAfterMs: number };

/** The primary's breaker, shared by every worker on the same Redis and key. */
export class SharedBreaker {
  private readonly args: string[];
  private readonly keys: [string, string];

  constructor(private readonly redis: Redis, key: string, b: Policy['breaker']) {
    this.keys = [`${key}:state`, `${key}:window`];
    this.args = [b.rule, String(b.consecutiveFailures), String(b.failureRatio), String(b.minThroughput), String(b.windowMs / b.windowBuckets), String(b.windowBuckets), String(b.openMs), String(b.halfOpenProbes)];
  }

  /** May a call go to the primary now? A probe must be followed by `record(…, true)`. */
  async allow(): Promise<BreakerGate> {
    const r = (await this.redis.eval(BREAKER_LUA, 2, ...this.keys, 'allow', ...this.args, '0')) as number[];
    if (r[0] === 0) return { allowed: false, retryAfterMs: Math.max(0, Number(r[1] ?? 0)) };
    return { allowed: true, probe: r[0] === 2 };
  }

  /** The outcome of a call the gate let through (`failed`: a failure that counts against the breaker). */
  async record(failed: boolean, probe: boolean): Promise<string> {
    return String(await this.redis.eval(BREAKER_LUA, 2, ...this.keys, failed ? 'failure' : 'success', ...this.args, probe ? '1' : '0'));
  }

  /** A call the gate let through ended without a verdict on the upstream (cancelled, lease lost): frees its probe. */
  async release(probe: boolean): Promise<void> {
    if (probe) await this.redis.eval(BREAKER_LUA, 2, ...this.keys, 'release', ...this.args, '1');
  }

  /** `closed`, `open` or `half-open`. */
  async state(): Promise<string> {
    return String(await this.redis.eval(BREAKER_LUA, 2, ...this.keys, 'state', ...this.args, '0'));
  }
}
