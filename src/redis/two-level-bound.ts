// Bounds on the calls a TwoLevelDict makes to its remote Dict. The remote is
// any AsyncDict (a RedisDict bounds its own round trips and names its
// server); these add the TwoLevelDict's own bound, which the lease TTL and the
// synced-counter pushes are computed from, and leave the remote's errors as
// they are (an argument error stays a TypeError with its Node code).
import { timeBound } from './remote.js';

/** Runs `f` as a promise, a synchronous throw becoming a rejection. */
export function call<T>(f: () => T | Promise<T>): Promise<T> {
  return new Promise<T>((resolve) => resolve(f()));
}

/** Resolves or rejects as `work` does, or rejects with ETIMEDOUT naming `engine` once `ms` pass. */
export function within<T>(work: Promise<T>, ms: number, engine: string, what: string): Promise<T> {
  return timeBound(work, ms, engine, what, false);
}

/**
 * Whether a failed write may still have reached Redis: a timeout or a lost
 * connection may; an argument error or a refusal (wrong type) did not.
 */
export function mayHaveLanded(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ETIMEDOUT' || code === 'ERR_SHMKIT_REMOTE' || code === 'ECONNRESET' || code === undefined;
}
