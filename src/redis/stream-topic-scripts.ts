// The Lua scripts of RedisTopic, on two keys sharing one hash tag:
//
//   <prefix>topic:{<name>}       the Stream, trimmed to `capacity` entries (exact MAXLEN);
//                                entry id <seq>-0, field 'm' = message bytes
//   <prefix>topic:{<name>}:seq   the last sequence number given out
//
// The one rule: a number is taken (INCR) and its entry added (XADD) in the
// same script, so every number up to :seq is a message. A subscriber
// expecting number n that reads n + k knows it missed exactly k (trimmed
// before it read them).
import { LuaScript } from './stream-script.js';

/** PUBLISH: KEYS stream, seq; ARGV capacity, message. Returns the message's number. */
export const PUBLISH = new LuaScript(`
local s = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], 'MAXLEN', '=', ARGV[1], s .. '-0', 'm', ARGV[2])
return s
`);

/**
 * START: KEYS stream, seq; ARGV 'latest' | 'earliest'. The number a new
 * subscriber reads first: the next one published ('latest'), or the oldest
 * kept ('earliest'; the next one when none is kept).
 */
export const START = new LuaScript(`
if ARGV[1] == 'earliest' then
  local e = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
  if e[1] then return tonumber(string.match(e[1][1], '^(%d+)')) end
end
return tonumber(redis.call('GET', KEYS[2]) or '0') + 1
`);
