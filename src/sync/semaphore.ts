/**
 * Semaphore: a cross-process counting semaphore. Units are not owned, so a
 * process that dies holding some does not give them back (as with POSIX
 * semaphores); use a Mutex for ownership that must survive crashes.
 */
import { Kind } from '../layout/header.js';
import { checkInteger, checkObject } from '../args.js';
import { invalidArgType, mismatchError, ownError } from '../errors.js';
import { Segment } from '../segment/segment.js';
import { ACQUISITIONS, CONTENDED, INITIAL, RELEASED, SEMAPHORE_LENGTH, SEMAPHORE_MAX, SEMAPHORE_VERSION, VALUE, WAITERS } from './semaphore-layout.js';
import { SharedObject } from '../object/shared-object.js';
import { adoptNamed, attachObject, createNamed, initObject, openNamed, openOrCreateNamed, type NamedCreateOptions, type NamedOpenOptions, type ObjectSpec, unlinkNamed } from '../object/named.js';
import { checkSpinOption, parseSpin, parseWait, type SpinOptions, type WaitOptions } from './options.js';
import { SpinBudget, waitForAsync, waitForSync, wake, type WaitWord } from './wait.js';

/** Geometry of a Semaphore. */
export interface SemaphoreOptions {
  /** Units available at creation (0 to 2^31 - 1). Default 0. */
  initial?: number;
}

/**
 * Counters and value of a Semaphore (a snapshot), kept in its shared memory
 * by every process that uses it. Counters are u32 and wrap at 2^32: take
 * rates from differences modulo 2^32 (`(b - a) >>> 0`). A semaphore made by
 * an earlier shmkit build starts them at 0.
 */
export interface SemaphoreStats {
  /** Units available now. */
  value: number;
  /** The value it was created with. */
  initial: number;
  /** Units taken (wraps at 2^32). */
  acquisitions: number;
  /** Units taken after waiting for one (spinning or parked). */
  contended: number;
  /** Units given back by release() and the with*() helpers (wraps at 2^32). */
  released: number;
  /** Threads parked waiting for a unit now. */
  waiting: number;
}

function checkInitial(options: SemaphoreOptions | undefined): number {
  const opts = checkObject<SemaphoreOptions>('options', options);
  return opts.initial === undefined ? 0 : checkInteger('options.initial', opts.initial, 0, SEMAPHORE_MAX);
}

const SPEC: ObjectSpec<SemaphoreOptions> = {
  kind: Kind.Semaphore,
  version: SEMAPHORE_VERSION,
  what: 'Semaphore',
  checkOptions: checkSpinOption,
  byteLength: (options) => (checkInitial(options), SEMAPHORE_LENGTH),
  initFields: (buffer, byteOffset, options) => {
    const cells = new Int32Array(buffer, byteOffset, SEMAPHORE_LENGTH / 4);
    const initial = checkInitial(options);
    cells[VALUE] = initial;
    cells[INITIAL] = initial;
  },
  // The value changes with use; the creation-time one is recorded to compare.
  checkExisting: (buffer, byteOffset, options, name) => {
    if (options.initial === undefined) return;
    const existing = new Int32Array(buffer, byteOffset, SEMAPHORE_LENGTH / 4)[INITIAL] as number;
    if (existing !== options.initial) throw mismatchError('Semaphore', name, 'initial', existing, options.initial);
  },
};

/** A cross-process counting semaphore. */
export class Semaphore extends SharedObject {
  readonly #cells: Int32Array;
  readonly #word: WaitWord;
  readonly #spin: SpinBudget;

  private constructor(buffer: SharedArrayBuffer, byteOffset: number, segment: Segment | null, options?: SpinOptions) {
    super(buffer, byteOffset, segment, 'Semaphore');
    this.#cells = new Int32Array(buffer, byteOffset, SEMAPHORE_LENGTH / 4);
    this.#word = { cells: this.#cells, word: VALUE, waiters: WAITERS, subject: this.subject };
    this.#spin = new SpinBudget(parseSpin(options));
  }

  /** Bytes an embedded Semaphore occupies (128; offsets must be multiples of 8). */
  static byteLength(options?: SemaphoreOptions): number {
    return SPEC.byteLength(options as SemaphoreOptions);
  }

  /** Formats a new Semaphore at `byteOffset` of `buffer` (a multiple of 8) and returns a handle. */
  static init(buffer: SharedArrayBuffer, byteOffset: number, options?: SemaphoreOptions & SpinOptions): Semaphore {
    initObject(SPEC, buffer, byteOffset, options);
    return new Semaphore(buffer, byteOffset, null, options);
  }

  /** Uses a Semaphore formatted by anyone (another process, C code) at `byteOffset` of `buffer`. */
  static attach(buffer: SharedArrayBuffer, byteOffset: number, options?: SpinOptions): Semaphore {
    checkSpinOption(options);
    attachObject(SPEC as ObjectSpec<unknown>, buffer, byteOffset);
    return new Semaphore(buffer, byteOffset, null, options);
  }

  /** Creates a named Semaphore (`EEXIST` if the name exists). */
  static create(name: string, options?: SemaphoreOptions & NamedCreateOptions & NamedOpenOptions & SpinOptions): Semaphore {
    return adoptNamed(createNamed(SPEC, name, options), (seg) => new Semaphore(seg.buffer, 0, seg, options), true);
  }

  /** Opens a named Semaphore (`ENOENT` if missing, `ERR_SHMKIT_BAD_LAYOUT` if the name holds something else). */
  static open(name: string, options?: SpinOptions & NamedOpenOptions): Semaphore {
    checkSpinOption(options);
    return adoptNamed(openNamed(SPEC as ObjectSpec<unknown>, name, options), (seg) => new Semaphore(seg.buffer, 0, seg, options));
  }

  /** Opens the named Semaphore, creating it if missing; geometry options given must match an existing one (`ERR_SHMKIT_MISMATCH`). */
  static openOrCreate(name: string, options?: SemaphoreOptions & NamedCreateOptions & NamedOpenOptions & SpinOptions): Semaphore {
    return adoptNamed(openOrCreateNamed(SPEC, name, options), (seg) => new Semaphore(seg.buffer, 0, seg, options));
  }

  /** Removes the name of a Semaphore (only a Semaphore: another kind is `ERR_SHMKIT_BAD_LAYOUT`; `Segment.unlink` removes anything). */
  static unlink(name: string): void {
    unlinkNamed(SPEC as ObjectSpec<never>, name);
  }

  /** Units available now (a snapshot). */
  get value(): number {
    if (this.closed) throw this.closedError();
    return Atomics.load(this.#cells, VALUE);
  }

  /** A snapshot of the counters and the value (SemaphoreStats). */
  stats(): SemaphoreStats {
    if (this.closed) throw this.closedError();
    const cells = this.#cells;
    return {
      value: Atomics.load(cells, VALUE),
      initial: Atomics.load(cells, INITIAL),
      acquisitions: Atomics.load(cells, ACQUISITIONS) >>> 0,
      contended: Atomics.load(cells, CONTENDED) >>> 0,
      released: Atomics.load(cells, RELEASED) >>> 0,
      waiting: Atomics.load(cells, WAITERS),
    };
  }

  /** Takes one unit if one is available; never waits. */
  tryAcquire(): boolean {
    if (this.closed) throw this.closedError();
    return this.attempt(0);
  }

  /** Takes one unit, blocking the thread until one is available. */
  acquireSync(options?: WaitOptions): void {
    if (this.closed) throw this.closedError();
    const { timeout } = parseWait(options);
    if (this.attempt(0)) return;
    waitForSync(this, 0, this.#word, this.#spin, timeout, 'acquireSync()');
    Atomics.add(this.#cells, CONTENDED, 1); // after the wait's CAS on this line
  }

  /** Takes one unit without blocking the event loop. */
  async acquire(options?: WaitOptions): Promise<void> {
    if (this.closed) throw this.closedError();
    const { timeout, signal } = parseWait(options);
    signal?.throwIfAborted();
    if (this.attempt(0)) return;
    const parked = waitForAsync(this, 0, this.#word, this.#spin, timeout, signal, 'acquire()');
    if (parked !== undefined) await parked;
    Atomics.add(this.#cells, CONTENDED, 1); // after the wait's CAS on this line
  }

  /** Runs `fn` holding one unit (taken with `acquire(options)`), and always gives it back. */
  async withPermit<T>(fn: () => T | Promise<T>, options?: WaitOptions): Promise<T> {
    if (this.closed) throw this.closedError();
    if (typeof fn !== 'function') throw invalidArgType('fn', 'of type function', fn);
    await this.acquire(options);
    try {
      return await fn();
    } finally {
      if (!this.closed) this.#give(1);
    }
  }

  /** Runs `fn` holding one unit (taken with `acquireSync(options)`), and always gives it back. */
  withPermitSync<T>(fn: () => T, options?: WaitOptions): T {
    if (this.closed) throw this.closedError();
    if (typeof fn !== 'function') throw invalidArgType('fn', 'of type function', fn);
    this.acquireSync(options);
    try {
      return fn();
    } finally {
      if (!this.closed) this.#give(1);
    }
  }

  /** Returns `n` units (default 1) and wakes up to `n` waiters. */
  release(n = 1): void {
    if (this.closed) throw this.closedError();
    checkInteger('n', n, 1, SEMAPHORE_MAX);
    this.#give(n);
  }

  #give(n: number): void {
    const cells = this.#cells;
    for (;;) {
      const v = Atomics.load(cells, VALUE);
      if (v > SEMAPHORE_MAX - n) {
        throw ownError('EOVERFLOW', this.subject, `release(${n}) would pass the maximum value ${SEMAPHORE_MAX} (value is ${v})`);
      }
      if (Atomics.compareExchange(cells, VALUE, v, v + n) === v) break;
    }
    Atomics.add(cells, RELEASED, n); // counted after the CAS on this line
    if (Atomics.load(cells, WAITERS) !== 0) wake(cells, VALUE, n);
  }

  /** @internal One try at taking a unit (the waiting core calls it). */
  attempt(_arg: number): boolean {
    const cells = this.#cells;
    let v = Atomics.load(cells, VALUE);
    while (v > 0) {
      const was = Atomics.compareExchange(cells, VALUE, v, v - 1);
      if (was === v) {
        Atomics.add(cells, ACQUISITIONS, 1); // on the line the CAS just took
        return true;
      }
      v = was;
    }
    return false;
  }
}
