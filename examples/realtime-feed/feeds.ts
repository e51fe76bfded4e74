// The one place that knows the backends. The ingest hands each tick to a
// TickSink; a worker reads them from a Feed, one subscription per client.
// On `shm` and `redis` both are the same kind of object, a Topic (the
// workers see it through shmkit's AsyncTopic interface, so one worker code
// serves both); `ipc` is the reference without shared memory. ioredis (an
// optional peer dependency of shmkit) is loaded only for `redis`.
import type { Worker } from 'node:cluster';
import { Topic, type AsyncTopic } from 'shmkit';
import { RedisTopic } from 'shmkit/redis';
import { redisTopicName, topicName, type Config } from './config.js';
import { LocalTopic } from './local-topic.js';
import { TICK_LENGTH } from './tick.js';

/** What a worker subscribes to. */
export type Feed = Pick<AsyncTopic<Buffer>, 'subscribe' | 'close'>;

/** Where the ingest publishes. */
export interface TickSink {
  /** One line saying where the ticks go. */
  readonly where: string;
  /** Ticks a Topic of this configuration keeps. */
  readonly ticksKept: number;
  /** Hands one tick on; false when it was dropped (see `failed`). */
  publish(tick: Buffer): boolean;
  /** Ticks that could not be published (a Redis error, or too many in flight). */
  readonly failed: number;
  /** Waits (bounded) for what is in flight, releases the handle and removes the topic. */
  close(): Promise<void>;
}

// A shared-memory record is a 16-byte header and the message, rounded up to
// 8 bytes (docs/API.md, Topic: maxMessage = capacity / 4 - 16).
const SHM_RECORD = 16 + TICK_LENGTH;

/** The ring capacity (bytes, a power of two) that keeps at least `ticks` ticks. */
export function shmCapacity(ticks: number): number {
  return Math.max(128, 2 ** Math.ceil(Math.log2(ticks * SHM_RECORD)));
}

/** Opens what the ingest publishes to; `workers()` lists the live workers (for `ipc`). */
export async function openSink(config: Config, workers: () => Worker[]): Promise<TickSink> {
  switch (config.backend) {
    case 'shm':
      return shmSink(config);
    case 'redis':
      return redisSink(await openRedisTopic(config), config);
    case 'ipc':
      return ipcSink(config, workers);
  }
}

/** Opens what a worker's clients subscribe to. */
export async function openFeed(config: Config): Promise<Feed> {
  switch (config.backend) {
    case 'shm':
      // spin: 0: a receive that finds nothing parks at once. Spinning (the
      // default, 100 µs, for a thread that waits for one thing) would hold
      // the event loop, and every other client of the worker, for each wait.
      return Topic.open(topicName(config), { spin: 0 });
    case 'redis': {
      const { redis, topic } = await openRedisTopic(config);
      return {
        subscribe: (options) => topic.subscribe(options),
        async close() {
          topic.close();
          await redis.quit().catch(() => redis.disconnect());
        },
      };
    }
    case 'ipc': {
      // The primary sends each tick as a base64 string (the default `json`
      // serialisation of cluster IPC, as most code uses it); its other
      // messages are objects.
      const local = new LocalTopic(config.ticksKept);
      process.on('message', (m: unknown) => {
        if (typeof m === 'string') local.publish(Buffer.from(m, 'base64'));
      });
      return local;
    }
  }
}

function shmSink(config: Config): TickSink {
  const name = topicName(config);
  let topic: Topic<Buffer>;
  try {
    topic = Topic.create(name, { capacity: shmCapacity(config.ticksKept) });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new Error(`${name} exists: another feed with FEED_PREFIX=${config.prefix} runs, or one was killed (remove it with: npx shmkit rm ${name})`);
    }
    throw err;
  }
  const kept = Math.floor(topic.capacity / SHM_RECORD);
  return {
    where: `shmkit Topic ${name} (${topic.capacity / 1024} KiB, ${kept} ticks kept)`,
    ticksKept: kept,
    failed: 0,
    publish(tick) {
      topic.publish(tick); // never waits for subscribers or for room
      return true;
    },
    async close() {
      topic.close();
      Topic.unlink(name);
    },
  };
}

/** Publishes in flight at most (beyond: dropped and counted). */
const MAX_IN_FLIGHT = 4096;

async function openRedisTopic(config: Config) {
  const { Redis } = await import('ioredis');
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 2 });
  return { redis, topic: new RedisTopic(redis, redisTopicName(config), { capacity: config.ticksKept }) };
}

function redisSink({ redis, topic }: Awaited<ReturnType<typeof openRedisTopic>>, config: Config): TickSink {
  // Several publishes go out at once (ioredis keeps their order on its
  // connection) only once one has succeeded: the first use of the script
  // on a server falls back from EVALSHA to EVAL, and publishes overlapping
  // that could land out of order. Until then, and after an error, they go
  // one at a time from `waiting`.
  let warm = false;
  let inFlight = 0;
  let failed = 0;
  const waiting: Buffer[] = [];
  let draining: Promise<void> | undefined;
  const idle: Array<() => void> = [];
  const settled = (): void => {
    if (inFlight === 0 && draining === undefined) idle.splice(0).forEach((f) => f());
  };
  const fail = (err: unknown): void => {
    failed++;
    warm = false;
    if (failed === 1 || failed % 1000 === 0) console.error(`realtime-feed: publish to Redis failed (${failed} so far): ${(err as Error).message}`);
  };
  const drain = async (): Promise<void> => {
    while (waiting.length > 0) {
      const tick = waiting.shift() as Buffer;
      try {
        await topic.publish(tick);
        warm = true;
      } catch (err) {
        fail(err);
      }
    }
    draining = undefined;
    settled();
  };
  return {
    where: `RedisTopic ${topic.key} on ${config.redisUrl} (${config.ticksKept} ticks kept)`,
    ticksKept: config.ticksKept,
    get failed() {
      return failed;
    },
    publish(tick) {
      if (inFlight + waiting.length >= MAX_IN_FLIGHT) {
        failed++;
        return false;
      }
      if (!warm || draining !== undefined) {
        waiting.push(tick);
        draining ??= drain();
        return true;
      }
      inFlight++;
      topic.publish(tick).then(
        () => {
          inFlight--;
          settled();
        },
        (err) => {
          inFlight--;
          fail(err);
          settled();
        },
      );
      return true;
    },
    async close() {
      if (inFlight > 0 || draining !== undefined) {
        await Promise.race([new Promise<void>((resolve) => idle.push(resolve)), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
      }
      const key = topic.key;
      topic.close();
      await redis.del(key, `${key}:seq`).catch((err: Error) => console.error(`realtime-feed: could not remove ${key}: ${err.message}`));
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

function ipcSink(config: Config, workers: () => Worker[]): TickSink {
  return {
    where: `process.send to every worker (cluster IPC; ${config.ticksKept} ticks kept in each worker)`,
    ticksKept: config.ticksKept,
    failed: 0,
    publish(tick) {
      const text = tick.toString('base64');
      for (const w of workers()) if (w.isConnected()) w.send(text);
      return true;
    },
    async close() {},
  };
}
