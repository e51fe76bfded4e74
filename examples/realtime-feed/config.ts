// The feed's configuration, from the environment (every process of the
// feed reads the same variables; the primary adds the actual ports it got).
import os from 'node:os';

/**
 * Where the ticks travel from the ingest to the workers: `shm`, a shmkit
 * Topic on this host; `redis`, a RedisTopic (every host reaching the same
 * Redis); `ipc`, the reference shmkit is compared with: the primary
 * forwards each tick to every worker by `process.send` (cluster IPC).
 */
export type BackendName = 'shm' | 'redis' | 'ipc';

export interface Config {
  backend: BackendName;
  /** HTTP worker processes. */
  workers: number;
  /** HTTP address and port (0: any free port). */
  host: string;
  port: number;
  /** Address and port of the UDP socket the ticks come in on (0: any free port). */
  udpHost: string;
  udpPort: number;
  /** Start of every name the feed makes: `<prefix>-ticks` (the Topic), `<prefix>-stats`. */
  prefix: string;
  /** Ticks the Topic keeps: how far behind a client may fall before it is skipped ahead. */
  ticksKept: number;
  redisUrl: string;
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name}=${text}: an integer from ${min} to ${max}`);
  return n;
}

/** The configuration in `env`; throws an Error naming the variable for a bad value. */
export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const backend = env.BACKEND || 'shm';
  if (backend !== 'shm' && backend !== 'redis' && backend !== 'ipc') throw new Error(`BACKEND=${backend}: shm, redis or ipc`);
  const prefix = env.FEED_PREFIX || '/realtime-feed';
  if (!/^\/[^/]{1,200}$/.test(prefix)) throw new Error(`FEED_PREFIX=${prefix}: a POSIX name (a '/', then up to 200 characters without '/')`);
  return {
    backend,
    workers: integer(env, 'WORKERS', os.availableParallelism(), 1, 64),
    host: env.HOST || '127.0.0.1',
    port: integer(env, 'PORT', 3000, 0, 65535),
    udpHost: env.UDP_HOST || '127.0.0.1',
    udpPort: integer(env, 'UDP_PORT', 9000, 0, 65535),
    prefix,
    ticksKept: integer(env, 'TICKS_KEPT', 16384, 16, 1 << 22),
    redisUrl: env.REDIS_URL || 'redis://127.0.0.1:6379',
  };
}

/** The shared-memory Topic's name. */
export const topicName = (config: Config): string => `${config.prefix}-ticks`;
/** The RedisTopic's name (its keys: `shmkit:topic:{<name>}` and `...:seq`). */
export const redisTopicName = (config: Config): string => `${config.prefix.slice(1)}-ticks`;
/** The SharedArray of every process's counters. */
export const statsName = (config: Config): string => `${config.prefix}-stats`;
