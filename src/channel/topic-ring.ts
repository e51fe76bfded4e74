// The ring of one Topic handle: its views of the shared state
// (topic-layout.ts has the format and the rules) and the publishers' side
// of the protocol. Internal: Topic and Subscriber share it, and neither
// lets it out (both keep it in a `#` field), so nothing here is reachable
// from the public API; in particular not the publisher lock.
import { ShmkitError, outOfRange, ownError } from '../errors.js';
import { Mutex, lockContended, type MutexStats } from '../sync/mutex.js';
import { wake } from '../sync/wait.js';
import { type Encoding } from './codec.js';
import {
  CAPACITY, DATA_OFFSET, DATA_SEQ, DATA_WAITERS, FILLER, LAPS, MAX_CAPACITY, MAX_MESSAGE, MIN_CAPACITY, NEXT_SEQ, OLDEST_POS, OLDEST_SEQ,
  PUBLISHER_LOCK_OFFSET, RECORD_HEADER_LENGTH, R_LEN, R_SEQ, R_SIZE, TAIL, topicLength, topicMaxMessage, topicRecordSize,
} from './topic-layout.js';
import { objectBytesAt } from '../layout/header.js';

/** What a Topic handle was opened with, parsed. */
export interface RingOptions {
  encoding: Encoding;
  spin: number | undefined;
  /** ms a publish()/subscribe() waits for the publisher lock; FOREVER (-1) for no bound. */
  lockTimeout: number;
}

/** Whether `capacity` is one a Topic can have. */
export function validCapacity(capacity: number): boolean {
  return capacity >= MIN_CAPACITY && capacity <= MAX_CAPACITY && (capacity & (capacity - 1)) === 0;
}

function noop(): void {}

export class TopicRing {
  readonly cells: Int32Array;
  readonly words: Int32Array;
  readonly data: Buffer;
  readonly capacity: number;
  readonly mask: number;
  readonly maxMessage: number;
  readonly encoding: Encoding;
  readonly spin: number | undefined;
  readonly lockTimeout: number;
  /** How errors name the topic: "Topic '/prices'" or "Topic at offset 64". */
  readonly label: string;
  /** The topic's POSIX name (errors' `path`), undefined when embedded. */
  readonly path: string | undefined;
  /** Set by Topic.close(): the handle and every Subscriber made from it are closed. */
  closed = false;
  /** receive() calls of this handle's subscribers parked in the wait core. */
  parked = 0;
  /** Sequence number of the message this handle published last (Topic.lastSeq). */
  lastSeq: number | undefined = undefined;
  /** Set by Topic.close() while receives are parked: finishes the close once the last has left. */
  idle: () => void = noop;
  readonly #lock: Mutex;

  constructor(buffer: SharedArrayBuffer, byteOffset: number, path: string | undefined, options: RingOptions) {
    this.path = path;
    this.label = path === undefined ? `Topic at offset ${byteOffset}` : `Topic '${path}'`;
    this.encoding = options.encoding;
    this.spin = options.spin;
    this.lockTimeout = options.lockTimeout;
    this.cells = new Int32Array(buffer, byteOffset, DATA_OFFSET / 4);
    const capacity = this.cells[CAPACITY] as number;
    if (!validCapacity(capacity) || this.cells[MAX_MESSAGE] !== topicMaxMessage(capacity)) {
      throw this.error('ERR_SHMKIT_BAD_LAYOUT', `bad geometry (capacity ${capacity})`);
    }
    const objectBytes = objectBytesAt(buffer, byteOffset);
    if (objectBytes !== topicLength(capacity) || byteOffset + objectBytes > buffer.byteLength) {
      throw this.error('ERR_SHMKIT_BAD_LAYOUT', `capacity ${capacity} does not match the object's ${objectBytes} bytes`);
    }
    this.capacity = capacity;
    this.maxMessage = topicMaxMessage(capacity);
    this.mask = capacity - 1;
    this.data = Buffer.from(buffer, byteOffset + DATA_OFFSET, capacity);
    this.words = new Int32Array(buffer, byteOffset + DATA_OFFSET, capacity / 4);
    this.#lock = Mutex.attach(buffer, byteOffset + PUBLISHER_LOCK_OFFSET, { spin: 20 });
  }

  /** A ShmkitError naming this topic. */
  error(code: 'ERR_SHMKIT_BAD_LAYOUT' | 'ERR_SHMKIT_CORRUPT' | 'ERR_SHMKIT_CLOSED' | 'ERR_SHMKIT_ENCODE' | 'ERR_SHMKIT_DECODE', text: string): ShmkitError {
    return ownError(code, this.label, text, this.path);
  }

  closedError(): ShmkitError {
    return this.path === undefined
      ? new ShmkitError('ERR_SHMKIT_CLOSED', `${this.label} is closed`)
      : new ShmkitError('ERR_SHMKIT_CLOSED', `${this.label} is closed`, { path: this.path });
  }

  tooLong(length: number): RangeError {
    return outOfRange('message', `at most ${this.maxMessage} bytes for ${this.label} (a quarter of its capacity, less 16)`, `${length} bytes`);
  }

  /** Publishes one encoded message: lock, make room, write, unlock, wake. Returns its sequence number (u32). */
  publish(bytes: Uint8Array | string, length: number, timeout: number): number {
    this.#lockPublisher(timeout, 'publish');
    let seq: number;
    try {
      seq = this.#append(bytes, length);
    } finally {
      this.#lock.unlock();
    }
    if (Atomics.load(this.cells, DATA_WAITERS) !== 0) this.wakeSubscribers();
    return seq >>> 0;
  }

  /** Wakes every parked subscriber (of every process); they re-check. */
  wakeSubscribers(): void {
    Atomics.add(this.cells, DATA_SEQ, 1);
    wake(this.cells, DATA_SEQ, 0);
  }

  /** A consistent (position, sequence) pair, under the lock: the oldest kept, or the next to come. */
  startingPoint(earliest: boolean, timeout: number): [number, number] {
    this.#lockPublisher(timeout, 'subscribe');
    try {
      const cells = this.cells;
      return earliest
        ? [Atomics.load(cells, OLDEST_POS), Atomics.load(cells, OLDEST_SEQ)]
        : [Atomics.load(cells, TAIL), Atomics.load(cells, NEXT_SEQ)];
    } finally {
      this.#lock.unlock();
    }
  }

  /** The error for a malformed record at `pos`. */
  corrupt(pos: number, len: number, size: number): ShmkitError {
    return this.error('ERR_SHMKIT_CORRUPT', `corrupt record at position ${pos >>> 0} (length ${len}, size ${size}); repair() drops the damaged records`);
  }

  /** A walk from `from` went further than the ring allows without reaching `field` (at `to`): the cursors are corrupt. */
  corruptCursor(field: string, from: number, to: number): ShmkitError {
    return this.error('ERR_SHMKIT_CORRUPT', `corrupt ${field} ${to >>> 0}: a walk of the records from ${from >>> 0} does not reach it within the ring; repair() drops the damaged records`);
  }

  /** The publisher lock's counters (for Topic.stats()). */
  lockStats(): MutexStats {
    return this.#lock.stats();
  }

  /** Runs `fn` holding the publisher lock (check and repair: nothing moves meanwhile). */
  locked<R>(timeout: number, what: string, fn: () => R): R {
    this.#lockPublisher(timeout, what, true);
    try {
      return fn();
    } finally {
      this.#lock.unlock();
    }
  }

  // Takes the publisher lock, bounded by `timeout` ms (FOREVER: no bound).
  // The uncontended path allocates nothing; a holder that died is repaired
  // after; a holder that is alive but stopped (SIGSTOP, a debugger) costs
  // the caller at most `timeout`, then ETIMEDOUT naming the topic.
  // `damaged`: the caller is check() or repair(), which deal with a ring
  // the dead publisher's repair finds corrupt themselves.
  #lockPublisher(timeout: number, what: string, damaged = false): void {
    const lock = this.#lock;
    let result = lock.tryLock();
    if (result === false) result = lockContended(lock, timeout, `${this.label}: ${what}()`, 'the publisher lock', this.path);
    if (result.ownerDied) {
      try {
        this.#repair();
      } catch (err) {
        if (damaged && (err as ShmkitError).code === 'ERR_SHMKIT_CORRUPT') return;
        lock.unlock();
        throw err;
      }
    }
  }

  // Under the publisher lock. Returns the record's sequence number.
  // TAIL, OLDEST_POS and NEXT_SEQ are read plainly: only a publisher
  // holding the lock writes them, and the lock's CAS ordered its reads after
  // the previous holder's stores (Atomics.load is a builtin call in Node 20,
  // ~20 ns each, not inlined).
  #append(bytes: Uint8Array | string, length: number): number {
    const cells = this.cells;
    const words = this.words;
    const capacity = this.capacity;
    const size = topicRecordSize(length);
    const tail0 = cells[TAIL] as number;
    let tail = tail0;
    const off = tail & this.mask;
    const filler = off + size > capacity ? capacity - off : 0;
    // Make room: drop the oldest records (announce first, overwrite after).
    let oldest = cells[OLDEST_POS] as number;
    // Never more than a ring's worth: OLDEST_POS is at most CAPACITY behind TAIL.
    let droppedAll = 0;
    while (capacity - ((tail - oldest) >>> 0) < filler + size) {
      const dropped = this.#recordSizeAt(oldest);
      droppedAll += dropped;
      if (droppedAll > capacity) throw this.corruptCursor('OLDEST_POS', oldest, tail);
      const w = (oldest & this.mask) >> 2;
      // Absolute, so a publisher killed between these two stores is repaired
      // from the record at OLDEST_POS (see #repair).
      if ((words[w + R_LEN] as number) !== FILLER) Atomics.store(cells, OLDEST_SEQ, ((words[w + R_SEQ] as number) + 1) | 0);
      oldest = (oldest + dropped) | 0;
      // release: subscribers that load OLDEST_POS after copying a record see it was dropped
      Atomics.store(cells, OLDEST_POS, oldest);
    }
    if (oldest === tail) Atomics.store(cells, OLDEST_SEQ, cells[NEXT_SEQ] as number); // ring emptied
    if (filler > 0) {
      // A filler's size is implied (to the end of the data area): an 8-byte
      // filler has no room for a SIZE word.
      const w = off >> 2;
      words[w + R_SEQ] = 0;
      words[w + R_LEN] = FILLER;
      tail = (tail + filler) | 0;
    }
    const seq = cells[NEXT_SEQ] as number;
    const w = (tail & this.mask) >> 2;
    const start = (tail & this.mask) + RECORD_HEADER_LENGTH;
    if (typeof bytes === 'string') this.data.write(bytes, start, length, 'utf8');
    else this.data.set(bytes, start);
    words[w + R_SEQ] = seq;
    words[w + R_SIZE] = size;
    words[w + R_LEN] = length;
    // A publisher that dies between these two stores costs one sequence number, never a message.
    Atomics.store(cells, NEXT_SEQ, (seq + 1) | 0);
    // release: the record is complete before subscribers (which acquire TAIL) read it
    const end = (tail + size) | 0;
    Atomics.store(cells, TAIL, end);
    // A lap completed (at most one per record: a record is under a quarter
    // of the ring). Under the lock, on TAIL's line: a plain increment.
    if (((tail0 ^ end) & ~this.mask) !== 0) cells[LAPS] = ((cells[LAPS] as number) + 1) | 0;
    return seq;
  }

  /**
   * Bytes of the record at `pos` (a filler runs to the end), or -1 when its
   * LEN and SIZE break the format. Not for the subscriber's hot read, which
   * checks the same inline on words it has already loaded.
   */
  recordSize(pos: number): number {
    const off = pos & this.mask;
    const w = off >> 2;
    const len = this.words[w + R_LEN] as number;
    if (len === FILLER) return this.capacity - off;
    const size = this.words[w + R_SIZE] as number;
    const sane = size >= RECORD_HEADER_LENGTH && (size & 7) === 0 && off + size <= this.capacity && len >= 0 && len <= size - RECORD_HEADER_LENGTH;
    return sane ? size : -1;
  }

  // recordSize(), throwing on a malformed record.
  #recordSizeAt(pos: number): number {
    const size = this.recordSize(pos);
    if (size < 0) {
      const w = (pos & this.mask) >> 2;
      throw this.corrupt(pos, this.words[w + R_LEN] as number, this.words[w + R_SIZE] as number);
    }
    return size;
  }

  // The previous publisher died holding the lock. Positions are always
  // stored whole, but OLDEST_SEQ may be one step ahead of the record at
  // OLDEST_POS: recompute it from the records.
  #repair(): void {
    const cells = this.cells;
    const tail = Atomics.load(cells, TAIL);
    const from = Atomics.load(cells, OLDEST_POS);
    let pos = from;
    // Fillers only (each runs to the end of the ring): two laps' worth at most.
    for (let steps = 0; pos !== tail; steps++) {
      if (steps > 2) throw this.corruptCursor('TAIL', from, tail);
      const w = (pos & this.mask) >> 2;
      if ((this.words[w + R_LEN] as number) !== FILLER) {
        Atomics.store(cells, OLDEST_SEQ, this.words[w + R_SEQ] as number);
        return;
      }
      pos = (pos + this.#recordSizeAt(pos)) | 0;
    }
    Atomics.store(cells, OLDEST_SEQ, Atomics.load(cells, NEXT_SEQ));
  }
}
