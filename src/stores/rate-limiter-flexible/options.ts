// The options of RateLimiterShm: RateLimiterMemory's, the store base's
// in-memory block, and `dict` in place of a `storeClient`.
import type { RateLimiterLike } from 'rate-limiter-flexible';
import type { DictOption } from '../dict-option.js';

/**
 * Options of {@link RateLimiterShm}: those of rate-limiter-flexible's
 * `RateLimiterMemory` (and of every store it has), plus `dict`, where the
 * counters live. There is no `storeClient`.
 */
export interface RateLimiterShmOptions {
  /**
   * Where the counters live: a shmkit `Dict` handle (this host's processes
   * share it), any `AsyncDict` (`RedisDict`, `TwoLevelDict` of
   * `shmkit/redis`: every host reaching the same Redis shares it), or
   * `{ name, memory }` to open or create a shared-memory Dict by name,
   * which the limiter then owns and closes in `close()`.
   */
  dict: DictOption;
  /** Points a key may consume per `duration` (a finite number). */
  points: number;
  /** Seconds before the consumed points of a key are reset; 0: never. */
  duration: number;
  /** Prefix of every key in the Dict (default `'rlflx'`; `''`: none). */
  keyPrefix?: string;
  /** Seconds a key is blocked once it consumes more than `points` (default 0: not blocked). */
  blockDuration?: number;
  /** Delay allowed actions to spread them evenly over `duration` (default false). */
  execEvenly?: boolean;
  /** Least delay, in ms, `execEvenly` applies (default `duration * 1000 / points`). */
  execEvenlyMinDelayMs?: number;
  /**
   * A limiter that answers instead while the Dict fails (a Redis-backed
   * Dict that cannot reach its server, for instance), usually a
   * `RateLimiterMemory`. Without one such a call rejects with the Dict's
   * error.
   */
  insuranceLimiter?: RateLimiterLike;
  /**
   * Consumed points (at least `points`) at which this process stops asking
   * the Dict about a key for `inMemoryBlockDuration` seconds and rejects at
   * once (default 0: off).
   */
  inMemoryBlockOnConsumed?: number;
  /** Seconds a key stays blocked in this process's memory (needs `inMemoryBlockOnConsumed`). */
  inMemoryBlockDuration?: number;
  /**
   * Consumed points (at least `points`) at which the key is blocked in the
   * Dict for `blockDuration` seconds (default 0: as soon as `points` is
   * exceeded).
   */
  blockOnConsumed?: number;
}
