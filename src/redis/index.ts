/**
 * `shmkit/redis`: the same Dict, Queue and Topic across hosts, on Redis.
 * Build them from an `ioredis` client (`Redis` or `Cluster`; ioredis is an
 * optional peer dependency: install it next to shmkit). They implement the
 * async interfaces (`AsyncDict`, `AsyncQueue`, `AsyncTopic`) that the
 * shared-memory classes implement too, so code written against those runs on
 * either.
 *
 * ```ts
 * import Redis from 'ioredis';
 * import { RedisDict } from 'shmkit/redis';
 * const dict = new RedisDict(new Redis(), 'sessions');
 * await dict.set('user:1', 'alice', { ttl: 60_000 });
 * ```
 */
export { RedisDict, type RedisDictOptions } from './redis-dict.js';
export { RedisQueue, DEFAULT_QUEUE_CAPACITY, DEFAULT_CLAIM_AFTER } from './redis-queue.js';
export type { RedisQueueOptions, RedisQueueConstructor } from './redis-queue.js';
export { RedisTopic, DEFAULT_TOPIC_CAPACITY } from './redis-topic.js';
export type { RedisTopicOptions, RedisTopicConstructor } from './redis-topic.js';
export { RedisSubscriber } from './redis-subscriber.js';
export { TwoLevelDict } from './two-level-dict.js';
export type { TwoLevelDictOptions, TwoLevelMode, TwoLevelStats } from './two-level-dict.js';
export { startBridge } from './bridge.js';
export type { Bridge, BridgeEvent, BridgeOptions, BridgeQueueOptions, BridgeQueueStats, BridgeRemote, BridgeStats, BridgeTopicOptions, BridgeTopicStats } from './bridge.js';
