// The Lua scripts behind RedisDict's compound operations. Each touches only
// KEYS[1] (so it routes to that key's slot in a Cluster) and runs atomically
// on the server. Values use the tags of dict-codec.ts.
//
// Numbers: Lua 5.1 numbers are IEEE doubles, so `n` arithmetic matches
// JavaScript's exactly; fmtnum writes the shortest of %.15g..%.17g that reads
// back to the same double (and -0, NaN, Infinity as JavaScript spells them).
// Bigints: a double cannot hold 64 bits, so `i` values are added as four
// 16-bit limbs modulo 2^64 (two's complement), which is BigInt.asIntN(64, a + b).
//
// RedisDict sends EVALSHA with the SHA1s below; a server that does not have
// a script cached (NOSCRIPT: first use, a restart, SCRIPT FLUSH) gets EVAL
// of the same text once (scriptOf() finds it from the SHA), which caches it.
import { createHash } from 'node:crypto';

/** Lua helpers shared by the scripts (number and int64 text arithmetic). */
const HELPERS = `
local function tonum(s)
  if s == 'NaN' then return 0/0 end
  return tonumber(s)
end
local function fmtnum(x)
  if x ~= x then return 'NaN' end
  if x == 1/0 then return 'Infinity' end
  if x == -1/0 then return '-Infinity' end
  if x == 0 then
    if 1/x < 0 then return '-0' end
    return '0'
  end
  for p = 15, 16 do
    local s = string.format('%.' .. p .. 'g', x)
    if tonumber(s) == x then return s end
  end
  return string.format('%.17g', x)
end
local function neg64(l)
  local carry = 1
  for k = 4, 1, -1 do
    local x = 65535 - l[k] + carry
    l[k] = x % 65536
    carry = math.floor(x / 65536)
  end
end
local function parse64(s)
  local l = {0, 0, 0, 0}
  local first = 1
  local neg = string.sub(s, 1, 1) == '-'
  if neg then first = 2 end
  for j = first, #s do
    local carry = string.byte(s, j) - 48
    for k = 4, 1, -1 do
      local x = l[k] * 10 + carry
      l[k] = x % 65536
      carry = math.floor(x / 65536)
    end
  end
  if neg then neg64(l) end
  return l
end
local function add64(a, b)
  local r = {0, 0, 0, 0}
  local carry = 0
  for k = 4, 1, -1 do
    local x = a[k] + b[k] + carry
    r[k] = x % 65536
    carry = math.floor(x / 65536)
  end
  return r
end
local function fmt64(l)
  local m = {l[1], l[2], l[3], l[4]}
  local neg = m[1] >= 32768
  if neg then neg64(m) end
  local out = ''
  while true do
    local rem = 0
    local zero = true
    for k = 1, 4 do
      local x = rem * 65536 + m[k]
      m[k] = math.floor(x / 10000)
      rem = x % 10000
      if m[k] ~= 0 then zero = false end
    end
    if zero then
      out = tostring(rem) .. out
      break
    end
    out = string.format('%04d', rem) .. out
  end
  if neg then return '-' .. out end
  return out
end
`;

/**
 * incr's body: leaves the new value's text in `r` and whether the key
 * existed in `v`, or returns nil (a missing key without init) or the error
 * SHMKIT_NOT_A_NUMBER (a list, a string, a number for a bigint delta, ...).
 * An existing entry keeps its TTL.
 */
const INCR_BODY = `${HELPERS}
local v = redis.pcall('GET', KEYS[1])
if type(v) == 'table' then return redis.error_reply('SHMKIT_NOT_A_NUMBER the value is a list') end
local kind = ARGV[1]
local cur
if v then
  if string.sub(v, 1, 1) ~= kind then return redis.error_reply('SHMKIT_NOT_A_NUMBER the value is not a ' .. (kind == 'n' and 'number' or 'bigint')) end
  cur = string.sub(v, 2)
else
  if ARGV[3] == '' then return false end
  cur = ARGV[3]
end
local r
if kind == 'n' then r = fmtnum(tonum(cur) + tonum(ARGV[2])) else r = fmt64(add64(parse64(cur), parse64(ARGV[2]))) end
if v then
  redis.call('SET', KEYS[1], kind .. r, 'KEEPTTL')
elseif ARGV[4] ~= '0' then
  redis.call('SET', KEYS[1], kind .. r, 'PX', ARGV[4])
else
  redis.call('SET', KEYS[1], kind .. r)
end
`;

/**
 * incr. KEYS[1]; ARGV: kind ('n' or 'i', delta's type), delta (text), init
 * (text; '' when not given), ttl of a created entry (ms; '0': none).
 * Returns the new value's text, nil or the error of INCR_BODY.
 */
export const INCR_SCRIPT = `${INCR_BODY}return r
`;

/**
 * incrWithTtl: incr (same KEYS and ARGV, same nil and error), returning
 * { value text, ms left } read in the same script: the ttl given when it
 * created the key (0: none), else the key's PTTL (0 for none, at least 1
 * while it lives, as RedisDict.ttl answers).
 */
export const INCR_TTL_SCRIPT = `${INCR_BODY}local left = tonumber(ARGV[4])
if v then
  left = redis.call('PTTL', KEYS[1])
  if left < 0 then left = 0 elseif left == 0 then left = 1 end
end
return {r, left}
`;

/**
 * compareAndSet. KEYS[1]; ARGV: expected (stored form; '' for absent), the
 * new value (stored form), ttl (ms; '0': none). Returns 1 when it stored,
 * 0 otherwise. Numbers compare as the shared-memory Dict compares them
 * (0 equals -0, NaN equals NaN); other types byte for byte. A list never
 * equals an expected value and is present for an expected `undefined`.
 */
export const CAS_SCRIPT = `${HELPERS}
local v = redis.pcall('GET', KEYS[1])
if type(v) == 'table' then return 0 end
local e = ARGV[1]
if e == '' then
  if v then return 0 end
else
  if not v then return 0 end
  if v ~= e then
    if string.byte(e, 1) ~= 110 or string.byte(v, 1) ~= 110 then return 0 end
    local a = tonum(string.sub(v, 2))
    local b = tonum(string.sub(e, 2))
    if not (a == b or (a ~= a and b ~= b)) then return 0 end
  end
end
if ARGV[3] ~= '0' then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
return 1
`;

/**
 * expire(key, 0): PERSIST answers 0 both for a missing key and for one
 * without a TTL; the Dict answers whether the key exists. Returns 1 or 0.
 */
export const PERSIST_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('PERSIST', KEYS[1])
return 1
`;

const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex');

/** SHA1 of INCR_SCRIPT: what EVALSHA names it by. */
export const INCR_SHA = sha1(INCR_SCRIPT);
/** SHA1 of INCR_TTL_SCRIPT. */
export const INCR_TTL_SHA = sha1(INCR_TTL_SCRIPT);
/** SHA1 of CAS_SCRIPT. */
export const CAS_SHA = sha1(CAS_SCRIPT);
/** SHA1 of PERSIST_SCRIPT. */
export const PERSIST_SHA = sha1(PERSIST_SCRIPT);

const BY_SHA = new Map<string, string>([[INCR_SHA, INCR_SCRIPT], [INCR_TTL_SHA, INCR_TTL_SCRIPT], [CAS_SHA, CAS_SCRIPT], [PERSIST_SHA, PERSIST_SCRIPT]]);

/** The text of one of these scripts from its SHA1 (undefined for another). */
export function scriptOf(sha: string): string | undefined {
  return BY_SHA.get(sha);
}
