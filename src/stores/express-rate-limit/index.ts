/**
 * `shmkit/express-rate-limit`: a store for express-rate-limit (`ShmStore`)
 * over a Dict, so every worker of a `cluster`, PM2 or `fork` set counts into
 * one fixed window per client, exactly, with no master process. Give it a
 * shared-memory Dict for the workers of one host, or a `RedisDict` of
 * `shmkit/redis` for the workers of every host (express-rate-limit is an
 * optional peer dependency: install it next to shmkit).
 *
 * ```ts
 * import { rateLimit } from 'express-rate-limit';
 * import { ShmStore } from 'shmkit/express-rate-limit';
 * app.use(rateLimit({ windowMs: 60_000, limit: 100, store: new ShmStore({ dict: { name: '/rate-limits' } }) }));
 * ```
 */
// Only types come from express-rate-limit: this entry loads nothing of it at
// run time, and the Store interface it implements is checked by tsc here.
import type { ClientRateLimitInfo, Options, Store } from 'express-rate-limit';
import { Dict, type AsyncDict } from '../../index.js';
import { argType, outOfRange, resolveDict, type DictOption } from '../dict-option.js';

export type { DictOption, DictByName } from '../dict-option.js';

/** Options of {@link ShmStore}. */
export interface ShmStoreOptions {
  /** Where the counters live: a Dict handle, an `AsyncDict` (`RedisDict`, `TwoLevelDict`), or `{ name, memory }`. */
  dict: DictOption;
  /**
   * Prepended to every client key in the Dict (default `'erl:'`). Limiters
   * that share a Dict need different prefixes, or they share their counters.
   */
  prefix?: string;
}

/** The key prefix of a store created without `prefix`. */
export const DEFAULT_ERL_PREFIX = 'erl:';

/** The window until `init()` gives the limiter's: express-rate-limit's own default, 60 s. */
const DEFAULT_WINDOW_MS = 60_000;

/**
 * A store for express-rate-limit (7 and 8) over a Dict: one fixed window
 * per client key, shared by every process that uses the same Dict and
 * prefix. Each request is one atomic `incrWithTtl`: the count (it starts
 * the window's TTL when it creates the counter) and the window's time left
 * for `resetTime`, in one step on every kind of Dict.
 */
export class ShmStore implements Store {
  /** What this store prepends to every client key (express-rate-limit's double-count check reads it too). */
  readonly prefix: string;
  /** `false`: the counters are shared with every other process (and every other store) on the same Dict and prefix. */
  readonly localKeys = false;
  readonly #dict: AsyncDict;
  readonly #owned: boolean;
  /** The Dict when it is a shared-memory Dict (it answers at once, never with a Promise), else null. */
  readonly #shm: Dict | null;
  #windowMs = DEFAULT_WINDOW_MS;
  /** increment()'s incr options, made once per window length (not once per hit). */
  #incrOptions = { init: 0, ttl: DEFAULT_WINDOW_MS };

  /**
   * `dict` as every store of shmkit takes it; a Dict opened by name is the
   * store's own and {@link ShmStore.shutdown} closes it. Bad options throw
   * `ERR_INVALID_ARG_TYPE` before anything is opened.
   */
  constructor(options: ShmStoreOptions) {
    if (options === null || typeof options !== 'object') throw argType('ShmStore: options', 'an object ({ dict, prefix })', options);
    const { dict, prefix = DEFAULT_ERL_PREFIX } = options;
    if (typeof prefix !== 'string') throw argType('ShmStore: options.prefix', 'of type string', prefix);
    const resolved = resolveDict('ShmStore: options.dict', dict);
    this.prefix = prefix;
    this.#dict = resolved.dict;
    this.#owned = resolved.owned;
    this.#shm = resolved.dict instanceof Dict ? resolved.dict : null;
  }

  /**
   * Takes the limiter's `windowMs` (express-rate-limit calls it once, from
   * `rateLimit()`). `ERR_INVALID_ARG_TYPE` / `ERR_OUT_OF_RANGE` unless it is a
   * positive finite number of milliseconds.
   */
  init(options: Pick<Options, 'windowMs'>): void {
    const windowMs: unknown = options?.windowMs;
    if (typeof windowMs !== 'number') throw argType('ShmStore: options.windowMs', 'of type number', windowMs);
    if (!(windowMs > 0) || windowMs === Infinity) throw outOfRange('ShmStore: options.windowMs', '> 0 and finite (milliseconds)', windowMs);
    this.#windowMs = windowMs;
    this.#incrOptions = { init: 0, ttl: windowMs };
  }

  /** The client's hits in its current window and when the window ends; undefined when it has none. */
  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    const k = this.prefix + key;
    const hits = await this.#dict.get(k);
    if (typeof hits !== 'number') return undefined;
    const left = await this.#dict.ttl(k);
    if (left === undefined) return undefined; // the window ended between the two reads
    return { totalHits: hits, resetTime: resetAfter(left) };
  }

  /**
   * Counts one hit: one atomic `incr` that starts the counter at 0 with
   * `windowMs` to live when the client has none, so every process sees the
   * same sequence 1, 2, 3, ... of `totalHits`.
   */
  async increment(key: string): Promise<ClientRateLimitInfo> {
    const k = this.prefix + key;
    const counted = this.#dict.incrWithTtl(k, 1, this.#incrOptions);
    // Shared memory answers at once: no Promise to wait for.
    const { value: hits, ttl: left } = this.#shm !== null ? (counted as { value: number; ttl: number }) : await counted;
    // decrement() holds a counter at -1 for a moment when it takes back a hit counted before a
    // reset (it gives the one back at once): an incr landing in that moment reads 0. This hit
    // was counted, so the client has at least 1 (express-rate-limit requires >= 1).
    const totalHits = Math.max(hits, 1);
    if (left === 0) {
      // A counter without a TTL (written by something other than a ShmStore) would never reset:
      // give it this window.
      await this.#dict.expire(k, this.#windowMs);
      return { totalHits, resetTime: resetAfter(this.#windowMs) };
    }
    return { totalHits, resetTime: resetAfter(left) };
  }

  /**
   * Takes one hit back (express-rate-limit's `skipFailedRequests` /
   * `skipSuccessfulRequests`). Never creates a counter: a client whose window
   * ended or was reset stays without one. Never leaves a counter below 0.
   */
  async decrement(key: string): Promise<void> {
    const k = this.prefix + key;
    const hits = await this.#dict.incr(k, -1); // no init: a missing counter stays missing
    // Below 0 only when more hits were taken back than the window holds (a request counted
    // before a resetKey, taken back after it): give the one back, again without creating.
    if (hits !== undefined && hits < 0) await this.#dict.incr(k, 1);
  }

  /** Forgets the client's hits (a new window starts with its next request). */
  async resetKey(key: string): Promise<void> {
    await this.#dict.delete(this.prefix + key);
  }

  /**
   * Forgets every client's hits: deletes the keys of the Dict that start
   * with `prefix` (other keys stay). One `keys()` walk then a delete per key,
   * not atomic: a hit counted meanwhile may survive.
   */
  async resetAll(): Promise<void> {
    for (const k of await this.#dict.keys(0)) {
      if (k.startsWith(this.prefix)) await this.#dict.delete(k);
    }
  }

  /** Closes the Dict when the store opened it by name (a Dict handle given to it stays open: it is the caller's). */
  async shutdown(): Promise<void> {
    if (this.#owned) await this.#dict.close();
  }
}

function resetAfter(ms: number): Date {
  return new Date(Date.now() + ms);
}
