// Where the server keeps what its processes share, by configuration: the
// rest of the app sees an AsyncDict, an AsyncQueue, a rate limiter and a
// Keyv, and never asks where they live.
//
// BACKEND=shm (default): this host's shared memory. The primary creates the
// objects (exclusively: a second server with the same APP_PREFIX is refused)
// and removes them when it stops; the workers open them.
//
//   /<prefix>-app     Dict   sessions, counters, job states and results
//   /<prefix>-limits  Dict   the rate limiter's counters
//   /<prefix>-cache   Dict   the response cache (full: least recently used go)
//   /<prefix>-jobs    Queue  jobs for the job worker
//
// BACKEND=redis: the same four as RedisDict and RedisQueue of shmkit/redis
// (named <prefix>-app, ...), so servers on several hosts share them. Nothing
// is created up front, and nothing is removed on stop: the other hosts may
// still be serving (sessions, job results and limits expire by TTL).
//
// RATE_LIMITER and CACHE swap in the stores servers use without shmkit, for
// comparison (npm run bench:server): Redis, the cluster primary over IPC,
// per-process memory.
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { Keyv, type KeyvStoreAdapter } from 'keyv';
import { createKeyv } from '@keyv/redis';
import { LRUCache } from 'lru-cache';
import {
  RateLimiterCluster,
  RateLimiterMemory,
  RateLimiterRedis,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';
import { Dict, Queue, type AsyncDict, type AsyncQueue } from 'shmkit';
import { KeyvShm } from 'shmkit/keyv';
import { RateLimiterShm } from 'shmkit/rate-limiter-flexible';
import { RedisDict, RedisQueue } from 'shmkit/redis';
import type { Config } from './config.js';

/** A job posted to /jobs: count the primes below `n`. */
export interface Job {
  id: number;
  n: number;
}

/** The names of the app's objects (POSIX names with BACKEND=shm, RedisDict/RedisQueue names with BACKEND=redis). */
export function objectNames(config: Config): { app: string; limits: string; cache: string; jobs: string } {
  const slash = config.backend === 'shm' ? '/' : '';
  return {
    app: `${slash}${config.prefix}-app`,
    limits: `${slash}${config.prefix}-limits`,
    cache: `${slash}${config.prefix}-cache`,
    jobs: `${slash}${config.prefix}-jobs`,
  };
}

/** Bytes of the jobs Queue's ring (BACKEND=shm; RedisQueue's capacity too). */
const JOBS_CAPACITY = 1 << 20;

/**
 * BACKEND=shm, in the primary: creates the app's objects, each exclusively.
 * If one exists already (another server with the same prefix, or a crashed
 * one's leftovers) those created here are removed again and the error says
 * what to do.
 */
export function createObjects(config: Config): void {
  const names = objectNames(config);
  const created: string[] = [];
  try {
    for (const name of [names.app, names.limits, names.cache]) {
      Dict.create(name, { memory: config.dictMemory }).close();
      created.push(name);
    }
    Queue.create(names.jobs, { capacity: JOBS_CAPACITY }).close();
    created.push(names.jobs);
  } catch (err) {
    removeObjects(created);
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new Error(`${(err as Error).message}\nAnother server runs with APP_PREFIX=${config.prefix}, or a stopped one left its objects: ` +
        `pick another APP_PREFIX, or remove objects no live process uses with \`npx shmkit gc '${config.prefix}-*'\`.`, { cause: err });
    }
    throw err;
  }
}

/** BACKEND=shm, in the primary on its way out: removes the app's objects (those already gone are fine). */
export function removeObjects(names: readonly string[]): void {
  for (const name of names) {
    try {
      if (name.endsWith('-jobs')) Queue.unlink(name);
      else Dict.unlink(name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

/** What every process of the app (HTTP workers and the job worker) opens. */
export interface Shared {
  /** Sessions, counters, job states and results. */
  readonly app: AsyncDict;
  readonly jobs: AsyncQueue<Job>;
  /** The Redis connection of this process with BACKEND=redis (the worker's RedisDicts share it). */
  readonly redis: Redis | undefined;
  close(): Promise<void>;
}

export async function openShared(config: Config): Promise<Shared> {
  const names = objectNames(config);
  const redis = config.backend === 'redis' ? await connectRedis(config) : undefined;
  const app: AsyncDict = config.backend === 'redis' ? new RedisDict(redis!, names.app) : Dict.open(names.app);
  const jobs: AsyncQueue<Job> = config.backend === 'redis'
    ? new RedisQueue<Job>(redis!, names.jobs, { encoding: 'json', capacity: JOBS_CAPACITY })
    : Queue.open<Job>(names.jobs, { encoding: 'json' });
  return {
    app,
    jobs,
    redis,
    async close() {
      await jobs.close();
      await app.close();
      await redis?.quit();
    },
  };
}

async function connectRedis(config: Config): Promise<Redis> {
  const redis = new Redis(config.redisUrl!, { lazyConnect: true, maxRetriesPerRequest: 2 });
  await redis.connect();
  return redis;
}

/** What only the HTTP workers open: the rate limiter (null for RATE_LIMITER=none) and the response cache. */
export interface WorkerStores {
  readonly limiter: RateLimiterAbstract | null;
  readonly cache: Keyv<string>;
  close(): Promise<void>;
}

export async function openWorkerStores(config: Config, shared: Shared): Promise<WorkerStores> {
  const names = objectNames(config);
  const toClose: (() => unknown)[] = [];
  /** A Dict of the backend: shared memory, or a RedisDict on this process's connection. */
  const backendDict = (name: string): AsyncDict => {
    const dict = config.backend === 'redis' ? new RedisDict(shared.redis!, name) : Dict.open(name);
    toClose.push(() => dict.close());
    return dict;
  };

  /** RATE_LIMITER=redis: the backend's connection, or one of its own with BACKEND=shm. */
  const redisClient = async (): Promise<Redis> => {
    if (shared.redis !== undefined) return shared.redis;
    const own = await connectRedis(config);
    toClose.push(() => own.quit());
    return own;
  };

  const limits = { points: config.ratePoints, duration: config.rateDuration, keyPrefix: `${config.prefix}-rl` };
  let limiter: RateLimiterAbstract | null;
  switch (config.rateLimiter) {
    case 'shm': {
      // The one line that makes the limit exact across workers: RateLimiterMemory's options, plus the Dict.
      const rateLimiter = new RateLimiterShm({ ...limits, dict: backendDict(names.limits) });
      toClose.push(() => rateLimiter.close());
      limiter = rateLimiter;
      break;
    }
    case 'redis':
      limiter = new RateLimiterRedis({ ...limits, storeClient: await redisClient() });
      break;
    case 'cluster':
      // The primary holds the counters (RateLimiterClusterMaster); each consume is a round trip over IPC.
      limiter = new RateLimiterCluster({ ...limits, timeoutMs: 5000 });
      break;
    case 'memory':
      limiter = new RateLimiterMemory(limits);
      break;
    case 'none':
      limiter = null;
      break;
  }

  let cache: Keyv<string>;
  switch (config.cache) {
    case 'shm':
      // One cache for every worker: what one computes, the others serve.
      cache = new Keyv<string>({ store: new KeyvShm({ dict: backendDict(names.cache), namespace: 'items' }), namespace: 'items' });
      break;
    case 'redis':
      cache = createKeyv(config.redisUrl!, { namespace: `${config.prefix}-cache` }) as unknown as Keyv<string>;
      break;
    case 'lru':
      cache = new Keyv<string>({ store: lruStore(config.lruMax), namespace: 'items' });
      break;
  }
  cache.on('error', (err: Error) => console.error(`http-cluster: cache: ${err.message}`));
  toClose.push(() => cache.disconnect());

  return {
    limiter,
    cache,
    async close() {
      for (const close of toClose.reverse()) await close();
    },
  };
}

/**
 * A per-process lru-cache as a Keyv store. Keyv takes any Map-like store, but
 * calls `set(key, value, ttl)` with a number where LRUCache takes an options
 * object; Keyv keeps the expiry in the value itself anyway.
 */
function lruStore(max: number): KeyvStoreAdapter {
  const lru = new LRUCache<string, object | string>({ max });
  const store = {
    get: (key: string) => lru.get(key),
    set: (key: string, value: object | string) => {
      lru.set(key, value);
      return true;
    },
    delete: (key: string) => lru.delete(key),
    clear: () => lru.clear(),
  };
  return store as unknown as KeyvStoreAdapter;
}

/** The expensive response /item/:id caches: `rounds` of SHA-256 over the id (pure CPU). */
export function computeItem(id: string, rounds: number): string {
  let digest = Buffer.from(id);
  for (let i = 0; i < rounds; i++) digest = createHash('sha256').update(digest).digest();
  return digest.toString('hex');
}
