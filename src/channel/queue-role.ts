/**
 * What the producer side and the consumer side of a Queue handle share:
 * holding their role (a robust Mutex in the queue), choosing exclusive or
 * shared work, handing the role over when a peer asks, and their claim
 * slot. queue-producer.ts and queue-consumer.ts extend it with their half
 * of the ring protocol (queue-layout.ts has the rules).
 */
import { ShmkitError } from '../errors.js';
import { Mutex } from '../sync/mutex.js';
import { FOREVER, POLLS_PER_CLOCK, QUICK_POLLS, msLeft, timeoutError } from '../sync/wait.js';
import type { QueueRing } from './queue-ring.js';

/** Not a position (positions are multiples of 8), nor a count: the ring has no room (producer) or no message (consumer). */
export const NO_ROOM = -1;
/** A shared claim step found every slot taken while other claims are open: try again in a moment. */
export const BUSY = -3;
/** A shared claim step found every slot taken but no claim open: work exclusively instead. */
export const GO_EXCLUSIVE = -5;

/** Operations a side stays in shared mode after it saw a peer. */
const SHARED_OPS = 1024;
/**
 * How long a non-waiting call keeps asking for a role another process holds
 * (a shared claim holds it ~100 ns; an exclusive holder hands it over after
 * its current operation). A holder that keeps it longer is not running (the
 * scheduler took its CPU): the call reports 'busy', not 'full' or 'empty'.
 */
const ROLE_HANDOVER_MS = 0.005;

/** What a side needs from its Queue handle (one object per handle, no closures per call). */
export interface RoleHost {
  /** Takes `role` if free, or held idle by another handle of this thread (which is asked to give it back). */
  tryRole(role: Mutex): boolean;
  /** A role or slot was taken: give it back at the end of this event-loop turn. */
  holding(): void;
  /** Whether an open tryReserve() (producer) / tryPeek() (consumer) keeps the role. */
  keepsRole(side: QueueRole): boolean;
}

/** One side (producer or consumer) of one Queue handle. */
export abstract class QueueRole {
  readonly ring: QueueRing;
  readonly cells: Int32Array;
  readonly role: Mutex;
  readonly slots: Mutex[];
  readonly #host: RoleHost;
  readonly #wantWord: number;
  readonly #alwaysShared: boolean;
  /** The role is held. */
  hold = false;
  /** Held for exclusive work (the side's cursors were equal when taken; its cached cursors are ours). */
  exclusive = false;
  /** Our claim slot, or -1. */
  slot = -1;
  #want = 0; // the WANT word when the role was taken
  #sharedOps = 0; // operations left in shared mode

  protected constructor(ring: QueueRing, role: Mutex, slots: Mutex[], wantWord: number, alwaysShared: boolean, host: RoleHost) {
    this.ring = ring;
    this.cells = ring.cells;
    this.role = role;
    this.slots = slots;
    this.#wantWord = wantWord;
    this.#alwaysShared = alwaysShared;
    this.#host = host;
  }

  /** With the role just taken and nobody around: whether the side's cursors allow exclusive work (and caches them). */
  protected abstract startExclusive(): boolean;

  /** Holding the role, ready to claim; false if another process holds it past the hand-over wait. */
  ready(): boolean {
    if (this.hold) return true;
    if (this.#host.tryRole(this.role)) {
      this.held(false);
      return true;
    }
    this.#sharedOps = SHARED_OPS;
    if (!this.#askForRole()) return false;
    this.held(true);
    return true;
  }

  // Tells an exclusive holder that we want the role (bumps the WANT word);
  // the holder hands it over after its current operation, a shared claim
  // within ~100 ns: polls for it, for at most ROLE_HANDOVER_MS.
  #askForRole(): boolean {
    const role = this.role;
    Atomics.add(this.cells, this.#wantWord, 1);
    for (let i = 0; i < QUICK_POLLS; i++) if (role.tryLock() !== false) return true; // before looking at the clock
    const t0 = performance.now();
    while (performance.now() - t0 < ROLE_HANDOVER_MS) {
      for (let i = 0; i < POLLS_PER_CLOCK; i++) if (role.tryLock() !== false) return true;
    }
    return false;
  }

  /** Blocks until the role is ours (ETIMEDOUT at `deadline`, -1: none). */
  lockSync(deadline: number, timeout: number): void {
    if (!this.#host.tryRole(this.role)) {
      try {
        this.role.lockSync({ timeout: deadline === FOREVER ? undefined : msLeft(deadline) });
      } catch (err) {
        if ((err as ShmkitError).code === 'ETIMEDOUT') throw timeoutError('Queue: waiting for the role', timeout);
        throw err;
      }
    }
    this.held(true);
  }

  /** Just took the role: exclusive if nobody else is around and no peer's claim is open, else shared. */
  held(contended: boolean): void {
    this.hold = true;
    this.#host.holding();
    if (contended || this.#sharedOps > 0 || this.#alwaysShared) {
      if (this.#sharedOps > 0) this.#sharedOps--;
      this.exclusive = false;
      return;
    }
    this.exclusive = this.startExclusive();
    if (this.exclusive) this.#want = Atomics.load(this.cells, this.#wantWord);
  }

  /** Work exclusively from now on (all slots taken, no claim open): the side's cursors are cached by the caller. */
  protected goExclusive(): void {
    this.exclusive = true;
    this.#want = Atomics.load(this.cells, this.#wantWord);
  }

  /** Still exclusive? Not once a peer has asked for the role. */
  exclusiveStill(): boolean {
    if (!this.exclusive) return false;
    if (Atomics.load(this.cells, this.#wantWord) === this.#want) return true;
    this.exclusive = false;
    this.#sharedOps = SHARED_OPS;
    return false;
  }

  /** After an operation: hand the role over at once if a peer wants it (or we work shared). */
  yield(): void {
    if (this.hold && !this.#host.keepsRole(this) &&
      (!this.exclusive || Atomics.load(this.cells, this.#wantWord) !== this.#want)) {
      this.drop();
    }
  }

  drop(): void {
    this.hold = false;
    this.exclusive = false;
    this.role.unlock();
  }

  /** Records slot `s` (from the ring's take...Slot(); -1: none free) as ours; whether there was one. */
  protected slotTaken(s: number): boolean {
    if (s < 0) return false;
    this.slot = s;
    this.#host.holding();
    return true;
  }

  /** End of turn (or close): the role and slot, unless an open tryReserve()/tryPeek() needs them. */
  giveBack(): void {
    if (this.#host.keepsRole(this)) return;
    if (this.hold) this.drop();
    if (this.slot >= 0) {
      const s = this.slot;
      this.slot = -1; // cleared first: an unlock that throws must not be retried
      (this.slots[s] as Mutex).unlock();
    }
  }

  /** Holds nothing (the handle may leave the list of sticky holders). */
  get idle(): boolean {
    return !this.hold && this.slot < 0;
  }
}
