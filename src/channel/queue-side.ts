/**
 * What the producer side and the consumer side of a Queue handle share:
 * the claim slot (a robust Mutex in the queue) that ties their claims to
 * this process, held for the rest of the event-loop turn, or while an open
 * tryReserve() / tryPeek() needs it. queue-producer.ts and
 * queue-consumer.ts extend it with their half of the protocol
 * (queue-layout.ts has the rules).
 */
import type { Mutex } from '../sync/mutex.js';
import type { QueueRing } from './queue-ring.js';

/** Not a position (positions are multiples of 64): no room (producer) or no message (consumer). */
export const NO_ROOM = -1;

/** What a side needs from its Queue handle (one object per handle, no closures per call). */
export interface SideHost {
  /** A slot was taken: give it back at the end of this event-loop turn. */
  holding(): void;
  /** Whether an open tryReserve() (producer) / tryPeek() (consumer) keeps the slot. */
  keepsSlot(side: QueueSide): boolean;
}

/** One side (producer or consumer) of one Queue handle. */
export abstract class QueueSide {
  readonly ring: QueueRing;
  readonly cells: Int32Array;
  readonly meta: Int32Array;
  readonly slots: Mutex[];
  readonly #host: SideHost;
  /** Our slot, or -1. */
  slot = -1;

  protected constructor(ring: QueueRing, slots: Mutex[], host: SideHost) {
    this.ring = ring;
    this.cells = ring.cells;
    this.meta = ring.meta;
    this.slots = slots;
    this.#host = host;
  }

  /** Holding a slot, ready to claim; false if every slot is held by others. */
  ready(): boolean {
    if (this.slot >= 0) return true;
    const s = this.ring.takeSlot(this.slots);
    if (s < 0) return false;
    this.slot = s;
    this.#host.holding();
    return true;
  }

  /** End of turn (or close): the slot, unless an open tryReserve()/tryPeek() needs it. */
  giveBack(): void {
    if (this.slot < 0 || this.#host.keepsSlot(this)) return;
    const s = this.slot;
    this.slot = -1; // cleared first: an unlock that throws must not be retried
    (this.slots[s] as Mutex).unlock();
  }

  /** Holds nothing. */
  get idle(): boolean {
    return this.slot < 0;
  }
}
