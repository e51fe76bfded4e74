// The channel conformance suites (fixtures/conformance-channel.mjs) on each
// backend: shared memory, one redis-server, and a three-master Redis
// Cluster. Geometry ('small' / 'default') maps to each backend's units here.
import { after, describe } from 'node:test';
import { Queue, Topic } from 'shmkit';
import { RedisQueue, RedisTopic } from 'shmkit/redis';
import { queueConformance, topicConformance } from './fixtures/conformance-channel.mjs';
import { trackedNames } from './fixtures/names.mjs';
import { startRedis, startRedisCluster } from './fixtures/redis.mjs';

// Started before any test is registered (so none runs before they are up);
// the fixture stops them when the file ends.
const server = await startRedis();
const client = server.client();
// A client with enableAutoPipelining (ioredis re-issues queued commands its own way).
const autoClient = server.client({ enableAutoPipelining: true });
const cluster = await startRedisCluster();
const clusterClient = cluster.client();
after(async () => cluster.stop());

const name = trackedNames();
let counter = 0;
const redisName = (label) => `conf-${process.pid}-${++counter}-${label}`;

// Shared memory: capacity in ring bytes (64-byte cells; maxMessage capacity/2).
// Queue and Topic share create/open/unlink: one factory serves both.
const shmFactory = (Kind, prefix) => async ({ size, encoding }) => {
  const n = name(prefix);
  const options = { capacity: size === 'small' ? 256 : 1 << 16, ...(encoding ? { encoding } : {}) };
  return {
    handle: Kind.create(n, options),
    reopen: async () => Kind.open(n, encoding ? { encoding } : {}),
    dispose: async () => Kind.unlink(n),
  };
};

describe('shm', () => {
  queueConformance('shm', shmFactory(Queue, 'q'));
  topicConformance('shm', shmFactory(Topic, 't'));
});

// Redis: RedisQueue capacity in encoded bytes, RedisTopic capacity in messages.
function redisFactories(label, getClient, extra = {}) {
  queueConformance(label, async ({ size, encoding }) => {
    const n = redisName('q');
    const options = { capacity: size === 'small' ? 64 : 1 << 16, claimAfter: 300, commandTimeout: 3000, ...extra, ...(encoding ? { encoding } : {}) };
    const handle = new RedisQueue(getClient(), n, options);
    return {
      handle,
      reopen: async () => new RedisQueue(getClient(), n, options),
      dispose: async () => { await getClient().del(handle.key, `${handle.key}:bytes`, `${handle.key}:full`, `${handle.key}:space`); },
    };
  });
  topicConformance(label, async ({ size, encoding }) => {
    const n = redisName('t');
    const options = { capacity: size === 'small' ? 8 : 1024, commandTimeout: 3000, ...extra, ...(encoding ? { encoding } : {}) };
    const handle = new RedisTopic(getClient(), n, options);
    return {
      handle,
      reopen: async () => new RedisTopic(getClient(), n, options),
      dispose: async () => { await getClient().del(handle.key, `${handle.key}:seq`); },
    };
  });
}

describe('redis', () => {
  redisFactories('redis', () => client);
});

describe('redis, autopipelining client', () => {
  redisFactories('redis-auto', () => autoClient);
});

// Every call batched (batch: true): each tick's scripts as one pipeline.
describe('redis, batch: true', () => {
  redisFactories('redis-batch', () => client, { batch: true });
});

describe('redis cluster', () => {
  redisFactories('redis-cluster', () => clusterClient);
});
