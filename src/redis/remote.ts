// What every Redis-backed object shares: the client type, a bound on every
// round trip, and errors that name the engine that failed.
//
// ioredis is only a type here: the caller hands over a client, so this
// entry point loads without ioredis installed and never picks its version.
import type { Cluster, Redis } from 'ioredis';
import { ShmkitError } from '../index.js';

/** An ioredis client: one server (`Redis`) or a Redis Cluster (`Cluster`). */
export type RedisClient = Redis | Cluster;

/** Options every Redis-backed object takes. */
export interface RemoteOptions {
  /**
   * Longest wait, in ms, for one round trip to Redis (default 5000). A call
   * that waits longer rejects with `code: 'ETIMEDOUT'` and a message naming
   * the server; a blocking receive waits its own `timeout` plus this.
   */
  commandTimeout?: number;
  /** Prefix of every Redis key the object uses (default `'shmkit:'`). */
  keyPrefix?: string;
}

/** The default bound on one round trip, in ms. */
export const DEFAULT_COMMAND_TIMEOUT = 5000;

/** `Redis at 127.0.0.1:6379` or `Redis Cluster at 127.0.0.1:7000,...`: how errors name the engine. */
export function describeClient(redis: RedisClient): string {
  if ((redis as Cluster).isCluster) {
    // startupNodes is private in ioredis's typings but set on every Cluster.
    const nodes = (redis as unknown as { startupNodes: Array<{ host?: string; port?: number } | string | number> }).startupNodes;
    const list = nodes.map((n) => (typeof n === 'object' ? `${n.host ?? '127.0.0.1'}:${n.port ?? 6379}` : String(n)));
    return `Redis Cluster at ${list.join(',')}`;
  }
  const o = (redis as Redis).options;
  return o.path ? `Redis at ${o.path}` : `Redis at ${o.host ?? '127.0.0.1'}:${o.port ?? 6379}`;
}

/** Checks an ioredis client argument (duck-typed: ioredis is not loaded here). */
export function checkClient(redis: unknown): RedisClient {
  if (redis === null || typeof redis !== 'object' || typeof (redis as Redis).sendCommand !== 'function' || typeof (redis as Redis).duplicate !== 'function') {
    throw new ShmkitError('ERR_INVALID_ARG_TYPE', 'The "redis" argument must be an ioredis client (Redis or Cluster)');
  }
  return redis as RedisClient;
}

/** Checks `commandTimeout` (positive ms). */
export function checkCommandTimeout(value: unknown): number {
  if (value === undefined) return DEFAULT_COMMAND_TIMEOUT;
  // Node's timers fire after 1 ms for delays past 2^31 - 1 ms.
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > 0x7fffffff) {
    throw new ShmkitError('ERR_OUT_OF_RANGE', `The "commandTimeout" option must be a positive number of ms up to 2147483647. Received ${String(value)}`);
  }
  return value;
}

/** Checks `keyPrefix` (a string without newlines). */
export function checkKeyPrefix(value: unknown): string {
  if (value === undefined) return 'shmkit:';
  if (typeof value !== 'string' || /[\r\n]/.test(value)) {
    throw new ShmkitError('ERR_INVALID_ARG_VALUE', `The "keyPrefix" option must be a string without line breaks. Received ${String(value)}`);
  }
  return value;
}

/**
 * Bounds one round trip: resolves as `work` does, or rejects with ETIMEDOUT
 * naming the engine and the operation once `ms` pass. Errors from Redis come
 * back as ShmkitError (`ERR_SHMKIT_REMOTE`, or `ERR_SHMKIT_WRONG_TYPE` for a
 * WRONGTYPE reply) with the engine in the message and the original as `cause`.
 */
export function bounded<T>(work: Promise<T>, ms: number, engine: string, what: string): Promise<T> {
  return timeBound(work, ms, engine, what, true);
}

/**
 * bounded() and TwoLevelDict's within(): resolves or rejects as `work` does
 * (its error through remoteError() when `asRemote`, else as it is), or
 * rejects with ETIMEDOUT naming `engine` and `what` once `ms` pass.
 */
export function timeBound<T>(work: Promise<T>, ms: number, engine: string, what: string, asRemote: boolean): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new ShmkitError('ETIMEDOUT', `ETIMEDOUT: ${engine} did not answer ${what} within ${ms} ms`, { path: what }));
    }, ms);
    work.then(
      (value) => { clearTimeout(timer); resolve(value); },
      (err: unknown) => { clearTimeout(timer); reject(asRemote ? remoteError(err, engine, what) : err); },
    );
  });
}

/** An error from Redis (or ioredis) as a ShmkitError naming the engine; ShmkitErrors pass through. */
export function remoteError(err: unknown, engine: string, what: string): Error {
  if (err instanceof ShmkitError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = /^WRONGTYPE/.test(message) ? 'ERR_SHMKIT_WRONG_TYPE' : 'ERR_SHMKIT_REMOTE';
  const e = new ShmkitError(code, `${code}: ${engine} failed ${what}: ${message}`, { path: what });
  (e as { cause?: unknown }).cause = err;
  return e;
}
