/**
 * The wait/wake core every blocking call in shmkit stands on: spin briefly
 * (a reply often arrives within microseconds, and waking a parked process
 * costs tens of them here), then park on a shared futex word.
 *
 * - Sync waits park the calling thread in FUTEX_WAIT (never the private
 *   flavour: the word is shared between processes).
 * - Async waits hand the word to a native thread that parks on many words at
 *   once (futex_waitv) and reports through the event loop, which keeps
 *   running; an idle wait costs no CPU. `Atomics.waitAsync` cannot be used:
 *   it is never woken by another process.
 * - Wakers skip the syscall when nobody is parked: every primitive keeps a
 *   count of parked waiters next to its word.
 *
 * Wakes are hints, values are the truth: callers always re-check their
 * condition after any return from a park.
 */
import { native } from '../binding.js';
import { ShmkitError } from '../errors.js';

/** Result of a park. */
export const WOKEN = 0;
export const CHANGED = 1;
export const TIMED_OUT = 2;

/** A timeout of this means "wait forever" (native convention). */
export const FOREVER = -1;

// ---- Deadlines -----------------------------------------------------------------

/** Absolute deadline (performance.now() ms) for a relative timeout; FOREVER passes through. */
export function deadlineAfter(timeoutMs: number): number {
  return timeoutMs < 0 ? FOREVER : performance.now() + timeoutMs;
}

/** Milliseconds left until `deadline` (FOREVER stays FOREVER; never negative). */
export function msLeft(deadline: number): number {
  if (deadline === FOREVER) return FOREVER;
  const left = deadline - performance.now();
  return left > 0 ? left : 0;
}

export function timeoutError(what: string, timeoutMs: number): ShmkitError {
  return new ShmkitError('ETIMEDOUT', `ETIMEDOUT: ${what} timed out after ${timeoutMs} ms`, { syscall: 'futex' });
}

// ---- Spinning -------------------------------------------------------------------

/** Default spin window before parking, in microseconds. */
export const DEFAULT_SPIN_MICROS = 50;

let loadsPerMicro = 0;

// How many Atomics.load() polls fit in a microsecond on this machine, measured
// once, so spin windows are set in time rather than in iterations.
function calibrate(): number {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < 2) {
    for (let i = 0; i < 1000; i++) n += Atomics.load(cell, 0) + 1;
    now = performance.now();
  }
  return Math.max(1, Math.floor(n / ((now - start) * 1000)));
}

/** Number of polls that take about `micros` microseconds. */
export function spinPolls(micros: number): number {
  if (micros <= 0) return 0;
  if (loadsPerMicro === 0) loadsPerMicro = calibrate();
  return Math.ceil(micros * loadsPerMicro);
}

/**
 * Adaptive spin budget, one per handle: spinning that pays off keeps the full
 * window; spinning that ends in a park anyway halves it (down to nothing), so
 * a waiter whose peer is slow stops burning CPU, and a fast one is caught.
 */
export class SpinBudget {
  #max: number;
  #polls: number;

  constructor(micros: number = DEFAULT_SPIN_MICROS) {
    this.#max = spinPolls(micros);
    this.#polls = this.#max;
  }

  get polls(): number {
    return this.#polls;
  }

  /** The spin caught the change. */
  hit(): void {
    this.#polls = this.#max;
  }

  /** The spin missed and the caller parked. */
  miss(): void {
    // Keep a floor so a later burst of fast hand-offs can be noticed again.
    this.#polls = this.#polls > 64 ? this.#polls >>> 1 : 64 < this.#max ? 64 : this.#max;
  }
}

// ---- Parking --------------------------------------------------------------------

/** FUTEX_WAIT on cells[index] while it holds `expected`. */
export function parkSync(cells: Int32Array, index: number, expected: number, timeoutMs: number): number {
  return native.futexWait(cells.buffer as SharedArrayBuffer, cells.byteOffset + index * 4, expected >>> 0, timeoutMs);
}

/** FUTEX_WAKE up to `count` waiters of cells[index] (count <= 0: all). */
export function wake(cells: Int32Array, index: number, count: number): number {
  return native.futexWake(cells.buffer as SharedArrayBuffer, cells.byteOffset + index * 4, count);
}

interface AsyncPark {
  resolve(result: number): void;
  reject(reason: unknown): void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

const parked = new Map<number, AsyncPark>();
let dispatchReady = false;

function dispatch(id: number, result: number): void {
  const park = parked.get(id);
  if (park === undefined) return; // cancelled after the completion was queued
  parked.delete(id);
  if (park.onAbort !== undefined) park.signal?.removeEventListener('abort', park.onAbort);
  park.resolve(result);
}

/**
 * Parks asynchronously while cells[index] holds `expected`. Resolves with
 * WOKEN, CHANGED or TIMED_OUT; rejects with the signal's reason on abort.
 */
export function parkAsync(cells: Int32Array, index: number, expected: number, timeoutMs: number, signal?: AbortSignal): Promise<number> {
  if (!dispatchReady) {
    native.asyncWaitInit(dispatch);
    dispatchReady = true;
  }
  return new Promise<number>((resolve, reject) => {
    const id = native.asyncWait(cells.buffer as SharedArrayBuffer, cells.byteOffset + index * 4, expected >>> 0, timeoutMs);
    const park: AsyncPark = { resolve, reject, signal, onAbort: undefined };
    if (signal !== undefined) {
      park.onAbort = () => {
        if (native.asyncCancel(id)) {
          parked.delete(id);
          reject(signal.reason);
        }
        // else the completion is already on its way and resolves instead;
        // callers check signal.aborted after every park.
      };
      signal.addEventListener('abort', park.onAbort, { once: true });
    }
    parked.set(id, park);
  });
}

// ---- Waiting for a condition ------------------------------------------------------

/**
 * A primitive's "can I proceed?" step. `attempt(arg)` tries once (taking a
 * unit, checking a generation...) and returns true when the wait is over.
 * It is a method, not a closure, so waiting allocates nothing per call.
 */
export interface Attempt {
  attempt(arg: number): boolean;
}

/** The futex word a waiter parks on and the count that lets wakers skip FUTEX_WAKE. */
export interface WaitWord {
  cells: Int32Array;
  word: number;
  waiters: number;
}

/**
 * Spin, then park on `w.word` until `target.attempt(arg)` succeeds. The word's
 * value is read before each attempt, so any change after a failed attempt
 * makes the park return at once (no lost wake-up).
 */
export function waitForSync(target: Attempt, arg: number, w: WaitWord, spin: SpinBudget, timeout: number, what: string): void {
  const cells = w.cells;
  for (let i = spin.polls; i > 0; i--) {
    if (target.attempt(arg)) {
      spin.hit();
      return;
    }
  }
  spin.miss();
  const deadline = deadlineAfter(timeout);
  Atomics.add(cells, w.waiters, 1);
  try {
    for (;;) {
      const seen = Atomics.load(cells, w.word);
      if (target.attempt(arg)) return;
      const left = msLeft(deadline);
      if (left === 0) throw timeoutError(what, timeout);
      parkSync(cells, w.word, seen, left);
    }
  } finally {
    Atomics.sub(cells, w.waiters, 1);
  }
}

/** The async form of waitForSync: the event loop runs while it is parked. */
export async function waitForAsync(target: Attempt, arg: number, w: WaitWord, spin: SpinBudget, timeout: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  signal?.throwIfAborted();
  const cells = w.cells;
  for (let i = spin.polls; i > 0; i--) {
    if (target.attempt(arg)) {
      spin.hit();
      return;
    }
  }
  spin.miss();
  const deadline = deadlineAfter(timeout);
  Atomics.add(cells, w.waiters, 1);
  try {
    for (;;) {
      const seen = Atomics.load(cells, w.word);
      if (target.attempt(arg)) return;
      const left = msLeft(deadline);
      if (left === 0) throw timeoutError(what, timeout);
      await parkAsync(cells, w.word, seen, left, signal);
      signal?.throwIfAborted();
    }
  } finally {
    Atomics.sub(cells, w.waiters, 1);
  }
}
