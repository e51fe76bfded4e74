// The AsyncDict conformance suite (test/fixtures/conformance-dict.mjs) on
// every Dict backend: the shared-memory Dict, RedisDict on one redis-server,
// and RedisDict on a three-master Redis Cluster.
import { after } from 'node:test';
import { Dict } from 'shmkit';
import { RedisDict } from 'shmkit/redis';
import { dictConformance } from './fixtures/conformance-dict.mjs';
import { trackedNames } from './fixtures/names.mjs';
import { startRedis, startRedisCluster } from './fixtures/redis.mjs';

const name = trackedNames();

dictConformance('shm Dict', () => {
  const n = name('conf-dict');
  const dict = Dict.create(n, { memory: 4 << 20 });
  return {
    dict,
    cleanup: () => {
      dict.close();
      Dict.unlink(n);
    },
  };
});

let seq = 0;
/** A fresh RedisDict on `client` (a unique name); cleanup flushes it through a handle of its own. */
function redisDicts(client) {
  return () => {
    const n = `conf-${process.pid}-${++seq}`;
    const dict = new RedisDict(client(), n, { commandTimeout: 10_000 });
    return {
      dict,
      cleanup: async () => {
        await dict.close();
        await new RedisDict(client(), n).flushAll();
      },
    };
  };
}

const server = await startRedis();
const serverClient = server.client();
const cluster = await startRedisCluster();
const clusterClient = cluster.client();
// The Cluster client would retry the stopped nodes forever: disconnect it first.
after(() => cluster.stop());

dictConformance('RedisDict', redisDicts(() => serverClient));
dictConformance('RedisDict on a Cluster', redisDicts(() => clusterClient));
