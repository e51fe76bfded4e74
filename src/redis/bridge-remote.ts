// The other side of a bridge: where its Topics and Queues live past this
// host. By default RedisTopic and RedisQueue on the bridge's client; any
// object implementing AsyncTopic / AsyncQueue with bytes messages will do.
import type { AsyncQueue, AsyncTopic } from '../index.js';
import type { RedisClient } from './remote.js';
import { RedisQueue } from './redis-queue.js';
import { RedisTopic } from './redis-topic.js';

/** Makes the remote objects a bridge carries messages to and from (bytes messages). */
export interface BridgeRemote {
  /** The remote Topic named `name`. */
  topic(name: string): AsyncTopic<Buffer>;
  /** The remote Queue named `name`. */
  queue(name: string): AsyncQueue<Buffer>;
}

/** What the bridge passes on to RedisTopic and RedisQueue. */
export interface RemoteSettings {
  commandTimeout: number;
  keyPrefix: string;
  /** Messages a Redis topic keeps; bytes a Redis queue holds (their defaults when undefined). */
  topicCapacity: number | undefined;
  queueCapacity: number | undefined;
  claimAfter: number | undefined;
}

/** RedisTopic / RedisQueue (bytes) on `redis`. */
export function defaultRemote(redis: RedisClient, s: RemoteSettings): BridgeRemote {
  const common = { commandTimeout: s.commandTimeout, keyPrefix: s.keyPrefix };
  return {
    topic: (name) => new RedisTopic(redis, name, s.topicCapacity === undefined ? common : { ...common, capacity: s.topicCapacity }),
    queue: (name) => new RedisQueue(redis, name, {
      ...common,
      ...(s.queueCapacity === undefined ? {} : { capacity: s.queueCapacity }),
      ...(s.claimAfter === undefined ? {} : { claimAfter: s.claimAfter }),
    }),
  };
}
