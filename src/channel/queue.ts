/**
 * Queue: a message channel in shared memory, any number of producers and
 * consumers. Messages are byte strings (Uint8Array/Buffer) or strings
 * (UTF-8), or objects with `encoding: 'json' | 'v8'`.
 *
 * Producers take turns through the producer role (a robust Mutex), consumers
 * through the consumer role. A handle keeps a role it took until the end of
 * the current event-loop turn, or until it sees another waiting (the
 * Mutex's WAITERS bit): so a lone producer or consumer pays for the role
 * once per turn, not per message (the automatic fast path), and several
 * share fairly. A process killed while holding a role frees it (robust
 * Mutex), and the ring's rules (queue-layout.ts) leave it consistent.
 */
import { checkInteger } from '../args.js';
import { ShmkitError, invalidArgType, outOfRange } from '../errors.js';
import { checkHandleOptions, decodeMessage, encodeMessage, roundCapacity, type ChannelHandleOptions } from './codec.js';
import { Segment } from '../segment/segment.js';
import { Mutex } from '../sync/mutex.js';
import { lockingTid } from '../sync/robust.js';
import { objectBytesAt } from '../layout/header.js';
import { SharedObject, attachObject, createNamed, initObject, openNamed, openOrCreateNamed, type NamedCreateOptions, type ObjectSpec } from '../sync/named.js';
import { parseSpin, parseWait, type WaitOptions } from '../sync/options.js';
import { SpinBudget, waitForAsync, waitForSync, wake, type Attempt, type WaitWord } from '../sync/wait.js';
import {
  CAPACITY, CONSUMER_ROLE_OFFSET, DATA_OFFSET, DATA_SEQ, DATA_WAITERS, FLAGS, FLAG_ENDED, HEAD, MAX_CAPACITY, MAX_MESSAGE,
  MIN_CAPACITY, PADDING, PRODUCER_ROLE_OFFSET, QUEUE_KIND, QUEUE_VERSION, RECEIVED, RECORD_HEADER_LENGTH, RELEASED, SENT,
  SPACE_SEQ, SPACE_WAITERS, TAIL, maxMessage, queueLength, recordSize,
} from './queue-layout.js';

/** Geometry of a Queue. */
export interface QueueOptions {
  /** Data bytes; rounded up to a power of two (at least 64, at most 2^30). */
  capacity: number;
}

/** Options of a Queue handle. */
export type QueueHandleOptions = ChannelHandleOptions;

/** What a Queue carries: bytes or a string (or, with an encoding, any value it can encode). */
export type QueueMessage = Uint8Array | string;

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
}

const SPEC: ObjectSpec<QueueOptions> = {
  kind: QUEUE_KIND,
  version: QUEUE_VERSION,
  what: 'Queue',
  byteLength: (options) => queueLength(roundCapacity(options, MIN_CAPACITY, MAX_CAPACITY)),
  initFields: (buffer, byteOffset, options) => {
    const capacity = roundCapacity(options, MIN_CAPACITY, MAX_CAPACITY);
    const cells = new Int32Array(buffer, byteOffset, DATA_OFFSET / 4);
    cells[CAPACITY] = capacity;
    cells[MAX_MESSAGE] = maxMessage(capacity);
    Mutex.init(buffer, byteOffset + PRODUCER_ROLE_OFFSET).close();
    Mutex.init(buffer, byteOffset + CONSUMER_ROLE_OFFSET).close();
  },
};

/** Handles of this thread that keep a role for the current turn. */
const stickyHolders = new Set<Queue>();

/**
 * "No position" (no room, no message, nothing reserved or peeked). Positions
 * wrap past 2^31 and turn negative as Int32, but they are multiples of 8, so
 * -1 is never one: always compare with === NONE, never with < 0.
 */
const NONE = -1;

const WANT_DATA = -1; // attempt() argument: wait for a message (else: for that many free bytes)
const ENDED_CODE = 'ERR_SHMKIT_QUEUE_ENDED';

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

function endedError(): ShmkitError {
  return new ShmkitError(ENDED_CODE, 'the queue was ended: no more messages');
}

/** A message queue in shared memory. */
export class Queue extends SharedObject implements Attempt {
  readonly #cells: Int32Array;
  readonly #data: Buffer;
  readonly #words: Int32Array;
  readonly #mask: number;
  readonly #capacity: number;
  readonly #maxMessage: number;
  readonly #encoding: 'json' | 'v8' | undefined;
  readonly #producerRole: Mutex;
  readonly #consumerRole: Mutex;
  readonly #dataWord: WaitWord;
  readonly #spaceWord: WaitWord;
  readonly #dataSpin: SpinBudget;
  readonly #spaceSpin: SpinBudget;
  // Producer side (valid while the role is held): our TAIL and a cached HEAD.
  #isProducer = false;
  #tail = 0;
  #headSeen = 0;
  // Consumer side: our HEAD and a cached TAIL.
  #isConsumer = false;
  #head = 0;
  #tailSeen = 0;
  // reserve()/commit() and peek()/release() in progress (NONE: none).
  #reservedAt = NONE;
  #reservedLength = 0;
  // Records written but not yet made visible (counted into SENT at publish).
  #unpublished = 0;
  #peekedAt = NONE;
  // Roles taken in this event-loop turn are given back by one microtask.
  #releaseQueued = false;
  readonly #releaseRoles = (): void => {
    this.#releaseQueued = false;
    if (this.closed) return;
    try {
      if (this.#isProducer && this.#reservedAt === NONE) this.#dropProducer();
      if (this.#isConsumer && this.#peekedAt === NONE) this.#dropConsumer();
    } catch (err) {
      // EPERM: native code or another handle of this thread already
      // released the role; there is nothing left to give back.
      if ((err as ShmkitError).code !== 'EPERM') throw err;
    }
  };

  private constructor(buffer: SharedArrayBuffer, byteOffset: number, segment: Segment | null, options?: QueueHandleOptions) {
    super(buffer, byteOffset, segment, 'Queue');
    const opts = checkHandleOptions(options);
    this.#encoding = opts.encoding;
    this.#cells = new Int32Array(buffer, byteOffset, DATA_OFFSET / 4);
    const capacity = this.#cells[CAPACITY] as number;
    if (capacity < MIN_CAPACITY || capacity > MAX_CAPACITY || (capacity & (capacity - 1)) !== 0 || this.#cells[MAX_MESSAGE] !== maxMessage(capacity)) {
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
    this.#words = new Int32Array(buffer, byteOffset + DATA_OFFSET, capacity / 4);
    this.#producerRole = Mutex.attach(buffer, byteOffset + PRODUCER_ROLE_OFFSET, { spin: 0 });
    this.#consumerRole = Mutex.attach(buffer, byteOffset + CONSUMER_ROLE_OFFSET, { spin: 0 });
    this.#dataWord = { cells: this.#cells, word: DATA_SEQ, waiters: DATA_WAITERS };
    this.#spaceWord = { cells: this.#cells, word: SPACE_SEQ, waiters: SPACE_WAITERS };
    const spin = parseSpin(opts);
    this.#dataSpin = new SpinBudget(spin);
    this.#spaceSpin = new SpinBudget(spin);
  }

  /** Bytes an embedded Queue of this geometry occupies. */
  static byteLength(options: QueueOptions): number {
    return SPEC.byteLength(options);
  }

  static init(buffer: SharedArrayBuffer, byteOffset: number, options: QueueOptions & QueueHandleOptions): Queue {
    checkHandleOptions(options);
    initObject(SPEC, buffer, byteOffset, options);
    return new Queue(buffer, byteOffset, null, options);
  }

  static attach(buffer: SharedArrayBuffer, byteOffset: number, options?: QueueHandleOptions): Queue {
    attachObject(SPEC as ObjectSpec<unknown>, buffer, byteOffset, `offset ${byteOffset}`);
    return new Queue(buffer, byteOffset, null, options);
  }

  static create(name: string, options: QueueOptions & NamedCreateOptions & QueueHandleOptions): Queue {
    checkHandleOptions(options); // before anything is created
    const seg = createNamed(SPEC, name, options);
    return Queue.#wrap(seg, options);
  }

  static open(name: string, options?: QueueHandleOptions): Queue {
    checkHandleOptions(options);
    const seg = openNamed(SPEC as ObjectSpec<unknown>, name);
    return Queue.#wrap(seg, options);
  }

  static openOrCreate(name: string, options: QueueOptions & NamedCreateOptions & QueueHandleOptions): Queue {
    checkHandleOptions(options);
    const seg = openOrCreateNamed(SPEC, name, options);
    return Queue.#wrap(seg, options);
  }

  static unlink(name: string): void {
    Segment.unlink(name);
  }

  static #wrap(seg: Segment, options: QueueHandleOptions | undefined): Queue {
    try {
      return new Queue(seg.buffer, 0, seg, options);
    } catch (err) {
      seg.close();
      throw err;
    }
  }

  /** Data bytes of the ring. */
  get capacity(): number {
    return this.#capacity;
  }

  /** Largest message (encoded bytes) the queue accepts: capacity / 2 - 8. */
  get maxMessage(): number {
    return this.#maxMessage;
  }

  /** Messages waiting (a snapshot). */
  get length(): number {
    if (this.closed) throw this.closedError();
    return (Atomics.load(this.#cells, SENT) - Atomics.load(this.#cells, RECEIVED)) >>> 0;
  }

  /** Bytes of the ring in use, record headers and padding included (a snapshot). */
  get bytesUsed(): number {
    if (this.closed) throw this.closedError();
    return (Atomics.load(this.#cells, TAIL) - Atomics.load(this.#cells, HEAD)) >>> 0;
  }

  /** True once `end()` was called by anyone. */
  get ended(): boolean {
    if (this.closed) throw this.closedError();
    return (Atomics.load(this.#cells, FLAGS) & FLAG_ENDED) !== 0;
  }

  stats(): QueueStats {
    if (this.closed) throw this.closedError();
    const cells = this.#cells;
    return {
      capacity: this.#capacity,
      maxMessage: this.#maxMessage,
      length: this.length,
      bytesUsed: this.bytesUsed,
      sent: Atomics.load(cells, SENT) >>> 0,
      received: Atomics.load(cells, RECEIVED) >>> 0,
      ended: this.ended,
      producerPid: this.#producerRole.holder?.pid ?? null,
      consumerPid: this.#consumerRole.holder?.pid ?? null,
    };
  }

  // ---- Sending --------------------------------------------------------------------

  /** Writes `message` if there is room; never waits. */
  trySend(message: unknown): boolean {
    const bytes = this.#encode(message);
    const length = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
    this.#checkLength(length);
    if (!this.#isProducer && !this.#tryProducer()) return false;
    const written = this.#write(bytes, length);
    if (written) this.#publish();
    this.#yieldProducer();
    return written;
  }

  /** Writes `message`, blocking the thread while the queue is full. */
  sendSync(message: unknown, options?: WaitOptions): void {
    const { timeout } = parseWait(options);
    const bytes = this.#encode(message);
    const length = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
    this.#checkLength(length);
    const deadline = timeout < 0 ? -1 : performance.now() + timeout;
    for (;;) {
      if (!this.#isProducer) this.#lockProducerSync(left(deadline));
      if (this.#write(bytes, length)) break;
      // Full: wait for space without keeping other producers out.
      const need = this.#need(length);
      this.#dropProducer();
      waitForSync(this, need, this.#spaceWord, this.#spaceSpin, left(deadline), 'Queue.sendSync');
    }
    this.#publish();
    this.#yieldProducer();
  }

  /** Writes `message`, waiting (without blocking the event loop) while the queue is full. */
  async send(message: unknown, options?: WaitOptions): Promise<void> {
    const { timeout, signal } = parseWait(options);
    signal?.throwIfAborted();
    const bytes = this.#encode(message);
    const length = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
    this.#checkLength(length);
    const deadline = timeout < 0 ? -1 : performance.now() + timeout;
    for (;;) {
      if (!this.#isProducer && !this.#tryProducer()) {
        await this.#producerRole.lock({ timeout: asOption(deadline), signal });
        this.#heldProducer();
      }
      if (this.#write(bytes, length)) break;
      const need = this.#need(length);
      this.#dropProducer();
      const parked = waitForAsync(this, need, this.#spaceWord, this.#spaceSpin, left(deadline), signal, 'Queue.send');
      if (parked !== undefined) await parked;
    }
    this.#publish();
    this.#yieldProducer();
  }

  /**
   * Writes as many of `messages` as fit, in order, publishing them together
   * (one release store and at most one wake-up for the batch). Never waits.
   * Returns how many were written.
   */
  sendMany(messages: readonly unknown[]): number {
    if (!Array.isArray(messages)) throw invalidArgType('messages', 'an Array', messages);
    const encoded = messages.map((m) => this.#encode(m));
    const lengths = encoded.map((b) => (typeof b === 'string' ? Buffer.byteLength(b) : b.byteLength));
    for (const length of lengths) this.#checkLength(length);
    if (!this.#isProducer && !this.#tryProducer()) return 0;
    let n = 0;
    while (n < encoded.length && this.#write(encoded[n] as Uint8Array | string, lengths[n] as number)) n++;
    if (n > 0) this.#publish();
    this.#yieldProducer();
    return n;
  }

  /**
   * Zero-copy send, step 1: returns a view of `length` bytes inside the ring
   * to fill, or undefined if there is no room (or another producer is
   * sending) now. Nothing is visible to consumers until commit(), and the
   * producer role stays with this handle until then; a producer that dies
   * before commit() leaves nothing behind.
   */
  reserve(length: number): Uint8Array | undefined {
    if (this.closed) throw this.closedError();
    if ((Atomics.load(this.#cells, FLAGS) & FLAG_ENDED) !== 0) throw endedError();
    checkInteger('length', length, 0, this.#maxMessage);
    if (this.#reservedAt !== NONE) throw new ShmkitError('ERR_INVALID_STATE', 'reserve(): the previous reservation was not committed');
    if (!this.#isProducer && !this.#tryProducer()) return undefined;
    const start = this.#place(recordSize(length));
    if (start === NONE) {
      this.#yieldProducer();
      return undefined;
    }
    this.#reservedAt = start;
    this.#reservedLength = length;
    const off = (start & this.#mask) + RECORD_HEADER_LENGTH;
    return this.#data.subarray(off, off + length);
  }

  /** Zero-copy send, step 2: publishes the reserved bytes (the first `length` of them). */
  commit(length: number = this.#reservedLength): void {
    if (this.closed) throw this.closedError();
    if (this.#reservedAt === NONE) throw new ShmkitError('ERR_INVALID_STATE', 'commit() without reserve()');
    checkInteger('length', length, 0, this.#reservedLength);
    this.#finishRecord(this.#reservedAt, length);
    this.#reservedAt = NONE;
    this.#publish();
    this.#yieldProducer();
  }

  /**
   * No more messages: receivers take what is left, then `receive` rejects
   * with ERR_SHMKIT_QUEUE_ENDED and iteration ends. Sending afterwards throws.
   */
  end(): void {
    if (this.closed) throw this.closedError();
    const cells = this.#cells;
    Atomics.or(cells, FLAGS, FLAG_ENDED);
    Atomics.add(cells, DATA_SEQ, 1);
    if (Atomics.load(cells, DATA_WAITERS) !== 0) wake(cells, DATA_SEQ, 0);
  }

  // ---- Receiving ------------------------------------------------------------------

  /** Takes the next message if there is one; never waits. */
  tryReceive(): unknown {
    if (this.closed) throw this.closedError();
    if (!this.#isConsumer && !this.#tryConsumer()) return undefined;
    const at = this.#next();
    const message = at === NONE ? undefined : this.#take(at);
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
    if (this.closed) throw this.closedError();
    if (!(target instanceof Uint8Array)) throw invalidArgType('target', 'an instance of Uint8Array', target);
    checkInteger('offset', offset, 0, target.byteLength);
    if (this.#encoding !== undefined) throw new ShmkitError('ERR_INVALID_STATE', `tryReceiveInto() takes bytes; this handle decodes '${this.#encoding}'`);
    if (!this.#isConsumer && !this.#tryConsumer()) return -1;
    const at = this.#next();
    let length = -1;
    if (at !== NONE) {
      const off = at & this.#mask;
      length = this.#words[off >> 2] as number;
      if (length > target.byteLength - offset) {
        this.#yieldConsumer();
        throw outOfRange('target', `room for the ${length}-byte message (it stays in the queue)`, `${target.byteLength - offset} bytes from offset ${offset}`);
      }
      this.#data.copy(target, offset, off + RECORD_HEADER_LENGTH, off + RECORD_HEADER_LENGTH + length);
      this.#release(at, true);
    }
    this.#yieldConsumer();
    return length;
  }

  /** Takes the next message, blocking the thread while the queue is empty. */
  receiveSync(options?: WaitOptions): unknown {
    if (this.closed) throw this.closedError();
    const { timeout } = parseWait(options);
    const deadline = timeout < 0 ? -1 : performance.now() + timeout;
    for (;;) {
      if (!this.#isConsumer) this.#lockConsumerSync(left(deadline));
      const at = this.#next();
      if (at !== NONE) {
        const message = this.#take(at);
        this.#yieldConsumer();
        return message;
      }
      const ended = this.#endedAndEmpty();
      this.#dropConsumer(); // wait for data without keeping other consumers out
      if (ended) throw endedError();
      waitForSync(this, WANT_DATA, this.#dataWord, this.#dataSpin, left(deadline), 'Queue.receiveSync');
    }
  }

  /** Takes the next message, waiting without blocking the event loop. */
  async receive(options?: WaitOptions): Promise<unknown> {
    if (this.closed) throw this.closedError();
    const { timeout, signal } = parseWait(options);
    signal?.throwIfAborted();
    const deadline = timeout < 0 ? -1 : performance.now() + timeout;
    for (;;) {
      if (!this.#isConsumer && !this.#tryConsumer()) {
        await this.#consumerRole.lock({ timeout: asOption(deadline), signal });
        this.#heldConsumer();
      }
      const at = this.#next();
      if (at !== NONE) {
        const message = this.#take(at);
        this.#yieldConsumer();
        return message;
      }
      const ended = this.#endedAndEmpty();
      this.#dropConsumer();
      if (ended) throw endedError();
      const parked = waitForAsync(this, WANT_DATA, this.#dataWord, this.#dataSpin, left(deadline), signal, 'Queue.receive');
      if (parked !== undefined) await parked;
    }
  }

  /** Takes up to `max` messages that are there now (releasing them together); never waits. */
  receiveMany(max: number): unknown[] {
    checkInteger('max', max, 0, 2 ** 31 - 1);
    if (this.closed) throw this.closedError();
    const out: unknown[] = [];
    if (!this.#isConsumer && !this.#tryConsumer()) return out;
    while (out.length < max) {
      const at = this.#next();
      if (at === NONE) break;
      out.push(this.#copyOut(at));
      this.#release(at, false);
    }
    if (out.length > 0) this.#publishHead();
    this.#yieldConsumer();
    return out;
  }

  /**
   * Zero-copy receive, step 1: a view of the next message inside the ring
   * (valid until release()), or undefined. The consumer role stays with this
   * handle until release(). If this process dies before release(), the
   * message is delivered to the next consumer.
   */
  peek(): Uint8Array | undefined {
    if (this.closed) throw this.closedError();
    if (this.#peekedAt !== NONE) throw new ShmkitError('ERR_INVALID_STATE', 'peek(): the previous message was not released');
    if (!this.#isConsumer && !this.#tryConsumer()) return undefined;
    const at = this.#next();
    if (at === NONE) {
      this.#yieldConsumer();
      return undefined;
    }
    this.#peekedAt = at;
    const off = (at & this.#mask) + RECORD_HEADER_LENGTH;
    return this.#data.subarray(off, off + (this.#words[(at & this.#mask) >> 2] as number));
  }

  /** Zero-copy receive, step 2: frees the message returned by peek(). */
  release(): void {
    if (this.closed) throw this.closedError();
    if (this.#peekedAt === NONE) throw new ShmkitError('ERR_INVALID_STATE', 'release() without peek()');
    const at = this.#peekedAt;
    this.#peekedAt = NONE;
    this.#release(at, true);
    this.#yieldConsumer();
  }

  /** Receives messages until the queue is ended and drained. */
  async *[Symbol.asyncIterator](): AsyncGenerator<unknown, void, undefined> {
    for (;;) {
      let message: unknown;
      try {
        message = await this.receive();
      } catch (err) {
        if ((err as ShmkitError).code === ENDED_CODE) return;
        throw err;
      }
      yield message;
    }
  }

  /** Releases the handle and the roles it holds (so another process can take them). */
  override close(): void {
    if (this.closed) return;
    if (this.#isProducer) this.#dropProducer();
    if (this.#isConsumer) this.#dropConsumer();
    this.#producerRole.close();
    this.#consumerRole.close();
    super.close();
  }

  /** @internal The waiting core's check: data to read, or `arg` free bytes. */
  attempt(arg: number): boolean {
    // Shared positions, not our cached ones: we gave the role up to wait.
    const cells = this.#cells;
    if (arg === WANT_DATA) {
      return Atomics.load(cells, TAIL) !== Atomics.load(cells, HEAD) || (Atomics.load(cells, FLAGS) & FLAG_ENDED) !== 0;
    }
    return this.#capacity - ((Atomics.load(cells, TAIL) - Atomics.load(cells, HEAD)) >>> 0) >= arg;
  }

  // ---- Producer internals ------------------------------------------------------------

  // ---- Roles ----------------------------------------------------------------------

  #tryProducer(): boolean {
    if ((Atomics.load(this.#cells, FLAGS) & FLAG_ENDED) !== 0) throw endedError();
    if (!this.#tryRole(this.#producerRole)) return false;
    this.#heldProducer();
    return true;
  }

  // Takes `role` if it is free, or held (idle) by another handle of this thread.
  #tryRole(role: Mutex): boolean {
    return role.tryLock() !== false || (this.#sameThreadHolds(role) && role.tryLock() !== false);
  }

  #lockRoleSync(role: Mutex, timeout: number): void {
    if (!this.#tryRole(role)) role.lockSync({ timeout: timeout < 0 ? undefined : timeout });
  }

  // The role is held by this very thread through another handle that keeps
  // it for the turn: ask every such idle handle to give its roles back.
  // Returns whether it was worth retrying.
  #sameThreadHolds(role: Mutex): boolean {
    if (role.holder?.tid !== lockingTid()) return false;
    for (const other of stickyHolders) if (other !== this) other.#releaseRoles();
    return true;
  }

  #lockProducerSync(timeout: number): void {
    if ((Atomics.load(this.#cells, FLAGS) & FLAG_ENDED) !== 0) throw endedError();
    this.#lockRoleSync(this.#producerRole, timeout);
    this.#heldProducer();
  }

  // TAIL only ever moves past complete records, so whoever held the role
  // before (alive or dead) left it consistent: carry on from it.
  #heldProducer(): void {
    this.#isProducer = true;
    stickyHolders.add(this);
    this.#tail = Atomics.load(this.#cells, TAIL);
    this.#headSeen = Atomics.load(this.#cells, HEAD);
    this.#queueRelease();
  }

  // After an operation: hand the role over at once if another producer waits.
  #yieldProducer(): void {
    if (this.#isProducer && this.#reservedAt === NONE && this.#producerRole.contended) this.#dropProducer();
  }

  #dropProducer(): void {
    this.#isProducer = false;
    if (!this.#isConsumer) stickyHolders.delete(this);
    this.#producerRole.unlock();
  }


  #tryConsumer(): boolean {
    if (!this.#tryRole(this.#consumerRole)) return false;
    this.#heldConsumer();
    return true;
  }

  #lockConsumerSync(timeout: number): void {
    this.#lockRoleSync(this.#consumerRole, timeout);
    this.#heldConsumer();
  }

  #heldConsumer(): void {
    this.#isConsumer = true;
    stickyHolders.add(this);
    this.#head = Atomics.load(this.#cells, HEAD);
    this.#tailSeen = this.#head;
    this.#queueRelease();
  }

  #yieldConsumer(): void {
    if (this.#isConsumer && this.#peekedAt === NONE && this.#consumerRole.contended) this.#dropConsumer();
  }

  #dropConsumer(): void {
    this.#isConsumer = false;
    if (!this.#isProducer) stickyHolders.delete(this);
    this.#consumerRole.unlock();
  }

  #queueRelease(): void {
    if (this.#releaseQueued) return;
    this.#releaseQueued = true;
    queueMicrotask(this.#releaseRoles);
  }

  // ---- Producer internals ------------------------------------------------------------

  #checkLength(length: number): void {
    if (length > this.#maxMessage) {
      throw outOfRange('message', `at most ${this.#maxMessage} bytes (half the queue's capacity, less 8)`, `${length} bytes`);
    }
  }

  // Free bytes needed to append a record of `length` payload bytes now.
  #need(length: number): number {
    const size = recordSize(length);
    const off = this.#tail & this.#mask;
    return off + size > this.#capacity ? this.#capacity - off + size : size;
  }

  // Finds room for a record of `size` bytes at our tail (after a filler record
  // if it would cross the end). Returns the record's position, or -1 if full.
  #place(size: number): number {
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

  #write(bytes: Uint8Array | string, length: number): boolean {
    const at = this.#place(recordSize(length));
    if (at === NONE) return false;
    const off = (at & this.#mask) + RECORD_HEADER_LENGTH;
    if (typeof bytes === 'string') this.#data.write(bytes, off, length, 'utf8');
    else this.#data.set(bytes, off);
    this.#finishRecord(at, length);
    return true;
  }

  // Completes the record at `at` (payload already in place); not yet visible.
  #finishRecord(at: number, length: number): void {
    const size = recordSize(length);
    const w = (at & this.#mask) >> 2;
    this.#words[w + 1] = size;
    this.#words[w] = length;
    this.#tail = (at + size) | 0;
    this.#unpublished++;
  }

  // Makes every completed record visible (release) and wakes a parked consumer.
  #publish(): void {
    const cells = this.#cells;
    // SENT first: a reader computing length = SENT - RECEIVED may briefly see
    // a message about to appear, never one that will not.
    cells[SENT] = ((cells[SENT] as number) + this.#unpublished) | 0;
    this.#unpublished = 0;
    Atomics.store(cells, TAIL, this.#tail);
    if (Atomics.load(cells, DATA_WAITERS) !== 0) {
      Atomics.add(cells, DATA_SEQ, 1);
      wake(cells, DATA_SEQ, 1);
    }
  }

  #encode(message: unknown): Uint8Array | string {
    if (this.closed) throw this.closedError();
    if ((Atomics.load(this.#cells, FLAGS) & FLAG_ENDED) !== 0) throw endedError();
    return encodeMessage(this.#encoding, message, 'queue');
  }

  // ---- Consumer internals ------------------------------------------------------------

  // Position of the next message, skipping fillers and records released by a
  // consumer that died before moving HEAD; -1 when there is none.
  #next(): number {
    let head = this.#head;
    for (;;) {
      if (head === this.#tailSeen) {
        this.#tailSeen = Atomics.load(this.#cells, TAIL); // acquire: records before it are complete
        if (head === this.#tailSeen) {
          if (head !== this.#head) this.#advanceHead(head);
          return NONE;
        }
      }
      const w = (head & this.#mask) >> 2;
      const len = this.#words[w] as number;
      const size = this.#words[w + 1] as number;
      this.#checkRecord(head, len, size);
      if (len >= 0) {
        if (head !== this.#head) this.#advanceHead(head);
        return head;
      }
      head = (head + size) | 0; // PADDING or RELEASED
    }
  }

  // A record in [HEAD, TAIL) that breaks the format means the memory was
  // overwritten: refuse it rather than read garbage or loop.
  #checkRecord(at: number, len: number, size: number): void {
    const off = at & this.#mask;
    const ok = size >= RECORD_HEADER_LENGTH && (size & 7) === 0 && off + size <= this.#capacity &&
      ((this.#tailSeen - at) | 0) >= size &&
      ((len === PADDING && off + size === this.#capacity) || len === RELEASED || (len >= 0 && len <= size - RECORD_HEADER_LENGTH));
    if (!ok) {
      throw new ShmkitError('ERR_SHMKIT_BAD_LAYOUT', `Queue: corrupt record at position ${at >>> 0} (length ${len}, size ${size})`);
    }
  }

  #copyOut(at: number): unknown {
    const off = at & this.#mask;
    const len = this.#words[off >> 2] as number;
    const start = off + RECORD_HEADER_LENGTH;
    if (this.#encoding !== undefined) return decodeMessage(this.#encoding, this.#data.subarray(start, start + len));
    const out = Buffer.allocUnsafe(len);
    this.#data.copy(out, 0, start, start + len);
    return out;
  }

  #take(at: number): unknown {
    const message = this.#copyOut(at);
    this.#release(at, true);
    return message;
  }

  // Frees the record at `at`: LEN = RELEASED first, then HEAD past it.
  #release(at: number, publish: boolean): void {
    const w = (at & this.#mask) >> 2;
    const size = this.#words[w + 1] as number;
    this.#words[w] = RELEASED;
    this.#head = (at + size) | 0;
    this.#cells[RECEIVED] = ((this.#cells[RECEIVED] as number) + 1) | 0;
    if (publish) this.#publishHead();
  }

  #advanceHead(head: number): void {
    this.#head = head;
    this.#publishHead();
  }

  #publishHead(): void {
    const cells = this.#cells;
    Atomics.store(cells, HEAD, this.#head);
    if (Atomics.load(cells, SPACE_WAITERS) !== 0) {
      Atomics.add(cells, SPACE_SEQ, 1);
      wake(cells, SPACE_SEQ, 0);
    }
  }

  #endedAndEmpty(): boolean {
    return (Atomics.load(this.#cells, FLAGS) & FLAG_ENDED) !== 0 && Atomics.load(this.#cells, TAIL) === Atomics.load(this.#cells, HEAD);
  }
}
