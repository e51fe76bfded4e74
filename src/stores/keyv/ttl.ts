// Keyv's `ttl` argument (milliseconds, or undefined for "never") as the
// Dict's `ttl` option (milliseconds, 0 for "never").
import { argType } from '../dict-option.js';

/** What `dictTtl` returns for a negative ttl: the value expired before it was stored. */
export const ALREADY_EXPIRED = -1;

/**
 * The Dict ttl for Keyv's `ttl`: undefined, null, 0 and Infinity never expire
 * (0); a positive finite number is kept (fractions too: the Dict takes them);
 * a negative one is {@link ALREADY_EXPIRED}. NaN is passed on for the Dict to
 * refuse (ERR_OUT_OF_RANGE); a non-number throws ERR_INVALID_ARG_TYPE.
 */
export function dictTtl(ttl: unknown): number {
  if (ttl === undefined || ttl === null || ttl === Infinity) return 0;
  if (typeof ttl !== 'number') throw argType('KeyvShm: ttl', 'a number of milliseconds or undefined', ttl);
  return ttl < 0 ? ALREADY_EXPIRED : ttl;
}
