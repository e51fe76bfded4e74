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

/** A timeout of this means "wait forever" (native convention). */
export const FOREVER = -1;

// ---- Deadlines -----------------------------------------------------------------

/** Milliseconds left until `deadline` (FOREVER stays FOREVER; never negative). */
export function msLeft(deadline: number): number {
  if (deadline === FOREVER) return FOREVER;
  const left = deadline - performance.now();
  return left > 0 ? left : 0;
}

/**
 * A deadline shmkit enforces has passed. No syscall failed (a FUTEX_WAIT
 * that times out only means "look again"), so the error has neither
 * `errno` nor `syscall`. `what` names the object and the call
 * ("Mutex '/jobs': lockSync()").
 */
export function timeoutError(what: string, timeoutMs: number): ShmkitError {
  return new ShmkitError('ETIMEDOUT', `${what} timed out after ${timeoutMs} ms`);
}

// ---- Spinning -------------------------------------------------------------------

/** Default longest spin window before parking, in microseconds. */
export const DEFAULT_SPIN_MICROS = 100;
/** The shortest window while spinning does not pay off (ms). */
const FLOOR_MS = 0.002;
/** Every this many waits, spin the full window once to notice a faster peer. */
const PROBE_EVERY = 64;
/** Polls between two clock reads (a clock read costs ~30-50 ns). */
export const POLLS_PER_CLOCK = 16;
/**
 * Polls tried before the first clock read: a back-to-back peer usually
 * answers within them, and then the wait costs no clock read at all.
 */
export const QUICK_POLLS = 64;

/**
 * Adaptive spin window, one per handle, set in time (not in polls, whose
 * speed depends on the JIT tier). It follows how long waits have recently
 * taken (an exponential average): when the peer answers within the window,
 * spin about twice the usual wait; when waits are longer than the window,
 * spinning cannot pay off, so spin only a token 2 µs and park (a slow or
 * idle peer costs no CPU). A park that turns out short (both sides fell
 * asleep in a fast exchange) pulls the average back under the window, and a
 * periodic full-window probe notices a peer that got faster.
 */
export class SpinBudget {
  readonly #maxMs: number;
  #avgMs = 0;
  #waits = 0;

  constructor(micros: number = DEFAULT_SPIN_MICROS) {
    this.#maxMs = micros / 1000;
  }

  /** Whether this handle spins at all (`{ spin: 0 }` parks at once). */
  get enabled(): boolean {
    return this.#maxMs !== 0;
  }

  /** How long to spin for this wait, in ms. */
  window(): number {
    const max = this.#maxMs;
    if (max === 0) return 0;
    if (++this.#waits % PROBE_EVERY === 0) return max;
    const avg = this.#avgMs;
    if (avg >= max) return FLOOR_MS < max ? FLOOR_MS : max;
    const w = 2 * avg + FLOOR_MS;
    return w < max ? w : max;
  }

  /**
   * How long the wait that just ended took, in ms. The average falls fast
   * and rises slowly: one slow outlier (a descheduled peer) must not switch
   * spinning off, while waits that stay long switch it off within ~30 waits.
   */
  record(elapsedMs: number): void {
    const capped = elapsedMs < 2 * this.#maxMs ? elapsedMs : 2 * this.#maxMs;
    const diff = capped - this.#avgMs;
    this.#avgMs += diff > 0 ? diff / 16 : diff / 4;
  }
}

// ---- Parking --------------------------------------------------------------------

/**
 * Longest single FUTEX_WAIT. Callers loop and re-check anyway; returning to
 * JavaScript this often lets `worker.terminate()` end a blocked worker.
 */
const PARK_SLICE_MS = 50;

/** FUTEX_WAIT on cells[index] while it holds `expected` (at most PARK_SLICE_MS). */
export function parkSync(cells: Int32Array, index: number, expected: number, timeoutMs: number): number {
  const slice = timeoutMs < 0 || timeoutMs > PARK_SLICE_MS ? PARK_SLICE_MS : timeoutMs;
  return native.futexWait(cells.buffer as SharedArrayBuffer, cells.byteOffset + index * 4, expected >>> 0, slice);
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
 * Parks asynchronously while cells[index] holds `expected`. Resolves (with
 * the native result code, which callers ignore: they re-check the word) once
 * woken, the word changed or the time passed; rejects with the signal's
 * reason on abort.
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
  /** The object waited on, for messages ("Mutex '/jobs'"); `what` follows it. */
  subject?: string;
  /**
   * A statistics counter in `cells` (an index), bumped with an atomic add
   * once per wait that parks, right after the waiters count (the line a
   * parking waiter writes anyway); waits that end while spinning never
   * touch it. Wraps at 2^32.
   */
  parks?: number;
}

function timedOut(w: WaitWord, what: string, timeout: number): ShmkitError {
  return timeoutError(w.subject === undefined ? what : `${w.subject}: ${what}`, timeout);
}

/**
 * A waiter leaving on abort may have consumed a FUTEX_WAKE meant for "one
 * waiter" (a released unit, a notify(1)); hand it to another parked waiter
 * so it is not lost. A spare wake is harmless: everyone re-checks.
 */
function passWakeOn(w: WaitWord): void {
  if (Atomics.load(w.cells, w.waiters) > 1) wake(w.cells, w.word, 1);
}

/** A few polls with no clock read; true (and recorded as instant) if one succeeds. */
function quickPoll(target: Attempt, arg: number, spin: SpinBudget): boolean {
  if (!spin.enabled) return false;
  for (let i = 0; i < QUICK_POLLS; i++) {
    if (target.attempt(arg)) {
      spin.record(0);
      return true;
    }
  }
  return false;
}

/** Tries `target` until it succeeds or `windowMs` after `t0` have passed. */
function spinFor(target: Attempt, arg: number, t0: number, windowMs: number): boolean {
  if (windowMs <= 0) return target.attempt(arg);
  const end = t0 + windowMs;
  for (;;) {
    for (let i = 0; i < POLLS_PER_CLOCK; i++) if (target.attempt(arg)) return true;
    if (performance.now() >= end) return false;
  }
}

/**
 * Spin, then park on `w.word` until `target.attempt(arg)` succeeds. The word's
 * value is read before each attempt, so any change after a failed attempt
 * makes the park return at once (no lost wake-up). Returns whether it went
 * on to park (false: the spin was enough); a wait that times out had parked.
 */
export function waitForSync(target: Attempt, arg: number, w: WaitWord, spin: SpinBudget, timeout: number, what: string): boolean {
  if (quickPoll(target, arg, spin)) return false;
  const cells = w.cells;
  const t0 = performance.now();
  if (spinFor(target, arg, t0, spin.window())) {
    spin.record(performance.now() - t0);
    return false;
  }
  const deadline = timeout < 0 ? FOREVER : t0 + timeout;
  Atomics.add(cells, w.waiters, 1);
  if (w.parks !== undefined) Atomics.add(cells, w.parks, 1);
  try {
    for (;;) {
      const seen = Atomics.load(cells, w.word);
      if (target.attempt(arg)) {
        spin.record(performance.now() - t0);
        return true;
      }
      const left = msLeft(deadline);
      if (left === 0) throw timedOut(w, what, timeout);
      parkSync(cells, w.word, seen, left);
    }
  } finally {
    Atomics.sub(cells, w.waiters, 1);
  }
}

/**
 * The async form of waitForSync: the event loop runs while it is parked.
 * The spin runs right here, synchronously; only when it misses is a promise
 * made (returned). `undefined` means the wait is already over, so callers
 * skip an `await` (a microtask hop) on the fast path; a promise means the
 * wait parks (it has counted itself in `w.parks` already).
 */
export function waitForAsync(target: Attempt, arg: number, w: WaitWord, spin: SpinBudget, timeout: number, signal: AbortSignal | undefined, what: string): Promise<void> | undefined {
  signal?.throwIfAborted();
  if (quickPoll(target, arg, spin)) return undefined;
  const t0 = performance.now();
  if (spinFor(target, arg, t0, spin.window())) {
    spin.record(performance.now() - t0);
    return undefined;
  }
  return parkUntil(target, arg, w, spin, t0, timeout, signal, what);
}

async function parkUntil(target: Attempt, arg: number, w: WaitWord, spin: SpinBudget, t0: number, timeout: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  const cells = w.cells;
  const deadline = timeout < 0 ? FOREVER : t0 + timeout;
  Atomics.add(cells, w.waiters, 1);
  if (w.parks !== undefined) Atomics.add(cells, w.parks, 1);
  try {
    for (;;) {
      const seen = Atomics.load(cells, w.word);
      if (target.attempt(arg)) {
        spin.record(performance.now() - t0);
        return;
      }
      const left = msLeft(deadline);
      if (left === 0) throw timedOut(w, what, timeout);
      try {
        await parkAsync(cells, w.word, seen, left, signal);
        signal?.throwIfAborted();
      } catch (err) {
        passWakeOn(w);
        throw err;
      }
    }
  } finally {
    Atomics.sub(cells, w.waiters, 1);
  }
}
