// The AsyncDict conformance suite (test/fixtures/conformance-dict.mjs, the
// one RedisDict and the shared-memory Dict pass) against the two-level Dict,
// in both modes, on a real redis-server: for each test a fresh near Dict in
// shared memory in front of a fresh RedisDict. In 'synced-counter' mode the
// suite's incr checks run against the host's view (one process: it holds
// every increment at once) and the pushes every 50 ms.
import { TwoLevelDict } from 'shmkit/redis';
import { dictConformance } from './fixtures/conformance-dict.mjs';
import { startRedis } from './fixtures/redis.mjs';
import { trackedNames } from './fixtures/names.mjs';
import { makeRemote } from './fixtures/two-level-remote.mjs';

const names = trackedNames();
const server = await startRedis();
let made = 0;

for (const mode of ['near-copy', 'synced-counter']) {
  dictConformance(`TwoLevelDict (${mode})`, async () => {
    const near = names('conf');
    const redis = server.client();
    const remote = makeRemote(redis, `conf-${process.pid}-${++made}`);
    const dict = new TwoLevelDict({ near: { name: near, memory: 4 << 20 }, remote, redis, mode, syncInterval: 50 });
    await dict.ready();
    return {
      dict,
      async cleanup() {
        await dict.close();
        await remote.flushAll().catch(() => {});
        await remote.close();
        TwoLevelDict.unlink(near);
        redis.disconnect();
      },
    };
  });
}
