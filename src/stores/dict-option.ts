// The `dict` option every store of `src/stores/` takes, and the one place
// that turns it into a Dict: a shmkit Dict handle (this host's shared memory),
// any Dict implementing AsyncDict (`shmkit/redis`'s RedisDict and
// TwoLevelDict), or `{ name, memory }` to open or create a shared-memory Dict
// that the store then owns (and closes in its own close()).
//
// Stores sit on the public API only (DESIGN.md, layer 6): they import from
// '../index.js', never a layer's internals.
import { Dict, type AsyncDict, type DictHandleOptions, type NamedCreateOptions, type NamedOpenOptions } from '../index.js';

/** Open or create a shared-memory Dict by name: what a store may be given instead of a handle. */
export interface DictByName extends DictHandleOptions, NamedCreateOptions, NamedOpenOptions {
  /** The Dict's name (`/name` or `name`, as `Dict.openOrCreate` takes it). */
  name: string;
  /**
   * Bytes for entries when the Dict is created (an existing Dict keeps its
   * own; a different value is refused with `ERR_SHMKIT_MISMATCH`). Default
   * 16 MiB.
   */
  memory?: number;
}

/**
 * What a store's `dict` option takes: a shmkit `Dict` handle, any Dict
 * implementing {@link AsyncDict} (`RedisDict`, `TwoLevelDict` of
 * `shmkit/redis`), or {@link DictByName} to open or create one by name.
 */
export type DictOption = AsyncDict | DictByName;

/** The default `memory` of a Dict a store creates by name: 16 MiB. */
export const DEFAULT_STORE_DICT_MEMORY = 16 * 2 ** 20;

/** A store's Dict, and whether the store opened it (and so closes it). */
export interface ResolvedDict {
  readonly dict: AsyncDict;
  readonly owned: boolean;
}

/**
 * The Dict a store's `dict` option names. `what` names the option in errors
 * (`'RateLimiterShm: options.dict'`). Throws `ERR_INVALID_ARG_TYPE` for
 * anything else, before anything is opened.
 */
export function resolveDict(what: string, option: unknown): ResolvedDict {
  if (isAsyncDict(option)) return { dict: option, owned: false };
  if (option !== null && typeof option === 'object' && typeof (option as DictByName).name === 'string') {
    const { name, memory = DEFAULT_STORE_DICT_MEMORY, ...rest } = option as DictByName;
    return { dict: Dict.openOrCreate(name, { ...rest, memory }), owned: true };
  }
  throw argType(what, 'a shmkit Dict, an AsyncDict (RedisDict, TwoLevelDict) or { name, memory }', option);
}

/** True for a shmkit Dict or anything shaped as an AsyncDict (duck-typed: RedisDict lives in another entry). */
export function isAsyncDict(value: unknown): value is AsyncDict {
  if (value instanceof Dict) return true;
  if (value === null || typeof value !== 'object') return false;
  const d = value as Record<string, unknown>;
  return typeof d.get === 'function' && typeof d.set === 'function' && typeof d.incr === 'function'
    && typeof d.incrWithTtl === 'function' && typeof d.delete === 'function' && typeof d.ttl === 'function'
    && typeof d.keys === 'function';
}

/** `TypeError` with `code: 'ERR_INVALID_ARG_TYPE'`, as Node's own APIs (and the rest of shmkit) throw. */
export function argType(name: string, expected: string, actual: unknown): TypeError & { code: string } {
  const shown = actual === null ? 'null' : typeof actual === 'object' ? `an instance of ${(actual as object).constructor?.name ?? 'Object'}` : `type ${typeof actual}`;
  const e = new TypeError(`The "${name}" argument must be ${expected}. Received ${shown}`) as TypeError & { code: string };
  e.code = 'ERR_INVALID_ARG_TYPE';
  return e;
}

/** `RangeError` with `code: 'ERR_OUT_OF_RANGE'`, as Node's own APIs throw. */
export function outOfRange(name: string, expected: string, actual: unknown): RangeError & { code: string } {
  const e = new RangeError(`The value of "${name}" is out of range. It must be ${expected}. Received ${String(actual)}`) as RangeError & { code: string };
  e.code = 'ERR_OUT_OF_RANGE';
  return e;
}
