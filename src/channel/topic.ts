/**
 * Topic: one-to-many broadcast for real-time data. `publish()` never waits:
 * when the ring is full the oldest messages are overwritten. Each subscriber
 * (any number, in any processes) reads every message in order from where it
 * started; one that falls a lap behind is told how many it missed
 * (ERR_SHMKIT_LAGGED, `missed`) and continues from the oldest message kept.
 * See topic-layout.ts for the format and the rules.
 */
import { checkObject } from '../args.js';
import { ShmkitError, invalidArgValue, outOfRange } from '../errors.js';
import { checkHandleOptions, decodeMessage, encodeMessage, roundCapacity, type ChannelHandleOptions } from './codec.js';
import { Segment } from '../segment/segment.js';
import { Mutex } from '../sync/mutex.js';
import { objectBytesAt } from '../layout/header.js';
import { SharedObject } from '../object/shared-object.js';
import { adoptNamed, attachObject, createNamed, initObject, openNamed, openOrCreateNamed, type NamedCreateOptions, type ObjectSpec, unlinkNamed } from '../object/named.js';
import { checkSpinOption, parseSpin, parseWait, type WaitOptions } from '../sync/options.js';
import { SpinBudget, waitForAsync, waitForSync, wake, type Attempt, type WaitWord } from '../sync/wait.js';
import {
  CAPACITY, DATA_OFFSET, DATA_SEQ, DATA_WAITERS, FILLER, MAX_CAPACITY, MAX_MESSAGE, MIN_CAPACITY, NEXT_SEQ, OLDEST_POS, OLDEST_SEQ,
  PUBLISHER_LOCK_OFFSET, RECORD_HEADER_LENGTH, R_LEN, R_SEQ, R_SIZE, TAIL, TOPIC_KIND, TOPIC_VERSION, topicLength, topicMaxMessage, topicRecordSize,
} from './topic-layout.js';

/** Geometry of a Topic. */
export interface TopicOptions {
  /** Data bytes kept; rounded up to a power of two (at least 128, at most 2^30). */
  capacity: number;
}

/** Options of a Topic handle. */
export type TopicHandleOptions = ChannelHandleOptions;

/** Where a new subscriber starts. */
export interface SubscribeOptions {
  /** `'latest'` (default): only messages published from now on; `'earliest'`: every message still kept. */
  from?: 'latest' | 'earliest';
}

const SPEC: ObjectSpec<TopicOptions> = {
  kind: TOPIC_KIND,
  version: TOPIC_VERSION,
  what: 'Topic',
  checkOptions: checkSpinOption,
  byteLength: (options) => topicLength(roundCapacity(options, MIN_CAPACITY, MAX_CAPACITY)),
  initFields: (buffer, byteOffset, options) => {
    const capacity = roundCapacity(options, MIN_CAPACITY, MAX_CAPACITY);
    const cells = new Int32Array(buffer, byteOffset, DATA_OFFSET / 4);
    cells[CAPACITY] = capacity;
    cells[MAX_MESSAGE] = topicMaxMessage(capacity);
    Mutex.init(buffer, byteOffset + PUBLISHER_LOCK_OFFSET).close();
  },
};

/** The error a lagging subscriber gets. */
export class LaggedError extends ShmkitError {
  /** Messages overwritten before this subscriber read them. */
  readonly missed: number;
  constructor(missed: number) {
    super('ERR_SHMKIT_LAGGED', `the subscriber fell a lap behind and missed ${missed} message(s); it continues from the oldest message kept`);
    this.missed = missed;
  }
}

/** A broadcast channel in shared memory. */
export class Topic extends SharedObject {
  /** @internal */ readonly cells: Int32Array;
  /** @internal */ readonly data: Buffer;
  /** @internal */ readonly words: Int32Array;
  /** @internal */ readonly mask: number;
  /** @internal */ readonly lock: Mutex;
  /** @internal */ readonly encoding: 'json' | 'v8' | undefined;
  /** @internal */ readonly spin: number | undefined;
  readonly #capacity: number;
  readonly #maxMessage: number;

  private constructor(buffer: SharedArrayBuffer, byteOffset: number, segment: Segment | null, options?: TopicHandleOptions) {
    super(buffer, byteOffset, segment, 'Topic');
    const opts = checkHandleOptions(options);
    this.encoding = opts.encoding;
    this.spin = parseSpin(opts);
    this.cells = new Int32Array(buffer, byteOffset, DATA_OFFSET / 4);
    const capacity = this.cells[CAPACITY] as number;
    if (capacity < MIN_CAPACITY || capacity > MAX_CAPACITY || (capacity & (capacity - 1)) !== 0 || this.cells[MAX_MESSAGE] !== topicMaxMessage(capacity)) {
      throw new ShmkitError('ERR_SHMKIT_BAD_LAYOUT', `Topic at offset ${byteOffset}: bad geometry (capacity ${capacity})`);
    }
    const objectBytes = objectBytesAt(buffer, byteOffset);
    if (objectBytes !== topicLength(capacity) || byteOffset + objectBytes > buffer.byteLength) {
      throw new ShmkitError('ERR_SHMKIT_BAD_LAYOUT', `Topic at offset ${byteOffset}: capacity ${capacity} does not match the object's ${objectBytes} bytes`);
    }
    this.#capacity = capacity;
    this.#maxMessage = topicMaxMessage(capacity);
    this.mask = capacity - 1;
    this.data = Buffer.from(buffer, byteOffset + DATA_OFFSET, capacity);
    this.words = new Int32Array(buffer, byteOffset + DATA_OFFSET, capacity / 4);
    this.lock = Mutex.attach(buffer, byteOffset + PUBLISHER_LOCK_OFFSET, { spin: 20 });
  }

  static byteLength(options: TopicOptions): number {
    return SPEC.byteLength(options);
  }

  static init(buffer: SharedArrayBuffer, byteOffset: number, options: TopicOptions & TopicHandleOptions): Topic {
    checkHandleOptions(options);
    initObject(SPEC, buffer, byteOffset, options);
    return new Topic(buffer, byteOffset, null, options);
  }

  static attach(buffer: SharedArrayBuffer, byteOffset: number, options?: TopicHandleOptions): Topic {
    attachObject(SPEC as ObjectSpec<unknown>, buffer, byteOffset, `offset ${byteOffset}`);
    return new Topic(buffer, byteOffset, null, options);
  }

  static create(name: string, options: TopicOptions & NamedCreateOptions & TopicHandleOptions): Topic {
    checkHandleOptions(options); // before anything is created
    return adoptNamed(createNamed(SPEC, name, options), (seg) => new Topic(seg.buffer, 0, seg, options), true);
  }

  static open(name: string, options?: TopicHandleOptions): Topic {
    checkHandleOptions(options);
    return adoptNamed(openNamed(SPEC as ObjectSpec<unknown>, name), (seg) => new Topic(seg.buffer, 0, seg, options));
  }

  static openOrCreate(name: string, options: TopicOptions & NamedCreateOptions & TopicHandleOptions): Topic {
    checkHandleOptions(options);
    return adoptNamed(openOrCreateNamed(SPEC, name, options), (seg) => new Topic(seg.buffer, 0, seg, options));
  }

  static unlink(name: string): void {
    unlinkNamed(SPEC as ObjectSpec<never>, name);
  }

  get capacity(): number {
    return this.#capacity;
  }

  get maxMessage(): number {
    return this.#maxMessage;
  }

  /** Messages published so far (wraps at 2^32). */
  get published(): number {
    if (this.closed) throw this.closedError();
    return Atomics.load(this.cells, NEXT_SEQ) >>> 0;
  }

  /** Publishes `message` to every subscriber; never waits for them. */
  publish(message: unknown): void {
    if (this.closed) throw this.closedError();
    const bytes = encodeMessage(this.encoding, message, 'topic');
    const length = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
    if (length > this.#maxMessage) {
      throw outOfRange('message', `at most ${this.#maxMessage} bytes (a quarter of the topic's capacity, less 16)`, `${length} bytes`);
    }
    if (this.lock.lockSync().ownerDied) this.#repair();
    try {
      this.#append(bytes, length);
    } finally {
      this.lock.unlock();
    }
    const cells = this.cells;
    if (Atomics.load(cells, DATA_WAITERS) !== 0) {
      Atomics.add(cells, DATA_SEQ, 1);
      wake(cells, DATA_SEQ, 0);
    }
  }

  /** A new subscriber: its own position, read in this process only. */
  subscribe(options?: SubscribeOptions): Subscriber {
    if (this.closed) throw this.closedError();
    const opts = checkObject<SubscribeOptions>('options', options);
    const from = opts.from ?? 'latest';
    if (from !== 'latest' && from !== 'earliest') throw invalidArgValue('options.from', "must be 'latest' or 'earliest'", from);
    return new Subscriber(this, from);
  }

  /** @internal A consistent (position, sequence) pair: the oldest kept, or the next to come. */
  startingPoint(earliest: boolean): [number, number] {
    if (this.lock.lockSync().ownerDied) this.#repair();
    try {
      const cells = this.cells;
      return earliest
        ? [Atomics.load(cells, OLDEST_POS), Atomics.load(cells, OLDEST_SEQ)]
        : [Atomics.load(cells, TAIL), Atomics.load(cells, NEXT_SEQ)];
    } finally {
      this.lock.unlock();
    }
  }

  // Under the publisher lock.
  #append(bytes: Uint8Array | string, length: number): void {
    const cells = this.cells;
    const words = this.words;
    const capacity = this.#capacity;
    const size = topicRecordSize(length);
    let tail = Atomics.load(cells, TAIL);
    const off = tail & this.mask;
    const filler = off + size > capacity ? capacity - off : 0;
    // Make room: drop the oldest records (announce first, overwrite after).
    let oldest = Atomics.load(cells, OLDEST_POS);
    while (capacity - ((tail - oldest) >>> 0) < filler + size) {
      const dropped = this.recordSizeAt(oldest);
      const w = (oldest & this.mask) >> 2;
      // Absolute, so a publisher killed between these two stores is repaired
      // from the record at OLDEST_POS (see #repair).
      if ((words[w + R_LEN] as number) !== FILLER) Atomics.store(cells, OLDEST_SEQ, ((words[w + R_SEQ] as number) + 1) | 0);
      oldest = (oldest + dropped) | 0;
      Atomics.store(cells, OLDEST_POS, oldest);
    }
    if (oldest === tail) Atomics.store(cells, OLDEST_SEQ, Atomics.load(cells, NEXT_SEQ)); // ring emptied
    if (filler > 0) {
      // A filler's size is implied (to the end of the data area): an 8-byte
      // filler has no room for a SIZE word.
      const w = off >> 2;
      words[w + R_SEQ] = 0;
      words[w + R_LEN] = FILLER;
      tail = (tail + filler) | 0;
    }
    const seq = Atomics.load(cells, NEXT_SEQ);
    const w = (tail & this.mask) >> 2;
    const start = (tail & this.mask) + RECORD_HEADER_LENGTH;
    if (typeof bytes === 'string') this.data.write(bytes, start, length, 'utf8');
    else this.data.set(bytes, start);
    words[w + R_SEQ] = seq;
    words[w + R_SIZE] = size;
    words[w + R_LEN] = length;
    // A publisher that dies between these two stores costs one sequence number, never a message.
    Atomics.store(cells, NEXT_SEQ, (seq + 1) | 0);
    Atomics.store(cells, TAIL, (tail + size) | 0);
  }

  /** @internal Bytes of the record at `pos` (a filler runs to the end); throws on a malformed record. */
  recordSizeAt(pos: number): number {
    const off = pos & this.mask;
    const w = off >> 2;
    if ((this.words[w + R_LEN] as number) === FILLER) return this.#capacity - off;
    const size = this.words[w + R_SIZE] as number;
    const len = this.words[w + R_LEN] as number;
    if (size < RECORD_HEADER_LENGTH || (size & 7) !== 0 || off + size > this.#capacity || len < 0 || len > size - RECORD_HEADER_LENGTH) {
      throw new ShmkitError('ERR_SHMKIT_BAD_LAYOUT', `Topic: corrupt record at position ${pos >>> 0} (length ${len}, size ${size})`);
    }
    return size;
  }

  // The previous publisher died holding the lock. Positions are always
  // stored whole, but OLDEST_SEQ may be one step ahead of the record at
  // OLDEST_POS: recompute it from the records.
  #repair(): void {
    const cells = this.cells;
    const tail = Atomics.load(cells, TAIL);
    let pos = Atomics.load(cells, OLDEST_POS);
    while (pos !== tail) {
      const w = (pos & this.mask) >> 2;
      if ((this.words[w + R_LEN] as number) !== FILLER) {
        Atomics.store(cells, OLDEST_SEQ, this.words[w + R_SEQ] as number);
        return;
      }
      pos = (pos + this.recordSizeAt(pos)) | 0;
    }
    Atomics.store(cells, OLDEST_SEQ, Atomics.load(cells, NEXT_SEQ));
  }
}

/** One reader of a Topic. Its position lives in this process only. */
export class Subscriber implements Attempt {
  readonly #topic: Topic;
  readonly #word: WaitWord;
  readonly #spin: SpinBudget;
  #pos: number;
  #seq: number;

  /** @internal */
  constructor(topic: Topic, from: 'latest' | 'earliest') {
    this.#topic = topic;
    [this.#pos, this.#seq] = topic.startingPoint(from === 'earliest');
    this.#word = { cells: topic.cells, word: DATA_SEQ, waiters: DATA_WAITERS };
    this.#spin = new SpinBudget(topic.spin);
  }

  /** Messages published that this subscriber has not read yet (a snapshot; includes any it will miss). */
  get pending(): number {
    return (Atomics.load(this.#topic.cells, NEXT_SEQ) - this.#seq) >>> 0;
  }

  /** The next message, or undefined if there is none yet. Throws LaggedError after a lap. */
  tryReceive(): unknown {
    if (this.#topic.closed) throw closedTopic();
    const topic = this.#topic;
    const cells = topic.cells;
    const words = topic.words;
    for (;;) {
      const pos = this.#pos;
      if (pos === Atomics.load(cells, TAIL)) return undefined;
      const off = pos & topic.mask;
      const w = off >> 2;
      const len = words[w + R_LEN] as number;
      const filler = len === FILLER;
      const size = filler ? topic.capacity - off : (words[w + R_SIZE] as number);
      const seq = words[w + R_SEQ] as number;
      const sane = filler || (size >= RECORD_HEADER_LENGTH && (size & 7) === 0 && off + size <= topic.capacity &&
        len >= 0 && len <= size - RECORD_HEADER_LENGTH);
      let copy: Buffer | undefined;
      if (sane && !filler) {
        copy = Buffer.allocUnsafe(len);
        topic.data.copy(copy, 0, off + RECORD_HEADER_LENGTH, off + RECORD_HEADER_LENGTH + len);
      }
      // Was the record dropped (and maybe overwritten) while we read it?
      // Publishers move OLDEST_POS past a record before they overwrite it.
      if (((pos - Atomics.load(cells, OLDEST_POS)) | 0) < 0) {
        const missed = this.#resync();
        if (missed > 0) throw new LaggedError(missed);
        continue; // only a filler was dropped: nothing lost
      }
      if (!sane) {
        throw new ShmkitError('ERR_SHMKIT_BAD_LAYOUT', `Topic: corrupt record at position ${pos >>> 0} (length ${len}, size ${size})`);
      }
      this.#pos = (pos + size) | 0;
      if (filler) continue;
      // seq above the expected one: a publisher died after taking a number.
      this.#seq = (seq + 1) | 0;
      return decodeMessage(topic.encoding, copy as Buffer);
    }
  }

  /** Blocks the thread until a message arrives. */
  receiveSync(options?: WaitOptions): unknown {
    const { timeout } = parseWait(options);
    for (;;) {
      const m = this.tryReceive();
      if (m !== undefined) return m;
      waitForSync(this, 0, this.#word, this.#spin, timeout, 'Subscriber.receiveSync');
    }
  }

  /** Waits for a message without blocking the event loop. */
  async receive(options?: WaitOptions): Promise<unknown> {
    const { timeout, signal } = parseWait(options);
    signal?.throwIfAborted();
    for (;;) {
      const m = this.tryReceive();
      if (m !== undefined) return m;
      const parked = waitForAsync(this, 0, this.#word, this.#spin, timeout, signal, 'Subscriber.receive');
      if (parked !== undefined) await parked;
    }
  }

  /** Receives forever (a LaggedError ends the iteration: catch it and iterate again to go on). */
  async *[Symbol.asyncIterator](): AsyncGenerator<unknown, void, undefined> {
    for (;;) yield await this.receive();
  }

  /** @internal The waiting core's check: something published past our position. */
  attempt(_arg: number): boolean {
    return Atomics.load(this.#topic.cells, TAIL) !== this.#pos;
  }

  // Jumps to the oldest message kept; returns how many were missed.
  #resync(): number {
    const expected = this.#seq;
    [this.#pos, this.#seq] = this.#topic.startingPoint(true);
    const missed = (this.#seq - expected) | 0;
    return missed > 0 ? missed : 0;
  }
}

function closedTopic(): ShmkitError {
  return new ShmkitError('ERR_SHMKIT_CLOSED', 'Topic is closed');
}
