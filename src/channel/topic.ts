/**
 * Topic: one-to-many broadcast for real-time data. `publish()` never waits
 * for subscribers: when the ring is full the oldest messages are
 * overwritten. Each subscriber (any number, in any processes) reads every
 * message in order from where it started; one that falls a lap behind
 * either gets a LaggedError (`missed`) or skips ahead, as it chose, and
 * continues from the oldest message kept. See topic-layout.ts for the
 * format and the rules, topic-ring.ts for the publishers' side and
 * subscriber.ts for the subscribers'.
 */
import { checkObject, checkTimeout } from '../args.js';
import { invalidArgValue, mismatchError } from '../errors.js';
import { checkHandleOptions, encodeMessage, roundCapacity, type BytesEncoding, type ChannelHandleOptions, type JsonEncoding, type JsonValue, type SendableOf, type V8Encoding } from './codec.js';
import { Segment } from '../segment/segment.js';
import { SharedObject } from '../object/shared-object.js';
import { adoptNamed, attachObject, createNamed, initObject, openNamed, openOrCreateNamed, type NamedCreateOptions, type NamedOpenOptions, type ObjectSpec, unlinkNamed } from '../object/named.js';
import { Mutex } from '../sync/mutex.js';
import { parseSpin } from '../sync/options.js';
import {
  CAPACITY, DATA_OFFSET, DATA_WAITERS, LAPS, MAX_CAPACITY, MAX_MESSAGE, MIN_CAPACITY, NEXT_SEQ, OLDEST_POS, OLDEST_SEQ, PUBLISHER_LOCK_OFFSET, TAIL,
  TOPIC_KIND, TOPIC_VERSION, topicLength, topicMaxMessage,
} from './topic-layout.js';
import { TopicRing, validCapacity, type RingOptions } from './topic-ring.js';
import { checkTopic, repairTopic } from './topic-check.js';
import type { RepairReport } from '../object/repair-report.js';
import type { AsyncTopic, TopicCapabilities } from '../object/async-interfaces.js';
import { LaggedError, Subscriber, newSubscriber, type LagPolicy } from './subscriber.js';

export { LaggedError, Subscriber, type LagPolicy };

/** Geometry of a Topic. */
export interface TopicOptions {
  /** Data bytes kept; rounded up to a power of two (at least 128, at most 2^30). */
  capacity: number;
}

/** Default of `lockTimeout`, in ms. */
export const DEFAULT_LOCK_TIMEOUT = 5000;

/** Options of a Topic handle. */
export interface TopicHandleOptions extends ChannelHandleOptions {
  /**
   * Longest wait, in ms, of `publish()` and `subscribe()` for the publisher
   * lock, which another publisher holds while it copies one message: a
   * holder that is stopped (SIGSTOP, a debugger) then costs ETIMEDOUT
   * instead of hanging every publisher. Default 5000; `Infinity` waits
   * forever. A holder that dies releases the lock at once (robust lock).
   */
  lockTimeout?: number;
}

/** Options of `Topic.create`, `openOrCreate` and `init`. */
export type TopicCreateOptions = TopicOptions & NamedCreateOptions & TopicHandleOptions;

/** Options of one `publish()`. */
export interface PublishOptions {
  /** Longest wait for the publisher lock, in ms (default: the handle's `lockTimeout`). */
  timeout?: number;
}

/** Where a new subscriber starts, and what it does when it falls a lap behind. */
export interface SubscribeOptions {
  /** `'latest'` (default): only messages published from now on; `'earliest'`: every message still kept. */
  from?: 'latest' | 'earliest';
  /**
   * After a lap (messages overwritten before it read them): `'throw'`
   * (default): the next receive throws LaggedError with `missed`, then goes
   * on from the oldest message kept; `'skip'`: it goes on from the oldest
   * message kept at once and counts them in `subscriber.missed`.
   */
  onLag?: LagPolicy;
  /** Longest wait for the publisher lock (subscribing reads a consistent position under it), in ms. Default: the handle's `lockTimeout`. */
  timeout?: number;
}


function parseLockTimeout(value: unknown): number {
  return value === undefined ? DEFAULT_LOCK_TIMEOUT : checkTimeout(value, 'options.lockTimeout'); // FOREVER for Infinity
}

/** Validates every handle option (before anything is created or mapped). */
function parseHandleOptions(options: TopicHandleOptions | undefined): RingOptions {
  const opts = checkHandleOptions(options) as TopicHandleOptions;
  return { encoding: opts.encoding, spin: parseSpin(opts), lockTimeout: parseLockTimeout(opts.lockTimeout) };
}

const SPEC: ObjectSpec<TopicCreateOptions> = {
  kind: TOPIC_KIND,
  version: TOPIC_VERSION,
  what: 'Topic',
  checkOptions: (options) => {
    parseHandleOptions(options);
  },
  byteLength: (options) => topicLength(roundCapacity(options, MIN_CAPACITY, MAX_CAPACITY)),
  initFields: (buffer, byteOffset, options) => {
    const capacity = roundCapacity(options, MIN_CAPACITY, MAX_CAPACITY);
    const cells = new Int32Array(buffer, byteOffset, DATA_OFFSET / 4);
    cells[CAPACITY] = capacity;
    cells[MAX_MESSAGE] = topicMaxMessage(capacity);
    Mutex.init(buffer, byteOffset + PUBLISHER_LOCK_OFFSET).close();
  },
  // The openOrCreate rule: a capacity given must be the existing one (compared rounded, as stored).
  checkExisting: (buffer, byteOffset, options, name) => {
    if (options.capacity === undefined) return;
    const requested = roundCapacity(options, MIN_CAPACITY, MAX_CAPACITY);
    const existing = new Int32Array(buffer, byteOffset, DATA_OFFSET / 4)[CAPACITY] as number;
    // A bad geometry is reported by the handle's own checks (ERR_SHMKIT_BAD_LAYOUT).
    if (validCapacity(existing) && existing !== requested) throw mismatchError('Topic', name, 'capacity', existing, requested);
  },
};

/**
 * Counters of a Topic (a snapshot), read from its shared memory without the
 * publisher lock: every publisher's traffic. Counters are u32 and wrap at
 * 2^32: take rates from differences modulo 2^32 (`(b - a) >>> 0`). A topic
 * made by an earlier shmkit build shows 0 laps until its next lap.
 */
export interface TopicStats {
  /** Data bytes of the ring. */
  capacity: number;
  /** Largest message, in bytes: `capacity / 4 − 16`. */
  maxMessage: number;
  /** Messages published so far, by every publisher (NEXT_SEQ; wraps at 2^32). */
  published: number;
  /**
   * Messages overwritten by publishers to make room (OLDEST_SEQ: the
   * sequence number of the oldest message kept; wraps at 2^32). A sequence
   * number a publisher took and died before using counts here once dropped.
   */
  dropped: number;
  /** Messages in the ring now, for a subscriber from `'earliest'`: published − dropped. */
  keptMessages: number;
  /** Bytes of the ring those messages (and fillers) take now (at most capacity). */
  keptBytes: number;
  /** Times the ring wrapped: publishing reached its end and went on from its start (wraps at 2^32). */
  laps: number;
  /** Subscribers parked in receive()/receiveSync() right now, in every process. */
  waiting: number;
  /**
   * Takers of the publisher lock (publishers, and subscribe(), check() and
   * repair(), which read under it) that had to wait for another first: the
   * lock's `contended` counter. Wraps at 2^32.
   */
  lockContended: number;
  /** Publishers that died holding the publisher lock (recovered by the next taker). */
  publishersDied: number;
}

/**
 * A broadcast channel in shared memory. `T` is what its subscribers
 * receive: `Buffer` without an encoding, `JsonValue` (or your type) for
 * `'json'`, `unknown` (or your type) for `'v8'`.
 */
export class Topic<T = Buffer> extends SharedObject implements AsyncTopic<T> {
  readonly #ring: TopicRing;

  private constructor(buffer: SharedArrayBuffer, byteOffset: number, segment: Segment | null, options: RingOptions) {
    super(buffer, byteOffset, segment, 'Topic');
    this.#ring = new TopicRing(buffer, byteOffset, segment?.name ?? undefined, options);
  }

  /** Bytes an embedded Topic of this capacity occupies (640 + the rounded capacity). */
  static byteLength(options: TopicOptions): number {
    return SPEC.byteLength(options);
  }

  /** Formats a Topic at `byteOffset` of `buffer` (a multiple of 8). */
  static init(buffer: SharedArrayBuffer, byteOffset: number, options: TopicOptions & TopicHandleOptions & BytesEncoding): Topic<Buffer>;
  static init<T = JsonValue>(buffer: SharedArrayBuffer, byteOffset: number, options: TopicOptions & TopicHandleOptions & JsonEncoding): Topic<T>;
  static init<T = unknown>(buffer: SharedArrayBuffer, byteOffset: number, options: TopicOptions & TopicHandleOptions & V8Encoding): Topic<T>;
  static init(buffer: SharedArrayBuffer, byteOffset: number, options: TopicOptions & TopicHandleOptions): Topic<unknown>;
  static init(buffer: SharedArrayBuffer, byteOffset: number, options: TopicOptions & TopicHandleOptions): Topic<unknown> {
    const parsed = parseHandleOptions(options);
    initObject(SPEC, buffer, byteOffset, options);
    return new Topic<unknown>(buffer, byteOffset, null, parsed);
  }

  /** Uses a Topic formatted by anyone (another process, C code) at `byteOffset`. */
  static attach(buffer: SharedArrayBuffer, byteOffset: number, options?: TopicHandleOptions & NamedOpenOptions & BytesEncoding): Topic<Buffer>;
  static attach<T = JsonValue>(buffer: SharedArrayBuffer, byteOffset: number, options: TopicHandleOptions & NamedOpenOptions & JsonEncoding): Topic<T>;
  static attach<T = unknown>(buffer: SharedArrayBuffer, byteOffset: number, options: TopicHandleOptions & NamedOpenOptions & V8Encoding): Topic<T>;
  static attach(buffer: SharedArrayBuffer, byteOffset: number, options?: TopicHandleOptions): Topic<unknown>;
  static attach(buffer: SharedArrayBuffer, byteOffset: number, options?: TopicHandleOptions): Topic<unknown> {
    const parsed = parseHandleOptions(options);
    attachObject(SPEC as ObjectSpec<unknown>, buffer, byteOffset);
    return new Topic<unknown>(buffer, byteOffset, null, parsed);
  }

  /** Creates a named Topic (`EEXIST` if the name is taken). */
  static create(name: string, options: TopicCreateOptions & NamedOpenOptions & BytesEncoding): Topic<Buffer>;
  static create<T = JsonValue>(name: string, options: TopicCreateOptions & NamedOpenOptions & JsonEncoding): Topic<T>;
  static create<T = unknown>(name: string, options: TopicCreateOptions & NamedOpenOptions & V8Encoding): Topic<T>;
  static create(name: string, options: TopicCreateOptions): Topic<unknown>;
  static create(name: string, options: TopicCreateOptions): Topic<unknown> {
    const parsed = parseHandleOptions(options); // before anything is created
    return adoptNamed(createNamed(SPEC, name, options), (seg) => new Topic<unknown>(seg.buffer, 0, seg, parsed), true);
  }

  /** Opens an existing named Topic (`ENOENT` if missing, `ERR_SHMKIT_BAD_LAYOUT` if the name holds something else). */
  static open(name: string, options?: TopicHandleOptions & NamedOpenOptions & BytesEncoding): Topic<Buffer>;
  static open<T = JsonValue>(name: string, options: TopicHandleOptions & NamedOpenOptions & JsonEncoding): Topic<T>;
  static open<T = unknown>(name: string, options: TopicHandleOptions & NamedOpenOptions & V8Encoding): Topic<T>;
  static open(name: string, options?: TopicHandleOptions & NamedOpenOptions): Topic<unknown>;
  static open(name: string, options?: TopicHandleOptions & NamedOpenOptions): Topic<unknown> {
    const parsed = parseHandleOptions(options);
    return adoptNamed(openNamed(SPEC as ObjectSpec<unknown>, name, options), (seg) => new Topic<unknown>(seg.buffer, 0, seg, parsed));
  }

  /** Opens the named Topic, creating it if missing; a different `capacity` is ERR_SHMKIT_MISMATCH. */
  static openOrCreate(name: string, options: TopicCreateOptions & NamedOpenOptions & BytesEncoding): Topic<Buffer>;
  static openOrCreate<T = JsonValue>(name: string, options: TopicCreateOptions & NamedOpenOptions & JsonEncoding): Topic<T>;
  static openOrCreate<T = unknown>(name: string, options: TopicCreateOptions & NamedOpenOptions & V8Encoding): Topic<T>;
  static openOrCreate(name: string, options: TopicCreateOptions & NamedOpenOptions): Topic<unknown>;
  static openOrCreate(name: string, options: TopicCreateOptions & NamedOpenOptions): Topic<unknown> {
    const parsed = parseHandleOptions(options);
    return adoptNamed(openOrCreateNamed(SPEC, name, options), (seg) => new Topic<unknown>(seg.buffer, 0, seg, parsed));
  }

  /** Removes the name of a Topic (and of nothing else: another kind is ERR_SHMKIT_BAD_LAYOUT). */
  static unlink(name: string): void {
    unlinkNamed(SPEC as ObjectSpec<never>, name);
  }

  /** Data bytes of the ring (a power of two). */
  get capacity(): number {
    const ring = this.#ring;
    if (ring.closed) throw ring.closedError();
    return ring.capacity;
  }

  /** What this backend guarantees (the async interface's capability flags). */
  get capabilities(): TopicCapabilities {
    const ring = this.#ring;
    if (ring.closed) throw ring.closedError();
    return { backend: 'shm', scope: 'host', ordering: 'total', maxMessage: ring.maxMessage, lagDetection: 'exact' };
  }

  /** Largest message, in bytes: `capacity / 4 − 16`. */
  get maxMessage(): number {
    const ring = this.#ring;
    if (ring.closed) throw ring.closedError();
    return ring.maxMessage;
  }

  /** Messages published so far (wraps at 2^32). */
  get published(): number {
    const ring = this.#ring;
    if (ring.closed) throw ring.closedError();
    return Atomics.load(ring.cells, NEXT_SEQ) >>> 0;
  }

  /**
   * The sequence number (u32, wraps at 2^32) of the message this handle
   * published last, undefined before its first `publish()`: the number a
   * subscriber's `lastSeq` shows once it returns that message. A process
   * that both publishes and subscribes (a bridge) tells its own messages
   * from everyone else's by it.
   */
  get lastSeq(): number | undefined {
    const ring = this.#ring;
    if (ring.closed) throw ring.closedError();
    return ring.lastSeq;
  }

  /**
   * A snapshot of the topic's counters (TopicStats), taken without the
   * publisher lock: each field is read atomically, the oldest cursor before
   * the newest, so `keptMessages` never goes negative.
   */
  stats(): TopicStats {
    const ring = this.#ring;
    if (ring.closed) throw ring.closedError();
    const cells = ring.cells;
    // OLDEST_* first: they never pass NEXT_SEQ/TAIL, which only move on.
    const oldestSeq = Atomics.load(cells, OLDEST_SEQ);
    const oldestPos = Atomics.load(cells, OLDEST_POS);
    const nextSeq = Atomics.load(cells, NEXT_SEQ);
    const tail = Atomics.load(cells, TAIL);
    const keptBytes = (tail - oldestPos) >>> 0;
    const lock = ring.lockStats();
    return {
      capacity: ring.capacity,
      maxMessage: ring.maxMessage,
      published: nextSeq >>> 0,
      dropped: oldestSeq >>> 0,
      keptMessages: (nextSeq - oldestSeq) >>> 0,
      keptBytes: keptBytes > ring.capacity ? ring.capacity : keptBytes,
      laps: Atomics.load(cells, LAPS) >>> 0,
      waiting: Atomics.load(cells, DATA_WAITERS) >>> 0,
      lockContended: lock.contended,
      publishersDied: lock.ownerDied,
    };
  }

  /**
   * Publishes `message` to every subscriber. Never waits for subscribers or
   * for room (the oldest messages are overwritten); waits only for another
   * publisher's lock, at most `timeout` ms (default: the handle's
   * `lockTimeout`), then throws ETIMEDOUT.
   *
   * `lastSeq` then holds the message's sequence number.
   */
  publish(message: SendableOf<T>, options?: PublishOptions): void {
    const ring = this.#ring;
    if (ring.closed) throw ring.closedError();
    const timeout = options === undefined ? ring.lockTimeout : publishTimeout(ring, options);
    const bytes = encodeMessage(ring.encoding, message, ring.label); // failures are coded (ERR_SHMKIT_ENCODE, argument errors)
    const length = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
    if (length > ring.maxMessage) throw ring.tooLong(length);
    ring.lastSeq = ring.publish(bytes, length, timeout);
  }

  /** A new subscriber: its own position, read in this process only. */
  subscribe(options?: SubscribeOptions): Subscriber<T> {
    const ring = this.#ring;
    if (ring.closed) throw ring.closedError();
    const opts = checkObject<SubscribeOptions>('options', options);
    const from = opts.from ?? 'latest';
    if (from !== 'latest' && from !== 'earliest') throw invalidArgValue('options.from', "must be 'latest' or 'earliest'", from);
    const onLag = opts.onLag ?? 'throw';
    if (onLag !== 'throw' && onLag !== 'skip') throw invalidArgValue('options.onLag', "must be 'throw' or 'skip'", onLag);
    const timeout = opts.timeout === undefined ? ring.lockTimeout : checkTimeout(opts.timeout);
    return newSubscriber<T>(ring, ring.startingPoint(from === 'earliest', timeout), onLag === 'throw');
  }

  /**
   * Verifies the ring under the publisher lock: every record kept from the
   * oldest to TAIL has a sound header, the walk lands on TAIL, sequence
   * numbers only go up. Returns the problems found (none: an empty array).
   * Waits for the lock at most `timeout` ms (default: the handle's
   * `lockTimeout`), then throws ETIMEDOUT.
   */
  check(options?: PublishOptions): string[] {
    const ring = this.#ring;
    if (ring.closed) throw ring.closedError();
    const timeout = options === undefined ? ring.lockTimeout : publishTimeout(ring, options);
    return ring.locked(timeout, 'check', () => checkTopic(ring));
  }

  /**
   * Repairs what `check()` finds, under the publisher lock. Damaged records
   * cannot be walked past, so the repair drops every record kept (the
   * subscribers reading them see a lag, as if publishers had lapped them);
   * counters that disagree with the records are recomputed. Publishing and
   * subscribing then go on. `timeout` as for `check()`.
   */
  repair(options?: PublishOptions): RepairReport {
    const ring = this.#ring;
    if (ring.closed) throw ring.closedError();
    const timeout = options === undefined ? ring.lockTimeout : publishTimeout(ring, options);
    return ring.locked(timeout, 'repair', () => {
      const found = checkTopic(ring);
      const repaired = found.length === 0 ? [] : repairTopic(ring);
      return { found, repaired, remaining: found.length === 0 ? [] : checkTopic(ring) };
    });
  }

  /** True once `close()` has run on this handle. */
  override get closed(): boolean {
    return this.#ring.closed;
  }

  /**
   * Releases this handle; every Subscriber made from it is closed with it
   * (a receive() waiting on one rejects with ERR_SHMKIT_CLOSED). Idempotent.
   */
  override close(): void {
    const ring = this.#ring;
    if (ring.closed) return;
    ring.closed = true;
    if (ring.parked === 0) {
      super.close();
      return;
    }
    // Receives are parked: wake them (they find the handle closed and
    // reject) and release the memory once the last has left the wait core,
    // which counts itself out of DATA_WAITERS in that memory. Releasing it
    // now would leave the count raised for good (the pages of a closed
    // segment are replaced by private zero pages), and every publisher
    // would then pay for a wake nobody needs.
    ring.idle = () => super.close();
    ring.wakeSubscribers();
  }
}

function publishTimeout(ring: TopicRing, options: PublishOptions): number {
  const opts = checkObject<PublishOptions>('options', options);
  return opts.timeout === undefined ? ring.lockTimeout : checkTimeout(opts.timeout);
}

