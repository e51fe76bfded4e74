// Invalidation of near copies across hosts, over Redis pub/sub.
//
// Why pub/sub and not keyspace notifications: it needs no server
// configuration (`notify-keyspace-events` is off by default and managed
// services often forbid CONFIG SET), a message carries its origin so a host
// skips its own writes, it names the key as the application spelled it (not
// the RedisDict's internal Redis key), and PUBLISH reaches every node's
// subscribers on a Redis Cluster.
//
// Pub/sub is at-most-once: a message published while this subscriber's
// connection is down is lost. So: while the connection is down the owner
// stops caching (`subscribed` is false), and when it is back and SUBSCRIBE
// has been confirmed again the owner drops the host's whole near copy
// (`resubscribed`). Whatever is lost in between is bounded by `nearTtl`, the
// maximum age of every near entry.
//
// ioredis is only a type here: the owner hands in the client, and the
// subscriber is its `duplicate()`.
import { bounded, describeClient, type RedisClient } from './remote.js';

/** What the owner does with what arrives. */
export interface InvalidationHandlers {
  /** Another host changed `key`. */
  key(key: string): void;
  /** Another host flushed the whole Dict. */
  all(): void;
  /** The subscription came back after a drop: messages may have been lost. */
  resubscribed(): void;
}

const OP_KEY = 'k';
const OP_ALL = 'a';

/** One process's subscriber and publisher for one two-level Dict. */
export class Invalidation {
  readonly channel: string;
  readonly #pub: RedisClient;
  readonly #sub: RedisClient;
  readonly #host: string;
  readonly #timeout: number;
  readonly #engine: string;
  readonly #handlers: InvalidationHandlers;
  readonly #first: Promise<void>;
  #subscribed = false;
  #subscribing = false;
  #everSubscribed = false;
  #closed = false;
  /** Messages from other hosts acted on. */
  received = 0;
  /** Times the subscription came back after a drop (each one flushed the near copy). */
  resubscriptions = 0;

  constructor(redis: RedisClient, channel: string, hostId: string, timeout: number, handlers: InvalidationHandlers) {
    this.channel = channel;
    this.#pub = redis;
    this.#host = hostId;
    this.#timeout = timeout;
    this.#engine = describeClient(redis);
    this.#handlers = handlers;
    this.#sub = redis.duplicate() as RedisClient;
    this.#sub.on('message', (ch: string, message: string) => this.#onMessage(ch, message));
    this.#sub.on('close', () => {
      this.#subscribed = false;
    });
    this.#sub.on('ready', () => {
      if (!this.#subscribed && !this.#subscribing && !this.#closed) this.#resubscribe();
    });
    // An 'error' listener keeps ioredis from printing every failed reconnect;
    // the failures reach callers through their own commands.
    this.#sub.on('error', () => {});
    this.#first = this.#subscribe();
    this.#first.catch(() => {}); // awaited through ready(); a failure here leaves caching off until a reconnect
  }

  /** True while SUBSCRIBE is confirmed and the connection is up: only then may the owner cache. */
  get subscribed(): boolean {
    return this.#subscribed;
  }

  /** Resolves once the first SUBSCRIBE is confirmed (rejects with ETIMEDOUT naming the server). */
  ready(): Promise<void> {
    return this.#first;
  }

  /** Tells the other hosts that `key` changed (after the change is in Redis). */
  async publishKey(key: string, timeout = this.#timeout): Promise<void> {
    await bounded(this.#pub.publish(this.channel, `${OP_KEY}${this.#host}\n${key}`), timeout, this.#engine, `PUBLISH (invalidate '${key}')`);
  }

  /** Tells the other hosts that every key changed. */
  async publishAll(timeout = this.#timeout): Promise<void> {
    await bounded(this.#pub.publish(this.channel, `${OP_ALL}${this.#host}\n`), timeout, this.#engine, 'PUBLISH (invalidate all)');
  }

  /** Stops listening; the owner's client stays open (it is the caller's). */
  close(): void {
    this.#closed = true;
    this.#subscribed = false;
    this.#sub.removeAllListeners('message');
    this.#sub.disconnect();
  }

  async #subscribe(): Promise<void> {
    this.#subscribing = true;
    try {
      await bounded(this.#sub.subscribe(this.channel), this.#timeout, this.#engine, `SUBSCRIBE ${this.channel}`);
    } finally {
      this.#subscribing = false;
    }
    if (this.#closed) return;
    // Flush BEFORE caching resumes: entries cached before the drop may have
    // missed a message (the first subscription has nothing to catch up on).
    if (this.#everSubscribed) {
      this.resubscriptions += 1;
      this.#handlers.resubscribed();
    }
    this.#everSubscribed = true;
    this.#subscribed = true;
  }

  // ioredis re-sends SUBSCRIBE itself on reconnect but says nothing when the
  // server confirms it; ours, sent after it on the same connection, does.
  #resubscribe(): void {
    this.#subscribe().catch(() => { /* still down: the next 'ready' tries again */ });
  }

  #onMessage(channel: string, message: string): void {
    if (channel !== this.channel || this.#closed) return;
    const nl = message.indexOf('\n');
    if (nl < 0) return; // not ours
    // The writing host already dropped its own copy (before publishing).
    if (message.slice(1, nl) === this.#host) return;
    this.received += 1;
    if (message[0] === OP_KEY) this.#handlers.key(message.slice(nl + 1));
    else if (message[0] === OP_ALL) this.#handlers.all();
  }
}
