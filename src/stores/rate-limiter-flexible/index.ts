/**
 * `shmkit/rate-limiter-flexible`: `RateLimiterShm`, a store for
 * rate-limiter-flexible (an optional peer dependency: install it next to
 * shmkit) whose counters live in a shmkit Dict, so every worker of a host
 * (or, over `shmkit/redis`, of every host) shares one exact limit.
 *
 * ```ts
 * import { RateLimiterShm } from 'shmkit/rate-limiter-flexible';
 * const limiter = new RateLimiterShm({ dict: { name: '/rate-limits' }, points: 100, duration: 60 });
 * ```
 */
export { RateLimiterShm } from './rate-limiter-shm.js';
export type { RateLimiterShmOptions } from './options.js';
export type { DictOption, DictByName } from '../dict-option.js';
