/**
 * RwLock: many readers or one writer, across processes. Writer-preferring: a
 * waiting writer blocks new readers, so a stream of readers cannot starve it.
 * Not robust: a process that dies holding it leaves it held (use a Mutex for
 * state that must survive crashes).
 */
import { Kind } from '../layout/header.js';
import { invalidArgType, ownError } from '../errors.js';
import { Segment } from '../segment/segment.js';
import {
  CONTENDED, READERS_MASK, READS, RWLOCK_LENGTH, RWLOCK_VERSION, STATE, WAITERS, WRITER, WRITERS_WAITING, WRITER_PID, WRITER_WAITING, WRITES,
} from './rwlock-layout.js';
import { SharedObject } from '../object/shared-object.js';
import { adoptNamed, attachObject, createNamed, initObject, openNamed, openOrCreateNamed, type NamedCreateOptions, type NamedOpenOptions, type ObjectSpec, unlinkNamed } from '../object/named.js';
import { checkSpinOption, parseSpin, parseWait, type SpinOptions, type WaitOptions } from './options.js';
import { SpinBudget, waitForAsync, waitForSync, wake, type WaitWord } from './wait.js';

const SPEC: ObjectSpec<unknown> = {
  kind: Kind.RwLock,
  version: RWLOCK_VERSION,
  what: 'RwLock',
  checkOptions: checkSpinOption,
  byteLength: () => RWLOCK_LENGTH,
  initFields: () => {},
};

/**
 * Counters and state of a RwLock (a snapshot), kept in its shared memory by
 * every process that uses it. Counters are u32 and wrap at 2^32: take rates
 * from differences modulo 2^32 (`(b - a) >>> 0`). A lock made by an earlier
 * shmkit build starts them at 0.
 */
export interface RwLockStats {
  /** Read locks taken (wraps at 2^32). */
  reads: number;
  /** Write locks taken (wraps at 2^32). */
  writes: number;
  /** Locks of either kind taken after waiting (spinning or parked). */
  contended: number;
  /** Readers holding the lock now. */
  readers: number;
  /** Whether a writer holds it now. */
  writer: boolean;
  /** The writing process's pid (0: none, or not yet stored). */
  writerPid: number;
  /** Writers waiting for it now. */
  writersWaiting: number;
  /** Threads parked on it now (readers and writers). */
  waiting: number;
}

const AS_READER = 0;
const AS_WRITER = 1;
const PID = process.pid;

/** A cross-process readers-writer lock. */
export class RwLock extends SharedObject {
  readonly #cells: Int32Array;
  readonly #word: WaitWord;
  readonly #spin: SpinBudget;
  // What this handle holds, so unlock() knows which side to release.
  #reads = 0;
  #writing = false;

  private constructor(buffer: SharedArrayBuffer, byteOffset: number, segment: Segment | null, options?: SpinOptions) {
    super(buffer, byteOffset, segment, 'RwLock');
    this.#cells = new Int32Array(buffer, byteOffset, RWLOCK_LENGTH / 4);
    this.#word = { cells: this.#cells, word: STATE, waiters: WAITERS, subject: this.subject };
    this.#spin = new SpinBudget(parseSpin(options));
  }

  /** Bytes an embedded RwLock occupies (128; offsets must be multiples of 8). */
  static byteLength(): number {
    return RWLOCK_LENGTH;
  }

  /** Formats a new RwLock at `byteOffset` of `buffer` (a multiple of 8) and returns a handle. */
  static init(buffer: SharedArrayBuffer, byteOffset: number, options?: SpinOptions): RwLock {
    initObject(SPEC, buffer, byteOffset, options);
    return new RwLock(buffer, byteOffset, null, options);
  }

  /** Uses a RwLock formatted by anyone (another process, C code) at `byteOffset` of `buffer`. */
  static attach(buffer: SharedArrayBuffer, byteOffset: number, options?: SpinOptions): RwLock {
    checkSpinOption(options);
    attachObject(SPEC, buffer, byteOffset);
    return new RwLock(buffer, byteOffset, null, options);
  }

  /** Creates a named RwLock (`EEXIST` if the name exists). */
  static create(name: string, options?: NamedCreateOptions & NamedOpenOptions & SpinOptions): RwLock {
    return adoptNamed(createNamed(SPEC, name, options), (seg) => new RwLock(seg.buffer, 0, seg, options), true);
  }

  /** Opens a named RwLock (`ENOENT` if missing, `ERR_SHMKIT_BAD_LAYOUT` if the name holds something else). */
  static open(name: string, options?: SpinOptions & NamedOpenOptions): RwLock {
    checkSpinOption(options);
    return adoptNamed(openNamed(SPEC, name, options), (seg) => new RwLock(seg.buffer, 0, seg, options));
  }

  /** Opens the named RwLock, creating it if missing; geometry options given must match an existing one (`ERR_SHMKIT_MISMATCH`). */
  static openOrCreate(name: string, options?: NamedCreateOptions & NamedOpenOptions & SpinOptions): RwLock {
    return adoptNamed(openOrCreateNamed(SPEC, name, options), (seg) => new RwLock(seg.buffer, 0, seg, options));
  }

  /** Removes the name of a RwLock (only a RwLock: another kind is `ERR_SHMKIT_BAD_LAYOUT`; `Segment.unlink` removes anything). */
  static unlink(name: string): void {
    unlinkNamed(SPEC as ObjectSpec<never>, name);
  }

  /** Readers holding the lock and whether a writer holds it (a snapshot). */
  get state(): { readers: number; writer: boolean; writersWaiting: number } {
    if (this.closed) throw this.closedError();
    const s = Atomics.load(this.#cells, STATE);
    return { readers: s & READERS_MASK, writer: (s & WRITER) !== 0, writersWaiting: Atomics.load(this.#cells, WRITERS_WAITING) };
  }

  /** A snapshot of the lock's counters and state (RwLockStats). */
  stats(): RwLockStats {
    if (this.closed) throw this.closedError();
    const cells = this.#cells;
    const s = Atomics.load(cells, STATE);
    return {
      reads: Atomics.load(cells, READS) >>> 0,
      writes: Atomics.load(cells, WRITES) >>> 0,
      contended: Atomics.load(cells, CONTENDED) >>> 0,
      readers: s & READERS_MASK,
      writer: (s & WRITER) !== 0,
      writerPid: Atomics.load(cells, WRITER_PID),
      writersWaiting: Atomics.load(cells, WRITERS_WAITING),
      waiting: Atomics.load(cells, WAITERS),
    };
  }

  /** Takes a read lock if no writer holds or waits for the lock; never waits. */
  tryRead(): boolean {
    if (this.closed) throw this.closedError();
    if (!this.#tryRead()) return false;
    this.#readTaken();
    return true;
  }

  /** Takes a read lock, blocking the thread while a writer holds or waits for it. */
  readSync(options?: WaitOptions): void {
    if (this.closed) throw this.closedError();
    const { timeout } = parseWait(options);
    if (!this.#tryRead()) {
      waitForSync(this, AS_READER, this.#word, this.#spin, timeout, 'readSync()');
      this.#countContended();
    }
    this.#readTaken();
  }

  /** Takes a read lock without blocking the event loop. */
  async read(options?: WaitOptions): Promise<void> {
    if (this.closed) throw this.closedError();
    const { timeout, signal } = parseWait(options);
    signal?.throwIfAborted();
    if (!this.#tryRead()) {
      const parked = waitForAsync(this, AS_READER, this.#word, this.#spin, timeout, signal, 'read()');
      if (parked !== undefined) await parked;
      this.#countContended();
    }
    this.#readTaken();
  }

  /** Takes the write lock if nobody holds the lock; never waits. */
  tryWrite(): boolean {
    if (this.closed) throw this.closedError();
    if (!this.#tryWrite(false)) return false;
    this.#wrote();
    return true;
  }

  /** Takes the write lock, blocking the thread until readers and the writer are out. */
  writeSync(options?: WaitOptions): void {
    if (this.closed) throw this.closedError();
    const { timeout } = parseWait(options);
    if (!this.#tryWrite(false)) {
      this.#announceWriter();
      try {
        waitForSync(this, AS_WRITER, this.#word, this.#spin, timeout, 'writeSync()');
      } finally {
        this.#retireWriter();
      }
      this.#countContended();
    }
    this.#wrote();
  }

  /** Takes the write lock without blocking the event loop. */
  async write(options?: WaitOptions): Promise<void> {
    if (this.closed) throw this.closedError();
    const { timeout, signal } = parseWait(options);
    signal?.throwIfAborted();
    if (!this.#tryWrite(false)) {
      this.#announceWriter();
      try {
        const parked = waitForAsync(this, AS_WRITER, this.#word, this.#spin, timeout, signal, 'write()');
        if (parked !== undefined) await parked;
      } finally {
        this.#retireWriter();
      }
      this.#countContended();
    }
    this.#wrote();
  }

  /** Releases what this handle holds (the write lock, or one read lock). */
  unlock(): void {
    if (this.closed) throw this.closedError();
    if (this.#writing) this.#releaseWrite();
    else if (this.#reads > 0) this.#releaseRead();
    else throw ownError('EPERM', this.subject, 'unlock(): this handle holds neither a read nor the write lock');
  }

  /** Runs `fn` holding a read lock (taken with `read(options)`), and always releases it. */
  async withReadLock<T>(fn: () => T | Promise<T>, options?: WaitOptions): Promise<T> {
    if (this.closed) throw this.closedError();
    if (typeof fn !== 'function') throw invalidArgType('fn', 'of type function', fn);
    await this.read(options);
    try {
      return await fn();
    } finally {
      if (!this.closed) this.#releaseRead(); // close() released it already
    }
  }

  /** Runs `fn` holding a read lock (taken with `readSync(options)`), and always releases it. */
  withReadLockSync<T>(fn: () => T, options?: WaitOptions): T {
    if (this.closed) throw this.closedError();
    if (typeof fn !== 'function') throw invalidArgType('fn', 'of type function', fn);
    this.readSync(options);
    try {
      return fn();
    } finally {
      if (!this.closed) this.#releaseRead();
    }
  }

  /** Runs `fn` holding the write lock (taken with `write(options)`), and always releases it. */
  async withWriteLock<T>(fn: () => T | Promise<T>, options?: WaitOptions): Promise<T> {
    if (this.closed) throw this.closedError();
    if (typeof fn !== 'function') throw invalidArgType('fn', 'of type function', fn);
    await this.write(options);
    try {
      return await fn();
    } finally {
      if (!this.closed && this.#writing) this.#releaseWrite();
    }
  }

  /** Runs `fn` holding the write lock (taken with `writeSync(options)`), and always releases it. */
  withWriteLockSync<T>(fn: () => T, options?: WaitOptions): T {
    if (this.closed) throw this.closedError();
    if (typeof fn !== 'function') throw invalidArgType('fn', 'of type function', fn);
    this.writeSync(options);
    try {
      return fn();
    } finally {
      if (!this.closed && this.#writing) this.#releaseWrite();
    }
  }

  /**
   * Releases the handle. Locks this handle still holds (the write lock, read
   * locks) are released first, so closing never strands other processes.
   */
  override close(): void {
    if (this.closed) return;
    if (this.#writing) this.#releaseWrite();
    while (this.#reads > 0) this.#releaseRead();
    super.close();
  }

  #releaseWrite(): void {
    const cells = this.#cells;
    this.#writing = false;
    cells[WRITER_PID] = 0;
    // Keep WRITER_WAITING (a queued writer still has priority), drop WRITER.
    for (;;) {
      const s = Atomics.load(cells, STATE);
      if (Atomics.compareExchange(cells, STATE, s, s & WRITER_WAITING) === s) break;
    }
    if (Atomics.load(cells, WAITERS) !== 0) wake(cells, STATE, 0);
  }

  #releaseRead(): void {
    const cells = this.#cells;
    this.#reads--;
    const before = Atomics.sub(cells, STATE, 1);
    // The last reader out lets a waiting writer in.
    if ((before & READERS_MASK) === 1 && (before & WRITER_WAITING) !== 0 && Atomics.load(cells, WAITERS) !== 0) {
      wake(cells, STATE, 0);
    }
  }

  /** @internal One try, as a reader or as a (registered) writer. */
  attempt(as: number): boolean {
    return as === AS_READER ? this.#tryRead() : this.#tryWrite(true);
  }

  #tryRead(): boolean {
    const cells = this.#cells;
    let s = Atomics.load(cells, STATE);
    while ((s & (WRITER | WRITER_WAITING)) === 0 && (s & READERS_MASK) < READERS_MASK) {
      const was = Atomics.compareExchange(cells, STATE, s, s + 1);
      if (was === s) return true;
      s = was;
    }
    return false;
  }

  // A registered writer counts itself in WRITERS_WAITING; the bit stays set
  // for whoever still waits after it gets in.
  #tryWrite(registered: boolean): boolean {
    const cells = this.#cells;
    for (;;) {
      const s = Atomics.load(cells, STATE);
      if ((s & (WRITER | READERS_MASK)) !== 0) {
        if (registered && (s & WRITER_WAITING) === 0) Atomics.compareExchange(cells, STATE, s, s | WRITER_WAITING);
        return false;
      }
      const others = Atomics.load(cells, WRITERS_WAITING) - (registered ? 1 : 0);
      const next = WRITER | (others > 0 ? WRITER_WAITING : 0);
      if (Atomics.compareExchange(cells, STATE, s, next) === s) return true;
    }
  }

  #announceWriter(): void {
    const cells = this.#cells;
    Atomics.add(cells, WRITERS_WAITING, 1);
    for (;;) {
      const s = Atomics.load(cells, STATE);
      if ((s & WRITER_WAITING) !== 0 || Atomics.compareExchange(cells, STATE, s, s | WRITER_WAITING) === s) return;
    }
  }

  // After getting in or giving up: if no writer waits any more, let readers
  // in again (and wake them).
  #retireWriter(): void {
    const cells = this.#cells;
    if (Atomics.sub(cells, WRITERS_WAITING, 1) !== 1) return;
    for (;;) {
      const s = Atomics.load(cells, STATE);
      if ((s & WRITER_WAITING) === 0) return;
      if (Atomics.load(cells, WRITERS_WAITING) !== 0) return; // a new writer came
      if (Atomics.compareExchange(cells, STATE, s, s & ~WRITER_WAITING) === s) break;
    }
    if (Atomics.load(cells, WAITERS) !== 0) wake(cells, STATE, 0);
  }

  // A write lock taken: ours alone, so the counter is a plain increment
  // (published by the release CAS), on the line the taking CAS just wrote.
  #wrote(): void {
    this.#writing = true;
    const cells = this.#cells;
    cells[WRITER_PID] = PID;
    cells[WRITES] = ((cells[WRITES] as number) + 1) | 0;
  }

  // A read lock taken: other readers may count at the same instant (an
  // atomic add, on the line the taking CAS just wrote).
  #readTaken(): void {
    this.#reads++;
    Atomics.add(this.#cells, READS, 1);
  }

  // A lock of either kind taken after waiting (slow path).
  #countContended(): void {
    Atomics.add(this.#cells, CONTENDED, 1);
  }
}
