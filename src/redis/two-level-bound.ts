// Bounds on the calls a TwoLevelDict makes to its remote Dict. The remote is
// any AsyncDict (a RedisDict bounds its own round trips and names its
// server); these add the TwoLevelDict's own bound, which the lease TTL and the
// synced-counter pushes are computed from, and leave the remote's errors as
// they are (an argument error stays a TypeError with its Node code).
import { ShmkitError } from '../index.js';

/** Runs `f` as a promise, a synchronous throw becoming a rejection. */
export function call<T>(f: () => T | Promise<T>): Promise<T> {
  return new Promise<T>((resolve) => resolve(f()));
}

/** Resolves or rejects as `work` does, or rejects with ETIMEDOUT naming `engine` once `ms` pass. */
export function within<T>(work: Promise<T>, ms: number, engine: string, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new ShmkitError('ETIMEDOUT', `ETIMEDOUT: ${engine} did not answer ${what} within ${ms} ms`, { path: what }));
    }, ms);
    work.then(
      (value) => { clearTimeout(timer); resolve(value); },
      (err: unknown) => { clearTimeout(timer); reject(err); },
    );
  });
}

/**
 * Whether a failed write may still have reached Redis: a timeout or a lost
 * connection may; an argument error or a refusal (wrong type) did not.
 */
export function mayHaveLanded(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ETIMEDOUT' || code === 'ERR_SHMKIT_REMOTE' || code === 'ECONNRESET' || code === undefined;
}
