// RateLimiterShm: rate-limiter-flexible's store base over a shmkit Dict.
//
// The library's RateLimiterStoreAbstract does everything a limiter does
// (points, blocking, execEvenly, the in-memory block, the insuranceLimiter)
// and asks its store four things; this file answers them with Dict calls:
//
//   _upsert (consume, penalty, reward)  incrWithTtl(key, points, { init: 0, ttl: msDuration })
//   _upsert with forceExpire (block, set)  set(key, points, { ttl: msDuration })
//   _get                                get(key), then ttl(key)
//   _delete                             delete(key)
//
// The one rule that makes the limit exact across processes: consumedPoints
// is always the value the atomic incr returned, never a value read apart
// from it. incr creates the window when the key is missing or expired (its
// TTL applies only then), so there is no separate "start a window" step to
// race with. incrWithTtl reads how long that window has left in the same
// step (under the same lock in shared memory, in the same Lua script on
// Redis), so msBeforeNext is always the end of the window the points were
// counted in.
//
// Errors of the Dict (a closed handle, a write lock not free in time, a Redis
// server that does not answer) reject the hook's Promise, and the store base
// hands the call to the insuranceLimiter, as it does for its own stores.
import { Dict, type AsyncDict, type Awaitable } from '../../index.js';
import { argType, resolveDict } from '../dict-option.js';
import { RateLimiterRes, RateLimiterStoreAbstract, type MutableRes } from './library.js';
import type { RateLimiterShmOptions } from './options.js';

/** msBeforeNext of a key that never expires, as the library reports it (RateLimiterMemory, RateLimiterRedis). */
const NEVER_EXPIRES = -1;
/** What Dict.ttl returns for an entry that never expires. */
const TTL_FOREVER = 0;

/** A result of the library (the type of its `RateLimiterRes` class). */
type Res = InstanceType<typeof RateLimiterRes>;

/** The store base's members consume uses, which its typings leave out (they are the same in every version since 5). */
interface StoreBase {
  getKey(key: string | number): string | number;
  getInMemoryBlockMsBeforeExpire(rlKey: string | number): number;
  _getKeySecDuration(options: { [key: string]: unknown }): number;
  _afterConsume(resolve: (res: Res) => void, reject: (err: unknown) => void, rlKey: string | number, changedPoints: number, storeResult: MutableRes): void;
  _handleError(err: unknown, funcName: string, resolve: (res: Res) => void, reject: (err: unknown) => void, params: unknown[]): void;
}

/** The library's constructor argument: its typings ask for a `storeClient`, which this store does not use. */
type StoreOptions = ConstructorParameters<typeof RateLimiterStoreAbstract>[0];

/**
 * A rate-limiter-flexible limiter whose counters live in a shmkit Dict: every
 * process (every worker of a `cluster`, PM2 or `fork` set) that opens the
 * same Dict shares one exact limit, with no master process. It has the
 * options and behaviour of `RateLimiterMemory` (points, duration,
 * blockDuration, execEvenly, keyPrefix; consume, penalty, reward, block,
 * set, get, delete) and of the library's other stores (insuranceLimiter,
 * inMemoryBlockOnConsumed), being built on the same store base.
 *
 * ```ts
 * import { RateLimiterShm } from 'shmkit/rate-limiter-flexible';
 * const limiter = new RateLimiterShm({ dict: { name: '/rate-limits', memory: 16 << 20 }, points: 100, duration: 60 });
 * await limiter.consume(ip); // rejects with a RateLimiterRes past 100 per minute, across all workers
 * ```
 */
export class RateLimiterShm extends RateLimiterStoreAbstract {
  readonly #dict: AsyncDict;
  readonly #owned: boolean;
  /** The incr options of the last window length used (one object per length, not one per call). */
  #incr: { init: number; ttl: number } = { init: 0, ttl: 0 };
  #closed = false;
  /** The Dict when it is this host's shared-memory Dict (every call answers at once, never with a Promise), else null. */
  readonly #shm: Dict | null;

  /**
   * Builds a limiter over `options.dict` (see {@link RateLimiterShmOptions}).
   * Throws `ERR_INVALID_ARG_TYPE` when `options` is not an object or `dict`
   * is neither a Dict, an AsyncDict nor `{ name }`; the library's own errors
   * for its options (`points`, `duration`, ...).
   */
  constructor(options: RateLimiterShmOptions) {
    if (options === null || typeof options !== 'object') throw argType('RateLimiterShm: options', 'an object', options);
    super(options as unknown as StoreOptions); // no storeClient: the Dict is the store
    const { dict, owned } = resolveDict('RateLimiterShm: options.dict', options.dict);
    this.#dict = dict;
    this.#owned = owned;
    this.#shm = dict instanceof Dict ? dict : null;
  }

  /**
   * Releases the limiter: closes its Dict when it opened it (`{ name }`),
   * leaves a Dict it was given open. Idempotent. Calls after it reject (or go
   * to the insuranceLimiter) with `ERR_SHMKIT_CLOSED` when the Dict was its own.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owned) await this.#dict.close();
  }

  /**
   * The library's `consume` (see RateLimiterStoreAbstract), in one Promise
   * when the Dict answers at once (shared memory): the store base's own path
   * wraps each call in four (`_operation`, `_consume`, `_upsert`, and its
   * `then`), about 1.7 µs of a 3.5 µs consume. The steps and their order are
   * the base's: the in-memory block, the upsert, `_afterConsume` (blocking,
   * execEvenly, rejection past `points`); a failure goes to `_handleError`
   * (the insuranceLimiter) as `_operation` sends it, rejections with a
   * RateLimiterRes included (it passes those through). A Dict that answers
   * with Promises (Redis) takes the base's path unchanged.
   */
  override consume(key: string | number, pointsToConsume = 1, options: { [key: string]: unknown } = {}): Promise<Res> {
    const shm = this.#shm;
    if (shm === null) return super.consume(key, pointsToConsume, options);
    const base = this as unknown as StoreBase;
    return new Promise((resolve, reject) => {
      const rlKey = base.getKey(key);
      const blockedMs = base.getInMemoryBlockMsBeforeExpire(rlKey);
      if (blockedMs > 0) { reject(new RateLimiterRes(0, blockedMs)); return; }
      let res: MutableRes;
      try {
        res = this.#consumeNow(shm, rlKey, pointsToConsume, base._getKeySecDuration(options) * 1000);
      } catch (err) {
        base._handleError(err, 'consume', resolve, reject, [key, pointsToConsume, options]);
        return;
      }
      // _afterConsume rejects with a RateLimiterRes (which _handleError passes
      // through as it is) except when the block it writes past `points` fails:
      // only then can an error need the insuranceLimiter, so only a limiter with
      // a blockDuration pays for the closure that sends it there.
      const rejectBlock = this.blockDuration > 0
        ? (err: unknown): void => base._handleError(err, 'consume', resolve, reject, [key, pointsToConsume, options])
        : reject;
      base._afterConsume(resolve, rejectBlock, rlKey, pointsToConsume, res);
    });
  }

  /** consume's upsert on the shared-memory Dict: the count and its window's time left, in one step. */
  #consumeNow(shm: Dict, rlKey: string | number, points: number, msDuration: number): MutableRes {
    const key = typeof rlKey === 'string' ? rlKey : String(rlKey); // keyPrefix '' leaves a number key as it is
    const { value, ttl } = shm.incrWithTtl(key, points, this.#incrOptions(msDuration));
    return windowRes(value, points, ttl);
  }

  // ---- the store base's hooks (called by RateLimiterStoreAbstract) ----

  /**
   * consume, penalty, reward: adds `points` (negative for reward) in one
   * atomic incr and resolves with the window's RateLimiterRes (remaining
   * points are set by _getRateLimiterRes). block, set (`forceExpire`): stores
   * `points` with a TTL of `msDuration` (0: forever).
   * @internal
   */
  _upsert(rlKey: string | number, points: number, msDuration: number, forceExpire = false): Promise<unknown> {
    const key = typeof rlKey === 'string' ? rlKey : String(rlKey);
    try {
      if (forceExpire) return Promise.resolve(this.#dict.set(key, points, { ttl: msDuration > 0 ? msDuration : TTL_FOREVER }));
      if (this.#shm !== null) return Promise.resolve(this.#consumeNow(this.#shm, key, points, msDuration));
      return windowLater(this.#dict.incrWithTtl(key, points, this.#incrOptions(msDuration)), points);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * The key's window (`isFirstInDuration` false), or null when the key is
   * missing or expires while being read.
   * @internal
   */
  async _get(rlKey: string | number): Promise<MutableRes | null> {
    const key = typeof rlKey === 'string' ? rlKey : String(rlKey);
    const value = await this.#dict.get(key);
    if (value === undefined) return null;
    const ttl = await this.#dict.ttl(key);
    if (ttl === undefined) return null;
    return new RateLimiterRes(0, msBeforeNext(ttl), Number(value), false) as MutableRes;
  }

  /**
   * Removes the key; whether it was there.
   * @internal
   */
  async _delete(rlKey: string | number): Promise<boolean> {
    return this.#dict.delete(typeof rlKey === 'string' ? rlKey : String(rlKey));
  }

  /**
   * Completes what _upsert or _get resolved with: the remaining points.
   * @internal
   */
  _getRateLimiterRes(_rlKey: string | number, _changedPoints: number, res: MutableRes): MutableRes {
    res.remainingPoints = Math.max(this.points - res.consumedPoints, 0);
    return res;
  }

  // ---- helpers ----

  /** `{ init: 0, ttl: msDuration }`, the same object while the window length stays the same. */
  #incrOptions(msDuration: number): { init: number; ttl: number } {
    if (this.#incr.ttl !== msDuration) this.#incr = { init: 0, ttl: msDuration };
    return this.#incr;
  }
}

/** _upsert's consume on an AsyncDict (Redis, two-level): its RateLimiterRes once incrWithTtl answers. */
async function windowLater(counted: Awaitable<{ value: number; ttl: number }>, points: number): Promise<MutableRes> {
  const { value, ttl } = await counted;
  return windowRes(value, points, ttl);
}

/**
 * The RateLimiterRes of a consume that brought the window to `consumed`.
 * isFirstInDuration: this call's points are all the window holds (as
 * RateLimiterRedis decides it; incr does not say whether it created the key).
 */
function windowRes(consumed: number, points: number, ttl: number | undefined): MutableRes {
  return new RateLimiterRes(0, msBeforeNext(ttl), consumed, consumed === points) as MutableRes;
}

/** Dict.ttl as the library's msBeforeNext: -1 forever; 0 when the key is gone (_get: it expired between its two reads). */
function msBeforeNext(ttl: number | undefined): number {
  if (ttl === undefined) return 0;
  return ttl === TTL_FOREVER ? NEVER_EXPIRES : ttl;
}
