// One function, two backends: `rememberVisit` is written against the
// AsyncDict interface and runs unchanged on this host's shared-memory Dict
// and on a RedisDict that every host reaching the same Redis shares.
//
//   npm run build && REDIS_URL=redis://127.0.0.1:6379 node dist/examples/redis-dict.js
import Redis from 'ioredis';
import { Dict, type AsyncDict } from 'shmkit';
import { RedisDict } from 'shmkit/redis';

/** Counts a user's visits, keeps their last page for an hour, and reads both back. */
async function rememberVisit(dict: AsyncDict, user: string, page: string): Promise<string> {
  const visits = await dict.incr(`visits:${user}`, 1, { init: 0 });
  await dict.set(`last:${user}`, page, { ttl: 3_600_000 });
  const first = await dict.add(`first:${user}`, page); // only the first visit stores
  const last = await dict.get(`last:${user}`);
  const ttl = await dict.ttl(`last:${user}`);
  return `visits=${visits} last=${String(last)} firstVisit=${first} ttlSet=${(ttl ?? 0) > 0}`;
}

async function main(): Promise<void> {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const shmName = `/shmkit-example-redis-dict-${process.pid}`;
  const shm = Dict.create(shmName, { memory: 1 << 20 });
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  const remote = new RedisDict(redis, `example-${process.pid}`, { commandTimeout: 2000 });
  try {
    console.log(`backend ${shm.capabilities.backend} (${shm.capabilities.scope}): ${await rememberVisit(shm, 'ada', '/home')}`);
    console.log(`backend ${shm.capabilities.backend} (${shm.capabilities.scope}): ${await rememberVisit(shm, 'ada', '/docs')}`);
    console.log(`backend ${remote.capabilities.backend} (${remote.capabilities.scope}): ${await rememberVisit(remote, 'ada', '/home')}`);
    console.log(`backend ${remote.capabilities.backend} (${remote.capabilities.scope}): ${await rememberVisit(remote, 'ada', '/docs')}`);
    console.log(`redis keys: ${(await remote.keys(0)).sort().join(' ')}`);
  } finally {
    await remote.flushAll().catch(() => {});
    await remote.close();
    redis.disconnect();
    shm.close();
    Dict.unlink(shmName);
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
