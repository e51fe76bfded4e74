/**
 * Mutex: a cross-process, cross-thread lock that survives its holder's death.
 *
 * Uncontended lock and unlock are a compare-and-swap plus a few stores to
 * link the lock into this thread's robust list (see robust.ts): no syscall.
 * When the holder dies, the kernel marks the lock OWNER_DIED and wakes a
 * waiter, who acquires it and is told `ownerDied: true` (as pthread robust
 * mutexes report EOWNERDEAD). The protected data may be half-updated then:
 * check or repair it before relying on it.
 */
import { native } from '../binding.js';
import { Kind } from '../layout/header.js';
import { ShmkitError, invalidArgType, ownError } from '../errors.js';
import { Segment } from '../segment/segment.js';
import {
  ACQUISITIONS, CONTENDED, MUTEX_LENGTH, MUTEX_ROBUST_NEXT_OFFSET, MUTEX_VERSION, OWNER, OWNER_DIED, OWNER_DIED_COUNT, ROBUST_NEXT, TID_MASK, WAITERS_BIT, WORD,
} from './mutex-layout.js';
import { SharedObject } from '../object/shared-object.js';
import { adoptNamed, attachObject, createNamed, initObject, openNamed, openOrCreateNamed, type NamedCreateOptions, type NamedOpenOptions, type ObjectSpec, unlinkNamed } from '../object/named.js';
import { checkSpinOption, parseSpin, parseWait, type SpinOptions, type WaitOptions } from './options.js';
import { lockingTid, robustEntry, robustList, type RobustEntry, type RobustList } from './robust.js';
import { FOREVER, POLLS_PER_CLOCK, QUICK_POLLS, SpinBudget, msLeft, parkAsync, parkSync, timeoutError, wake } from './wait.js';

/** What a successful lock reports. */
export interface LockResult {
  /**
   * True when the previous holder died while holding the lock: the data it
   * protects may be inconsistent. The lock is yours and works normally.
   */
  readonly ownerDied: boolean;
}

/**
 * Counters of a Mutex (a snapshot), kept in its shared memory by every
 * process that locks it with shmkit (a C peer may keep them too, or not).
 * Counters are u32 and wrap at 2^32: take rates from differences modulo
 * 2^32 (`(b - a) >>> 0`). A mutex made by an earlier shmkit build starts
 * them at 0.
 */
export interface MutexStats {
  /** Locks taken (wraps at 2^32). */
  acquisitions: number;
  /** Locks taken after waiting for a holder (spinning or parked). */
  contended: number;
  /** Locks taken from a holder that had died holding it (`ownerDied: true`). */
  ownerDied: number;
  /** The holder's process id and thread id, or null when free. */
  holder: { pid: number; tid: number } | null;
  /** Whether a thread may be parked waiting (the FUTEX_WAITERS bit). */
  waiting: boolean;
}

const ACQUIRED: LockResult = Object.freeze({ ownerDied: false });
const RECOVERED: LockResult = Object.freeze({ ownerDied: true });
const PID = process.pid;

const SPEC: ObjectSpec<unknown> = {
  kind: Kind.Mutex,
  version: MUTEX_VERSION,
  what: 'Mutex',
  checkOptions: checkSpinOption,
  byteLength: () => MUTEX_LENGTH,
  initFields: () => {}, // all zero: free
};

function notOwner(subject: string): ShmkitError {
  return ownError('EPERM', subject, 'unlock(): this thread does not hold the mutex');
}

function deadlock(subject: string): ShmkitError {
  return ownError('EDEADLK', subject, 'lockSync(): this thread already holds the mutex (it is not recursive)');
}

/** A robust cross-process mutex. */
export class Mutex extends SharedObject {
  readonly #cells: Int32Array;
  readonly #link: RobustEntry;
  readonly #spin: SpinBudget;
  // Whether this handle took the lock (close() releases only that).
  #held = false;

  private constructor(buffer: SharedArrayBuffer, byteOffset: number, segment: Segment | null, options?: SpinOptions) {
    super(buffer, byteOffset, segment, 'Mutex');
    this.#cells = new Int32Array(buffer, byteOffset, MUTEX_LENGTH / 4);
    this.#link = robustEntry(this.#cells, ROBUST_NEXT, native.addressOf(buffer) + byteOffset + MUTEX_ROBUST_NEXT_OFFSET);
    this.#spin = new SpinBudget(parseSpin(options));
  }

  /** Bytes an embedded Mutex occupies (offsets must be multiples of 8). */
  static byteLength(): number {
    return MUTEX_LENGTH;
  }

  /** Formats an unlocked Mutex at `byteOffset` of `buffer`. */
  static init(buffer: SharedArrayBuffer, byteOffset: number, options?: SpinOptions): Mutex {
    initObject(SPEC, buffer, byteOffset, options);
    return new Mutex(buffer, byteOffset, null, options);
  }

  /** Uses a Mutex formatted by anyone (another process, C code) at `byteOffset`. */
  static attach(buffer: SharedArrayBuffer, byteOffset: number, options?: SpinOptions): Mutex {
    checkSpinOption(options);
    attachObject(SPEC, buffer, byteOffset);
    return new Mutex(buffer, byteOffset, null, options);
  }

  /** Creates a named Mutex (`EEXIST` if the name exists). */
  static create(name: string, options?: NamedCreateOptions & NamedOpenOptions & SpinOptions): Mutex {
    return adoptNamed(createNamed(SPEC, name, options), (seg) => new Mutex(seg.buffer, 0, seg, options), true);
  }

  /** Opens a named Mutex (`ENOENT` if missing, `ERR_SHMKIT_BAD_LAYOUT` if the name holds something else). */
  static open(name: string, options?: SpinOptions & NamedOpenOptions): Mutex {
    checkSpinOption(options);
    return adoptNamed(openNamed(SPEC, name, options), (seg) => new Mutex(seg.buffer, 0, seg, options));
  }

  /** Opens the named Mutex, creating it if missing; geometry options given must match an existing one (`ERR_SHMKIT_MISMATCH`). */
  static openOrCreate(name: string, options?: NamedCreateOptions & NamedOpenOptions & SpinOptions): Mutex {
    return adoptNamed(openOrCreateNamed(SPEC, name, options), (seg) => new Mutex(seg.buffer, 0, seg, options));
  }

  /** Removes the name of a Mutex (only a Mutex: another kind is `ERR_SHMKIT_BAD_LAYOUT`; `Segment.unlink` removes anything). */
  static unlink(name: string): void {
    unlinkNamed(SPEC as ObjectSpec<never>, name);
  }

  /** Whether anyone holds the lock right now (a snapshot). */
  get locked(): boolean {
    if (this.closed) throw this.closedError();
    return (Atomics.load(this.#cells, WORD) & TID_MASK) !== 0;
  }

  /** The holder's process id and thread id, or null when free (a snapshot). */
  get holder(): { pid: number; tid: number } | null {
    if (this.closed) throw this.closedError();
    const tid = Atomics.load(this.#cells, WORD) & TID_MASK;
    return tid === 0 ? null : { pid: Atomics.load(this.#cells, OWNER), tid };
  }

  /** A snapshot of the lock's counters and holder (MutexStats). */
  stats(): MutexStats {
    if (this.closed) throw this.closedError();
    const cells = this.#cells;
    const word = Atomics.load(cells, WORD);
    const tid = word & TID_MASK;
    return {
      acquisitions: Atomics.load(cells, ACQUISITIONS) >>> 0,
      contended: Atomics.load(cells, CONTENDED) >>> 0,
      ownerDied: Atomics.load(cells, OWNER_DIED_COUNT) >>> 0,
      holder: tid === 0 ? null : { pid: Atomics.load(cells, OWNER), tid },
      waiting: (word & WAITERS_BIT) !== 0,
    };
  }

  /** Takes the lock if it is free; never waits. Returns the result, or false. */
  tryLock(): LockResult | false {
    if (this.closed) throw this.closedError();
    const list = robustList();
    // The usual case first: free and clean, taken by the CAS alone (no load before it).
    if (this.#acquire(list, 0, list.tid)) return ACQUIRED;
    const v = Atomics.load(this.#cells, WORD);
    if ((v & TID_MASK) !== 0 || !this.#acquire(list, v, list.tid | (v & WAITERS_BIT))) return false;
    return (v & OWNER_DIED) !== 0 ? RECOVERED : ACQUIRED;
  }

  /** Blocks the thread until the lock is taken. Throws EDEADLK if this thread holds it. */
  lockSync(options?: WaitOptions): LockResult {
    if (this.closed) throw this.closedError();
    const { timeout } = parseWait(options);
    const list = robustList();
    if (this.#acquire(list, 0, list.tid)) return ACQUIRED;
    return this.#lockSlowSync(list, timeout);
  }

  /**
   * Takes the lock without blocking the event loop. Another async context of
   * this same thread holding it is waited for (it is not a deadlock here).
   */
  async lock(options?: WaitOptions): Promise<LockResult> {
    if (this.closed) throw this.closedError();
    const { timeout, signal } = parseWait(options);
    signal?.throwIfAborted();
    const list = robustList();
    if (this.#acquire(list, 0, list.tid)) return ACQUIRED;
    // Spin right here: only a lock that must park pays for a second promise.
    const t0 = performance.now();
    return this.#spinAcquire(list, t0) ?? this.#parkAsync(list, t0, timeout, signal);
  }

  /** Releases the lock. Throws EPERM if this thread does not hold it. */
  unlock(): void {
    if (this.closed) throw this.closedError();
    const cells = this.#cells;
    const list = robustList();
    const tid = list.tid;
    // A plain read: only this thread writes these TID bits while it holds
    // the lock (a waiter's CAS sets WAITERS only), and the CAS below decides.
    if (((cells[WORD] as number) & TID_MASK) !== tid) throw notOwner(this.subject);
    this.#held = false;
    list.setPending(this.#link);
    list.unlink(this.#link);
    cells[OWNER] = 0;
    // release: everything written under the lock is visible to the next holder
    if (Atomics.compareExchange(cells, WORD, tid, 0) !== tid) {
      Atomics.store(cells, WORD, 0); // WAITERS was set: clear it and wake one
      wake(cells, WORD, 1);
    }
    list.clearPending();
  }

  /** Runs `fn` holding the lock (async), and always unlocks. */
  async withLock<T>(fn: (result: LockResult) => T | Promise<T>, options?: WaitOptions): Promise<T> {
    if (this.closed) throw this.closedError();
    if (typeof fn !== 'function') throw invalidArgType('fn', 'of type function', fn);
    const result = await this.lock(options);
    try {
      return await fn(result);
    } finally {
      if (!this.closed) this.unlock(); // close() unlocked it already
    }
  }

  /** Runs `fn` holding the lock (blocking), and always unlocks. */
  withLockSync<T>(fn: (result: LockResult) => T, options?: WaitOptions): T {
    if (this.closed) throw this.closedError();
    if (typeof fn !== 'function') throw invalidArgType('fn', 'of type function', fn);
    const result = this.lockSync(options);
    try {
      return fn(result);
    } finally {
      if (!this.closed) this.unlock(); // close() unlocked it already
    }
  }

  /**
   * Releases the handle. If this handle took the lock and this thread still
   * holds it, it is unlocked first, so closing never strands other processes.
   */
  override close(): void {
    if (this.closed) return;
    const tid = lockingTid();
    if (this.#held && tid !== 0 && (Atomics.load(this.#cells, WORD) & TID_MASK) === tid) this.unlock();
    super.close();
  }

  // One CAS from `from` to `to`, bracketed by the robust list's pending slot
  // so a death at any instant leaves the kernel able to release the lock.
  #acquire(list: RobustList, from: number, to: number): boolean {
    list.setPending(this.#link);
    if (Atomics.compareExchange(this.#cells, WORD, from, to) !== from) {
      list.clearPending();
      return false;
    }
    list.link(this.#link);
    list.clearPending();
    const cells = this.#cells;
    cells[OWNER] = PID;
    // Statistics: ours alone while we hold the lock, on the line the CAS
    // just took (plain stores, published by the unlock's release).
    cells[ACQUISITIONS] = ((cells[ACQUISITIONS] as number) + 1) | 0;
    if ((from & OWNER_DIED) !== 0) cells[OWNER_DIED_COUNT] = ((cells[OWNER_DIED_COUNT] as number) + 1) | 0;
    this.#held = true;
    return true;
  }

  // Counts a lock taken after waiting (we hold it: a plain increment).
  #countContended(): void {
    const cells = this.#cells;
    cells[CONTENDED] = ((cells[CONTENDED] as number) + 1) | 0;
  }

  // Polls for a free lock for the adaptive spin window. Returns the result,
  // or null if the window passed (or spinning cannot help: the holder is
  // another async context of this very thread).
  #spinAcquire(list: RobustList, t0: number): LockResult | null {
    const cells = this.#cells;
    const tid = list.tid;
    if ((Atomics.load(cells, WORD) & TID_MASK) === tid) return null;
    const spin = this.#spin;
    // Free but not 0 (OWNER_DIED or WAITERS left set): taken without waiting, not contended.
    const v0 = Atomics.load(cells, WORD);
    if ((v0 & TID_MASK) === 0 && this.#acquire(list, v0, tid | (v0 & WAITERS_BIT))) {
      spin.record(0);
      return (v0 & OWNER_DIED) !== 0 ? RECOVERED : ACQUIRED;
    }
    if (spin.enabled) {
      for (let i = 0; i < QUICK_POLLS; i++) {
        const v = Atomics.load(cells, WORD);
        if ((v & TID_MASK) === 0 && this.#acquire(list, v, tid | (v & WAITERS_BIT))) {
          spin.record(0);
          this.#countContended();
          return (v & OWNER_DIED) !== 0 ? RECOVERED : ACQUIRED;
        }
      }
    }
    const spinEnd = t0 + spin.window();
    do {
      for (let i = 0; i < POLLS_PER_CLOCK; i++) {
        const v = Atomics.load(cells, WORD);
        if ((v & TID_MASK) === 0 && this.#acquire(list, v, tid | (v & WAITERS_BIT))) {
          spin.record(performance.now() - t0);
          this.#countContended();
          return (v & OWNER_DIED) !== 0 ? RECOVERED : ACQUIRED;
        }
      }
    } while (performance.now() < spinEnd);
    return null;
  }

  // One step of the parked phase: acquires (returning the result), or makes
  // sure WAITERS is set and returns the word value to park on (a number).
  #parkStep(list: RobustList, t0: number): LockResult | number {
    const cells = this.#cells;
    for (;;) {
      const v = Atomics.load(cells, WORD);
      if ((v & TID_MASK) === 0) {
        // We may have been parked beside others: keep WAITERS so our unlock wakes them.
        if (this.#acquire(list, v, list.tid | WAITERS_BIT)) {
          this.#spin.record(performance.now() - t0);
          this.#countContended();
          return (v & OWNER_DIED) !== 0 ? RECOVERED : ACQUIRED;
        }
        continue;
      }
      if ((v & WAITERS_BIT) !== 0) return v;
      if (Atomics.compareExchange(cells, WORD, v, v | WAITERS_BIT) === v) return v | WAITERS_BIT;
    }
  }

  #lockSlowSync(list: RobustList, timeout: number): LockResult {
    if ((Atomics.load(this.#cells, WORD) & TID_MASK) === list.tid) throw deadlock(this.subject);
    const t0 = performance.now();
    const spun = this.#spinAcquire(list, t0);
    if (spun !== null) return spun;
    const deadline = timeout < 0 ? FOREVER : t0 + timeout;
    for (;;) {
      const step = this.#parkStep(list, t0);
      if (typeof step !== 'number') return step;
      const left = msLeft(deadline);
      if (left === 0) throw timeoutError(`${this.subject}: lockSync()`, timeout);
      parkSync(this.#cells, WORD, step, left);
    }
  }

  async #parkAsync(list: RobustList, t0: number, timeout: number, signal: AbortSignal | undefined): Promise<LockResult> {
    const cells = this.#cells;
    const deadline = timeout < 0 ? FOREVER : t0 + timeout;
    for (;;) {
      const step = this.#parkStep(list, t0);
      if (typeof step !== 'number') return step;
      const left = msLeft(deadline);
      if (left === 0) throw timeoutError(`${this.subject}: lock()`, timeout);
      try {
        await parkAsync(cells, WORD, step, left, signal);
        signal?.throwIfAborted();
      } catch (err) {
        // An unlock may have woken us (and cleared WAITERS): pass it on.
        wake(cells, WORD, 1);
        throw err;
      }
    }
  }
}

/**
 * @internal The contended path of an object's own lock (named `lockName` in
 * the message) (a Dict's write
 * lock, a Topic's publisher lock): `lockSync` bounded by `timeout` ms
 * (FOREVER: no bound). Past it, ETIMEDOUT names `subject` (the object and
 * the call, not the embedded Mutex) and the holder, with neither errno nor
 * syscall (shmkit's own deadline). Allocates only here, not on the
 * uncontended `tryLock()` path its callers take first.
 */
export function lockContended(lock: Mutex, timeout: number, subject: string, lockName: string, path: string | undefined): LockResult {
  try {
    return lock.lockSync(timeout === FOREVER ? undefined : { timeout });
  } catch (err) {
    if ((err as ShmkitError).code !== 'ETIMEDOUT') throw err;
    const h = lock.holder;
    const holder = h === null ? '' : ` (held by pid ${h.pid}, thread ${h.tid})`;
    throw ownError('ETIMEDOUT', subject, `${lockName} was not free within ${timeout} ms${holder}; a holder that is stopped (SIGSTOP, a debugger) keeps it until it runs again`, path);
  }
}
