/**
 * Queue: a message channel in shared memory, any number of producers and
 * consumers. Messages are byte strings (Uint8Array/Buffer) or strings
 * (UTF-8), or objects with `encoding: 'json' | 'v8'`.
 *
 * A lone producer (consumer) keeps the producer (consumer) role, a robust
 * Mutex, for the rest of the event-loop turn and writes (reads) the ring
 * exclusively: the fast path, paid once per turn. As soon as another asks
 * for the role, both switch to shared mode for a while: each takes the role
 * only to claim its records, copies with no lock held, and finishes them in
 * any order (queue-ring.ts). Claims are tied to robust slots, so a process
 * killed at any instant leaves nothing that blocks the others for long.
 * The rules are in queue-layout.ts.
 */
import { checkInteger } from '../args.js';
import { ShmkitError, invalidArgType, mismatchError, outOfRange } from '../errors.js';
import { checkHandleOptions, decodeMessage, encodeMessage, roundCapacity, type ChannelHandleOptions, type JsonValue, type SendableOf } from './codec.js';
import { Segment } from '../segment/segment.js';
import { Mutex } from '../sync/mutex.js';
import { MUTEX_LENGTH } from '../sync/mutex-layout.js';
import { lockingTid } from '../sync/robust.js';
import { objectBytesAt } from '../layout/header.js';
import { SharedObject } from '../object/shared-object.js';
import { adoptNamed, attachObject, createNamed, initObject, openNamed, openOrCreateNamed, type NamedCreateOptions, type ObjectSpec, unlinkNamed } from '../object/named.js';
import { checkSpinOption, parseSpin, parseWait, type WaitOptions } from '../sync/options.js';
import { POLLS_PER_CLOCK, SpinBudget, timeoutError, waitForAsync, waitForSync, wake, type WaitWord } from '../sync/wait.js';
import { NONE, QueueRing } from './queue-ring.js';
import {
  CAPACITY, CAPACITY_OFFSET, CLAIM, CONSUMER_ROLE_OFFSET, CONSUMER_SLOTS_OFFSET, C_WANT, DATA_OFFSET, DATA_SEQ, DATA_WAITERS, FLAGS, FLAG_ENDED, HEAD, MAX_CAPACITY, MAX_MESSAGE,
  MIN_CAPACITY, ORPHANS, PADDING, PRODUCER_ROLE_OFFSET, PRODUCER_SLOTS_OFFSET, PRODUCER_TAG, P_WANT, QUEUE_KIND, QUEUE_VERSION, RECEIVED, RECORD_HEADER_LENGTH,
  RECEIVED_SHARED, RELEASED, RESERVE, SENT, SENT_SHARED, SLOTS, SLOT_COUNT, SPACE_SEQ, SPACE_WAITERS, TAIL, consumerSlotOf, consumerTag, maxMessage, queueLength,
  recordSize, taggedLength,
} from './queue-layout.js';

/** Geometry of a Queue. */
export interface QueueOptions {
  /** Data bytes; rounded up to a power of two (at least 64, at most 2^30). */
  capacity: number;
}

/** Options of a Queue handle. */
export interface QueueHandleOptions extends ChannelHandleOptions {
  /**
   * Always work in shared mode: never keep the producer or consumer role
   * beyond the claim step, even when alone (default false: a lone producer
   * or consumer keeps its role for the turn and skips the claim step, and
   * gives it up as soon as another asks). Costs a few tens of nanoseconds
   * per operation; useful when a peer must never wait for this handle's
   * `reserve()`/`peek()` to end.
   */
  shared?: boolean;
}

/** What a Queue carries: bytes or a string (or, with an encoding, any value it can encode). */
export type QueueMessage = Uint8Array | string;

/** Options that make a bytes handle (`Queue<Buffer>`): no encoding. */
type BytesHandle = { encoding?: undefined };
/** Create options of a named Queue. */
type CreateOptions = QueueOptions & NamedCreateOptions & QueueHandleOptions;

/**
 * Why a handle's last non-waiting call (trySend, trySendMany, reserve,
 * tryReceive, tryReceiveInto, tryReceiveMany, peek) did what it did:
 * `'ok'` it sent or took everything asked; `'full'` no room for the (next)
 * message; `'empty'` no committed message left; `'busy'` another process
 * held the producer (consumer) role past the brief hand-over wait (it is
 * not running: the scheduler took its CPU), or every claim slot was taken:
 * trying again soon succeeds.
 */
export type QueueTryResult = 'ok' | 'full' | 'empty' | 'busy';

/** Counters of a Queue (a snapshot). */
export interface QueueStats {
  capacity: number;
  maxMessage: number;
  length: number;
  bytesUsed: number;
  sent: number;
  received: number;
  ended: boolean;
  /** Pid holding the producer / consumer role right now, or null. */
  producerPid: number | null;
  consumerPid: number | null;
  /** Producer / consumer slots held right now (handles working in shared mode). */
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
    const cells = new Int32Array(buffer, byteOffset, DATA_OFFSET / 4);
    cells[CAPACITY] = capacity;
    cells[MAX_MESSAGE] = maxMessage(capacity);
    cells[SLOTS] = SLOT_COUNT;
    Mutex.init(buffer, byteOffset + PRODUCER_ROLE_OFFSET).close();
    Mutex.init(buffer, byteOffset + CONSUMER_ROLE_OFFSET).close();
    for (let s = 0; s < SLOT_COUNT; s++) {
      Mutex.init(buffer, byteOffset + PRODUCER_SLOTS_OFFSET + s * MUTEX_LENGTH).close();
      Mutex.init(buffer, byteOffset + CONSUMER_SLOTS_OFFSET + s * MUTEX_LENGTH).close();
    }
  },
};

/** Handles of this thread that keep a role or slot for the current turn. */
const stickyHolders = new Set<Queue<unknown>>();

/** Returned by the claim steps when the role is taken by another (never a position: not a multiple of 8). */
const BUSY = -3;
/** Returned by the shared claim steps when every slot is busy but no claim is open: work exclusively. */
const GO_EXCLUSIVE = -5;
/** Operations a handle stays in shared mode after it saw another producer (consumer). */
const SHARED_OPS = 1024;
/** tryLock polls for the role before a non-waiting call gives up (a shared claim holds it ~100 ns). */
const ROLE_POLLS = 64;
/**
 * How long a non-waiting call keeps asking for a role another process holds
 * (a shared claim holds it ~100 ns; an exclusive holder hands it over after
 * its current operation). A holder that keeps it longer is not running (the
 * scheduler took its CPU): the call reports 'busy', not 'full' or 'empty'.
 */
const ROLE_HANDOVER_MS = 0.005;
/** A blocking call that found every claim slot taken pauses this long before trying again. */
const BUSY_PAUSE_MS = 0.05;
/** Waiters look for dead peers' claims this often (the bound on how long a death can block anyone). */
const REPAIR_SLICE_MS = 250;

const WANT_DATA = -1; // attempt() argument: wait for a message (else: room for a record of that size)
const ENDED_CODE = 'ERR_SHMKIT_QUEUE_ENDED';

const napCell = new Int32Array(new SharedArrayBuffer(4));

// Sleeps `ms` (a thread-blocking pause for the sync paths).
function nap(ms: number): void {
  Atomics.wait(napCell, 0, 0, ms);
}

// Milliseconds left until `deadline` (-1: forever).
function left(deadline: number): number {
  if (deadline < 0) return -1;
  const ms = deadline - performance.now();
  return ms > 0 ? ms : 0;
}

// The same, as a public `timeout` option (undefined: forever).
function asOption(deadline: number): number | undefined {
  return deadline < 0 ? undefined : left(deadline);
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
export class Queue<T = Buffer> extends SharedObject {
  readonly #cells: Int32Array;
  readonly #data: Buffer;
  readonly #bytes: Uint8Array;
  readonly #words: Int32Array;
  readonly #ring: QueueRing;
  readonly #mask: number;
  readonly #capacity: number;
  readonly #maxMessage: number;
  readonly #encoding: 'json' | 'v8' | undefined;
  readonly #alwaysShared: boolean;
  readonly #producerRole: Mutex;
  readonly #consumerRole: Mutex;
  readonly #dataWord: WaitWord;
  readonly #spaceWord: WaitWord;
  readonly #dataSpin: SpinBudget;
  readonly #spaceSpin: SpinBudget;
  // Producer side. #pHold: the role is held; #pExcl: held for exclusive
  // writing (TAIL == RESERVE when taken; #tail/#headSeen are ours).
  #pHold = false;
  #pExcl = false;
  #pWant = 0; // P_WANT when the role was taken
  #pShared = 0; // operations left in shared mode
  #pSlot = -1;
  #tail = 0;
  #headSeen = 0;
  #unpublished = 0;
  // Consumer side, the same way (#head/#tailSeen are ours while #cExcl).
  #cHold = false;
  #cExcl = false;
  #cWant = 0;
  #cShared = 0;
  #cSlot = -1;
  #head = 0;
  #tailSeen = 0;
  // The record a claim step just returned: shared or exclusive, payload length.
  #takenShared = false;
  #takenLength = 0;
  // reserve()/commit() and peek()/release() in progress (NONE: none).
  #reservedAt = NONE;
  #reservedLength = 0;
  #reservedShared = false;
  #peekedAt = NONE;
  #peekedShared = false;
  #lastTry: QueueTryResult = 'ok';
  // Positions and lengths of a batch (sendMany/receiveMany in shared mode), reused.
  readonly #batchAt: number[] = [];
  readonly #batchLength: number[] = [];
  // Roles and slots taken in this event-loop turn are given back by one microtask.
  #releaseQueued = false;
  readonly #releaseRoles = (): void => {
    this.#releaseQueued = false;
    if (this.closed) return;
    try {
      this.#giveBack();
    } catch (err) {
      // EPERM: native code or another handle of this thread already
      // released it; there is nothing left to give back.
      if ((err as ShmkitError).code !== 'EPERM') throw err;
    }
  };

  private constructor(buffer: SharedArrayBuffer, byteOffset: number, segment: Segment | null, options?: QueueHandleOptions) {
    super(buffer, byteOffset, segment, 'Queue');
    const opts = checkQueueHandleOptions(options);
    this.#encoding = opts.encoding;
    this.#alwaysShared = opts.shared === true;
    this.#cells = new Int32Array(buffer, byteOffset, DATA_OFFSET / 4);
    const capacity = this.#cells[CAPACITY] as number;
    if (capacity < MIN_CAPACITY || capacity > MAX_CAPACITY || (capacity & (capacity - 1)) !== 0 ||
      this.#cells[MAX_MESSAGE] !== maxMessage(capacity) || this.#cells[SLOTS] !== SLOT_COUNT) {
      throw new ShmkitError('ERR_SHMKIT_BAD_LAYOUT', `Queue at offset ${byteOffset}: bad geometry (capacity ${capacity})`);
    }
    const objectBytes = objectBytesAt(buffer, byteOffset);
    if (objectBytes !== queueLength(capacity) || byteOffset + objectBytes > buffer.byteLength) {
      throw new ShmkitError('ERR_SHMKIT_BAD_LAYOUT', `Queue at offset ${byteOffset}: capacity ${capacity} does not match the object's ${objectBytes} bytes`);
    }
    this.#capacity = capacity;
    this.#mask = capacity - 1;
    this.#maxMessage = maxMessage(capacity);
    this.#data = Buffer.from(buffer, byteOffset + DATA_OFFSET, capacity);
    this.#bytes = new Uint8Array(buffer, byteOffset + DATA_OFFSET, capacity);
    this.#ring = new QueueRing(buffer, byteOffset, capacity, this.#cells);
    this.#words = this.#ring.words;
    this.#producerRole = Mutex.attach(buffer, byteOffset + PRODUCER_ROLE_OFFSET, { spin: 0 });
    this.#consumerRole = Mutex.attach(buffer, byteOffset + CONSUMER_ROLE_OFFSET, { spin: 0 });
    this.#dataWord = { cells: this.#cells, word: DATA_SEQ, waiters: DATA_WAITERS };
    this.#spaceWord = { cells: this.#cells, word: SPACE_SEQ, waiters: SPACE_WAITERS };
    const spin = parseSpin(opts);
    this.#dataSpin = new SpinBudget(spin);
    this.#spaceSpin = new SpinBudget(spin);
  }

  /** Bytes an embedded Queue of this geometry occupies (4864 + the rounded capacity). */
  static byteLength(options: QueueOptions): number {
    return SPEC.byteLength(options);
  }

  /**
   * Formats a Queue in `buffer` at `byteOffset` (8-aligned, `byteLength()`
   * bytes) and returns a handle. Typed by `options.encoding` like create().
   */
  static init(buffer: SharedArrayBuffer, byteOffset: number, options: QueueOptions & QueueHandleOptions & BytesHandle): Queue<Buffer>;
  static init<T = JsonValue>(buffer: SharedArrayBuffer, byteOffset: number, options: QueueOptions & QueueHandleOptions & { encoding: 'json' }): Queue<T>;
  static init<T = unknown>(buffer: SharedArrayBuffer, byteOffset: number, options: QueueOptions & QueueHandleOptions & { encoding: 'v8' }): Queue<T>;
  static init(buffer: SharedArrayBuffer, byteOffset: number, options: QueueOptions & QueueHandleOptions): Queue<unknown>;
  static init(buffer: SharedArrayBuffer, byteOffset: number, options: QueueOptions & QueueHandleOptions): Queue<unknown> {
    checkQueueHandleOptions(options);
    initObject(SPEC, buffer, byteOffset, options);
    return new Queue<unknown>(buffer, byteOffset, null, options);
  }

  /** A handle on a Queue formatted in `buffer` at `byteOffset` by anyone (another process, C code). */
  static attach(buffer: SharedArrayBuffer, byteOffset: number, options?: QueueHandleOptions & BytesHandle): Queue<Buffer>;
  static attach<T = JsonValue>(buffer: SharedArrayBuffer, byteOffset: number, options: QueueHandleOptions & { encoding: 'json' }): Queue<T>;
  static attach<T = unknown>(buffer: SharedArrayBuffer, byteOffset: number, options: QueueHandleOptions & { encoding: 'v8' }): Queue<T>;
  static attach(buffer: SharedArrayBuffer, byteOffset: number, options?: QueueHandleOptions): Queue<unknown>;
  static attach(buffer: SharedArrayBuffer, byteOffset: number, options?: QueueHandleOptions): Queue<unknown> {
    attachObject(SPEC as ObjectSpec<unknown>, buffer, byteOffset, `offset ${byteOffset}`);
    return new Queue<unknown>(buffer, byteOffset, null, options);
  }

  /**
   * Creates the named Queue (EEXIST if the name exists). The handle is
   * typed by `options.encoding`: `Queue<Buffer>` without one,
   * `Queue<JsonValue>` for `'json'` (or the type you name:
   * `Queue.create<Job>(...)`), `Queue<unknown>` for `'v8'`.
   */
  static create(name: string, options: CreateOptions & BytesHandle): Queue<Buffer>;
  static create<T = JsonValue>(name: string, options: CreateOptions & { encoding: 'json' }): Queue<T>;
  static create<T = unknown>(name: string, options: CreateOptions & { encoding: 'v8' }): Queue<T>;
  static create(name: string, options: CreateOptions): Queue<unknown>;
  static create(name: string, options: CreateOptions): Queue<unknown> {
    checkQueueHandleOptions(options); // before anything is created
    return adoptNamed(createNamed(SPEC, name, options), (seg) => new Queue<unknown>(seg.buffer, 0, seg, options), true);
  }

  /** Opens the named Queue (ENOENT if missing; ERR_SHMKIT_BAD_LAYOUT if it is not a Queue). Typed like create(). */
  static open(name: string, options?: QueueHandleOptions & BytesHandle): Queue<Buffer>;
  static open<T = JsonValue>(name: string, options: QueueHandleOptions & { encoding: 'json' }): Queue<T>;
  static open<T = unknown>(name: string, options: QueueHandleOptions & { encoding: 'v8' }): Queue<T>;
  static open(name: string, options?: QueueHandleOptions): Queue<unknown>;
  static open(name: string, options?: QueueHandleOptions): Queue<unknown> {
    checkQueueHandleOptions(options);
    return adoptNamed(openNamed(SPEC as ObjectSpec<unknown>, name), (seg) => new Queue<unknown>(seg.buffer, 0, seg, options));
  }

  /**
   * Creates the named Queue, or opens it if it exists. A `capacity` given
   * must match the existing queue's (after rounding up to a power of two),
   * else ERR_SHMKIT_MISMATCH. Typed like create().
   */
  static openOrCreate(name: string, options: CreateOptions & BytesHandle): Queue<Buffer>;
  static openOrCreate<T = JsonValue>(name: string, options: CreateOptions & { encoding: 'json' }): Queue<T>;
  static openOrCreate<T = unknown>(name: string, options: CreateOptions & { encoding: 'v8' }): Queue<T>;
  static openOrCreate(name: string, options: CreateOptions): Queue<unknown>;
  static openOrCreate(name: string, options: CreateOptions): Queue<unknown> {
    checkQueueHandleOptions(options);
    return adoptNamed(openOrCreateNamed(SPEC, name, options), (seg) => new Queue<unknown>(seg.buffer, 0, seg, options));
  }

  /** Removes the name of a Queue (ERR_SHMKIT_BAD_LAYOUT if the name is another kind). */
  static unlink(name: string): void {
    unlinkNamed(SPEC as ObjectSpec<never>, name);
  }

  /** Data bytes of the ring. */
  get capacity(): number {
    if (this.closed) throw this.closedError();
    return this.#capacity;
  }

  /** Largest message (encoded bytes) the queue accepts: capacity / 2 - 8. */
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

  /** Bytes of the ring in use, record headers, padding and messages being written or taken included (a snapshot). */
  get bytesUsed(): number {
    if (this.closed) throw this.closedError();
    return (Atomics.load(this.#cells, RESERVE) - Atomics.load(this.#cells, HEAD)) >>> 0;
  }

  #sent(): number {
    return (Atomics.load(this.#cells, SENT) + Atomics.load(this.#cells, SENT_SHARED)) | 0;
  }

  #received(): number {
    return (Atomics.load(this.#cells, RECEIVED) + Atomics.load(this.#cells, RECEIVED_SHARED)) | 0;
  }

  /** True once `end()` was called by anyone. */
  get ended(): boolean {
    if (this.closed) throw this.closedError();
    return (Atomics.load(this.#cells, FLAGS) & FLAG_ENDED) !== 0;
  }

  /**
   * Why this handle's last non-waiting call returned what it did (see
   * QueueTryResult): tells a full queue from a busy role after a `false`
   * from trySend(), an empty one from a busy role after `undefined` from
   * tryReceive().
   */
  get lastTryResult(): QueueTryResult {
    if (this.closed) throw this.closedError();
    return this.#lastTry;
  }

  stats(): QueueStats {
    if (this.closed) throw this.closedError();
    let producerSlots = 0;
    let consumerSlots = 0;
    for (let s = 0; s < SLOT_COUNT; s++) {
      if ((this.#ring.producerSlots[s] as Mutex).locked) producerSlots++;
      if ((this.#ring.consumerSlots[s] as Mutex).locked) consumerSlots++;
    }
    return {
      capacity: this.#capacity,
      maxMessage: this.#maxMessage,
      length: this.length,
      bytesUsed: this.bytesUsed,
      sent: this.#sent() >>> 0,
      received: this.#received() >>> 0,
      ended: this.ended,
      producerPid: this.#producerRole.holder?.pid ?? null,
      consumerPid: this.#consumerRole.holder?.pid ?? null,
      producerSlots,
      consumerSlots,
    };
  }

  // ---- Sending --------------------------------------------------------------------

  /** Writes `message` if there is room; never waits. */
  trySend(message: SendableOf<T>): boolean {
    const bytes = this.#encode(message);
    const length = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
    this.#checkLength(length);
    if (!this.#producerReady()) {
      this.#lastTry = 'busy';
      return false;
    }
    const at = this.#claim(recordSize(length));
    if (at === NONE || at === BUSY) {
      this.#lastTry = at === NONE ? 'full' : 'busy';
      this.#yieldProducer();
      return false;
    }
    this.#fill(at, bytes, length);
    this.#finishOne(at, length);
    this.#lastTry = 'ok';
    return true;
  }

  /** Writes `message`, blocking the thread while the queue is full. */
  sendSync(message: SendableOf<T>, options?: WaitOptions): void {
    const { timeout } = parseWait(options);
    const bytes = this.#encode(message);
    const length = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
    this.#checkLength(length);
    const size = recordSize(length);
    const deadline = timeout < 0 ? -1 : performance.now() + timeout;
    for (;;) {
      if (!this.#producerReady()) this.#lockProducerSync(deadline, timeout);
      const at = this.#claim(size);
      if (at === BUSY) {
        this.#busyPauseSync(deadline, timeout, 'Queue.sendSync');
        continue;
      }
      if (at !== NONE) {
        this.#fill(at, bytes, length);
        this.#finishOne(at, length);
        return;
      }
      // Full: wait for room without keeping other producers out.
      if (this.#pHold) this.#dropProducer();
      this.#waitSync(size, this.#spaceWord, this.#spaceSpin, deadline, timeout, 'Queue.sendSync');
    }
  }

  /** Writes `message`, waiting (without blocking the event loop) while the queue is full. */
  async send(message: SendableOf<T>, options?: WaitOptions): Promise<void> {
    const { timeout, signal } = parseWait(options);
    signal?.throwIfAborted();
    const bytes = this.#encode(message);
    const length = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
    this.#checkLength(length);
    const size = recordSize(length);
    const deadline = timeout < 0 ? -1 : performance.now() + timeout;
    for (;;) {
      if (!this.#producerReady()) {
        await this.#producerRole.lock({ timeout: asOption(deadline), signal });
        this.#heldProducer(true);
      }
      const at = this.#claim(size);
      if (at === BUSY) {
        await this.#busyPause(deadline, timeout, signal, 'Queue.send');
        continue;
      }
      if (at !== NONE) {
        this.#fill(at, bytes, length);
        this.#finishOne(at, length);
        return;
      }
      if (this.#pHold) this.#dropProducer();
      const parked = this.#waitAsync(size, this.#spaceWord, this.#spaceSpin, deadline, timeout, signal, 'Queue.send');
      if (parked !== undefined) await parked;
    }
  }

  /**
   * Writes as many of `messages` as fit, in order, publishing them together
   * (one release store and at most one wake-up for the batch). Never waits.
   * Returns how many were written.
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
    let n = 0;
    if (!(this.#pExcl && this.#exclusiveStill())) {
      n = this.#claimShared(lengths, 0);
      if (n !== GO_EXCLUSIVE) {
        this.#lastTry = n === BUSY ? 'busy' : n < encoded.length ? 'full' : 'ok';
        if (n === BUSY) n = 0;
        const at = this.#batchAt;
        for (let i = 0; i < n; i++) this.#fill(at[i] as number, encoded[i] as Uint8Array | string, lengths[i] as number);
        for (let i = 0; i < n; i++) this.#commitShared(at[i] as number, lengths[i] as number, recordSize(lengths[i] as number));
        if (n > 0) this.#publishShared(n);
        this.#yieldProducer();
        return n;
      }
      n = 0;
    }
    {
      for (; n < encoded.length; n++) {
        const length = lengths[n] as number;
        const at = this.#placeExclusive(recordSize(length));
        if (at === NONE) break;
        this.#fill(at, encoded[n] as Uint8Array | string, length);
        this.#finishExclusive(at, length);
      }
      if (n > 0) this.#publishExclusive();
    }
    this.#lastTry = n < encoded.length ? 'full' : 'ok';
    this.#yieldProducer();
    return n;
  }

  /**
   * Zero-copy send, step 1: returns a view of `length` bytes inside the ring
   * to fill, or undefined if there is no room (or another producer holds the
   * producer role) now. Nothing is visible to consumers until commit(); a
   * producer that dies before commit() leaves nothing behind, and other
   * producers' messages wait for it at most a moment after its death.
   */
  reserve(length: number): Uint8Array | undefined {
    this.#checkOpen();
    if ((Atomics.load(this.#cells, FLAGS) & FLAG_ENDED) !== 0) throw endedError();
    checkInteger('length', length, 0, this.#maxMessage);
    if (this.#reservedAt !== NONE) throw stateError('reserve(): the previous reservation was not committed');
    if (!this.#producerReady()) {
      this.#lastTry = 'busy';
      return undefined;
    }
    const at = this.#claim(recordSize(length));
    if (at === NONE || at === BUSY) {
      this.#lastTry = at === NONE ? 'full' : 'busy';
      this.#yieldProducer();
      return undefined;
    }
    this.#lastTry = 'ok';
    this.#reservedAt = at;
    this.#reservedLength = length;
    this.#reservedShared = this.#takenShared;
    const off = (at & this.#mask) + RECORD_HEADER_LENGTH;
    return this.#bytes.subarray(off, off + length);
  }

  /** Zero-copy send, step 2: publishes the reserved bytes (the first `length` of them). */
  commit(length: number = this.#reservedLength): void {
    this.#checkOpen();
    if (this.#reservedAt === NONE) throw stateError('commit() without reserve()');
    checkInteger('length', length, 0, this.#reservedLength);
    const at = this.#reservedAt;
    this.#reservedAt = NONE;
    if (this.#reservedShared) {
      this.#commitShared(at, length, recordSize(this.#reservedLength));
      this.#publishShared(1);
    } else {
      this.#finishExclusive(at, length);
      this.#publishExclusive();
    }
    this.#yieldProducer();
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

  /** Takes the next message if there is one; never waits. */
  tryReceive(): T | undefined {
    this.#checkReceive();
    if (!this.#consumerReady()) {
      this.#lastTry = 'busy';
      return undefined;
    }
    const at = this.#take();
    let message: T | undefined;
    this.#lastTry = at === NONE ? 'empty' : at === BUSY ? 'busy' : 'ok';
    if (at !== NONE && at !== BUSY) message = this.#takeOut(at, this.#takenLength, this.#takenShared) as T;
    this.#yieldConsumer();
    return message;
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
    if (!this.#consumerReady()) {
      this.#lastTry = 'busy';
      return -1;
    }
    const at = this.#take();
    this.#lastTry = at === NONE ? 'empty' : at === BUSY ? 'busy' : 'ok';
    let length = -1;
    if (at !== NONE && at !== BUSY) {
      length = this.#takenLength;
      if (length > target.byteLength - offset) {
        this.#untake(at, length);
        throw outOfRange('target', `room for the ${length}-byte message (it stays in the queue)`, `${target.byteLength - offset} bytes from offset ${offset}`);
      }
      this.#copyInto(target, offset, (at & this.#mask) + RECORD_HEADER_LENGTH, length);
      this.#finishTake(at, this.#takenShared);
    }
    this.#yieldConsumer();
    return length;
  }

  /** Takes the next message, blocking the thread while the queue is empty. */
  receiveSync(options?: WaitOptions): T {
    this.#checkReceive();
    const { timeout } = parseWait(options);
    const deadline = timeout < 0 ? -1 : performance.now() + timeout;
    for (;;) {
      if (!this.#consumerReady()) this.#lockConsumerSync(deadline, timeout);
      const at = this.#take();
      if (at === BUSY) {
        this.#busyPauseSync(deadline, timeout, 'Queue.receiveSync');
        continue;
      }
      if (at !== NONE) {
        const message = this.#takeOut(at, this.#takenLength, this.#takenShared) as T;
        this.#yieldConsumer();
        return message;
      }
      if (this.#cHold) this.#dropConsumer(); // wait for data without keeping other consumers out
      if (this.#endedAndEmpty()) throw endedError();
      this.#waitSync(WANT_DATA, this.#dataWord, this.#dataSpin, deadline, timeout, 'Queue.receiveSync');
    }
  }

  /** Takes the next message, waiting without blocking the event loop. */
  async receive(options?: WaitOptions): Promise<T> {
    this.#checkReceive();
    const { timeout, signal } = parseWait(options);
    signal?.throwIfAborted();
    const deadline = timeout < 0 ? -1 : performance.now() + timeout;
    for (;;) {
      if (!this.#consumerReady()) {
        await this.#consumerRole.lock({ timeout: asOption(deadline), signal });
        this.#heldConsumer(true);
      }
      const at = this.#take();
      if (at === BUSY) {
        await this.#busyPause(deadline, timeout, signal, 'Queue.receive');
        continue;
      }
      if (at !== NONE) {
        const message = this.#takeOut(at, this.#takenLength, this.#takenShared) as T;
        this.#yieldConsumer();
        return message;
      }
      if (this.#cHold) this.#dropConsumer();
      if (this.#endedAndEmpty()) throw endedError();
      const parked = this.#waitAsync(WANT_DATA, this.#dataWord, this.#dataSpin, deadline, timeout, signal, 'Queue.receive');
      if (parked !== undefined) await parked;
    }
  }

  /** Takes up to `max` messages that are there now (releasing them together); never waits. */
  tryReceiveMany(max: number): T[] {
    checkInteger('max', max, 0, 2 ** 31 - 1);
    this.#checkReceive();
    const out: T[] = [];
    if (max === 0) {
      this.#lastTry = 'ok';
      return out;
    }
    if (!this.#consumerReady()) {
      this.#lastTry = 'busy';
      return out;
    }
    const n = this.#cExcl && this.#exclusiveStillC() ? GO_EXCLUSIVE : this.#claimMessages(max);
    if (n === GO_EXCLUSIVE) {
      while (out.length < max) {
        const at = this.#nextExclusive();
        if (at === NONE) break;
        let message: unknown;
        try {
          message = this.#copyOut(at, this.#takenLength);
        } catch (err) {
          // Does not decode: it ends the batch, and is consumed (thrown) alone.
          if (out.length > 0) break;
          this.#releaseExclusive(at, true);
          this.#yieldConsumer();
          throw err;
        }
        out.push(message as T);
        this.#releaseExclusive(at, false);
      }
      if (out.length > 0) this.#publishHead();
    } else if (n !== BUSY && n > 0) {
      {
        const at = this.#batchAt;
        const lengths = this.#batchLength;
        let failure: unknown;
        let k = 0;
        for (; k < n; k++) {
          try {
            out.push(this.#copyOut(at[k] as number, lengths[k] as number) as T);
          } catch (err) {
            failure = err; // ends the batch; consumed (thrown) alone if it is the first
            break;
          }
        }
        const consumed = failure !== undefined && k === 0 ? 1 : k;
        Atomics.add(this.#cells, RECEIVED_SHARED, consumed);
        for (let i = 0; i < consumed; i++) Atomics.store(this.#words, ((at[i] as number) & this.#mask) >> 2, RELEASED);
        for (let i = consumed; i < n; i++) {
          // Given back: a message again, for the next consumer (an orphan of a live one).
          Atomics.store(this.#words, ((at[i] as number) & this.#mask) >> 2, lengths[i] as number);
          Atomics.add(this.#cells, ORPHANS, 1);
        }
        this.#ring.advanceHead();
        if (failure !== undefined && k === 0) {
          this.#yieldConsumer();
          throw failure;
        }
      }
    }
    this.#lastTry = n === BUSY ? 'busy' : out.length < max ? 'empty' : 'ok';
    this.#yieldConsumer();
    return out;
  }

  /**
   * Zero-copy receive, step 1: a view of the next message inside the ring
   * (valid until release()), or undefined. If this process dies before
   * release(), the message is delivered to another consumer.
   */
  peek(): Uint8Array | undefined {
    this.#checkReceive();
    if (!this.#consumerReady()) {
      this.#lastTry = 'busy';
      return undefined;
    }
    const at = this.#take();
    if (at === NONE || at === BUSY) {
      this.#lastTry = at === NONE ? 'empty' : 'busy';
      this.#yieldConsumer();
      return undefined;
    }
    this.#lastTry = 'ok';
    this.#peekedAt = at;
    this.#peekedShared = this.#takenShared;
    const off = (at & this.#mask) + RECORD_HEADER_LENGTH;
    return this.#bytes.subarray(off, off + this.#takenLength);
  }

  /** Zero-copy receive, step 2: frees the message returned by peek(). */
  release(): void {
    this.#checkOpen();
    if (this.#peekedAt === NONE) throw stateError('release() without peek()');
    const at = this.#peekedAt;
    this.#peekedAt = NONE;
    this.#finishTake(at, this.#peekedShared);
    this.#yieldConsumer();
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
   * Releases the handle and the roles and slots it holds. An uncommitted
   * reservation is dropped; a peeked, unreleased message goes to another
   * consumer.
   */
  override close(): void {
    if (this.closed) return;
    this.#reservedAt = NONE;
    this.#peekedAt = NONE;
    try {
      this.#giveBack();
    } finally {
      stickyHolders.delete(this);
      this.#producerRole.close();
      this.#consumerRole.close();
      this.#ring.close();
      super.close();
    }
  }

  /** @internal The waiting core's check: a message to take, or room for a record of `arg` bytes. */
  attempt(arg: number): boolean {
    // Shared cursors, not our cached ones: we gave the roles up to wait.
    const cells = this.#cells;
    if (arg === WANT_DATA) {
      const tail = Atomics.load(cells, TAIL);
      return tail !== Atomics.load(cells, CLAIM) || Atomics.load(cells, ORPHANS) !== 0 ||
        ((Atomics.load(cells, FLAGS) & FLAG_ENDED) !== 0 && tail === Atomics.load(cells, RESERVE));
    }
    const reserve = Atomics.load(cells, RESERVE);
    const off = reserve & this.#mask;
    const need = off + arg > this.#capacity ? this.#capacity - off + arg : arg;
    return this.#capacity - ((reserve - Atomics.load(cells, HEAD)) >>> 0) >= need;
  }

  // ---- Roles, modes and slots ------------------------------------------------------

  #checkOpen(): void {
    if (this.closed) throw this.closedError();
  }

  #checkReceive(): void {
    if (this.closed) throw this.closedError();
    if (this.#peekedAt !== NONE) throw stateError('release() the peeked message first');
  }

  // Takes `role` if it is free, or held (idle) by another handle of this thread.
  #tryRole(role: Mutex): boolean {
    return role.tryLock() !== false || (this.#sameThreadHolds(role) && role.tryLock() !== false);
  }

  // The role is held by this very thread through another handle that keeps
  // it for the turn: ask every such idle handle to give it back.
  // Returns whether it was worth retrying.
  #sameThreadHolds(role: Mutex): boolean {
    if (role.holder?.tid !== lockingTid()) return false;
    for (const other of stickyHolders) if (other !== this) other.#releaseRoles();
    return true;
  }

  #lockRoleSync(role: Mutex, deadline: number, timeout: number): void {
    if (this.#tryRole(role)) return;
    try {
      role.lockSync({ timeout: deadline < 0 ? undefined : left(deadline) });
    } catch (err) {
      if ((err as ShmkitError).code === 'ETIMEDOUT') throw timeoutError('Queue: waiting for the role', timeout);
      throw err;
    }
  }

  #queueRelease(): void {
    stickyHolders.add(this);
    if (this.#releaseQueued) return;
    this.#releaseQueued = true;
    queueMicrotask(this.#releaseRoles);
  }

  // End of turn (or close): roles and slots not needed by an open reservation or peek.
  #giveBack(): void {
    if (this.#reservedAt === NONE) {
      if (this.#pHold) this.#dropProducer();
      if (this.#pSlot >= 0) {
        const s = this.#pSlot;
        this.#pSlot = -1; // cleared first: an unlock that throws must not be retried
        (this.#ring.producerSlots[s] as Mutex).unlock();
      }
    }
    if (this.#peekedAt === NONE) {
      if (this.#cHold) this.#dropConsumer();
      if (this.#cSlot >= 0) {
        const s = this.#cSlot;
        this.#cSlot = -1; // cleared first: an unlock that throws must not be retried
        (this.#ring.consumerSlots[s] as Mutex).unlock();
      }
    }
    if (!this.#pHold && !this.#cHold && this.#pSlot < 0 && this.#cSlot < 0) stickyHolders.delete(this);
  }

  // Holding the producer role, ready to claim; false if another producer has it.
  #producerReady(): boolean {
    if (this.#reservedAt !== NONE) throw stateError('commit() the reservation first');
    if (this.#pHold) return true;
    if (this.#tryRole(this.#producerRole)) {
      this.#heldProducer(false);
      return true;
    }
    this.#pShared = SHARED_OPS;
    if (!this.#askForRole(this.#producerRole, P_WANT)) return false;
    this.#heldProducer(true);
    return true;
  }

  // Tells an exclusive holder of `role` that we want it (bumps cells[want]);
  // a shared claim holds the role only a moment, so polls a little before
  // giving up. Returns whether it got the role.
  #askForRole(role: Mutex, want: number): boolean {
    Atomics.add(this.#cells, want, 1);
    for (let i = 0; i < ROLE_POLLS; i++) if (role.tryLock() !== false) return true;
    const t0 = performance.now();
    while (performance.now() - t0 < ROLE_HANDOVER_MS) {
      for (let i = 0; i < POLLS_PER_CLOCK; i++) if (role.tryLock() !== false) return true;
    }
    return false;
  }

  #lockProducerSync(deadline: number, timeout: number): void {
    this.#lockRoleSync(this.#producerRole, deadline, timeout);
    this.#heldProducer(true);
  }

  // Just took the producer role: exclusive if nobody else is around and no
  // other producer's claim is still open, else shared.
  #heldProducer(contended: boolean): void {
    this.#pHold = true;
    this.#queueRelease();
    if (contended || this.#pShared > 0 || this.#alwaysShared) {
      if (this.#pShared > 0) this.#pShared--;
      this.#pExcl = false;
      return;
    }
    const cells = this.#cells;
    const tail = Atomics.load(cells, TAIL);
    this.#pExcl = tail === Atomics.load(cells, RESERVE);
    if (this.#pExcl) {
      this.#tail = tail;
      this.#headSeen = Atomics.load(cells, HEAD);
      this.#pWant = Atomics.load(cells, P_WANT);
    }
  }

  // Still exclusive? Not once another producer has asked for the role.
  #exclusiveStill(): boolean {
    if (Atomics.load(this.#cells, P_WANT) === this.#pWant) return true;
    this.#pExcl = false;
    this.#pShared = SHARED_OPS;
    return false;
  }

  // After an operation: hand the role over at once if another producer wants it.
  #yieldProducer(): void {
    if (this.#pHold && this.#reservedAt === NONE &&
      (!this.#pExcl || Atomics.load(this.#cells, P_WANT) !== this.#pWant)) {
      this.#dropProducer();
    }
  }

  #dropProducer(): void {
    this.#pHold = false;
    this.#pExcl = false;
    this.#producerRole.unlock();
  }

  #consumerReady(): boolean {
    if (this.#cHold) return true;
    if (this.#tryRole(this.#consumerRole)) {
      this.#heldConsumer(false);
      return true;
    }
    this.#cShared = SHARED_OPS;
    if (!this.#askForRole(this.#consumerRole, C_WANT)) return false;
    this.#heldConsumer(true);
    return true;
  }

  #lockConsumerSync(deadline: number, timeout: number): void {
    this.#lockRoleSync(this.#consumerRole, deadline, timeout);
    this.#heldConsumer(true);
  }

  #heldConsumer(contended: boolean): void {
    this.#cHold = true;
    this.#queueRelease();
    if (contended || this.#cShared > 0 || this.#alwaysShared) {
      if (this.#cShared > 0) this.#cShared--;
      this.#cExcl = false;
      return;
    }
    const cells = this.#cells;
    const head = Atomics.load(cells, HEAD);
    this.#cExcl = head === Atomics.load(cells, CLAIM);
    if (this.#cExcl) {
      this.#head = head;
      this.#tailSeen = head;
      this.#cWant = Atomics.load(cells, C_WANT);
    }
  }

  #exclusiveStillC(): boolean {
    if (Atomics.load(this.#cells, C_WANT) === this.#cWant) return true;
    this.#cExcl = false;
    this.#cShared = SHARED_OPS;
    return false;
  }

  #yieldConsumer(): void {
    if (this.#cHold && this.#peekedAt === NONE &&
      (!this.#cExcl || Atomics.load(this.#cells, C_WANT) !== this.#cWant)) {
      this.#dropConsumer();
    }
  }

  #dropConsumer(): void {
    this.#cHold = false;
    this.#cExcl = false;
    this.#consumerRole.unlock();
  }

  // ---- Waiting ----------------------------------------------------------------------

  // Every claim slot is taken and other claims are open (BUSY): they finish
  // within moments. Pause briefly, never past the deadline.
  #busyPauseSync(deadline: number, timeout: number, what: string): void {
    if (deadline >= 0 && left(deadline) === 0) throw timeoutError(what, timeout);
    const ms = left(deadline);
    nap(ms < 0 || ms > BUSY_PAUSE_MS ? BUSY_PAUSE_MS : ms);
  }

  // The same without blocking the event loop: one macrotask turn (so other
  // work of this thread, and a peer of this thread, can run).
  async #busyPause(deadline: number, timeout: number, signal: AbortSignal | undefined, what: string): Promise<void> {
    if (deadline >= 0 && left(deadline) === 0) throw timeoutError(what, timeout);
    await new Promise<void>((resolve) => setImmediate(resolve));
    signal?.throwIfAborted();
    this.#checkOpen();
  }

  // Waits in slices, cleaning up after dead peers between them: a claim
  // left by a process that died while everyone was parked would otherwise
  // never be noticed.
  #waitSync(arg: number, word: WaitWord, spin: SpinBudget, deadline: number, timeout: number, what: string): void {
    for (;;) {
      const ms = left(deadline);
      try {
        waitForSync(this, arg, word, spin, ms < 0 || ms > REPAIR_SLICE_MS ? REPAIR_SLICE_MS : ms, what);
        return;
      } catch (err) {
        if ((err as ShmkitError).code !== 'ETIMEDOUT') throw err;
        if (deadline >= 0 && left(deadline) === 0) throw timeoutError(what, timeout);
        this.#ring.repair();
      }
    }
  }

  #waitAsync(arg: number, word: WaitWord, spin: SpinBudget, deadline: number, timeout: number, signal: AbortSignal | undefined, what: string): Promise<void> | undefined {
    const ms = left(deadline);
    const slice = ms < 0 || ms > REPAIR_SLICE_MS ? REPAIR_SLICE_MS : ms;
    const parked = waitForAsync(this, arg, word, spin, slice, signal, what);
    return parked === undefined ? undefined : this.#sliceAsync(parked, arg, word, spin, deadline, timeout, signal, what);
  }

  async #sliceAsync(parked: Promise<void>, arg: number, word: WaitWord, spin: SpinBudget, deadline: number, timeout: number, signal: AbortSignal | undefined, what: string): Promise<void> {
    for (;;) {
      try {
        await parked;
        return;
      } catch (err) {
        if ((err as ShmkitError).code !== 'ETIMEDOUT') throw err;
        if (deadline >= 0 && left(deadline) === 0) throw timeoutError(what, timeout);
        this.#checkOpen();
        this.#ring.repair();
      }
      const ms = left(deadline);
      const next = waitForAsync(this, arg, word, spin, ms < 0 || ms > REPAIR_SLICE_MS ? REPAIR_SLICE_MS : ms, signal, what);
      if (next === undefined) return;
      parked = next;
    }
  }

  // ---- Producer internals ------------------------------------------------------------

  #encode(message: unknown): Uint8Array | string {
    if (this.closed) throw this.closedError();
    if ((Atomics.load(this.#cells, FLAGS) & FLAG_ENDED) !== 0) throw endedError();
    return encodeMessage(this.#encoding, message, 'queue', this.name);
  }

  #checkLength(length: number): void {
    if (length > this.#maxMessage) {
      throw outOfRange('message', `at most ${this.#maxMessage} bytes (half the queue's capacity, less 8)`, `${length} bytes`);
    }
  }

  // With the role held: room for one record of `size` bytes, exclusive or
  // shared (then the role is released). NONE: full; BUSY: no slot now.
  #claim(size: number): number {
    if (this.#pExcl && this.#exclusiveStill()) {
      this.#takenShared = false;
      return this.#placeExclusive(size);
    }
    this.#takenShared = true;
    const n = this.#claimShared(null, size);
    if (n === GO_EXCLUSIVE) {
      this.#takenShared = false;
      return this.#placeExclusive(size);
    }
    if (n === BUSY) return BUSY;
    return n === 0 ? NONE : (this.#batchAt[0] as number);
  }

  // Exclusive: finds room at our tail for a record of `size` bytes (after a
  // filler if it would cross the end). Returns its position, or NONE if full.
  #placeExclusive(size: number): number {
    let tail = this.#tail;
    const off = tail & this.#mask;
    const pad = off + size > this.#capacity ? this.#capacity - off : 0;
    if (this.#capacity - ((tail - this.#headSeen) >>> 0) < pad + size) {
      this.#headSeen = Atomics.load(this.#cells, HEAD);
      if (this.#capacity - ((tail - this.#headSeen) >>> 0) < pad + size) return NONE;
    }
    if (pad > 0) {
      const w = off >> 2;
      this.#words[w + 1] = pad;
      this.#words[w] = PADDING;
      tail = (tail + pad) | 0;
      this.#tail = tail;
    }
    return tail;
  }

  // Exclusive: completes the record at `at` (payload in place); not yet visible.
  #finishExclusive(at: number, length: number): void {
    const size = recordSize(length);
    const w = (at & this.#mask) >> 2;
    this.#words[w + 1] = size;
    this.#words[w] = length;
    this.#tail = (at + size) | 0;
    this.#unpublished++;
  }

  // Exclusive: makes every completed record visible (release) and wakes a consumer.
  #publishExclusive(): void {
    const cells = this.#cells;
    const n = this.#unpublished;
    this.#unpublished = 0;
    // A plain store is enough for RESERVE: the release store of TAIL after
    // it keeps RESERVE >= TAIL for every reader.
    cells[RESERVE] = this.#tail;
    Atomics.store(cells, TAIL, this.#tail);
    cells[SENT] = ((cells[SENT] as number) + n) | 0; // only the role holder writes it
    if (Atomics.load(cells, DATA_WAITERS) !== 0) {
      Atomics.add(cells, DATA_SEQ, 1);
      wake(cells, DATA_SEQ, n);
    }
  }

  // Shared, with the role held: claims records for as many of `lengths` as
  // fit (or one record of `single` bytes when lengths is null; positions in
  // #batchAt), then releases the role. Returns how many, or BUSY when no
  // slot is free and other claims are open.
  #claimShared(lengths: number[] | null, single: number): number {
    const cells = this.#cells;
    const words = this.#words;
    if (this.#pSlot < 0) {
      this.#pSlot = this.#ring.takeProducerSlot();
      if (this.#pSlot < 0) {
        // All slots busy: write exclusively once the open claims are done.
        if (Atomics.load(cells, TAIL) === Atomics.load(cells, RESERVE)) {
          this.#pExcl = true;
          this.#tail = Atomics.load(cells, TAIL);
          this.#headSeen = Atomics.load(cells, HEAD);
          this.#pWant = Atomics.load(cells, P_WANT);
          return GO_EXCLUSIVE;
        }
        this.#dropProducer();
        return BUSY;
      }
      this.#queueRelease();
    }
    const tag = PRODUCER_TAG - this.#pSlot;
    const head = Atomics.load(cells, HEAD);
    const batch = this.#batchAt;
    let r = Atomics.load(cells, RESERVE);
    let n = 0;
    const count = lengths === null ? 1 : lengths.length;
    for (; n < count; n++) {
      const size = lengths === null ? single : recordSize(lengths[n] as number);
      const off = r & this.#mask;
      const pad = off + size > this.#capacity ? this.#capacity - off : 0;
      if (this.#capacity - ((r - head) >>> 0) < pad + size) break;
      if (pad > 0) {
        words[(off >> 2) + 1] = pad;
        words[off >> 2] = PADDING;
        r = (r + pad) | 0;
      }
      const w = (r & this.#mask) >> 2;
      words[w + 1] = size;
      words[w] = tag;
      batch[n] = r;
      r = (r + size) | 0;
    }
    // release: the headers above are in place before RESERVE covers them
    if (n > 0) Atomics.store(cells, RESERVE, r);
    this.#dropProducer();
    return n;
  }

  // Shared: the record at `at` (claimed with `size` bytes) now holds `length` bytes.
  #commitShared(at: number, length: number, size: number): void {
    const words = this.#words;
    const w = (at & this.#mask) >> 2;
    const used = recordSize(length);
    if (used < size) {
      // A shorter commit: the rest of the claim becomes a released record.
      const rest = ((at + used) & this.#mask) >> 2;
      words[rest + 1] = size - used;
      words[rest] = RELEASED;
      words[w + 1] = used;
    }
    Atomics.store(words, w, length);
  }

  #publishShared(n: number): void {
    Atomics.add(this.#cells, SENT_SHARED, n);
    this.#ring.advanceTail();
  }

  #fill(at: number, bytes: Uint8Array | string, length: number): void {
    const off = (at & this.#mask) + RECORD_HEADER_LENGTH;
    if (typeof bytes === 'string') this.#data.write(bytes, off, length, 'utf8');
    else this.#data.set(bytes, off);
  }

  #finishOne(at: number, length: number): void {
    if (this.#takenShared) {
      this.#commitShared(at, length, recordSize(length));
      this.#publishShared(1);
    } else {
      this.#finishExclusive(at, length);
      this.#publishExclusive();
    }
    this.#yieldProducer();
  }

  // ---- Consumer internals ------------------------------------------------------------

  // With the role held: the next message taken for this handle (its length
  // in #takenLength), exclusive or shared. NONE: none; BUSY: no slot now.
  #take(): number {
    if (this.#cExcl && this.#exclusiveStillC()) {
      this.#takenShared = false;
      return this.#nextExclusive();
    }
    this.#takenShared = true;
    const n = this.#claimMessages(1);
    if (n === GO_EXCLUSIVE) {
      this.#takenShared = false;
      return this.#nextExclusive();
    }
    if (n === BUSY) return BUSY;
    if (n === 0) return NONE;
    this.#takenLength = this.#batchLength[0] as number;
    return this.#batchAt[0] as number;
  }

  // Exclusive: position of the next message, skipping fillers and records
  // already released; NONE when there is none.
  #nextExclusive(): number {
    let head = this.#head;
    for (;;) {
      if (head === this.#tailSeen) {
        this.#tailSeen = Atomics.load(this.#cells, TAIL); // acquire: records before it are complete
        if (head === this.#tailSeen) {
          if (head !== this.#head) {
            this.#head = head;
            this.#publishHead();
          }
          return NONE;
        }
      }
      const w = (head & this.#mask) >> 2;
      let len = this.#words[w] as number;
      const size = this.#words[w + 1] as number;
      this.#ring.checkRecord(head, len, size, (this.#tailSeen - head) >>> 0);
      if (len < RELEASED) {
        // A consumer died while taking it, before it could move CLAIM: still ours to take.
        if (consumerSlotOf(len) < 0) this.#ring.corrupt(head, len, size);
        len = taggedLength(len, size);
        this.#words[w] = len;
      }
      if (len >= 0) {
        if (head !== this.#head) {
          this.#head = head;
          this.#publishHead();
        }
        this.#takenLength = len;
        return head;
      }
      head = (head + size) | 0; // PADDING or RELEASED
    }
  }

  // Exclusive: frees the record at `at`: LEN = RELEASED first, then HEAD past it.
  #releaseExclusive(at: number, publish: boolean): void {
    const w = (at & this.#mask) >> 2;
    const size = this.#words[w + 1] as number;
    // Counted before it is freed: a death in between leaves `length` low, not high.
    this.#cells[RECEIVED] = ((this.#cells[RECEIVED] as number) + 1) | 0; // only the role holder writes it
    this.#words[w] = RELEASED;
    this.#head = (at + size) | 0;
    if (publish) this.#publishHead();
  }

  // Exclusive: CLAIM and HEAD move together (CLAIM first: HEAD <= CLAIM).
  #publishHead(): void {
    const cells = this.#cells;
    cells[CLAIM] = this.#head; // ordered before HEAD by its release store
    Atomics.store(cells, HEAD, this.#head);
    if (Atomics.load(cells, SPACE_WAITERS) !== 0) {
      Atomics.add(cells, SPACE_SEQ, 1);
      wake(cells, SPACE_SEQ, 0);
    }
  }

  // Shared, with the role held: takes up to `max` messages (positions and
  // lengths in the batch arrays), orphans first, then releases the role.
  // Returns how many, or BUSY when no slot is free and other claims are open.
  #claimMessages(max: number): number {
    const cells = this.#cells;
    const words = this.#words;
    if (this.#cSlot < 0) {
      this.#cSlot = this.#ring.takeConsumerSlot();
      if (this.#cSlot < 0) {
        if (Atomics.load(cells, HEAD) === Atomics.load(cells, CLAIM)) {
          // All slots busy: take exclusively once the open claims are done.
          this.#cExcl = true;
          this.#head = Atomics.load(cells, HEAD);
          this.#tailSeen = this.#head;
          this.#cWant = Atomics.load(cells, C_WANT);
          return GO_EXCLUSIVE;
        }
        this.#dropConsumer();
        return BUSY;
      }
      this.#queueRelease();
    }
    const slot = this.#cSlot;
    const at = this.#batchAt;
    const lengths = this.#batchLength;
    let n = 0;
    while (n < max && Atomics.load(cells, ORPHANS) > 0) {
      const p = this.#ring.adoptOrphan(slot);
      if (p === NONE) break;
      at[n] = p;
      lengths[n] = this.#ring.orphanLength;
      n++;
    }
    const start = Atomics.load(cells, CLAIM);
    let c = start;
    let skipped = false;
    if (n < max) {
      const tail = Atomics.load(cells, TAIL);
      while (c !== tail) {
        const w = (c & this.#mask) >> 2;
        let len = words[w] as number;
        const size = words[w + 1] as number;
        this.#ring.checkRecord(c, len, size, (tail - c) >>> 0);
        // A tag here was left by a consumer that died before moving CLAIM.
        if (consumerSlotOf(len) >= 0) len = taggedLength(len, size);
        else if (len < -2) this.#ring.corrupt(c, len, size);
        if (len >= 0) {
          Atomics.store(words, w, consumerTag(slot, size, len));
          at[n] = c;
          lengths[n] = len;
          n++;
        } else {
          skipped = true;
        }
        c = (c + size) | 0;
        if (n === max) break;
      }
    }
    if (c !== start) Atomics.store(cells, CLAIM, c);
    this.#dropConsumer();
    if (skipped) this.#ring.advanceHead();
    return n;
  }

  // Frees a message taken by #take (exclusive or shared).
  #finishTake(at: number, shared: boolean): void {
    if (!shared) {
      this.#releaseExclusive(at, true);
      return;
    }
    Atomics.add(this.#cells, RECEIVED_SHARED, 1);
    Atomics.store(this.#words, (at & this.#mask) >> 2, RELEASED);
    this.#ring.advanceHead();
  }

  // Gives back a message taken by #take without consuming it.
  #untake(at: number, length: number): void {
    if (this.#takenShared) {
      // Back to a message for the next consumer (an orphan of a live one).
      Atomics.store(this.#words, (at & this.#mask) >> 2, length);
      Atomics.add(this.#cells, ORPHANS, 1);
    } else if (at !== this.#head) {
      this.#head = at; // fillers before it stay skipped
      this.#publishHead();
    }
    this.#yieldConsumer();
  }

  // Copies out (and decodes) the message taken at `at`, then frees it, also
  // when it does not decode: it is consumed, and the error thrown for it alone.
  #takeOut(at: number, length: number, shared: boolean): unknown {
    let message: unknown;
    try {
      message = this.#copyOut(at, length);
    } catch (err) {
      this.#finishTake(at, shared);
      this.#yieldConsumer();
      throw err;
    }
    this.#finishTake(at, shared);
    return message;
  }

  #copyOut(at: number, length: number): unknown {
    const start = (at & this.#mask) + RECORD_HEADER_LENGTH;
    if (this.#encoding !== undefined) return decodeMessage(this.#encoding, this.#data.subarray(start, start + length), 'queue', this.name);
    const out = Buffer.allocUnsafe(length);
    this.#copyInto(out, 0, start, length);
    return out;
  }

  #copyInto(target: Uint8Array, offset: number, start: number, length: number): void {
    // A plain Uint8Array view: its subarray() is cheaper than Buffer's, and
    // set() beats Buffer#copy at every size.
    target.set(this.#bytes.subarray(start, start + length), offset);
  }

  #endedAndEmpty(): boolean {
    const cells = this.#cells;
    const tail = Atomics.load(cells, TAIL);
    return (Atomics.load(cells, FLAGS) & FLAG_ENDED) !== 0 && tail === Atomics.load(cells, CLAIM) &&
      tail === Atomics.load(cells, RESERVE) && Atomics.load(cells, ORPHANS) === 0;
  }
}
