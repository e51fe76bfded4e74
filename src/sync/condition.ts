/**
 * Condition: wait for a state change protected by a shmkit Mutex, across
 * processes. As with every condition variable, wake-ups can be spurious (a
 * notify(1) may release more than one waiter): always wait in a loop that
 * re-checks the predicate.
 */
import { Kind } from '../layout/header.js';
import { checkInteger, isInstance } from '../args.js';
import { type ShmkitError, invalidArgType, ownError } from '../errors.js';
import { Segment } from '../segment/segment.js';
import { BROADCASTS, CONDITION_LENGTH, CONDITION_VERSION, PARKED_WAITS, SEQ, WAITERS } from './condition-layout.js';
import { Mutex, type LockResult } from './mutex.js';
import { SharedObject } from '../object/shared-object.js';
import { adoptNamed, attachObject, createNamed, initObject, openNamed, openOrCreateNamed, type NamedCreateOptions, type NamedOpenOptions, type ObjectSpec, unlinkNamed } from '../object/named.js';
import { checkSpinOption, parseSpin, parseWait, type SpinOptions, type WaitOptions } from './options.js';
import { SpinBudget, waitForAsync, waitForSync, wake, type WaitWord } from './wait.js';

const SPEC: ObjectSpec<unknown> = {
  kind: Kind.Condition,
  version: CONDITION_VERSION,
  what: 'Condition',
  checkOptions: checkSpinOption,
  byteLength: () => CONDITION_LENGTH,
  initFields: () => {},
};

/**
 * Counters of a Condition (a snapshot), kept in its shared memory by every
 * process that uses it. Counters are u32 and wrap at 2^32: take rates from
 * differences modulo 2^32 (`(b - a) >>> 0`). A condition made by an
 * earlier shmkit build starts parkedWaits and broadcasts at 0.
 */
export interface ConditionStats {
  /** notify() and notifyAll() calls (SEQ; wraps at 2^32). */
  notifications: number;
  /** Of those, notifyAll() calls. */
  broadcasts: number;
  /** wait()/waitSync() calls that parked (a wait the spin ended is not counted). */
  parkedWaits: number;
  /** Threads parked now. */
  waiting: number;
}

/** A cross-process condition variable. */
export class Condition extends SharedObject {
  readonly #cells: Int32Array;
  readonly #word: WaitWord;
  readonly #spin: SpinBudget;

  private constructor(buffer: SharedArrayBuffer, byteOffset: number, segment: Segment | null, options?: SpinOptions) {
    super(buffer, byteOffset, segment, 'Condition');
    this.#cells = new Int32Array(buffer, byteOffset, CONDITION_LENGTH / 4);
    this.#word = { cells: this.#cells, word: SEQ, waiters: WAITERS, subject: this.subject, parks: PARKED_WAITS };
    this.#spin = new SpinBudget(parseSpin(options));
  }

  /** Bytes an embedded Condition occupies (128; offsets must be multiples of 8). */
  static byteLength(): number {
    return CONDITION_LENGTH;
  }

  /** Formats a new Condition at `byteOffset` of `buffer` (a multiple of 8) and returns a handle. */
  static init(buffer: SharedArrayBuffer, byteOffset: number, options?: SpinOptions): Condition {
    initObject(SPEC, buffer, byteOffset, options);
    return new Condition(buffer, byteOffset, null, options);
  }

  /** Uses a Condition formatted by anyone (another process, C code) at `byteOffset` of `buffer`. */
  static attach(buffer: SharedArrayBuffer, byteOffset: number, options?: SpinOptions): Condition {
    checkSpinOption(options);
    attachObject(SPEC, buffer, byteOffset);
    return new Condition(buffer, byteOffset, null, options);
  }

  /** Creates a named Condition (`EEXIST` if the name exists). */
  static create(name: string, options?: NamedCreateOptions & NamedOpenOptions & SpinOptions): Condition {
    return adoptNamed(createNamed(SPEC, name, options), (seg) => new Condition(seg.buffer, 0, seg, options), true);
  }

  /** Opens a named Condition (`ENOENT` if missing, `ERR_SHMKIT_BAD_LAYOUT` if the name holds something else). */
  static open(name: string, options?: SpinOptions & NamedOpenOptions): Condition {
    checkSpinOption(options);
    return adoptNamed(openNamed(SPEC, name, options), (seg) => new Condition(seg.buffer, 0, seg, options));
  }

  /** Opens the named Condition, creating it if missing; geometry options given must match an existing one (`ERR_SHMKIT_MISMATCH`). */
  static openOrCreate(name: string, options?: NamedCreateOptions & NamedOpenOptions & SpinOptions): Condition {
    return adoptNamed(openOrCreateNamed(SPEC, name, options), (seg) => new Condition(seg.buffer, 0, seg, options));
  }

  /** Removes the name of a Condition (only a Condition: another kind is `ERR_SHMKIT_BAD_LAYOUT`; `Segment.unlink` removes anything). */
  static unlink(name: string): void {
    unlinkNamed(SPEC as ObjectSpec<never>, name);
  }

  /**
   * Atomically unlocks `mutex` (which this thread must hold) and blocks until
   * notified, then locks it again before returning (also on timeout, which
   * then throws ETIMEDOUT with the mutex held). Returns the re-lock result.
   */
  waitSync(mutex: Mutex, options?: WaitOptions): LockResult {
    if (this.closed) throw this.closedError();
    if (!isInstance(mutex, Mutex)) throw invalidArgType('mutex', 'an instance of Mutex', mutex);
    const { timeout } = parseWait(options);
    const seq = Atomics.load(this.#cells, SEQ);
    this.#release(mutex, 'waitSync()');
    let failure: unknown;
    try {
      waitForSync(this, seq, this.#word, this.#spin, timeout, 'waitSync()');
    } catch (err) {
      failure = err;
    }
    // Re-lock even when the wait failed: callers always hold the mutex after.
    const relock = mutex.lockSync();
    if (failure !== undefined) throw failure;
    return relock;
  }

  /** The async form of waitSync: the event loop runs while it waits. */
  async wait(mutex: Mutex, options?: WaitOptions): Promise<LockResult> {
    if (this.closed) throw this.closedError();
    if (!isInstance(mutex, Mutex)) throw invalidArgType('mutex', 'an instance of Mutex', mutex);
    const { timeout, signal } = parseWait(options);
    signal?.throwIfAborted();
    const seq = Atomics.load(this.#cells, SEQ);
    this.#release(mutex, 'wait()');
    let failure: unknown;
    try {
      const parked = waitForAsync(this, seq, this.#word, this.#spin, timeout, signal, 'wait()');
      if (parked !== undefined) await parked;
    } catch (err) {
      failure = err;
    }
    const relock = await mutex.lock();
    if (failure !== undefined) throw failure;
    return relock;
  }

  /** A snapshot of the counters (ConditionStats). */
  stats(): ConditionStats {
    if (this.closed) throw this.closedError();
    const cells = this.#cells;
    return {
      notifications: Atomics.load(cells, SEQ) >>> 0,
      broadcasts: Atomics.load(cells, BROADCASTS) >>> 0,
      parkedWaits: Atomics.load(cells, PARKED_WAITS) >>> 0,
      waiting: Atomics.load(cells, WAITERS),
    };
  }

  /** Wakes at least one waiter (if any), up to `n`. */
  notify(n = 1): void {
    if (this.closed) throw this.closedError();
    checkInteger('n', n, 1, 0x7fffffff);
    const cells = this.#cells;
    Atomics.add(cells, SEQ, 1);
    if (Atomics.load(cells, WAITERS) !== 0) wake(cells, SEQ, n);
  }

  /** Wakes every waiter. */
  notifyAll(): void {
    if (this.closed) throw this.closedError();
    const cells = this.#cells;
    Atomics.add(cells, SEQ, 1);
    Atomics.add(cells, BROADCASTS, 1); // beside SEQ, just written
    if (Atomics.load(cells, WAITERS) !== 0) wake(cells, SEQ, 0);
  }

  // Unlocks `mutex`; EPERM, with nothing changed, if this thread does not
  // hold it (the message names this Condition and the Mutex).
  #release(mutex: Mutex, call: string): void {
    try {
      mutex.unlock();
    } catch (err) {
      if ((err as ShmkitError).code !== 'EPERM') throw err;
      throw ownError('EPERM', this.subject, `${call}: the mutex must be held (${(err as Error).message})`);
    }
  }

  /** @internal The wait is over once SEQ moved past the value read under the mutex. */
  attempt(seq: number): boolean {
    return Atomics.load(this.#cells, SEQ) !== seq;
  }
}
