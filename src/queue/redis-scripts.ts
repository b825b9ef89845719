/**
 * The job store's Lua scripts. Each runs atomically in Redis, so a job's record, its token log and its output
 * never disagree, the idempotency key is taken with `SET NX`, and every change is published (PUBLISH inside
 * the script) in the order it was applied. Record fields are stored JSON-encoded, one hash field each, so the
 * scripts only ever compare and copy strings: no number or JSON ever passes through Lua's cjson decoder.
 */

/** Terminal status values as stored (JSON strings). */
const TERMINAL = `local function terminal(s) return s == '"succeeded"' or s == '"failed"' or s == '"cancelled"' end`;

/**
 * KEYS: job hash, idempotency key (the job hash again when there is none), the outbox (a sorted set).
 * ARGV: id, job key prefix, has idempotency key ('1'/'0'), field/value pairs.
 * Returns {1} (created) or {0, existing hash, existing output}.
 * A created job also goes into the outbox, scored by Redis's own time in ms, in the same step: the producer
 * takes it out once BullMQ holds the job, and a sweeper enqueues what stays there too long (the producer died
 * between the two).
 */
export const CREATE_LUA = `
if ARGV[3] == '1' then
  if not redis.call('SET', KEYS[2], ARGV[1], 'NX') then
    local other = redis.call('GET', KEYS[2])
    local okey = ARGV[2] .. other
    if redis.call('EXISTS', okey) == 1 then
      return {0, redis.call('HGETALL', okey), redis.call('GET', okey .. ':out') or ''}
    end
    -- The key outlived its job (discarded): take it over.
    redis.call('SET', KEYS[2], ARGV[1])
  end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('DUPLICATE_ID the job id exists already') end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
local t = redis.call('TIME')
redis.call('ZADD', KEYS[3], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), ARGV[1])
return {1}
`;

/**
 * KEYS: job hash, token log, output.
 * ARGV: id, prefix, guard cycle ('' none), guard open ('1': only while not terminal), reset ('1'),
 *   result TTL ms ('0' none), number of set pairs n, n field/value pairs, then fields to delete.
 * Returns {-1} (no such job), {0} (guard failed: nothing changed) or {1, hash, output}.
 * Keeps the tenant's dead-letter index and the TTLs: a finished job that is not dead-lettered expires after
 * the TTL with its token log and idempotency key; anything else persists.
 */
export const UPDATE_LUA = `
${TERMINAL}
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
if ARGV[3] ~= '' and redis.call('HGET', KEYS[1], 'cycle') ~= ARGV[3] then return {0} end
if ARGV[4] == '1' and terminal(redis.call('HGET', KEYS[1], 'status')) then return {0} end
if ARGV[5] == '1' then
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('HSET', KEYS[1], 'tokens', '0')
end
local n = tonumber(ARGV[7])
if n > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 8, 7 + 2 * n)) end
if #ARGV > 7 + 2 * n then redis.call('HDEL', KEYS[1], unpack(ARGV, 8 + 2 * n)) end
local st = redis.call('HGET', KEYS[1], 'status')
local dead = redis.call('HGET', KEYS[1], 'deadLetter') == 'true'
local idem = redis.call('HGET', KEYS[1], '_idem')
local dkey = ARGV[2] .. 'dead:' .. redis.call('HGET', KEYS[1], '_tenant')
if dead then
  redis.call('ZADD', dkey, 'NX', tonumber(redis.call('HGET', KEYS[1], 'createdAtMs')), ARGV[1])
else
  redis.call('ZREM', dkey, ARGV[1])
end
local ttl = tonumber(ARGV[6])
if terminal(st) and not dead and ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('PEXPIRE', KEYS[3], ttl)
  if idem then redis.call('PEXPIRE', idem, ttl) end
else
  redis.call('PERSIST', KEYS[1])
  redis.call('PERSIST', KEYS[2])
  redis.call('PERSIST', KEYS[3])
  if idem then redis.call('PERSIST', idem) end
end
local h = redis.call('HGETALL', KEYS[1])
local out = redis.call('GET', KEYS[3]) or ''
redis.call('PUBLISH', ARGV[2] .. 'ev:' .. ARGV[1], cjson.encode({t = 'u', h = h, o = out}))
return {1, h, out}
`;

/**
 * The checkpoint commit. KEYS: job hash, token log, output.
 * ARGV: id, prefix, index, count, text, text as a JSON string, expected cycle ('' any).
 * Appends only the chunk that starts exactly at the committed token count, so a redelivered stream can never
 * duplicate tokens (0: already committed) nor leave a hole (-1). -2 no such job, -3 another cycle (requeued),
 * -4 already terminal, -5 a chunk straddling the committed end. 1: committed and published.
 */
export const APPEND_LUA = `
${TERMINAL}
if redis.call('EXISTS', KEYS[1]) == 0 then return -2 end
local cycle = redis.call('HGET', KEYS[1], 'cycle')
if ARGV[7] ~= '' and cycle ~= ARGV[7] then return -3 end
if terminal(redis.call('HGET', KEYS[1], 'status')) then return -4 end
local tok = tonumber(redis.call('HGET', KEYS[1], 'tokens'))
local idx = tonumber(ARGV[3])
local count = tonumber(ARGV[4])
if idx < tok then
  if idx + count <= tok then return 0 end
  return -5
end
if idx > tok then return -1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(idx + count))
redis.call('APPEND', KEYS[3], ARGV[5])
local chunk = '{"cycle":' .. cycle .. ',"index":' .. ARGV[3] .. ',"count":' .. ARGV[4] .. ',"text":' .. ARGV[6] .. '}'
redis.call('RPUSH', KEYS[2], chunk)
redis.call('PUBLISH', ARGV[2] .. 'ev:' .. ARGV[1], '{"t":"k","c":' .. chunk .. '}')
return 1
`;

/**
 * KEYS: job hash, token log, output. ARGV: id, prefix.
 * Forgets a job and releases its idempotency key (if it still points at this job).
 */
export const DISCARD_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local idem = redis.call('HGET', KEYS[1], '_idem')
if idem and redis.call('GET', idem) == ARGV[1] then redis.call('DEL', idem) end
local tenant = redis.call('HGET', KEYS[1], '_tenant')
if tenant then redis.call('ZREM', ARGV[2] .. 'dead:' .. tenant, ARGV[1]) end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return 1
`;
