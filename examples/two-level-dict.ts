// A two-level Dict: each host's processes share a near copy in shared memory
// in front of Redis. Two "hosts" here are two TwoLevelDicts with their own
// shared-memory Dicts on one Redis (on real hosts both would use the same
// near name, each in its own /dev/shm). Host B reads a key once from Redis,
// then from shared memory; host A writes it, and host B's copy is
// invalidated over pub/sub. Then a rate limit with synced counters: incr
// answers from shared memory, and Redis gets the sum every syncInterval.
//
//   npm run build && REDIS_URL=redis://127.0.0.1:6379 node dist/examples/two-level-dict.js
import { Redis } from 'ioredis';
import { RedisDict, TwoLevelDict } from 'shmkit/redis';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  const name = `shmkit-example-two-level-${process.pid}`;
  const remote = new RedisDict(redis, name);
  const host = (label: string) => new TwoLevelDict({ near: { name: `/${name}-${label}`, memory: 1 << 20 }, remote, redis, nearTtl: 30_000 });
  const hostA = host('a');
  const hostB = host('b');
  const limiter = new TwoLevelDict({
    near: { name: `/${name}-limits`, memory: 1 << 20 }, remote, redis, name: `${name}-limits`,
    mode: 'synced-counter', syncInterval: 100,
  });
  try {
    await Promise.all([hostA.ready(), hostB.ready(), limiter.ready()]);

    await hostA.set('theme', 'light');
    await sleep(20); // let host A's message for 'light' reach host B before B caches
    console.log(`host B reads: "${String(await hostB.get('theme'))}" (Redis fetches: ${hostB.stats().fetches})`);
    await hostB.get('theme');
    console.log(`host B reads it again from shared memory (Redis fetches: ${hostB.stats().fetches}, near hits: ${hostB.stats().nearHits})`);

    const start = Date.now();
    await hostA.set('theme', 'dark');
    while ((await hostB.get('theme')) !== 'dark') await sleep(1);
    console.log(`host B sees: "dark" ${Date.now() - start} ms after host A's write (invalidated; nearTtl is 30 s)`);

    // 30 requests from one client against a limit of 20 per minute.
    const LIMIT = 20;
    let accepted = 0;
    for (let i = 0; i < 30; i++) {
      const count = await limiter.incr('rate:192.0.2.7', 1, { init: 0, ttl: 60_000 });
      if (count <= LIMIT) accepted += 1;
    }
    await limiter.sync();
    console.log(`limiter: ${accepted} of 30 requests accepted (limit ${LIMIT}); Redis holds ${String(await remote.get('rate:192.0.2.7'))}; round trips: ${limiter.stats().pushes}`);
  } finally {
    await Promise.all([hostA.close(), hostB.close(), limiter.close()]);
    await remote.flushAll();
    await remote.close();
    for (const label of ['a', 'b', 'limits']) TwoLevelDict.unlink(`/${name}-${label}`);
    redis.disconnect();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
