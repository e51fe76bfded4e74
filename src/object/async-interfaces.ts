// The async interfaces of Dict, Queue and Topic: what application code
// written once runs against, whatever holds the data (this host's shared
// memory, Redis, or the two-level Dict of `shmkit/redis`).
//
// Every result is `Awaitable`: the shared-memory classes answer at once
// (their synchronous API stays as it is) and the remote ones with a Promise,
// so code that `await`s every call runs unchanged on either. The option
// shapes are the shared-memory kinds' own; a remote backend reads `timeout`
// as its bound on the round trip.
import type { DictValue, DictSetOptions, DictIncrOptions, DictWriteOptions } from '../dict/dict.js';
import type { WaitOptions } from '../sync/options.js';
import type { SendableOf } from '../channel/codec.js';
import type { PublishOptions, SubscribeOptions } from '../channel/topic.js';

/** A value, or a Promise of it: what an async-interface method returns. */
export type Awaitable<T> = T | Promise<T>;

/** Where an object's data lives. */
export type Backend = 'shm' | 'redis' | 'two-level';

/** What every backend states about itself (`object.capabilities`). */
export interface Capabilities {
  /** Where the data lives. */
  readonly backend: Backend;
  /** Who sees the same object: the processes of one host, or every host reaching the same Redis. */
  readonly scope: 'host' | 'hosts';
}

/** What a Dict backend guarantees; differences between backends are stated here, never silent. */
export interface DictCapabilities extends Capabilities {
  /**
   * What happens when memory runs out: `'lru'`, least recently used entries
   * go (unless a write asks `evict: false`); `'server'`, the Redis server's
   * `maxmemory-policy` decides (shmkit cannot see or report what it evicts).
   */
  readonly eviction: 'lru' | 'server';
  /** Granularity of TTLs, in ms. */
  readonly ttlPrecision: number;
  /** Largest value, in bytes (after encoding). */
  readonly maxValue: number;
  /**
   * How reads relate to writes: `'atomic'`, every read sees every write
   * before it; `'near-copy'`, a host's copy may lag another host's write by
   * up to the invalidation delay; `'synced-counter'`, counters add locally and
   * reach the others every `syncInterval`.
   */
  readonly consistency: 'atomic' | 'near-copy' | 'synced-counter';
}

/** What a Queue backend guarantees. */
export interface QueueCapabilities extends Capabilities {
  /**
   * `receive`: `'at-most-once'` when `receive()`/`tryReceive()` take a
   * message away as they return it (a consumer that dies right after loses
   * it); `'at-least-once'` when a consumer that dies inside the call may
   * leave it to be delivered again. `peek`: `tryPeek()` then `release()`
   * keeps the message until released, and a consumer that dies holding it
   * has it delivered again (at least once).
   */
  readonly delivery: { readonly receive: 'at-most-once' | 'at-least-once'; readonly peek: 'at-least-once' };
  /** Order of delivery: first sent, first received (per queue). */
  readonly ordering: 'fifo';
  /** Largest message, in encoded bytes. */
  readonly maxMessage: number;
  /**
   * Longest time, in ms, before a message held by a dead consumer is
   * delivered to another one. 0: at once (the shared-memory Queue learns of
   * the death from the kernel).
   */
  readonly redeliveryBound: number;
}

/** What a Topic backend guarantees. */
export interface TopicCapabilities extends Capabilities {
  /** Every subscriber sees messages in publication order. */
  readonly ordering: 'total';
  /** Largest message, in encoded bytes. */
  readonly maxMessage: number;
  /** `'exact'`: a subscriber that falls behind the history kept learns exactly how many messages it missed. */
  readonly lagDetection: 'exact';
}

/**
 * A Dict as application code sees it on any backend: ngx.shared.DICT
 * semantics (see `Dict`), every result awaitable.
 */
export interface AsyncDict {
  /** What this backend guarantees. */
  readonly capabilities: DictCapabilities;
  /** The value of `key`, or undefined when absent or expired. */
  get(key: string): Awaitable<DictValue | undefined>;
  /** Stores `value` under `key`. */
  set(key: string, value: DictValue, options?: DictSetOptions): Awaitable<{ evicted: number }>;
  /** Stores only when `key` is absent; false when present. */
  add(key: string, value: DictValue, options?: DictSetOptions): Awaitable<boolean>;
  /** Stores only when `key` is present; false when absent. */
  replace(key: string, value: DictValue, options?: DictSetOptions): Awaitable<boolean>;
  /** Removes `key`; false when it was absent. */
  delete(key: string, options?: DictWriteOptions): Awaitable<boolean>;
  /** Adds `delta` to a number (or bigint) value; `init` starts a missing key. */
  incr(key: string, delta: number, options: DictIncrOptions & { init: number }): Awaitable<number>;
  incr(key: string, delta: bigint, options: DictIncrOptions & { init: bigint }): Awaitable<bigint>;
  incr(key: string, delta: number, options?: DictIncrOptions): Awaitable<number | undefined>;
  incr(key: string, delta: bigint, options?: DictIncrOptions): Awaitable<bigint | undefined>;
  incr(key: string, delta: number | bigint, options?: DictIncrOptions): Awaitable<number | bigint | undefined>;
  /**
   * `incr`, and how long `key` has left to live after it (ms; 0: no TTL),
   * in one atomic step: `{ value, ttl }`, or undefined where `incr` answers
   * undefined. `ttl` is the one given when the call started the key.
   */
  incrWithTtl(key: string, delta: number, options: DictIncrOptions & { init: number }): Awaitable<{ value: number; ttl: number }>;
  incrWithTtl(key: string, delta: bigint, options: DictIncrOptions & { init: bigint }): Awaitable<{ value: bigint; ttl: number }>;
  incrWithTtl(key: string, delta: number, options?: DictIncrOptions): Awaitable<{ value: number; ttl: number } | undefined>;
  incrWithTtl(key: string, delta: bigint, options?: DictIncrOptions): Awaitable<{ value: bigint; ttl: number } | undefined>;
  incrWithTtl(key: string, delta: number | bigint, options?: DictIncrOptions): Awaitable<{ value: number | bigint; ttl: number } | undefined>;
  /** Milliseconds `key` has left: 0 when it never expires, undefined when absent. */
  ttl(key: string): Awaitable<number | undefined>;
  /** Sets a new TTL (0: never expires); false when `key` is absent. */
  expire(key: string, ttl: number, options?: DictWriteOptions): Awaitable<boolean>;
  /** Stores `value` only when the current value equals `expected` (undefined: absent). */
  compareAndSet(key: string, expected: DictValue | undefined, value: DictValue, options?: DictSetOptions): Awaitable<boolean>;
  /** Pushes onto the head of a list; returns its new length. */
  lpush(key: string, value: string | number, options?: DictWriteOptions): Awaitable<number>;
  /** Pushes onto the tail of a list; returns its new length. */
  rpush(key: string, value: string | number, options?: DictWriteOptions): Awaitable<number>;
  /** Takes the head of a list; undefined when empty or absent. */
  lpop(key: string, options?: DictWriteOptions): Awaitable<string | number | undefined>;
  /** Takes the tail of a list; undefined when empty or absent. */
  rpop(key: string, options?: DictWriteOptions): Awaitable<string | number | undefined>;
  /** Length of a list (0 when absent). */
  llen(key: string): Awaitable<number>;
  /** Up to `max` keys (default 1024; 0: all). */
  keys(max?: number): Awaitable<string[]>;
  /** Removes every entry. */
  flushAll(options?: DictWriteOptions): Awaitable<void>;
  /** Reclaims up to `max` expired entries (0 or absent: all); returns how many. */
  flushExpired(max?: number, options?: DictWriteOptions): Awaitable<number>;
  /** Releases this handle (the data stays). */
  close(): Awaitable<void>;
}

/** A Queue as application code sees it on any backend. */
export interface AsyncQueue<T = Buffer> extends AsyncIterable<T> {
  /** What this backend guarantees. */
  readonly capabilities: QueueCapabilities;
  /** Sends, waiting while the queue is full. */
  send(message: SendableOf<T>, options?: WaitOptions): Promise<void>;
  /** Sends if the message fits now; false only when the queue is full. */
  trySend(message: SendableOf<T>): Awaitable<boolean>;
  /** Takes the next message, waiting while the queue is empty. */
  receive(options?: WaitOptions): Promise<T>;
  /** Takes the next message, or undefined when none is there. */
  tryReceive(): Awaitable<T | undefined>;
  /**
   * Holds the next message (its encoded bytes) without taking it away;
   * `release()` takes it. A consumer that dies holding one has it
   * delivered again (`capabilities.redeliveryBound`).
   */
  tryPeek(): Awaitable<Uint8Array | undefined>;
  /** Takes away the message `tryPeek()` holds. */
  release(): Awaitable<void>;
  /** Releases this handle (the queue and its messages stay). */
  close(): Awaitable<void>;
}

/** A Topic's subscriber as application code sees it on any backend. */
export interface AsyncSubscriber<T = Buffer> extends AsyncIterable<T> {
  /** Messages this subscriber lost by falling behind the history kept (with `onLag: 'skip'`). */
  readonly missed: number;
  /** The next message, waiting for one; rejects with LaggedError after a lap (`onLag: 'throw'`). */
  receive(options?: WaitOptions): Promise<T>;
  /** The next message, or undefined when it has read them all. */
  tryReceive(): Awaitable<T | undefined>;
  /** Stops this subscription. */
  close(): Awaitable<void>;
}

/** A Topic as application code sees it on any backend. */
export interface AsyncTopic<T = Buffer> {
  /** What this backend guarantees. */
  readonly capabilities: TopicCapabilities;
  /** Publishes to every subscriber; the oldest messages go when the history is full. */
  publish(message: SendableOf<T>, options?: PublishOptions): Awaitable<void>;
  /** A new subscriber, from the latest message on (default) or the earliest kept. */
  subscribe(options?: SubscribeOptions): Awaitable<AsyncSubscriber<T>>;
  /** Releases this handle (the topic stays). */
  close(): Awaitable<void>;
}
