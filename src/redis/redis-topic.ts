/**
 * RedisTopic: the Topic of `shmkit` on a Redis Stream trimmed to
 * `capacity` messages, so publishers and subscribers on many hosts share
 * one topic. Each message carries a sequence number (its entry id) taken
 * in the same Lua script that adds it, so a subscriber that falls behind
 * the history kept learns exactly how many it missed, as on shared memory.
 *
 * Where things are:
 *   stream-topic-scripts.ts  the keys and the Lua scripts
 *   redis-subscriber.ts      a subscriber: its position, lag, blocking reads
 *   redis-topic.ts           this file: the public API
 */
import { ShmkitError, type AsyncTopic, type BytesEncoding, type JsonEncoding, type JsonValue, type PublishOptions, type SendableOf, type SubscribeOptions, type TopicCapabilities, type V8Encoding } from '../index.js';
import { bounded, checkClient, checkCommandTimeout, checkKeyPrefix, describeClient, type RedisClient, type RemoteOptions } from './remote.js';
import { checkEncoding, encodeMessage, encodedLength, type MessageEncoding } from './message-codec.js';
import { checkChannelName, checkIntOption, checkOptionsObject } from './stream-options.js';
import { PUBLISH, START } from './stream-topic-scripts.js';
import { RedisSubscriber, type TopicLink } from './redis-subscriber.js';
import { batcherOf, type Batcher } from './pipeline-batch.js';
import type { Cluster, Redis } from 'ioredis';

/** Options of a RedisTopic handle. */
export interface RedisTopicOptions extends RemoteOptions {
  /**
   * Messages kept (default 1024): publishing trims the Stream to exactly
   * this many (MAXLEN =). A subscriber further behind misses the oldest.
   * Every handle of one topic should give the same value.
   */
  capacity?: number;
  /** Send and receive objects: `'json'` (JSON text) or `'v8'` (structured clone); default bytes. */
  encoding?: 'json' | 'v8';
  /**
   * Send the publishes made in one tick (with the calls of every handle on
   * the client with `batch: true`: RedisDict, RedisQueue, RedisTopic) in
   * one socket write, as a `pipeline()` would, with one deadline timer per
   * batch (default false: each publish is sent as it is made). A command sent on the client directly
   * in the same tick goes before or after the whole batch (this topic's
   * subscribers send the batch first). Ignored for a `Cluster` client,
   * which sends each call on its own.
   */
  batch?: boolean;
}

function nothing(): void {
  // A publish answers nothing the caller needs.
}

/** Default `capacity`: messages kept. */
export const DEFAULT_TOPIC_CAPACITY = 1024;
/** Largest message: Redis's default proto-max-bulk-len (512 MiB). */
const REDIS_MAX_BULK = 512 * 1024 * 1024;

/** What `new RedisTopic(...)` returns, typed by `options.encoding`. */
export interface RedisTopicConstructor {
  /** A bytes topic (`Buffer` received; strings sent as UTF-8). */
  new (redis: RedisClient, name: string, options?: RedisTopicOptions & BytesEncoding): RedisTopic<Buffer>;
  /** A JSON topic (`JsonValue`, or the type you name). */
  new <T = JsonValue>(redis: RedisClient, name: string, options: RedisTopicOptions & JsonEncoding): RedisTopic<T>;
  /** A structured-clone topic (`unknown`, or the type you name). */
  new <T = unknown>(redis: RedisClient, name: string, options: RedisTopicOptions & V8Encoding): RedisTopic<T>;
  readonly prototype: RedisTopic<unknown>;
}

/**
 * A Topic on Redis (`AsyncTopic`): every subscriber sees every message in
 * publication order, from any host. See docs/API.md "RedisTopic".
 */
class RedisTopicImpl<T = Buffer> implements AsyncTopic<T> {
  readonly #redis: RedisClient;
  readonly #name: string;
  readonly #label: string;
  readonly #engine: string;
  readonly #encoding: MessageEncoding;
  readonly #capacity: number;
  readonly #timeout: number;
  readonly #stream: string;
  readonly #seqKey: string;
  readonly #publishArgv: Array<string | Buffer | number>;
  readonly #subscribers = new Set<RedisSubscriber<unknown>>();
  readonly #link: TopicLink;
  #closed = false;
  /** This tick's publishes, sent as one pipeline (null: each is sent as it is made). */
  readonly #batch: Batcher | null;
  /** What a publish's errors name. */
  readonly #publishWhat: string;
  /** A batched publish failed: NOSCRIPT sends it again as EVAL (made once per handle, no closure per call). */
  readonly #publishFailed: (err: unknown) => Promise<void>;

  constructor(redis: RedisClient, name: string, options?: RedisTopicOptions) {
    this.#redis = checkClient(redis);
    this.#name = checkChannelName(name, 'RedisTopic');
    const opts = checkOptionsObject<RedisTopicOptions>(options);
    this.#encoding = checkEncoding(opts.encoding);
    this.#capacity = checkIntOption('capacity', opts.capacity, 1, 2 ** 31 - 1, DEFAULT_TOPIC_CAPACITY);
    this.#timeout = checkCommandTimeout(opts.commandTimeout);
    const prefix = checkKeyPrefix(opts.keyPrefix);
    this.#label = `RedisTopic '${this.#name}'`;
    this.#engine = describeClient(this.#redis);
    this.#stream = `${prefix}topic:{${this.#name}}`;
    this.#seqKey = `${this.#stream}:seq`;
    this.#publishArgv = ['', 2, this.#stream, this.#seqKey, String(this.#capacity), ''];
    this.#publishWhat = `EVALSHA publish (${this.#label})`;
    const batch = opts.batch;
    if (batch !== undefined && typeof batch !== 'boolean') throw new ShmkitError('ERR_INVALID_ARG_TYPE', `The "options.batch" option must be of type boolean. Received ${String(batch)}`);
    this.#batch = batch === true && (this.#redis as Cluster).isCluster !== true ? batcherOf(this.#redis as Redis, this.#engine) : null;
    this.#publishFailed = (err) => PUBLISH.retry(this.#redis, err, this.#timeout, this.#engine).then(nothing);
    const subscribers = this.#subscribers;
    const batcher = this.#batch;
    this.#link = {
      redis: this.#redis, engine: this.#engine, label: this.#label, stream: this.#stream, seqKey: this.#seqKey,
      encoding: this.#encoding, commandTimeout: this.#timeout,
      forget: (s) => { subscribers.delete(s); },
      flush: batcher === null ? nothing : () => { batcher.flush(); },
    };
  }

  /** What this backend guarantees (see docs/API.md, "RedisTopic"). */
  get capabilities(): TopicCapabilities {
    this.#checkOpen();
    return { backend: 'redis', scope: 'hosts', ordering: 'total', maxMessage: REDIS_MAX_BULK, lagDetection: 'exact' };
  }

  /** Messages kept. */
  get capacity(): number {
    this.#checkOpen();
    return this.#capacity;
  }

  /** Largest message, in encoded bytes (Redis's bulk limit, 512 MiB). */
  get maxMessage(): number {
    this.#checkOpen();
    return REDIS_MAX_BULK;
  }

  /** The topic's name (inside the key's hash tag). */
  get name(): string {
    return this.#name;
  }

  /** The Stream's key (`<keyPrefix>topic:{<name>}`); the counter is `<key>:seq`. */
  get key(): string {
    return this.#stream;
  }

  /** True once close() has run. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Publishes to every subscriber (one script: number, add, trim). The
   * options' `timeout` is the bound on the round trip (default
   * commandTimeout).
   */
  publish(message: SendableOf<T>, options?: PublishOptions): Promise<void> {
    try {
      this.#checkOpen();
      const bytes = encodeMessage(this.#encoding, message, this.#label);
      const length = encodedLength(bytes);
      if (length > REDIS_MAX_BULK) throw new ShmkitError('ERR_OUT_OF_RANGE', `${this.#label}: a ${length}-byte message is larger than maxMessage (${REDIS_MAX_BULK} bytes)`);
      const wait = this.#roundTrip(options);
      const argv = this.#publishArgv;
      argv[5] = bytes;
      const batch = this.#batch;
      if (batch !== null) {
        PUBLISH.queue(batch.commander(), argv);
        return batch.add(wait, this.#publishWhat, '', null, nothing, this.#publishFailed);
      }
      return bounded(PUBLISH.run(this.#redis, argv), wait, this.#engine, this.#publishWhat).then(nothing);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * A new subscriber (one round trip to learn where it starts): from the
   * next message published (`from: 'latest'`, default) or the oldest kept
   * (`'earliest'`); `onLag` as on shared memory.
   */
  async subscribe(options?: SubscribeOptions): Promise<RedisSubscriber<T>> {
    this.#checkOpen();
    const opts = checkOptionsObject<SubscribeOptions>(options);
    const from = opts.from ?? 'latest';
    if (from !== 'latest' && from !== 'earliest') throw new ShmkitError('ERR_INVALID_ARG_VALUE', `The "options.from" option must be 'latest' or 'earliest'. Received ${String(from)}`);
    const onLag = opts.onLag ?? 'throw';
    if (onLag !== 'throw' && onLag !== 'skip') throw new ShmkitError('ERR_INVALID_ARG_VALUE', `The "options.onLag" option must be 'throw' or 'skip'. Received ${String(onLag)}`);
    this.#batch?.flush(); // the start comes after this tick's publishes
    const next = await bounded(START.run(this.#redis, ['', 2, this.#stream, this.#seqKey, from]), this.#roundTrip(opts), this.#engine, `EVALSHA start (${this.#label} subscribe)`) as number;
    this.#checkOpen();
    const subscriber = RedisSubscriber.make<T>(this.#link, next, onLag === 'throw');
    this.#subscribers.add(subscriber as RedisSubscriber<unknown>);
    return subscriber;
  }

  /** Releases this handle and closes its subscribers (the topic and its messages stay). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of [...this.#subscribers]) s.close();
  }

  #roundTrip(options: { timeout?: number } | undefined): number {
    const t = options?.timeout;
    if (t === undefined) return this.#timeout;
    if (typeof t !== 'number' || !(t > 0)) throw new ShmkitError('ERR_OUT_OF_RANGE', `The "options.timeout" option must be a positive number of ms. Received ${String(t)}`);
    return t;
  }

  #checkOpen(): void {
    if (this.#closed) throw new ShmkitError('ERR_SHMKIT_CLOSED', `${this.#label} is closed`);
  }
}

/** A Topic on Redis; `new RedisTopic(redis, name, options)` (typed by `options.encoding`). */
export type RedisTopic<T = Buffer> = RedisTopicImpl<T>;
/** A Topic on Redis; `new RedisTopic(redis, name, options)` (typed by `options.encoding`). */
export const RedisTopic = RedisTopicImpl as unknown as RedisTopicConstructor;
