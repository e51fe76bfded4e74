/**
 * RedisQueue: the Queue of `shmkit` on a Redis Stream with a consumer
 * group, so producers and consumers on many hosts share one queue.
 *
 * Sending is one Lua script (capacity check + XADD, counting encoded bytes
 * as the shared-memory Queue does). Taking is read-then-acknowledge: a
 * script reads the next entry for this consumer (first claiming any entry
 * a dead consumer has held longer than `claimAfter`), the entry stays
 * pending until a second script acknowledges and deletes it and gives its
 * bytes back. A consumer that dies in between, or while holding a peek,
 * leaves the entry pending, and the next consumer that reads claims it.
 *
 * Where things are:
 *   stream-queue-scripts.ts  the keys and the Lua scripts (the one rule of the accounting)
 *   stream-lane.ts           connections of its own for blocking waits
 *   message-codec.ts         bytes / 'json' / 'v8'
 *   redis-queue.ts           this file: the public API, waiting, redelivery
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { ShmkitError, type AsyncQueue, type BytesEncoding, type JsonEncoding, type JsonValue, type QueueCapabilities, type SendableOf, type V8Encoding, type WaitOptions } from '../index.js';
import { bounded, checkClient, checkCommandTimeout, checkKeyPrefix, describeClient, type RedisClient, type RemoteOptions } from './remote.js';
import { checkEncoding, decodeMessage, encodeMessage, encodedLength, type MessageEncoding } from './message-codec.js';
import { checkChannelName, checkIntOption, checkOptionsObject, deadlineOf, msLeft, parseWaitOptions } from './stream-options.js';
import { LanePool } from './stream-lane.js';
import { receiveUntilClosed } from './stream-receive.js';
import { ACK, GROUP, LEAVE, RENEW, SEND, TAKE } from './stream-queue-scripts.js';
import { batcherOf, type Batcher } from './pipeline-batch.js';
import type { Cluster, Redis } from 'ioredis';

/** Options of a RedisQueue handle. */
export interface RedisQueueOptions extends RemoteOptions {
  /**
   * Encoded bytes of messages the queue holds at most (sent and not yet
   * taken); default 1 MiB. `trySend` answers false, and `send` waits, when
   * a message would go past it. Every handle of one queue should give the
   * same value: each checks its own sends against its own.
   */
  capacity?: number;
  /** Send and receive objects: `'json'` (JSON text) or `'v8'` (structured clone); default bytes. */
  encoding?: 'json' | 'v8';
  /**
   * Milliseconds a message may stay taken-but-not-acknowledged before
   * another consumer claims it (default 30 000). A live handle holding a
   * peek renews its claim every claimAfter / 3, so only a dead (or frozen)
   * holder loses it.
   */
  claimAfter?: number;
  /**
   * Send the scripts of the calls made in one tick (by every handle on the
   * client with `batch: true`: RedisDict, RedisQueue, RedisTopic) in one
   * socket write, as a `pipeline()` would, with one deadline timer per
   * batch (default false: each call is sent as it is made). A command sent on the client directly in
   * the same tick goes before or after the whole batch. Ignored for a
   * `Cluster` client, which sends each call on its own.
   */
  batch?: boolean;
}

/** Default `capacity`: 1 MiB of encoded messages. */
export const DEFAULT_QUEUE_CAPACITY = 1 << 20;
/** Default `claimAfter`, in ms. */
export const DEFAULT_CLAIM_AFTER = 30_000;
/** Largest message: Redis's default proto-max-bulk-len (512 MiB). */
const REDIS_MAX_BULK = 512 * 1024 * 1024;
/** Longest single block of a waiting call: it also checks for dead consumers' entries this often. */
const MAX_SLICE_MS = 1000;
const MIN_SLICE_MS = 20;

/** What `new RedisQueue(...)` returns, typed by `options.encoding` like `Queue.create`. */
export interface RedisQueueConstructor {
  /** A bytes queue (`Buffer` received; strings sent as UTF-8). */
  new (redis: RedisClient, name: string, options?: RedisQueueOptions & BytesEncoding): RedisQueue<Buffer>;
  /** A JSON queue (`JsonValue`, or the type you name). */
  new <T = JsonValue>(redis: RedisClient, name: string, options: RedisQueueOptions & JsonEncoding): RedisQueue<T>;
  /** A structured-clone queue (`unknown`, or the type you name). */
  new <T = unknown>(redis: RedisClient, name: string, options: RedisQueueOptions & V8Encoding): RedisQueue<T>;
  readonly prototype: RedisQueue<unknown>;
}

// A message read and not yet acknowledged: its stream id and bytes.
interface Taken {
  readonly id: Buffer;
  readonly bytes: Buffer;
}

// What a batched call's errors name (the same as a call sent on its own).
const SEND_TRY = 'EVALSHA send (RedisQueue.trySend)';
const TAKE_TRY = 'EVALSHA take (RedisQueue.tryReceive)';
const ACK_TRY = 'EVALSHA ack (RedisQueue.tryReceive)';

function isOne(reply: unknown): boolean {
  return reply === 1;
}
function nothing(): void {
  // An acknowledgement answers nothing the caller needs.
}

/**
 * A Queue on Redis (`AsyncQueue`): any number of producers and consumers
 * on any hosts, FIFO, bounded by encoded bytes. See docs/API.md
 * "RedisQueue" for the keys it uses and how it differs from shared memory.
 */
class RedisQueueImpl<T = Buffer> implements AsyncQueue<T> {
  readonly #redis: RedisClient;
  readonly #name: string;
  readonly #label: string;
  readonly #engine: string;
  readonly #encoding: MessageEncoding;
  readonly #capacity: number;
  readonly #maxMessage: number;
  readonly #claimAfter: number;
  readonly #slice: number;
  readonly #timeout: number;
  readonly #consumer: string;
  readonly #stream: string;
  readonly #keys: { bytes: string; full: string; space: string };
  // Each script's argv, built once and reused (only the message/id slots change).
  readonly #sendArgv: Array<string | Buffer | number>;
  readonly #takeArgv: Array<string | Buffer | number>;
  readonly #ackArgv: Array<string | Buffer | number>;
  readonly #readArgv: Array<string | Buffer | number>;
  /** Blocking reads (XREADGROUP BLOCK) and waits for room (BLPOP), on connections of their own. */
  readonly #lanes: LanePool;
  // XAUTOCLAIM resumes where this handle's last scan of the pending list stopped.
  #cursor = '0-0';
  #peeked: Taken | null = null;
  #heartbeat: NodeJS.Timeout | null = null;
  #closed = false;
  /** This tick's scripts, sent as one pipeline (null: each is sent as it is made). */
  readonly #batch: Batcher | null;
  // Reply and failure handlers of batched scripts, made once per handle (no closure per call).
  readonly #sent: (err: unknown) => Promise<boolean>;
  readonly #took: (reply: Buffer[]) => Taken | null;
  readonly #tookForTry: (reply: Buffer[]) => Promise<T> | undefined;
  readonly #takeFailed: (err: unknown, took: (reply: Buffer[]) => unknown) => Promise<unknown>;
  readonly #acked: (reply: unknown, taken: Taken) => T;
  readonly #ackFailed: (err: unknown, taken: Taken) => Promise<T>;
  readonly #released: (err: unknown) => Promise<void>;

  constructor(redis: RedisClient, name: string, options?: RedisQueueOptions) {
    this.#redis = checkClient(redis);
    this.#name = checkChannelName(name, 'RedisQueue');
    const opts = checkOptionsObject<RedisQueueOptions>(options);
    this.#encoding = checkEncoding(opts.encoding);
    this.#capacity = checkIntOption('capacity', opts.capacity, 1, Number.MAX_SAFE_INTEGER, DEFAULT_QUEUE_CAPACITY);
    this.#maxMessage = Math.min(this.#capacity, REDIS_MAX_BULK);
    this.#claimAfter = checkIntOption('claimAfter', opts.claimAfter, 1, 2 ** 31 - 1, DEFAULT_CLAIM_AFTER);
    this.#slice = Math.min(MAX_SLICE_MS, Math.max(MIN_SLICE_MS, Math.floor(this.#claimAfter / 2)));
    this.#timeout = checkCommandTimeout(opts.commandTimeout);
    const prefix = checkKeyPrefix(opts.keyPrefix);
    this.#label = `RedisQueue '${this.#name}'`;
    this.#engine = describeClient(this.#redis);
    // Unique per handle: a consumer of the group is one handle, so a dead process's entries are its own.
    this.#consumer = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    this.#stream = `${prefix}queue:{${this.#name}}`;
    this.#keys = { bytes: `${this.#stream}:bytes`, full: `${this.#stream}:full`, space: `${this.#stream}:space` };
    this.#sendArgv = ['', 3, this.#stream, this.#keys.bytes, this.#keys.full, String(this.#capacity), '', String(Math.max(1000, this.#slice * 4))];
    this.#takeArgv = ['', 1, this.#stream, GROUP, this.#consumer, String(this.#claimAfter), '0-0'];
    this.#ackArgv = ['', 4, this.#stream, this.#keys.bytes, this.#keys.full, this.#keys.space, GROUP, '', 0];
    this.#readArgv = ['GROUP', GROUP, this.#consumer, 'COUNT', 1, 'BLOCK', 0, 'STREAMS', this.#stream, '>'];
    this.#lanes = new LanePool(this.#redis, this.#engine, this.#label);
    const batch = opts.batch;
    if (batch !== undefined && typeof batch !== 'boolean') throw new ShmkitError('ERR_INVALID_ARG_TYPE', `The "options.batch" option must be of type boolean. Received ${String(batch)}`);
    this.#batch = batch === true && (this.#redis as Cluster).isCluster !== true ? batcherOf(this.#redis as Redis, this.#engine) : null;
    this.#sent = (err) => SEND.retry(this.#redis, err, this.#timeout, this.#engine).then(isOne);
    this.#took = (reply) => this.#takenOf(reply);
    this.#tookForTry = (reply) => {
      const taken = this.#takenOf(reply);
      // Queued on the batch being gathered now: every ack of this reply's batch goes in one pipeline.
      return taken === null ? undefined : this.#queueFinish(taken, ACK_TRY);
    };
    // The take sent again as EVAL (NOSCRIPT) is answered by the call's own handler (`took`: #took or #tookForTry).
    this.#takeFailed = (err, took) => TAKE.retry(this.#redis, err, this.#timeout, this.#engine).then(took as (reply: unknown) => unknown);
    this.#acked = (_reply, taken) => decodeMessage(this.#encoding, taken.bytes, this.#label) as T;
    // As #finish: the message is in hand, an ACK that fails leaves it pending (delivered again later); returned anyway.
    this.#ackFailed = (err, taken) => ACK.retry(this.#redis, err, this.#timeout, this.#engine).then(
      () => this.#acked(null, taken),
      (e: unknown) => {
        if (this.#closed) throw e;
        return this.#acked(null, taken);
      },
    );
    this.#released = (err) => ACK.retry(this.#redis, err, this.#timeout, this.#engine).then(nothing);
  }

  /** What this backend guarantees (see docs/API.md, "RedisQueue"). */
  get capabilities(): QueueCapabilities {
    this.#checkOpen();
    return {
      backend: 'redis', scope: 'hosts',
      // receive() reads, then acknowledges: a consumer dying in between leaves the message to be delivered again.
      delivery: { receive: 'at-least-once', peek: 'at-least-once' },
      ordering: 'fifo', maxMessage: this.#maxMessage, redeliveryBound: this.redeliveryBound,
    };
  }

  /**
   * Longest time, in ms, before a message held by a dead consumer goes to
   * another consumer that is receiving: claimAfter, plus one block slice
   * of a waiting receive (min(1000, max(20, claimAfter / 2))).
   */
  get redeliveryBound(): number {
    return this.#claimAfter + this.#slice;
  }

  /** Encoded bytes of messages the queue holds at most (this handle's `capacity`). */
  get capacity(): number {
    this.#checkOpen();
    return this.#capacity;
  }

  /** Largest message, in encoded bytes: `capacity` (at most 512 MiB, Redis's bulk limit). */
  get maxMessage(): number {
    this.#checkOpen();
    return this.#maxMessage;
  }

  /** The queue's name (inside the key's hash tag). */
  get name(): string {
    return this.#name;
  }

  /** The Stream's key (`<keyPrefix>queue:{<name>}`); the other keys add `:bytes`, `:full`, `:space`. */
  get key(): string {
    return this.#stream;
  }

  /** True once close() has run. */
  get closed(): boolean {
    return this.#closed;
  }

  // ---- Sending -------------------------------------------------------------------

  /** Sends if the message fits now; false only when the queue is full. */
  trySend(message: SendableOf<T>): Promise<boolean> {
    try {
      this.#checkOpen();
      const bytes = this.#encode(message);
      if (this.#batch !== null) return this.#queueSend(bytes, SEND_TRY);
      return this.#send(bytes, 'trySend');
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Sends, waiting while the queue is full: on a connection of its own,
   * blocked on the `:space` list that takers push to (in slices, so a lost
   * token costs one slice). `timeout` → ETIMEDOUT; `signal` aborts.
   */
  async send(message: SendableOf<T>, options?: WaitOptions): Promise<void> {
    this.#checkOpen();
    const { timeout, signal } = parseWaitOptions(options);
    signal?.throwIfAborted();
    const bytes = this.#encode(message);
    const deadline = deadlineOf(timeout);
    for (;;) {
      if (await this.#send(bytes, 'send')) return;
      const left = msLeft(deadline);
      if (left <= 0) throw this.#timedOut('send', timeout, 'no room for the message');
      const block = Math.min(left, this.#slice);
      await this.#lanes.run('blpopBuffer', [this.#keys.space, (block / 1000).toFixed(3)], block + this.#timeout, signal, 'BLPOP (RedisQueue.send)');
      this.#checkOpen();
    }
  }

  async #send(bytes: Buffer | string, what: string): Promise<boolean> {
    if (this.#batch !== null) return this.#queueSend(bytes, `EVALSHA send (RedisQueue.${what})`);
    const argv = this.#sendArgv;
    argv[6] = bytes;
    const sent = await bounded(SEND.run(this.#redis, argv), this.#timeout, this.#engine, `EVALSHA send (RedisQueue.${what})`);
    return sent === 1;
  }

  // ---- Receiving ------------------------------------------------------------------

  /** Takes the next message, or undefined when none is there (nor held too long by a dead consumer). */
  tryReceive(): Promise<T | undefined> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (this.#batch !== null) return this.#queueTake(TAKE_TRY, this.#tookForTry);
    return this.#tryReceive();
  }

  async #tryReceive(): Promise<T | undefined> {
    const taken = await this.#take('tryReceive');
    if (taken === null) return undefined;
    return this.#finish(taken, 'tryReceive');
  }

  /**
   * Takes the next message, waiting for one: blocked in Redis (XREADGROUP
   * BLOCK on a connection of its own), in slices so that messages held too
   * long by dead consumers are claimed meanwhile. `timeout` → ETIMEDOUT;
   * `signal` aborts; close() rejects it with ERR_SHMKIT_CLOSED.
   */
  async receive(options?: WaitOptions): Promise<T> {
    this.#checkOpen();
    const { timeout, signal } = parseWaitOptions(options);
    signal?.throwIfAborted();
    const deadline = deadlineOf(timeout);
    for (;;) {
      const taken = await this.#take('receive');
      if (taken !== null) return this.#finish(taken, 'receive');
      const left = msLeft(deadline);
      if (left <= 0) throw this.#timedOut('receive', timeout, 'no message');
      const block = Math.max(1, Math.floor(Math.min(left, this.#slice)));
      const argv = this.#readArgv;
      argv[6] = block;
      const reply = await this.#lanes.run('xreadgroupBuffer', argv, block + this.#timeout, signal, 'XREADGROUP BLOCK (RedisQueue.receive)');
      this.#checkOpen();
      const read = readGroupEntry(reply);
      if (read !== null) return this.#finish(read, 'receive');
    }
  }

  /**
   * Holds the next message's encoded bytes without taking it away; release()
   * takes it. While held, this handle renews its claim; if the process
   * dies, another consumer gets the message within `redeliveryBound` ms.
   */
  async tryPeek(): Promise<Uint8Array | undefined> {
    this.#checkOpen();
    if (this.#peeked !== null) throw new ShmkitError('ERR_INVALID_STATE', `${this.#label}: tryPeek() while a peeked message is held; release() it first`);
    const taken = await this.#take('tryPeek');
    if (taken === null) return undefined;
    this.#peeked = taken;
    this.#heartbeat = setInterval(this.#renew, Math.max(1, Math.floor(this.#claimAfter / 3)));
    this.#heartbeat.unref();
    return taken.bytes;
  }

  /** Takes away the message tryPeek() holds (acknowledged, deleted and its bytes given back, atomically). */
  async release(): Promise<void> {
    this.#checkOpen();
    const taken = this.#peeked;
    if (taken === null) throw new ShmkitError('ERR_INVALID_STATE', `${this.#label}: release() without tryPeek()`);
    this.#stopHeartbeat();
    this.#peeked = null;
    await this.#ack(taken, 'release');
  }

  /** Receives messages until the handle is closed (the loop then ends). */
  [Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    return receiveUntilClosed(this);
  }

  /**
   * Releases this handle: its connections end, waits in progress reject
   * with ERR_SHMKIT_CLOSED, later calls reject the same way. A peeked
   * message still held is handed back (marked for immediate claim by the
   * next reader). The queue and its messages stay.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopHeartbeat();
    this.#lanes.close();
    const held = this.#peeked;
    this.#peeked = null;
    // After the calls already batched: the entry handed back is not taken again by this handle's own queued takes.
    this.#batch?.flush();
    try {
      await bounded(LEAVE.run(this.#redis, ['', 1, this.#stream, GROUP, this.#consumer, held === null ? '' : held.id]), this.#timeout, this.#engine, 'EVALSHA leave (RedisQueue.close)');
    } catch {
      // Best effort: an entry not handed back is claimed after claimAfter anyway.
    }
  }

  // The TAKE script: a dead consumer's entry first, else a new one; pending until ACK.
  async #take(what: string): Promise<Taken | null> {
    if (this.#batch !== null) return this.#queueTake(`EVALSHA take (RedisQueue.${what})`, this.#took);
    const argv = this.#takeArgv;
    argv[6] = this.#cursor;
    const reply = await bounded(TAKE.run(this.#redis, argv), this.#timeout, this.#engine, `EVALSHA take (RedisQueue.${what})`) as Buffer[];
    return this.#takenOf(reply);
  }

  // TAKE's reply: [cursor] when nothing is there, [cursor, id, bytes] otherwise.
  #takenOf(reply: Buffer[]): Taken | null {
    this.#cursor = (reply[0] as Buffer).toString('latin1');
    if (reply.length < 3) return null;
    return { id: reply[1] as Buffer, bytes: reply[2] as Buffer };
  }

  // ---- Batched scripts (batch: true): queued on the client's batch, each settled from its reply ----

  #queueSend(bytes: Buffer | string, what: string): Promise<boolean> {
    const batch = this.#batch!;
    const argv = this.#sendArgv;
    argv[6] = bytes;
    SEND.queue(batch.commander(), argv);
    return batch.add(this.#timeout, what, '', null, isOne, this.#sent);
  }

  // The take; `took` turns its reply into the call's result.
  #queueTake<R>(what: string, took: (reply: Buffer[]) => R): Promise<Awaited<R>> {
    const batch = this.#batch!;
    const argv = this.#takeArgv;
    argv[6] = this.#cursor;
    TAKE.queue(batch.commander(), argv);
    return batch.add(this.#timeout, what, '', null, took, this.#takeFailed, took);
  }

  // The ack of a taken message, then the message decoded (#finish's rules).
  #queueFinish(taken: Taken, what: string): Promise<T> {
    const batch = this.#batch!;
    const argv = this.#ackArgv;
    argv[7] = taken.id;
    argv[8] = taken.bytes.byteLength;
    ACK.queue(batch.commander(), argv);
    return batch.add(this.#timeout, what, '', null, this.#acked, this.#ackFailed, taken);
  }

  // Acknowledges, then decodes. The message is in hand: an ACK that fails
  // (timeout, outage) leaves it pending, delivered again later
  // (at-least-once), never lost; so it is returned anyway.
  async #finish(taken: Taken, what: string): Promise<T> {
    if (this.#batch !== null) return this.#queueFinish(taken, `EVALSHA ack (RedisQueue.${what})`);
    try {
      await this.#ack(taken, what);
    } catch (err) {
      if (this.#closed) throw err;
    }
    return decodeMessage(this.#encoding, taken.bytes, this.#label) as T;
  }

  async #ack(taken: Taken, what: string): Promise<void> {
    const argv = this.#ackArgv;
    argv[7] = taken.id;
    argv[8] = taken.bytes.byteLength;
    const batch = this.#batch;
    if (batch !== null) {
      ACK.queue(batch.commander(), argv);
      await batch.add(this.#timeout, `EVALSHA ack (RedisQueue.${what})`, '', null, nothing, this.#released);
      return;
    }
    await bounded(ACK.run(this.#redis, argv), this.#timeout, this.#engine, `EVALSHA ack (RedisQueue.${what})`);
  }

  // Keeps a held peek ours: XCLAIM to ourselves resets its idle time (RENEW
  // checks first that no other consumer has claimed it meanwhile).
  readonly #renew = (): void => {
    const held = this.#peeked;
    if (held === null || this.#closed) return;
    bounded(RENEW.run(this.#redis, ['', 1, this.#stream, GROUP, this.#consumer, held.id]), this.#timeout, this.#engine, 'EVALSHA renew (RedisQueue peek)')
      .catch(() => { /* the next tick tries again; past claimAfter another consumer may take it (at-least-once) */ });
  };

  #stopHeartbeat(): void {
    if (this.#heartbeat !== null) clearInterval(this.#heartbeat);
    this.#heartbeat = null;
  }

  #encode(message: SendableOf<T>): Buffer | string {
    const bytes = encodeMessage(this.#encoding, message, this.#label);
    const length = encodedLength(bytes);
    if (length > this.#maxMessage) {
      throw new ShmkitError('ERR_OUT_OF_RANGE', `${this.#label}: a ${length}-byte message is larger than maxMessage (${this.#maxMessage} bytes)`);
    }
    return bytes;
  }

  #timedOut(what: string, timeout: number, waitingFor: string): ShmkitError {
    return new ShmkitError('ETIMEDOUT', `ETIMEDOUT: ${this.#label}.${what}: ${waitingFor} within ${timeout} ms`, { path: this.#name });
  }

  #checkOpen(): void {
    if (this.#closed) throw this.#closedError();
  }

  #closedError(): ShmkitError {
    return new ShmkitError('ERR_SHMKIT_CLOSED', `${this.#label} is closed`);
  }
}

// The entry of an XREADGROUP reply ([[stream, [[id, [field, value]]]]]), or null.
function readGroupEntry(reply: unknown): Taken | null {
  if (!Array.isArray(reply)) return null;
  const entry = (reply[0] as [Buffer, Array<[Buffer, Buffer[]]>] | undefined)?.[1]?.[0];
  if (entry === undefined) return null;
  return { id: entry[0], bytes: entry[1][1] as Buffer };
}

/** A Queue on Redis; `new RedisQueue(redis, name, options)` (typed by `options.encoding`). */
export type RedisQueue<T = Buffer> = RedisQueueImpl<T>;
/** A Queue on Redis; `new RedisQueue(redis, name, options)` (typed by `options.encoding`). */
export const RedisQueue = RedisQueueImpl as unknown as RedisQueueConstructor;
