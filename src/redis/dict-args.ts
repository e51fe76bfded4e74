// Argument checks of RedisDict, with the same codes and messages as the
// shared-memory Dict's (src/args.ts, src/errors.ts). They are repeated here
// because src/redis/ may import only the public API: the two-level Dict and
// the stores build on RedisDict without reaching into the core's internals.
import { ShmkitError } from '../index.js';

/** A Node-style argument error (TypeError/RangeError with a `code`). */
type ArgError<E extends Error> = E & { code: string };

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'symbol') return `type symbol (${value.description ?? ''})`;
  if (typeof value === 'bigint') return `type bigint (${value}n)`;
  if (typeof value === 'string') return `type string ('${value.length > 28 ? value.slice(0, 25) + '...' : value}')`;
  if (typeof value === 'function') return 'function';
  if (typeof value === 'object') {
    let ctor: string | undefined;
    try { ctor = (value as object).constructor?.name; } catch { ctor = undefined; }
    return `an instance of ${typeof ctor === 'string' && ctor !== '' ? ctor : 'Object'}`;
  }
  return `type ${typeof value} (${String(value)})`;
}

function printable(value: unknown): string {
  if (typeof value === 'symbol') return value.toString();
  try { return String(value); } catch { return describe(value); }
}

/** `TypeError` with `code: 'ERR_INVALID_ARG_TYPE'`. */
export function invalidArgType(name: string, expected: string, actual: unknown): ArgError<TypeError> {
  const e = new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(actual)}`) as ArgError<TypeError>;
  e.code = 'ERR_INVALID_ARG_TYPE';
  return e;
}

/** `TypeError` with `code: 'ERR_INVALID_ARG_VALUE'`. */
export function invalidArgValue(name: string, reason: string, actual: unknown): ArgError<TypeError> {
  const e = new TypeError(`The "${name}" argument ${reason}. Received ${describe(actual)}`) as ArgError<TypeError>;
  e.code = 'ERR_INVALID_ARG_VALUE';
  return e;
}

/** `RangeError` with `code: 'ERR_OUT_OF_RANGE'`. */
export function outOfRange(name: string, range: string, actual: unknown): ArgError<RangeError> {
  const e = new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${printable(actual)}`) as ArgError<RangeError>;
  e.code = 'ERR_OUT_OF_RANGE';
  return e;
}

/** `options` as an object (`undefined`: none). */
export function checkObject<T extends object>(name: string, value: unknown): T | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object') throw invalidArgType(name, 'of type object', value);
  return value as T;
}

/** An integer in [min, max]. */
export function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value);
  if (value < min || value > max) throw outOfRange(name, `>= ${min} and <= ${max}`, value);
  return value;
}

/** A TTL in ms (finite, >= 0; `undefined`: 0, never expires), as the shared-memory Dict checks it. */
export function checkTtl(ttl: unknown, name = 'options.ttl'): number {
  if (ttl === undefined) return 0;
  if (typeof ttl !== 'number') throw invalidArgType(name, 'of type number', ttl);
  if (!(ttl >= 0) || ttl === Infinity) throw outOfRange(name, '>= 0 and finite (milliseconds)', ttl);
  return ttl;
}

/** Longest timer Node keeps (ms): a longer (or Infinity) per-call timeout is this. */
const MAX_TIMER = 2 ** 31 - 1;

/** A per-call `timeout` (ms >= 0; Infinity: the longest timer Node keeps). */
export function checkCallTimeout(value: unknown): number {
  if (typeof value !== 'number') throw invalidArgType('options.timeout', 'of type number', value);
  if (!(value >= 0)) throw outOfRange('options.timeout', '>= 0 (milliseconds; Infinity waits forever)', value);
  return value > MAX_TIMER ? MAX_TIMER : Math.ceil(value);
}

/**
 * A RedisDict's name: it becomes part of every key (`<keyPrefix><name>:<key>`),
 * so it may not hold ':' (dict `a` key `b:c` would be dict `a:b` key `c`),
 * braces (a Cluster hash tag would put every key in one slot) or line breaks.
 */
export function checkDictName(name: unknown): string {
  if (typeof name !== 'string') throw invalidArgType('name', 'of type string', name);
  if (name.length === 0) throw invalidArgValue('name', 'must not be empty', name);
  if (/[:{}\r\n]/.test(name)) throw invalidArgValue('name', "must not contain ':', '{', '}' or line breaks", name);
  return name;
}

/** ERR_SHMKIT_CLOSED for a closed handle. */
export function closedError(what: string): ShmkitError {
  return new ShmkitError('ERR_SHMKIT_CLOSED', `${what} is closed`);
}
