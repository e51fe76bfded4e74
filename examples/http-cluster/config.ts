// The server's configuration: environment variables only, read once per
// process (the primary, the HTTP workers and the job worker read the same
// environment, so they agree). Bad values stop the start with a message that
// names the variable.
import os from 'node:os';

export type Backend = 'shm' | 'redis';
/** shm: RateLimiterShm over the backend's Dict; redis: RateLimiterRedis; cluster: the primary over IPC; memory: per process; none: off. */
export type RateLimiterKind = 'shm' | 'redis' | 'cluster' | 'memory' | 'none';
/** shm: KeyvShm over the backend's Dict; redis: @keyv/redis; lru: a per-process lru-cache. */
export type CacheKind = 'shm' | 'redis' | 'lru';

export interface Config {
  /** TCP port (0: any free port; the primary prints the one it got). */
  readonly port: number;
  readonly host: string;
  /** HTTP worker processes (the job worker comes on top). */
  readonly workers: number;
  /** Every object's name starts with this (`/<prefix>-app`, ... in /dev/shm; RedisDict `<prefix>-app`, ...). */
  readonly prefix: string;
  readonly backend: Backend;
  readonly redisUrl: string | undefined;
  readonly rateLimiter: RateLimiterKind;
  /** Requests a client may make per `rateDuration` seconds. */
  readonly ratePoints: number;
  readonly rateDuration: number;
  readonly cache: CacheKind;
  /** ms a cached /item response lives. */
  readonly cacheTtl: number;
  /** Entries of each process's lru-cache (CACHE=lru). */
  readonly lruMax: number;
  /** SHA-256 rounds behind one /item response (its cost when not cached). */
  readonly itemWork: number;
  /** ms a session lives after /login. */
  readonly sessionTtl: number;
  /** Bytes for entries of each shared-memory Dict (BACKEND=shm). */
  readonly dictMemory: number;
}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`${name}=${text}: expected an integer >= ${min}`);
  return n;
}

function oneOf<T extends string>(env: Env, name: string, values: readonly T[], fallback: T): T {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  if (!(values as readonly string[]).includes(text)) throw new Error(`${name}=${text}: expected one of ${values.join(', ')}`);
  return text as T;
}

/** Reads the configuration from `env` (process.env by default); throws naming a bad variable. */
export function readConfig(env: Env = process.env): Config {
  const prefix = env.APP_PREFIX || 'http-cluster';
  // A POSIX name is one path component; RedisDict names refuse ':', '{', '}'.
  if (!/^[A-Za-z0-9._-]{1,200}$/.test(prefix)) throw new Error(`APP_PREFIX=${prefix}: expected letters, digits, '.', '_' or '-'`);
  const backend = oneOf(env, 'BACKEND', ['shm', 'redis'] as const, 'shm');
  const rateLimiter = oneOf(env, 'RATE_LIMITER', ['shm', 'redis', 'cluster', 'memory', 'none'] as const, 'shm');
  const cache = oneOf(env, 'CACHE', ['shm', 'redis', 'lru'] as const, 'shm');
  const redisUrl = env.REDIS_URL || undefined;
  if (redisUrl === undefined && (backend === 'redis' || rateLimiter === 'redis' || cache === 'redis')) {
    throw new Error('REDIS_URL is needed for BACKEND=redis, RATE_LIMITER=redis or CACHE=redis (e.g. redis://127.0.0.1:6379)');
  }
  return {
    port: integer(env, 'PORT', 3000, 0),
    host: env.HOST || '127.0.0.1',
    workers: integer(env, 'WORKERS', os.availableParallelism(), 1),
    prefix,
    backend,
    redisUrl,
    rateLimiter,
    ratePoints: integer(env, 'RATE_POINTS', 100, 1),
    rateDuration: integer(env, 'RATE_DURATION', 60, 1),
    cache,
    cacheTtl: integer(env, 'CACHE_TTL', 60_000, 1),
    lruMax: integer(env, 'LRU_MAX', 10_000, 1),
    itemWork: integer(env, 'ITEM_WORK', 2_000, 0),
    sessionTtl: integer(env, 'SESSION_TTL', 30 * 60_000, 1),
    dictMemory: integer(env, 'DICT_MEMORY', 16 * 2 ** 20, 4096),
  };
}
