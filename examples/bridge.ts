// A host's Topic carried to Redis and back by a bridge. The application on
// this host publishes to and subscribes on its shared-memory Topic as
// always; the bridge (here in the same process, usually `shmkit bridge` on
// its own) carries what it publishes to Redis, where another host's bridge
// or any RedisTopic subscriber sees it, and carries what others publish on
// Redis into the local Topic. Nothing loops: the local subscriber sees each
// message once.
//
//   npm run build && REDIS_URL=redis://127.0.0.1:6379 node dist/examples/bridge.js
import Redis from 'ioredis';
import { Topic } from 'shmkit';
import { RedisTopic, startBridge } from 'shmkit/redis';

async function main(): Promise<void> {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const local = `/shmkit-bridge-example-${process.pid}`; // this run's own names
  const remote = `bridge-example-${process.pid}`;
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });

  // The application: a local Topic and a subscriber on it.
  const prices = Topic.create(local, { capacity: 64 * 1024 });
  const mine = prices.subscribe();

  // The bridge carries the local Topic to the Redis topic `remote` and back.
  const bridge = await startBridge({ redis, id: 'example-host', topics: [{ name: local, remoteName: remote }], onEvent: (e) => console.log(`bridge: ${e.type} ${e.message}`) });

  // "Another host": anyone on Redis, here a RedisTopic of the same name.
  const far = new RedisTopic(redis, remote);
  const farSub = await far.subscribe();

  const text = 'EURUSD 1.0842 (from this host)';
  prices.publish(Buffer.from(text));
  // On Redis the bridge frames each message (its origin and a number, so that no bridge loops it back).
  const framed = await farSub.receive({ timeout: 5000 });
  console.log(`on Redis: ${framed.length} bytes, the bridge's frame around "${framed.subarray(framed.length - text.length).toString()}"`);
  await far.publish(Buffer.from('GBPUSD 1.2710 (from Redis)'));
  console.log(`locally:  ${(await mine.receive({ timeout: 5000 })).toString()}`); // our own message, published here
  console.log(`locally:  ${(await mine.receive({ timeout: 5000 })).toString()}`); // the one from Redis, carried in

  // Nothing loops: the message carried in is not sent out again.
  await new Promise((resolve) => setTimeout(resolve, 300));
  console.log(`nothing more locally: ${mine.tryReceive() === undefined}`);
  const s = bridge.stats();
  console.log(`stats: sent ${s.sent}, received ${s.received}, lag ${s.lag}, errors ${s.errors}`);

  await bridge.close();
  farSub.close();
  far.close();
  prices.close();
  Topic.unlink(local);
  await redis.quit();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
