// The Lua scripts of RedisQueue. Each runs atomically in Redis, on keys
// that share one hash tag (one Cluster slot):
//
//   <prefix>queue:{<name>}         the Stream; consumer group 'shmkit'; field 'm' = message bytes
//   <prefix>queue:{<name>}:bytes   encoded bytes of messages sent and not yet taken (capacity accounting)
//   <prefix>queue:{<name>}:full    set (with a TTL) by a send that found the queue full
//   <prefix>queue:{<name>}:space   tokens pushed by takers while :full exists; waiting senders BLPOP it
//
// The one rule: :bytes changes only together with the Stream, in the same
// script (+len with XADD, -len with an XDEL that removed the entry), so it
// always equals the bytes of the entries not yet taken.
import { LuaScript } from './stream-script.js';

/** The consumer group every RedisQueue handle reads through. */
export const GROUP = 'shmkit';

// Creates the group (at id 0: entries sent before it existed are read too)
// when a read finds none: no separate set-up round trip, and a queue whose
// keys were deleted heals itself.
const ENSURE_GROUP = `
local function ensure(stream, group)
  local ok = redis.pcall('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')
  if type(ok) == 'table' and ok.err and not string.find(ok.err, 'BUSYGROUP') then error(ok.err) end
end
`;

/**
 * SEND: KEYS stream, bytes, full; ARGV capacity, message, fullTtl.
 * 1 sent; 0 full (and :full set, so takers hand out space tokens).
 */
export const SEND = new LuaScript(`
local len = string.len(ARGV[2])
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if used + len > tonumber(ARGV[1]) then
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[3])
  return 0
end
redis.call('INCRBY', KEYS[2], len)
redis.call('XADD', KEYS[1], '*', 'm', ARGV[2])
return 1
`);

/**
 * TAKE: KEYS stream; ARGV group, consumer, claimAfter, cursor.
 * First an entry another consumer has held longer than claimAfter
 * (XAUTOCLAIM, resuming the scan at `cursor`), else a new one
 * (XREADGROUP >). The entry stays pending for this consumer until ACK.
 * Reply: {nextCursor, id, message} or {nextCursor}.
 */
export const TAKE = new LuaScript(`${ENSURE_GROUP}
local c = redis.pcall('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', 1)
if type(c) == 'table' and c.err then
  if not string.find(c.err, 'NOGROUP') then error(c.err) end
  ensure(KEYS[1], ARGV[1])
  c = {'0-0', {}}
end
local e = c[2][1]
if e then return {c[1], e[1], e[2][2]} end
local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', 1, 'STREAMS', KEYS[1], '>')
if r then
  e = r[1][2][1]
  return {c[1], e[1], e[2][2]}
end
return {c[1]}
`);

/**
 * ACK: KEYS stream, bytes, full, space; ARGV group, id, length.
 * Acknowledges and deletes the entry and gives its bytes back, once: a
 * second ACK of the same entry (a redelivered copy) finds nothing pending
 * and changes nothing. 1 taken, 0 already taken.
 */
export const ACK = new LuaScript(`
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
if redis.call('XDEL', KEYS[1], ARGV[2]) == 1 then
  if redis.call('DECRBY', KEYS[2], ARGV[3]) < 0 then redis.call('SET', KEYS[2], '0') end
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('LPUSH', KEYS[4], '1')
  redis.call('LTRIM', KEYS[4], 0, 15)
  redis.call('PEXPIRE', KEYS[4], 60000)
end
return 1
`);

/**
 * LEAVE: KEYS stream; ARGV group, consumer, id or ''.
 * At close(): a held (peeked) entry is marked idle for long, so the next
 * reader of any consumer claims it at once; a consumer holding nothing is
 * removed from the group (XGROUP DELCONSUMER would drop pending entries,
 * hence the check in the same script).
 */
export const LEAVE = new LuaScript(`
if ARGV[3] ~= '' then
  redis.pcall('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'IDLE', 2147483647, 'JUSTID')
end
local p = redis.pcall('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if type(p) == 'table' and not p.err and #p == 0 then
  redis.pcall('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
end
return 1
`);
