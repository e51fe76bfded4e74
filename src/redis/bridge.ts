// The bridge (iceoryx2's tunnel, on Redis): one process per host carries
// named local Topics and Queues to Redis and back, so applications keep
// using this host's shared memory and still reach the other hosts.
// bridge-topic.ts and bridge-queue.ts do the carrying; this file opens the
// objects, runs the links, sums the counters and closes everything.
import { hostname } from 'node:os';
import { Queue, ShmkitError, Topic, type AsyncQueue, type AsyncTopic } from '../index.js';
import { checkClient, checkCommandTimeout, checkKeyPrefix, describeClient, type RedisClient, type RemoteOptions } from './remote.js';
import { Framer } from './bridge-envelope.js';
import type { BridgeEvent, Counters, LinkContext } from './bridge-link.js';
import { QueueLink, type BridgeQueueStats } from './bridge-queue.js';
import { defaultRemote, type BridgeRemote } from './bridge-remote.js';
import { TopicLink, type BridgeTopicStats } from './bridge-topic.js';

export type { BridgeEvent, BridgeQueueStats, BridgeRemote, BridgeTopicStats };

/** One Topic to carry both ways. */
export interface BridgeTopicOptions {
  /** The local Topic's name (`'/prices'` or `'prices'`); opened, or created with `capacity` when missing. */
  name: string;
  /** Data bytes of the local Topic when the bridge creates it (default 1 MiB). */
  capacity?: number;
  /** The Redis topic's name (default: `name` without its leading `/`). */
  remoteName?: string;
}

/** One Queue to carry one way. */
export interface BridgeQueueOptions {
  /** The local Queue's name; opened, or created with `capacity` when missing. */
  name: string;
  /** `'out'`: drain the local Queue into Redis; `'in'`: feed the local Queue from Redis. */
  direction: 'out' | 'in';
  /** Data bytes of the local Queue when the bridge creates it (default 1 MiB). */
  capacity?: number;
  /** The Redis queue's name (default: `name` without its leading `/`). */
  remoteName?: string;
}

/** Options of `startBridge()`. */
export interface BridgeOptions extends RemoteOptions {
  /** The ioredis client (`Redis` or `Cluster`); the bridge uses it and leaves it open. */
  redis: RedisClient;
  /** This bridge's label in the frames it puts on Redis and in its events (default: the host name). */
  id?: string;
  /** Topics to carry both ways (names, or options). */
  topics?: ReadonlyArray<string | BridgeTopicOptions>;
  /** Queues to carry one way each. */
  queues?: ReadonlyArray<BridgeQueueOptions>;
  /** Messages each Redis topic keeps (RedisTopic's `capacity`; its default, 1024, when absent). */
  remoteTopicCapacity?: number;
  /** Bytes each Redis queue holds (RedisQueue's `capacity`; its default, 1 MiB, when absent). */
  remoteQueueCapacity?: number;
  /** RedisQueue's `claimAfter`: how long a message a dead bridge held waits before another takes it (ms). */
  claimAfter?: number;
  /**
   * Topic messages in flight to Redis at once (default 64): round trips
   * overlap, order is kept (one connection). After a start or a failure,
   * one at a time until a publish succeeds.
   */
  window?: number;
  /** First pause after a failed Redis call, in ms (default 100; doubles up to 40×). */
  retryDelay?: number;
  /** Called with every event (outages, recoveries, lag, drops); the command logs them. */
  onEvent?: (event: BridgeEvent) => void;
  /** The objects on the other side (default: RedisTopic and RedisQueue on `redis`). */
  remote?: BridgeRemote;
}

/** Counters of a bridge (a snapshot). */
export interface BridgeStats {
  /** The bridge's id. */
  id: string;
  /** Messages carried from this host to Redis (Topics and `out` Queues). */
  sent: number;
  /** Messages carried from Redis to this host (Topics and `in` Queues). */
  received: number;
  /** Topic messages lost and counted: local laps, Redis trims, numbering gaps, drops (every Topic's `lagLocal + lagRemote + gaps + dropped`). */
  lag: number;
  /** Failed calls (Redis and local), each retried. */
  errors: number;
  /** Times a link got through to Redis again after an outage. */
  reconnects: number;
  /** Per Topic, by local name. */
  topics: Record<string, BridgeTopicStats>;
  /** Per Queue, by local name. */
  queues: Record<string, BridgeQueueStats>;
}

/** A running bridge (`startBridge()`). */
export interface Bridge {
  /** The bridge's id. */
  readonly id: string;
  /** A snapshot of its counters. */
  stats(): BridgeStats;
  /**
   * Stops: takes no new message, finishes what it holds (each Redis call
   * bounded by `commandTimeout`) or hands it back (a peeked local Queue
   * message to the local Queue, a peeked Redis message to Redis, which
   * delivers it again after `claimAfter`), closes every handle it opened,
   * and resolves. The ioredis client stays open. Idempotent.
   */
  close(): Promise<void>;
}

const DEFAULT_LOCAL_CAPACITY = 1 << 20;

/**
 * Starts a bridge: opens (or creates) each local Topic and Queue, and
 * carries their messages to Redis and back until `close()`. Resolves once
 * every link has made its first attempt to reach Redis; a Redis that is
 * down then is retried (and reported through `onEvent`), not waited for.
 */
export async function startBridge(options: BridgeOptions): Promise<Bridge> {
  if (options === null || typeof options !== 'object') throw new ShmkitError('ERR_INVALID_ARG_TYPE', 'The "options" argument must be an object');
  const redis = checkClient(options.redis);
  const commandTimeout = checkCommandTimeout(options.commandTimeout);
  const keyPrefix = checkKeyPrefix(options.keyPrefix);
  const window = positive(options.window, 'window', 64);
  const retryDelay = positive(options.retryDelay, 'retryDelay', 100);
  const framer = new Framer(options.id ?? hostname());
  const remote = options.remote ?? defaultRemote(redis, { commandTimeout, keyPrefix, topicCapacity: options.remoteTopicCapacity, queueCapacity: options.remoteQueueCapacity, claimAfter: options.claimAfter });
  const onEvent = options.onEvent;
  const controller = new AbortController();
  const counters: Counters = { errors: 0, reconnects: 0 };
  const ctx: LinkContext = {
    engine: describeClient(redis),
    commandTimeout,
    retryDelay,
    closing: controller.signal,
    counters,
    emit: (event) => {
      try {
        onEvent?.(event);
      } catch {
        // a throwing listener must not stop the links
      }
    },
  };

  const closers: Array<() => unknown> = [];
  const topics: TopicLink[] = [];
  const queues: QueueLink[] = [];
  try {
    for (const t of options.topics ?? []) {
      const spec = typeof t === 'string' ? { name: t } : t;
      const local = openLocal<Topic<Buffer>>(Topic, spec.name, spec.capacity);
      closers.push(() => local.close());
      const far: AsyncTopic<Buffer> = remote.topic(spec.remoteName ?? bare(spec.name));
      closers.push(() => far.close());
      topics.push(new TopicLink(ctx, local.name ?? spec.name, local, far, framer, window));
    }
    for (const q of options.queues ?? []) {
      if (q?.direction !== 'out' && q?.direction !== 'in') {
        throw new ShmkitError('ERR_INVALID_ARG_VALUE', `A queue's "direction" must be 'out' or 'in'. Received ${String(q?.direction)}`);
      }
      const local = openLocal<Queue<Buffer>>(Queue, q.name, q.capacity);
      closers.push(() => local.close());
      const far: AsyncQueue<Buffer> = remote.queue(q.remoteName ?? bare(q.name));
      closers.push(() => far.close());
      queues.push(new QueueLink(ctx, local.name ?? q.name, q.direction, local, far));
    }
  } catch (err) {
    await closeAll(closers, commandTimeout);
    throw err;
  }
  if (topics.length === 0 && queues.length === 0) {
    throw new ShmkitError('ERR_INVALID_ARG_VALUE', 'A bridge needs at least one topic or queue');
  }

  // Each Topic subscribes on Redis before start resolves: what is published after that is carried.
  await Promise.all(topics.map((t) => t.subscribeRemote()));
  const running = Promise.all([...topics.map((t) => t.run()), ...queues.map((q) => q.run())]);
  let closed: Promise<void> | undefined;

  return {
    id: framer.origin,
    stats: () => snapshot(framer.origin, counters, topics, queues),
    close: () => {
      closed ??= (async () => {
        controller.abort();
        await running;
        await closeAll(closers, commandTimeout);
        for (const l of [...topics, ...queues]) l.closed();
      })();
      return closed;
    },
  };
}

function snapshot(id: string, counters: Counters, topics: TopicLink[], queues: QueueLink[]): BridgeStats {
  const s: BridgeStats = { id, sent: 0, received: 0, lag: 0, errors: counters.errors, reconnects: counters.reconnects, topics: {}, queues: {} };
  for (const t of topics) {
    const c = { ...t.stats };
    s.topics[t.name] = c;
    s.sent += c.sent;
    s.received += c.received;
    s.lag += c.lagLocal + c.lagRemote + c.gaps + c.dropped;
  }
  for (const q of queues) {
    const c = { ...q.stats };
    s.queues[q.name] = c;
    if (c.direction === 'out') s.sent += c.moved;
    else s.received += c.moved;
  }
  return s;
}

// Local objects: opened when they exist (whatever their capacity), created when missing.
function openLocal<H>(kind: { open(name: string): H; openOrCreate(name: string, options: { capacity: number }): H }, name: string, capacity: number | undefined): H {
  if (typeof name !== 'string' || name === '') throw new ShmkitError('ERR_INVALID_ARG_VALUE', `A bridged object's "name" must be a non-empty string. Received ${String(name)}`);
  const path = name.startsWith('/') ? name : `/${name}`;
  try {
    return kind.open(path);
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') throw err;
  }
  return kind.openOrCreate(path, { capacity: capacity ?? DEFAULT_LOCAL_CAPACITY });
}

function bare(name: string): string {
  return name.startsWith('/') ? name.slice(1) : name;
}

function positive(value: unknown, what: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ShmkitError('ERR_OUT_OF_RANGE', `The "${what}" option must be a positive number. Received ${String(value)}`);
  }
  return value;
}

// Closes in reverse order of opening; a remote close is bounded, a failure does not stop the others.
async function closeAll(closers: Array<() => unknown>, commandTimeout: number): Promise<void> {
  for (const close of closers.reverse()) {
    try {
      await Promise.race([Promise.resolve(close()), new Promise((resolve) => setTimeout(resolve, commandTimeout).unref())]);
    } catch {
      // already closed, or Redis is away: the handle is dropped either way
    }
  }
  closers.length = 0;
}
