// The two classes of rate-limiter-flexible this entry builds on, loaded here
// and nowhere else: the store base (`RateLimiterStoreAbstract`, whose
// consume/penalty/reward/block/set/get/delete, blocking, execEvenly,
// in-memory block and insuranceLimiter every store of the library shares)
// and its result (`RateLimiterRes`, the class its code tests with
// `instanceof` to tell a rejection from a store error).
//
// The library is CommonJS and an optional peer dependency of shmkit: only
// `shmkit/rate-limiter-flexible` requires it. Its typings declare the store
// base, but its index does not export it at run time (11.x), so it comes
// from its own file, `lib/RateLimiterStoreAbstract.js`, where every version
// since 5 keeps it; if a later version exports it from the index, that one
// is used. Either path is the module the library's own stores extend (one
// module cache entry), so `instanceof` and the insuranceLimiter checks hold.
import type {
  RateLimiterStoreAbstract as RateLimiterStoreAbstractClass,
  RateLimiterRes as RateLimiterResClass,
} from 'rate-limiter-flexible';

const library = require('rate-limiter-flexible') as {
  RateLimiterRes: typeof RateLimiterResClass;
  RateLimiterStoreAbstract?: typeof RateLimiterStoreAbstractClass;
};

/** rate-limiter-flexible's store base class (see the top of this file). */
export const RateLimiterStoreAbstract: typeof RateLimiterStoreAbstractClass =
  library.RateLimiterStoreAbstract ?? require('rate-limiter-flexible/lib/RateLimiterStoreAbstract.js');

/** rate-limiter-flexible's result class. */
export const RateLimiterRes: typeof RateLimiterResClass = library.RateLimiterRes;

/** A RateLimiterRes being filled in: its typings make the fields read-only for users. */
export type MutableRes = { -readonly [K in keyof RateLimiterResClass]: RateLimiterResClass[K] };
