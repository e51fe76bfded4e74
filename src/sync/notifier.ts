/**
 * Notifier: a shared event count, the building block every blocking call in
 * shmkit uses. `notify()` bumps the count and wakes waiters (no syscall when
 * nobody is parked); `wait(seen)` returns once the count differs from `seen`.
 */
import { Kind } from '../layout/header.js';
import { checkInteger } from '../args.js';
import { Segment } from '../segment/segment.js';
import { NOTIFIER_LENGTH, NOTIFIER_VERSION, PARKED_WAITS, SEQ, WAITERS } from './notifier-layout.js';
import { SharedObject } from '../object/shared-object.js';
import { adoptNamed, attachObject, createNamed, initObject, openNamed, openOrCreateNamed, type NamedCreateOptions, type NamedOpenOptions, type ObjectSpec, unlinkNamed } from '../object/named.js';
import { checkSpinOption, parseSpin, parseWait, type SpinOptions, type WaitOptions } from './options.js';
import { SpinBudget, waitForAsync, waitForSync, wake, type WaitWord } from './wait.js';

const SPEC: ObjectSpec<unknown> = {
  kind: Kind.Notifier,
  version: NOTIFIER_VERSION,
  what: 'Notifier',
  checkOptions: checkSpinOption,
  byteLength: () => NOTIFIER_LENGTH,
  initFields: () => {}, // all zero
};

/**
 * Counters of a Notifier (a snapshot), from its shared memory. Counters are
 * u32 and wrap at 2^32: take rates from differences modulo 2^32
 * (`(b - a) >>> 0`). A notifier made by an earlier shmkit build starts
 * parkedWaits at 0.
 */
export interface NotifierStats {
  /** notify() calls by anyone: the count (`value`) as an unsigned number. */
  notifications: number;
  /** waitSync()/wait() calls that parked (a wait the spin ended is not counted). */
  parkedWaits: number;
  /** Threads parked now. */
  waiting: number;
}

/** A cross-process event counter. */
export class Notifier extends SharedObject {
  readonly #cells: Int32Array;
  readonly #word: WaitWord;
  readonly #spin: SpinBudget;

  private constructor(buffer: SharedArrayBuffer, byteOffset: number, segment: Segment | null, options?: SpinOptions) {
    super(buffer, byteOffset, segment, 'Notifier');
    this.#cells = new Int32Array(buffer, byteOffset, NOTIFIER_LENGTH / 4);
    this.#word = { cells: this.#cells, word: SEQ, waiters: WAITERS, subject: this.subject, parks: PARKED_WAITS };
    this.#spin = new SpinBudget(parseSpin(options));
  }

  /** Bytes an embedded Notifier occupies (offsets must be multiples of 8). */
  static byteLength(): number {
    return NOTIFIER_LENGTH;
  }

  /** Formats a Notifier at `byteOffset` of `buffer` and returns a handle. */
  static init(buffer: SharedArrayBuffer, byteOffset: number, options?: SpinOptions): Notifier {
    initObject(SPEC, buffer, byteOffset, options);
    return new Notifier(buffer, byteOffset, null, options);
  }

  /** Uses a Notifier formatted by anyone at `byteOffset` of `buffer`. */
  static attach(buffer: SharedArrayBuffer, byteOffset: number, options?: SpinOptions): Notifier {
    checkSpinOption(options);
    attachObject(SPEC, buffer, byteOffset);
    return new Notifier(buffer, byteOffset, null, options);
  }

  /** Creates a named Notifier (`EEXIST` if the name exists). */
  static create(name: string, options?: NamedCreateOptions & NamedOpenOptions & SpinOptions): Notifier {
    return adoptNamed(createNamed(SPEC, name, options), (seg) => new Notifier(seg.buffer, 0, seg, options), true);
  }

  /** Opens a named Notifier (`ENOENT` if missing, `ERR_SHMKIT_BAD_LAYOUT` if the name holds something else). */
  static open(name: string, options?: SpinOptions & NamedOpenOptions): Notifier {
    checkSpinOption(options);
    return adoptNamed(openNamed(SPEC, name, options), (seg) => new Notifier(seg.buffer, 0, seg, options));
  }

  /** Opens the named Notifier, creating it if missing; geometry options given must match an existing one (`ERR_SHMKIT_MISMATCH`). */
  static openOrCreate(name: string, options?: NamedCreateOptions & NamedOpenOptions & SpinOptions): Notifier {
    return adoptNamed(openOrCreateNamed(SPEC, name, options), (seg) => new Notifier(seg.buffer, 0, seg, options));
  }

  /** Removes the name of a Notifier (only a Notifier: another kind is `ERR_SHMKIT_BAD_LAYOUT`; `Segment.unlink` removes anything). */
  static unlink(name: string): void {
    unlinkNamed(SPEC as ObjectSpec<never>, name);
  }

  /** The current count (a signed 32-bit value that wraps). */
  get value(): number {
    if (this.closed) throw this.closedError();
    return Atomics.load(this.#cells, SEQ);
  }

  /** A snapshot of the counters (NotifierStats). */
  stats(): NotifierStats {
    if (this.closed) throw this.closedError();
    const cells = this.#cells;
    return {
      notifications: Atomics.load(cells, SEQ) >>> 0,
      parkedWaits: Atomics.load(cells, PARKED_WAITS) >>> 0,
      waiting: Atomics.load(cells, WAITERS),
    };
  }

  /** Bumps the count and wakes every waiter. Returns the new count. */
  notify(): number {
    if (this.closed) throw this.closedError();
    const cells = this.#cells;
    const next = (Atomics.add(cells, SEQ, 1) + 1) | 0;
    if (Atomics.load(cells, WAITERS) !== 0) wake(cells, SEQ, 0);
    return next;
  }

  /** Blocks the thread until the count differs from `seen`; returns the count. */
  waitSync(seen: number, options?: WaitOptions): number {
    if (this.closed) throw this.closedError();
    const expected = checkSeen(seen);
    const { timeout } = parseWait(options);
    if (!this.attempt(expected)) waitForSync(this, expected, this.#word, this.#spin, timeout, 'waitSync()');
    return Atomics.load(this.#cells, SEQ);
  }

  /**
   * Resolves once the count differs from `seen`, with the count. The event
   * loop keeps running while it waits, and a parked wait uses no CPU.
   */
  async wait(seen: number, options?: WaitOptions): Promise<number> {
    if (this.closed) throw this.closedError();
    const expected = checkSeen(seen);
    const { timeout, signal } = parseWait(options);
    signal?.throwIfAborted();
    if (!this.attempt(expected)) {
      const parked = waitForAsync(this, expected, this.#word, this.#spin, timeout, signal, 'wait()');
      if (parked !== undefined) await parked;
    }
    return Atomics.load(this.#cells, SEQ);
  }

  /** @internal The wait is over once the count moved past `seen`. */
  attempt(seen: number): boolean {
    return Atomics.load(this.#cells, SEQ) !== seen;
  }
}

function checkSeen(seen: unknown): number {
  return checkInteger('seen', seen, -(2 ** 31), 2 ** 32 - 1) | 0;
}
