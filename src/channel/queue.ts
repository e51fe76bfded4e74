/**
 * Queue: a message channel in shared memory, any number of producers and
 * consumers. Messages are byte strings (Uint8Array/Buffer) or strings
 * (UTF-8), or objects with `encoding: 'json' | 'v8'`.
 *
 * No lock anywhere: a producer claims cells with one compare-and-swap on a
 * stamp, writes with no lock held and publishes with one store; a consumer
 * takes a message the same way. A process stopped or descheduled in the
 * middle keeps nobody from claiming. Claims are tied to robust slots, so a
 * process killed at any instant leaves nothing that blocks the others for
 * long.
 *
 * Where things are:
 *   queue-layout.ts    the memory layout and the protocol's rules
 *   queue-side.ts      what both sides share: the claim slot, held per turn
 *   queue-producer.ts  the producer side: claim, fill, publish
 *   queue-consumer.ts  the consumer side: take, copy out, free
 *   queue-ring.ts      stamps, freeing, and dead peers' claims
 *   queue-check.ts     check() and repair(): damage found and fixed while peers run
 *   queue.ts           this file: the public API, waiting, the event-loop turn
 */
import { checkInteger } from '../args.js';
import { ShmkitError, invalidArgType, mismatchError, outOfRange } from '../errors.js';
import { checkHandleOptions, encodeMessage, roundCapacity, type BytesEncoding, type ChannelHandleOptions, type JsonEncoding, type JsonValue, type SendableOf, type V8Encoding } from './codec.js';
import { Segment } from '../segment/segment.js';
import { Mutex } from '../sync/mutex.js';
import { MUTEX_LENGTH } from '../sync/mutex-layout.js';
import { objectBytesAt } from '../layout/header.js';
import { SharedObject } from '../object/shared-object.js';
import { adoptNamed, attachObject, createNamed, initObject, openNamed, openOrCreateNamed, type NamedCreateOptions, type NamedOpenOptions, type ObjectSpec, unlinkNamed } from '../object/named.js';
import { checkSpinOption, parseSpin, parseWait, type WaitOptions } from '../sync/options.js';
import { SpinBudget, msLeft, timeoutError, waitForAsync, waitForSync, wake, type WaitWord } from '../sync/wait.js';
import { NONE, QueueRing } from './queue-ring.js';
import { NO_ROOM, type SideHost } from './queue-side.js';
import { QueueProducer } from './queue-producer.js';
import { QueueConsumer } from './queue-consumer.js';
import { QueueCheck } from './queue-check.js';
import type { RepairReport } from '../object/repair-report.js';
import type { AsyncQueue, QueueCapabilities } from '../object/async-interfaces.js';
import {
  CAPACITY, CAPACITY_OFFSET, CELL, CELL_INDEX, CELL_SHIFT, CLAIM, CONSUMER_SLOTS_OFFSET, DATA_SEQ, DATA_WAITERS, FLAGS, FLAG_ENDED, MAX_CAPACITY,
  MAX_MESSAGE, META_OFFSET, MIN_CAPACITY, ORPHANS, PRODUCER_SLOTS_OFFSET, QUEUE_KIND, QUEUE_VERSION, RECEIVED, RESERVE, SENT, SLOTS, SLOT_COUNT, SPACE_SEQ,
  SPACE_WAITERS, EMPTY_WAITS, FULL_WAITS, cellsFor, dataOffset, maxMessage, metaEntry, queueLength,
} from './queue-layout.js';

/** Geometry of a Queue. */
export interface QueueOptions {
  /** Data bytes; rounded up to a power of two (at least 64, at most 2^30). */
  capacity: number;
}

/** Options of a Queue handle. */
export interface QueueHandleOptions extends ChannelHandleOptions {
  /**
   * @deprecated No effect since layout version 3 (0.2.0): every handle
   * works without a lock, and no peer ever waits for this handle's
   * `tryReserve()`/`tryPeek()`. Still accepted (a boolean); it will go.
   */
  shared?: boolean;
}

/** What a Queue carries: bytes or a string (or, with an encoding, any value it can encode). */
export type QueueMessage = Uint8Array | string;

/** Options that make a bytes handle (`Queue<Buffer>`): no encoding. */

/** Create options of a named Queue. */
/** Everything `Queue.create`/`openOrCreate` take: geometry, mode, handle options. */
export type QueueCreateOptions = QueueOptions & NamedCreateOptions & QueueHandleOptions;

/**
 * Why a handle's last non-waiting call (trySend, trySendMany, tryReserve,
 * tryReceive, tryReceiveInto, tryReceiveMany, tryPeek) did what it did:
 * `'ok'` it sent or took everything asked; `'full'` no room for the (next)
 * message; `'empty'` no message to take (none, or the next one in ring
 * order is still being written); `'busy'` every claim slot of that side
 * (16) is held by other handles: trying again soon succeeds.
 */
export type QueueTryResult = 'ok' | 'full' | 'empty' | 'busy';

/**
 * Counters of a Queue (a snapshot), read from its shared memory: every
 * process's traffic, not only this handle's. The counters are u32 and wrap
 * at 2^32: take rates from differences modulo 2^32 (`(b - a) >>> 0`). A
 * queue made by an earlier shmkit build shows 0 for the counters it did not
 * keep (fullWaits, emptyWaits).
 */
export interface QueueStats {
  /** Data bytes of the ring. */
  capacity: number;
  /** Largest message (encoded bytes): capacity / 2. */
  maxMessage: number;
  /** Messages waiting: sent − received (never below 0). */
  length: number;
  /** Bytes of the ring claimed and not yet taken (whole 64-byte cells). */
  bytesUsed: number;
  /** Messages published, by every producer (wraps at 2^32). */
  sent: number;
  /** Messages taken, by every consumer (wraps at 2^32). */
  received: number;
  /** Send calls that had to park for room (counted once per call, as it parks; a wait that the spin ends is not counted). Wraps at 2^32. */
  fullWaits: number;
  /** Receive calls that had to park for a message (counted once per call, as it parks). Wraps at 2^32. */
  emptyWaits: number;
  /**
   * Bumps of the ORPHANS word: messages handed back behind CLAIM for
   * another consumer (a dead consumer's, or one a live handle gave back:
   * a peek left at close(), a message too long for tryReceiveInto()), and
   * a waiter's prompt for one nobody announced. A hint of how often that
   * happens, not an exact count. Wraps at 2^32.
   */
  orphans: number;
  /**
   * Producer / consumer slots taken over after their holder died: each a
   * dead process's claims cleaned up (the sum of the slot Mutexes'
   * `ownerDied` counters). Wraps at 2^32.
   */
  producersDied: number;
  consumersDied: number;
  /** True once `end()` was called by anyone. */
  ended: boolean;
  /** Producer / consumer slots held right now (handles at work in this event-loop turn). */
  producerSlots: number;
  consumerSlots: number;
}

const SPEC: ObjectSpec<QueueOptions> = {
  kind: QUEUE_KIND,
  version: QUEUE_VERSION,
  what: 'Queue',
  checkOptions: checkSpinOption,
  byteLength: (options) => queueLength(roundCapacity(options, MIN_CAPACITY, MAX_CAPACITY)),
  // openOrCreate of an existing queue: a capacity given must be the stored one
  // (compared after rounding, as create would have stored it).
  checkExisting: (buffer, byteOffset, options, name) => {
    if (options.capacity === undefined) return;
    const requested = roundCapacity(options, MIN_CAPACITY, MAX_CAPACITY);
    const existing = new Int32Array(buffer, byteOffset + CAPACITY_OFFSET, 1)[0] as number;
    if (existing !== requested) throw mismatchError('Queue', name, 'capacity', existing, requested);
  },
  initFields: (buffer, byteOffset, options) => {
    const capacity = roundCapacity(options, MIN_CAPACITY, MAX_CAPACITY);
    const cells = new Int32Array(buffer, byteOffset, META_OFFSET / 4);
    cells[CAPACITY] = capacity;
    cells[MAX_MESSAGE] = maxMessage(capacity);
    cells[SLOTS] = SLOT_COUNT;
    cells[CELL_INDEX] = CELL;
    // Cell i is FREE for position 64 i: the first lap.
    const n = capacity >> CELL_SHIFT;
    const meta = new Int32Array(buffer, byteOffset + META_OFFSET, n * 2);
    for (let i = 0; i < n; i++) meta[2 * metaEntry(i, n)] = i * CELL;
    for (let s = 0; s < SLOT_COUNT; s++) {
      Mutex.init(buffer, byteOffset + PRODUCER_SLOTS_OFFSET + s * MUTEX_LENGTH).close();
      Mutex.init(buffer, byteOffset + CONSUMER_SLOTS_OFFSET + s * MUTEX_LENGTH).close();
    }
  },
};

/** A blocking call that found every claim slot taken pauses this long before trying again. */
const BUSY_PAUSE_MS = 0.05;
/** Waiters look for dead peers' claims this often (the bound on how long a death can block anyone). */
const REPAIR_SLICE_MS = 250;

const WANT_DATA = -1; // attempt() argument: wait for a message (else: room for a record of that many cells)
const ENDED_CODE = 'ERR_SHMKIT_QUEUE_ENDED';

const napCell = new Int32Array(new SharedArrayBuffer(4));

// Sleeps `ms` (a thread-blocking pause for the sync paths).
function nap(ms: number): void {
  Atomics.wait(napCell, 0, 0, ms);
}


function checkQueueHandleOptions(options: QueueHandleOptions | undefined): QueueHandleOptions {
  const opts = checkHandleOptions(options) as QueueHandleOptions;
  if (opts.shared !== undefined && typeof opts.shared !== 'boolean') throw invalidArgType('options.shared', 'of type boolean', opts.shared);
  return opts;
}

function endedError(): ShmkitError {
  return new ShmkitError(ENDED_CODE, 'the queue was ended: no more messages');
}

function stateError(message: string): ShmkitError {
  return new ShmkitError('ERR_INVALID_STATE', message);
}

/** A message queue in shared memory. */
export class Queue<T = Buffer> extends SharedObject implements AsyncQueue<T> {
  readonly #cells: Int32Array;
  readonly #ring: QueueRing;
  readonly #capacity: number;
  readonly #maxMessage: number;
  readonly #encoding: 'json' | 'v8' | undefined;
  /** The producer side: slot, claims and publishing (queue-producer.ts). */
  readonly #producer: QueueProducer;
  /** The consumer side: slot, takes and freeing (queue-consumer.ts). */
  readonly #consumer: QueueConsumer;
  // The words waits park on: the first park of a call counts itself
  // (EMPTY_WAITS / FULL_WAITS), the call's later parks use the quiet twin.
  readonly #dataWord: WaitWord;
  readonly #dataWordQuiet: WaitWord;
  readonly #spaceWord: WaitWord;
  readonly #spaceWordQuiet: WaitWord;
  readonly #dataSpin: SpinBudget;
  readonly #spaceSpin: SpinBudget;
  // tryReserve()/commit() and tryPeek()/release() in progress (NONE: none).
  #reservedAt = NONE;
  #reservedLength = 0;
  #peekedAt = NONE;
  #lastTry: QueueTryResult = 'ok';
  /** check() and repair(), made on first use. */
  #checker: QueueCheck | undefined;
  // Slots taken in this event-loop turn are given back by one setImmediate callback.
  #releaseQueued = false;
  readonly #releaseSlots = (): void => {
    this.#releaseQueued = false;
    if (this.closed) return;
    try {
      this.#giveBack();
    } catch (err) {
      // EPERM: native code already released it; there is nothing left to give back.
      if ((err as ShmkitError).code !== 'EPERM') throw err;
    }
  };
  // What the two sides need from this handle (one object, made once).
  readonly #host: SideHost = {
    holding: () => this.#queueRelease(),
    keepsSlot: (side) => (side === this.#producer ? this.#reservedAt !== NONE : this.#peekedAt !== NONE),
  };

  private constructor(buffer: SharedArrayBuffer, byteOffset: number, segment: Segment | null, options?: QueueHandleOptions) {
    super(buffer, byteOffset, segment, 'Queue');
    const opts = checkQueueHandleOptions(options);
    this.#encoding = opts.encoding;
    this.#cells = new Int32Array(buffer, byteOffset, META_OFFSET / 4);
    const capacity = this.#cells[CAPACITY] as number;
    if (capacity < MIN_CAPACITY || capacity > MAX_CAPACITY || (capacity & (capacity - 1)) !== 0 ||
      this.#cells[MAX_MESSAGE] !== maxMessage(capacity) || this.#cells[SLOTS] !== SLOT_COUNT || this.#cells[CELL_INDEX] !== CELL) {
      throw new ShmkitError('ERR_SHMKIT_BAD_LAYOUT', `Queue at offset ${byteOffset}: bad geometry (capacity ${capacity})`);
    }
    const objectBytes = objectBytesAt(buffer, byteOffset);
    if (objectBytes !== queueLength(capacity) || byteOffset + objectBytes > buffer.byteLength) {
      throw new ShmkitError('ERR_SHMKIT_BAD_LAYOUT', `Queue at offset ${byteOffset}: capacity ${capacity} does not match the object's ${objectBytes} bytes`);
    }
    this.#capacity = capacity;
    this.#maxMessage = maxMessage(capacity);
    const data = Buffer.from(buffer, byteOffset + dataOffset(capacity), capacity);
    const bytes = new Uint8Array(buffer, byteOffset + dataOffset(capacity), capacity);
    this.#ring = new QueueRing(buffer, byteOffset, capacity, this.#cells, this.subject, segment?.name ?? undefined);
    this.#producer = new QueueProducer(this.#ring, data, this.#host);
    this.#consumer = new QueueConsumer(this.#ring, data, bytes, this.#host, opts.encoding, segment?.name ?? null);
    this.#dataWord = { cells: this.#cells, word: DATA_SEQ, waiters: DATA_WAITERS, parks: EMPTY_WAITS };
    this.#dataWordQuiet = { cells: this.#cells, word: DATA_SEQ, waiters: DATA_WAITERS, parks: undefined };
    this.#spaceWord = { cells: this.#cells, word: SPACE_SEQ, waiters: SPACE_WAITERS, parks: FULL_WAITS };
    this.#spaceWordQuiet = { cells: this.#cells, word: SPACE_SEQ, waiters: SPACE_WAITERS, parks: undefined };
    const spin = parseSpin(opts);
    this.#dataSpin = new SpinBudget(spin);
    this.#spaceSpin = new SpinBudget(spin);
  }

  /** Bytes an embedded Queue of this geometry occupies (4736 + capacity / 8, at least 64, + the rounded capacity). */
  static byteLength(options: QueueOptions): number {
    return SPEC.byteLength(options);
  }

  /**
   * Formats a Queue in `buffer` at `byteOffset` (8-aligned, `byteLength()`
   * bytes) and returns a handle. Typed by `options.encoding` like create().
   */
  static init(buffer: SharedArrayBuffer, byteOffset: number, options: QueueOptions & QueueHandleOptions & BytesEncoding): Queue<Buffer>;
  static init<T = JsonValue>(buffer: SharedArrayBuffer, byteOffset: number, options: QueueOptions & QueueHandleOptions & JsonEncoding): Queue<T>;
  static init<T = unknown>(buffer: SharedArrayBuffer, byteOffset: number, options: QueueOptions & QueueHandleOptions & V8Encoding): Queue<T>;
  static init(buffer: SharedArrayBuffer, byteOffset: number, options: QueueOptions & QueueHandleOptions): Queue<unknown>;
  static init(buffer: SharedArrayBuffer, byteOffset: number, options: QueueOptions & QueueHandleOptions): Queue<unknown> {
    checkQueueHandleOptions(options);
    initObject(SPEC, buffer, byteOffset, options);
    return new Queue<unknown>(buffer, byteOffset, null, options);
  }

  /** A handle on a Queue formatted in `buffer` at `byteOffset` by anyone (another process, C code). */
  static attach(buffer: SharedArrayBuffer, byteOffset: number, options?: QueueHandleOptions & NamedOpenOptions & BytesEncoding): Queue<Buffer>;
  static attach<T = JsonValue>(buffer: SharedArrayBuffer, byteOffset: number, options: QueueHandleOptions & NamedOpenOptions & JsonEncoding): Queue<T>;
  static attach<T = unknown>(buffer: SharedArrayBuffer, byteOffset: number, options: QueueHandleOptions & NamedOpenOptions & V8Encoding): Queue<T>;
  static attach(buffer: SharedArrayBuffer, byteOffset: number, options?: QueueHandleOptions): Queue<unknown>;
  static attach(buffer: SharedArrayBuffer, byteOffset: number, options?: QueueHandleOptions): Queue<unknown> {
    attachObject(SPEC as ObjectSpec<unknown>, buffer, byteOffset);
    return new Queue<unknown>(buffer, byteOffset, null, options);
  }

  /**
   * Creates the named Queue (EEXIST if the name exists). The handle is
   * typed by `options.encoding`: `Queue<Buffer>` without one,
   * `Queue<JsonValue>` for `'json'` (or the type you name:
   * `Queue.create<Job>(...)`), `Queue<unknown>` for `'v8'`.
   */
  static create(name: string, options: QueueCreateOptions & NamedOpenOptions & BytesEncoding): Queue<Buffer>;
  static create<T = JsonValue>(name: string, options: QueueCreateOptions & NamedOpenOptions & JsonEncoding): Queue<T>;
  static create<T = unknown>(name: string, options: QueueCreateOptions & NamedOpenOptions & V8Encoding): Queue<T>;
  static create(name: string, options: QueueCreateOptions): Queue<unknown>;
  static create(name: string, options: QueueCreateOptions): Queue<unknown> {
    checkQueueHandleOptions(options); // before anything is created
    return adoptNamed(createNamed(SPEC, name, options), (seg) => new Queue<unknown>(seg.buffer, 0, seg, options), true);
  }

  /** Opens the named Queue (ENOENT if missing; ERR_SHMKIT_BAD_LAYOUT if it is not a Queue). Typed like create(). */
  static open(name: string, options?: QueueHandleOptions & NamedOpenOptions & BytesEncoding): Queue<Buffer>;
  static open<T = JsonValue>(name: string, options: QueueHandleOptions & NamedOpenOptions & JsonEncoding): Queue<T>;
  static open<T = unknown>(name: string, options: QueueHandleOptions & NamedOpenOptions & V8Encoding): Queue<T>;
  static open(name: string, options?: QueueHandleOptions & NamedOpenOptions): Queue<unknown>;
  static open(name: string, options?: QueueHandleOptions & NamedOpenOptions): Queue<unknown> {
    checkQueueHandleOptions(options);
    return adoptNamed(openNamed(SPEC as ObjectSpec<unknown>, name, options), (seg) => new Queue<unknown>(seg.buffer, 0, seg, options));
  }

  /**
   * Creates the named Queue, or opens it if it exists. A `capacity` given
   * must match the existing queue's (after rounding up to a power of two),
   * else ERR_SHMKIT_MISMATCH. Typed like create().
   */
  static openOrCreate(name: string, options: QueueCreateOptions & NamedOpenOptions & BytesEncoding): Queue<Buffer>;
  static openOrCreate<T = JsonValue>(name: string, options: QueueCreateOptions & NamedOpenOptions & JsonEncoding): Queue<T>;
  static openOrCreate<T = unknown>(name: string, options: QueueCreateOptions & NamedOpenOptions & V8Encoding): Queue<T>;
  static openOrCreate(name: string, options: QueueCreateOptions & NamedOpenOptions): Queue<unknown>;
  static openOrCreate(name: string, options: QueueCreateOptions & NamedOpenOptions): Queue<unknown> {
    checkQueueHandleOptions(options);
    return adoptNamed(openOrCreateNamed(SPEC, name, options), (seg) => new Queue<unknown>(seg.buffer, 0, seg, options));
  }

  /** Removes the name of a Queue (ERR_SHMKIT_BAD_LAYOUT if the name is another kind). */
  static unlink(name: string): void {
    unlinkNamed(SPEC as ObjectSpec<never>, name);
  }

  /** What this backend guarantees (the async interface's capability flags). */
  get capabilities(): QueueCapabilities {
    if (this.closed) throw this.closedError();
    return {
      backend: 'shm', scope: 'host', delivery: { receive: 'at-most-once', peek: 'at-least-once' },
      ordering: 'fifo', maxMessage: this.#maxMessage, redeliveryBound: 0,
    };
  }

  /** Data bytes of the ring. */
  get capacity(): number {
    if (this.closed) throw this.closedError();
    return this.#capacity;
  }

  /** Largest message (encoded bytes) the queue accepts: capacity / 2. */
  get maxMessage(): number {
    if (this.closed) throw this.closedError();
    return this.#maxMessage;
  }

  /**
   * Messages waiting (a snapshot). A process killed in the few instructions
   * between finishing a message and counting it leaves the count low by
   * one; it never goes below 0.
   */
  get length(): number {
    if (this.closed) throw this.closedError();
    const n = (this.#sent() - this.#received()) | 0;
    return n > 0 ? n : 0;
  }

  /**
   * Bytes of the ring claimed by producers and not yet taken by a consumer
   * (whole 64-byte cells: messages, ones being written, fillers; a
   * snapshot). Messages being copied out by a consumer are not counted.
   */
  get bytesUsed(): number {
    if (this.closed) throw this.closedError();
    const claim = Atomics.load(this.#cells, CLAIM);
    return (Atomics.load(this.#cells, RESERVE) - claim) >>> 0;
  }

  #sent(): number {
    return Atomics.load(this.#cells, SENT);
  }

  #received(): number {
    return Atomics.load(this.#cells, RECEIVED);
  }

  /** True once `end()` was called by anyone. */
  get ended(): boolean {
    if (this.closed) throw this.closedError();
    return (Atomics.load(this.#cells, FLAGS) & FLAG_ENDED) !== 0;
  }

  /**
   * Why this handle's last non-waiting call returned what it did (see
   * QueueTryResult): tells a full queue from busy slots after a `false`
   * from trySend(), an empty one from busy slots after `undefined` from
   * tryReceive().
   */
  get lastTryResult(): QueueTryResult {
    if (this.closed) throw this.closedError();
    return this.#lastTry;
  }

  /**
   * A snapshot of the counters every process keeps in the queue's memory
   * (QueueStats) and of how many claim slots are held; a fresh object.
   */
  stats(): QueueStats {
    if (this.closed) throw this.closedError();
    let producerSlots = 0;
    let consumerSlots = 0;
    let producersDied = 0;
    let consumersDied = 0;
    for (let s = 0; s < SLOT_COUNT; s++) {
      const producer = (this.#ring.producerSlots[s] as Mutex).stats();
      const consumer = (this.#ring.consumerSlots[s] as Mutex).stats();
      if (producer.holder !== null) producerSlots++;
      if (consumer.holder !== null) consumerSlots++;
      producersDied += producer.ownerDied;
      consumersDied += consumer.ownerDied;
    }
    return {
      capacity: this.#capacity,
      maxMessage: this.#maxMessage,
      length: this.length,
      bytesUsed: this.bytesUsed,
      sent: this.#sent() >>> 0,
      received: this.#received() >>> 0,
      fullWaits: Atomics.load(this.#cells, FULL_WAITS) >>> 0,
      emptyWaits: Atomics.load(this.#cells, EMPTY_WAITS) >>> 0,
      orphans: Atomics.load(this.#cells, ORPHANS) >>> 0,
      producersDied: producersDied >>> 0,
      consumersDied: consumersDied >>> 0,
      ended: this.ended,
      producerSlots,
      consumerSlots,
    };
  }

  /**
   * Looks the whole queue over and returns every problem found (an empty
   * array when it is sound): a geometry field or FLAGS bit no code writes, a
   * cursor out of place (misaligned, or not HEAD ≤ CLAIM ≤ RESERVE ≤
   * HEAD + capacity), a record head whose stamp or length breaks the
   * format, a free cell whose stamp is of a later lap. Each string names
   * the field and the position, e.g.
   * `RESERVE 4100 is not a multiple of 64` or
   * `record at position 8192: stamp 123 is not of this lap (its position is 64)`.
   *
   * Safe while other processes send and receive: it takes no lock and
   * never waits for anyone (so it has no timeout), and reports only what it
   * confirmed, reading again, was not a record changing under it. If the
   * queue never holds still for a whole pass (8 tries), it reports what it
   * confirmed in the last one. Walks every cell: O(capacity / 64).
   */
  check(): string[] {
    this.#checkOpen();
    return this.#checkerOf().check();
  }

  /**
   * Fixes what check() finds, as far as that is safe while other processes
   * use the queue, and reports what it found, did and could not do. A
   * record head that cannot be read becomes a skipped record up to the next
   * head (its message is lost, and named in `repaired`), so consumers stop
   * failing with ERR_SHMKIT_CORRUPT at it and the queue goes on; a message
   * left behind CLAIM goes to the consumers as an orphan; a free cell's
   * stamp is reset; geometry fields and unknown FLAGS bits are restored. A
   * record a live producer or consumer may still be working on is left
   * alone (run repair() again later). A cursor out of place is never moved
   * back (that could hand a message to two consumers or lose intact ones):
   * `remaining` says to recreate the queue. Every change is one
   * compare-and-swap from the value judged, so a racing peer or repairer
   * wins cleanly; dead peers' claims are cleaned up first, as waiters do.
   * Never waits for another process (no timeout). `remaining` is a check()
   * made afterwards, each problem followed by what to do about it.
   */
  repair(): RepairReport {
    this.#checkOpen();
    return this.#checkerOf().repair();
  }

  #checkerOf(): QueueCheck {
    this.#checker ??= new QueueCheck(this.#ring);
    return this.#checker;
  }

  // ---- Sending --------------------------------------------------------------------

  /**
   * Writes `message` if it fits; never waits. False: not written, and
   * `lastTryResult` says why ('full', or 'busy': every producer slot is
   * held by other handles).
   */
  trySend(message: SendableOf<T>): boolean {
    const bytes = this.#encode(message);
    const length = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
    this.#checkLength(length);
    if (!this.#producerReady()) {
      this.#lastTry = 'busy';
      return false;
    }
    const sent = this.#producer.send(bytes, length);
    this.#lastTry = sent ? 'ok' : 'full';
    return sent;
  }

  /** Writes `message`, blocking the thread while the queue is full. */
  sendSync(message: SendableOf<T>, options?: WaitOptions): void {
    const { timeout } = parseWait(options);
    const bytes = this.#encode(message);
    const length = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
    this.#checkLength(length);
    const deadline = timeout < 0 ? -1 : performance.now() + timeout;
    let space = this.#spaceWord; // counts the first park (FULL_WAITS)
    for (;;) {
      if (!this.#producerReady()) {
        this.#busyPauseSync(deadline, timeout, 'Queue.sendSync');
        continue;
      }
      if (this.#producer.send(bytes, length)) return;
      if (this.#waitSync(cellsFor(length), space, this.#spaceWordQuiet, this.#spaceSpin, deadline, timeout, 'Queue.sendSync')) space = this.#spaceWordQuiet;
    }
  }

  /** Writes `message`, waiting (without blocking the event loop) while the queue is full. */
  async send(message: SendableOf<T>, options?: WaitOptions): Promise<void> {
    const { timeout, signal } = parseWait(options);
    signal?.throwIfAborted();
    const bytes = this.#encode(message);
    const length = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
    this.#checkLength(length);
    const deadline = timeout < 0 ? -1 : performance.now() + timeout;
    let space = this.#spaceWord; // counts the first park (FULL_WAITS)
    for (;;) {
      if (!this.#producerReady()) {
        await this.#busyPause(deadline, timeout, signal, 'Queue.send');
        continue;
      }
      if (this.#producer.send(bytes, length)) return;
      const parked = this.#waitAsync(cellsFor(length), space, this.#spaceWordQuiet, this.#spaceSpin, deadline, timeout, signal, 'Queue.send');
      if (parked !== undefined) {
        space = this.#spaceWordQuiet;
        await parked;
      }
    }
  }

  /**
   * Writes as many of `messages` as fit now, in order, publishing them
   * together (one count and at most one wake-up); never waits.
   * Returns how many; `lastTryResult` says why it stopped short. Every
   * message is encoded and checked first: a bad one throws and writes nothing.
   */
  trySendMany(messages: readonly SendableOf<T>[]): number {
    this.#checkOpen();
    if (!Array.isArray(messages)) throw invalidArgType('messages', 'an Array', messages);
    const encoded = messages.map((m) => this.#encode(m));
    const lengths = encoded.map((b) => (typeof b === 'string' ? Buffer.byteLength(b) : b.byteLength));
    for (const length of lengths) this.#checkLength(length);
    if (encoded.length === 0) {
      this.#lastTry = 'ok';
      return 0;
    }
    if (!this.#producerReady()) {
      this.#lastTry = 'busy';
      return 0;
    }
    const n = this.#producer.sendBatch(encoded, lengths);
    this.#lastTry = n < encoded.length ? 'full' : 'ok';
    return n;
  }

  /**
   * Zero-copy send, step 1: returns a view of `length` bytes inside the ring
   * to fill, or undefined if there is no room (or every producer slot is
   * held by others) now. Nothing is visible to consumers until commit();
   * other producers go on meanwhile, but consumers take the messages after
   * this one only once it is committed. A producer that dies before
   * commit() leaves nothing behind, and the messages after it wait at most
   * a moment after its death.
   */
  tryReserve(length: number): Uint8Array | undefined {
    this.#checkOpen();
    if (this.#endedSeen()) throw endedError();
    checkInteger('length', length, 0, this.#maxMessage);
    if (!this.#producerReady()) {
      this.#lastTry = 'busy';
      return undefined;
    }
    const at = this.#producer.claim(cellsFor(length));
    if (at === NO_ROOM) {
      this.#lastTry = 'full';
      return undefined;
    }
    this.#lastTry = 'ok';
    this.#reservedAt = at;
    this.#reservedLength = length;
    return this.#consumer.view(at, length); // a view of the record's payload bytes (either side's view is the same)
  }

  /** Zero-copy send, step 2: publishes the reserved bytes (the first `length` of them). */
  commit(length: number = this.#reservedLength): void {
    this.#checkOpen();
    if (this.#reservedAt === NONE) throw stateError('commit() without tryReserve()');
    checkInteger('length', length, 0, this.#reservedLength);
    const at = this.#reservedAt;
    this.#reservedAt = NONE;
    this.#producer.complete(at, length, this.#reservedLength);
    this.#producer.announce(1);
    this.#queueRelease(); // the slot the reservation kept goes back at the end of this turn
  }

  /**
   * No more messages: receivers take what is left, then `receive` rejects
   * with ERR_SHMKIT_QUEUE_ENDED and iteration ends. Sending afterwards throws.
   */
  end(): void {
    this.#checkOpen();
    const cells = this.#cells;
    Atomics.or(cells, FLAGS, FLAG_ENDED);
    Atomics.add(cells, DATA_SEQ, 1);
    if (Atomics.load(cells, DATA_WAITERS) !== 0) wake(cells, DATA_SEQ, 0);
  }

  // ---- Receiving ------------------------------------------------------------------

  /**
   * Takes the next message if there is one; never waits. Undefined:
   * `lastTryResult` says why ('empty', or 'busy': every consumer slot is
   * held by other handles).
   */
  tryReceive(): T | undefined {
    this.#checkReceive();
    const at = this.#tryTake();
    return at === NO_ROOM ? undefined : (this.#consumer.takeOut(at, this.#consumer.length) as T);
  }

  /**
   * Copies the next message into `target` at `offset` and returns its length,
   * or -1 if there is none; never waits and allocates nothing (for byte
   * messages on a queue without encoding). A message longer than the room
   * in `target` throws ERR_OUT_OF_RANGE and stays in the queue.
   */
  tryReceiveInto(target: Uint8Array, offset = 0): number {
    this.#checkReceive();
    if (!(target instanceof Uint8Array)) throw invalidArgType('target', 'an instance of Uint8Array', target);
    checkInteger('offset', offset, 0, target.byteLength);
    if (this.#encoding !== undefined) throw stateError(`tryReceiveInto() takes bytes; this handle decodes '${this.#encoding}'`);
    const at = this.#tryTake(); // 'ok' also when it does not fit: not for want of messages
    if (at === NO_ROOM) return -1;
    const consumer = this.#consumer;
    const length = consumer.length;
    if (length > target.byteLength - offset) {
      consumer.untake(at);
      throw outOfRange('target', `room for the ${length}-byte message (it stays in the queue)`, `${target.byteLength - offset} bytes from offset ${offset}`);
    }
    consumer.copyInto(target, offset, at, length);
    consumer.free(at);
    return length;
  }

  /** Takes the next message, blocking the thread while the queue is empty. */
  receiveSync(options?: WaitOptions): T {
    this.#checkReceive();
    const { timeout } = parseWait(options);
    const deadline = timeout < 0 ? -1 : performance.now() + timeout;
    const consumer = this.#consumer;
    let data = this.#dataWord; // counts the first park (EMPTY_WAITS)
    for (;;) {
      if (!consumer.ready()) {
        this.#busyPauseSync(deadline, timeout, 'Queue.receiveSync');
        continue;
      }
      const at = consumer.take();
      if (at !== NO_ROOM) return consumer.takeOut(at, consumer.length) as T;
      if (this.#endedAndEmpty()) throw endedError();
      if (this.#waitSync(WANT_DATA, data, this.#dataWordQuiet, this.#dataSpin, deadline, timeout, 'Queue.receiveSync')) data = this.#dataWordQuiet;
    }
  }

  /** Takes the next message, waiting without blocking the event loop. */
  async receive(options?: WaitOptions): Promise<T> {
    this.#checkReceive();
    const { timeout, signal } = parseWait(options);
    signal?.throwIfAborted();
    const deadline = timeout < 0 ? -1 : performance.now() + timeout;
    const consumer = this.#consumer;
    let data = this.#dataWord; // counts the first park (EMPTY_WAITS)
    for (;;) {
      if (!consumer.ready()) {
        await this.#busyPause(deadline, timeout, signal, 'Queue.receive');
        continue;
      }
      const at = consumer.take();
      if (at !== NO_ROOM) return consumer.takeOut(at, consumer.length) as T;
      if (this.#endedAndEmpty()) throw endedError();
      const parked = this.#waitAsync(WANT_DATA, data, this.#dataWordQuiet, this.#dataSpin, deadline, timeout, signal, 'Queue.receive');
      if (parked !== undefined) {
        data = this.#dataWordQuiet;
        await parked;
      }
    }
  }

  /**
   * Takes up to `max` messages that are there now (freeing them together);
   * never waits. A message that does not decode ends the batch: the next
   * call throws ERR_SHMKIT_DECODE for it (and it is consumed).
   */
  tryReceiveMany(max: number): T[] {
    this.#checkReceive(); // a closed handle says so whatever the arguments
    checkInteger('max', max, 0, 2 ** 31 - 1);
    const out: T[] = [];
    if (max === 0) {
      this.#lastTry = 'ok';
      return out;
    }
    const consumer = this.#consumer;
    if (!consumer.ready()) {
      this.#lastTry = 'busy';
      return out;
    }
    consumer.takeBatch(max, out);
    this.#lastTry = out.length < max ? 'empty' : 'ok';
    return out;
  }

  /**
   * Zero-copy receive, step 1: a view of the next message inside the ring
   * (valid until release()), or undefined. If this process dies before
   * release(), the message is delivered to another consumer.
   */
  tryPeek(): Uint8Array | undefined {
    this.#checkReceive();
    const at = this.#tryTake();
    if (at === NO_ROOM) return undefined;
    this.#peekedAt = at;
    return this.#consumer.view(at, this.#consumer.length);
  }

  /** Zero-copy receive, step 2: frees the message returned by tryPeek(). */
  release(): void {
    this.#checkOpen();
    if (this.#peekedAt === NONE) throw stateError('release() without tryPeek()');
    const at = this.#peekedAt;
    this.#peekedAt = NONE;
    this.#consumer.free(at);
    this.#queueRelease(); // the slot the peek kept goes back at the end of this turn
  }

  /** Receives messages until the queue is ended and drained. */
  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for (;;) {
      let message: T;
      try {
        message = await this.receive();
      } catch (err) {
        if ((err as ShmkitError).code === ENDED_CODE) return;
        throw err;
      }
      yield message;
    }
  }

  /**
   * Releases the handle and the slots it holds. An uncommitted reservation
   * is dropped (its cells are skipped); a peeked, unreleased message goes to
   * another consumer.
   */
  override close(): void {
    if (this.closed) return;
    try {
      if (this.#reservedAt !== NONE) {
        // Dropped: a zero-length message would be delivered; a SKIP is not.
        const at = this.#reservedAt;
        this.#reservedAt = NONE;
        this.#producer.abandon(at, this.#reservedLength);
      }
      if (this.#peekedAt !== NONE) {
        const at = this.#peekedAt;
        this.#peekedAt = NONE;
        this.#consumer.untake(at);
      }
      this.#giveBack();
    } finally {
      this.#ring.close();
      super.close();
    }
  }

  /** @internal The waiting core's check: a message to take, or room for a record of `arg` cells. */
  attempt(arg: number): boolean {
    if (arg === WANT_DATA) return this.#consumer.mayTake() || this.#endedAndEmpty();
    return this.#ring.roomThere(arg);
  }

  // ---- Slots and the turn ---------------------------------------------------------------

  #checkOpen(): void {
    if (this.closed) throw this.closedError();
  }

  #checkReceive(): void {
    if (this.closed) throw this.closedError();
    if (this.#peekedAt !== NONE) throw stateError('release() the peeked message first');
  }

  // The non-waiting take of tryReceive/tryReceiveInto/tryPeek: the message's
  // position (its length in the consumer's `length`), or NO_ROOM with
  // lastTryResult saying why.
  #tryTake(): number {
    const consumer = this.#consumer;
    if (!consumer.ready()) {
      this.#lastTry = 'busy';
      return NO_ROOM;
    }
    const at = consumer.take();
    this.#lastTry = at === NO_ROOM ? 'empty' : 'ok';
    return at;
  }

  #producerReady(): boolean {
    if (this.#reservedAt !== NONE) throw stateError('commit() the reservation first');
    return this.#producer.ready();
  }

  #queueRelease(): void {
    if (this.#releaseQueued) return;
    this.#releaseQueued = true;
    // At the end of the event-loop turn (the check phase), not of the
    // current microtask: a chain of awaits that never leaves the turn (a
    // receive whose spin found the message) keeps its slots instead of
    // giving them back and taking them again at every await. In one
    // process, trySend + `await receive()`: 1.53 µs with a microtask
    // (Node's queueMicrotask also wraps each callback in an AsyncResource),
    // 1.08 µs this way, 0.92 µs never giving slots back (min of 5 runs).
    setImmediate(this.#releaseSlots);
  }

  // End of turn (or close): slots not needed by an open reservation or peek.
  #giveBack(): void {
    this.#producer.giveBack();
    this.#consumer.giveBack();
  }

  // ---- Waiting ----------------------------------------------------------------------

  // Every claim slot is held by other handles: they give them back within
  // moments. Pause briefly, never past the deadline.
  #busyPauseSync(deadline: number, timeout: number, what: string): void {
    if (deadline >= 0 && msLeft(deadline) === 0) throw timeoutError(what, timeout);
    const ms = msLeft(deadline);
    nap(ms < 0 || ms > BUSY_PAUSE_MS ? BUSY_PAUSE_MS : ms);
  }

  // The same without blocking the event loop: one macrotask turn (so other
  // work of this thread, and a peer of this thread, can run).
  async #busyPause(deadline: number, timeout: number, signal: AbortSignal | undefined, what: string): Promise<void> {
    if (deadline >= 0 && msLeft(deadline) === 0) throw timeoutError(what, timeout);
    await new Promise<void>((resolve) => setImmediate(resolve));
    signal?.throwIfAborted();
    this.#checkOpen();
  }

  // Waits in slices, cleaning up after dead peers between them: a claim
  // left by a process that died while everyone was parked would otherwise
  // never be noticed. `word` may count the first park of the call; later
  // slices park on `quiet`, the same word uncounted. Returns whether it
  // parked (the caller's next wait of the same call is then `quiet` too).
  #waitSync(arg: number, word: WaitWord, quiet: WaitWord, spin: SpinBudget, deadline: number, timeout: number, what: string): boolean {
    let w = word;
    for (;;) {
      const ms = msLeft(deadline);
      try {
        return waitForSync(this, arg, w, spin, ms < 0 || ms > REPAIR_SLICE_MS ? REPAIR_SLICE_MS : ms, what) || w === quiet;
      } catch (err) {
        if ((err as ShmkitError).code !== 'ETIMEDOUT') throw err;
        w = quiet; // a slice that timed out had parked
        if (deadline >= 0 && msLeft(deadline) === 0) throw timeoutError(what, timeout);
        this.#ring.repair();
        this.#consumer.lookAgain();
      }
    }
  }

  // Undefined: the wait is over (the spin found it). A promise: it parks
  // (and has counted the park if `word` counts), later slices on `quiet`.
  #waitAsync(arg: number, word: WaitWord, quiet: WaitWord, spin: SpinBudget, deadline: number, timeout: number, signal: AbortSignal | undefined, what: string): Promise<void> | undefined {
    const ms = msLeft(deadline);
    const slice = ms < 0 || ms > REPAIR_SLICE_MS ? REPAIR_SLICE_MS : ms;
    const parked = waitForAsync(this, arg, word, spin, slice, signal, what);
    return parked === undefined ? undefined : this.#sliceAsync(parked, arg, quiet, spin, deadline, timeout, signal, what);
  }

  async #sliceAsync(parked: Promise<void>, arg: number, word: WaitWord, spin: SpinBudget, deadline: number, timeout: number, signal: AbortSignal | undefined, what: string): Promise<void> {
    for (;;) {
      try {
        await parked;
        return;
      } catch (err) {
        if ((err as ShmkitError).code !== 'ETIMEDOUT') throw err;
        if (deadline >= 0 && msLeft(deadline) === 0) throw timeoutError(what, timeout);
        this.#checkOpen();
        this.#ring.repair();
        this.#consumer.lookAgain();
      }
      const ms = msLeft(deadline);
      const next = waitForAsync(this, arg, word, spin, ms < 0 || ms > REPAIR_SLICE_MS ? REPAIR_SLICE_MS : ms, signal, what);
      if (next === undefined) return;
      parked = next;
    }
  }

  // ---- Helpers ----------------------------------------------------------------------

  #encode(message: unknown): Uint8Array | string {
    if (this.closed) throw this.closedError();
    if (this.#endedSeen()) throw endedError();
    return encodeMessage(this.#encoding, message, 'queue', this.name);
  }

  // ENDED, for a producer about to send: a plain read (an end() that
  // happens before this send in any order the program can observe is seen
  // by it all the same; an atomic load per message buys nothing more).
  #endedSeen(): boolean {
    return ((this.#cells[FLAGS] as number) & FLAG_ENDED) !== 0;
  }

  #checkLength(length: number): void {
    if (length > this.#maxMessage) {
      throw outOfRange('message', `at most ${this.#maxMessage} bytes (half the queue's capacity)`, `${length} bytes`);
    }
  }

  #endedAndEmpty(): boolean {
    return (Atomics.load(this.#cells, FLAGS) & FLAG_ENDED) !== 0 && this.#ring.drained();
  }
}
