/**
 * The producer side of a Queue handle: claiming cells (one compare-and-swap
 * on the head cell's stamp), writing the payload with no lock held, and
 * publishing the record with one store. The rules are in queue-layout.ts.
 */
import { NO_ROOM, QueueSide, type SideHost } from './queue-side.js';
import type { QueueRing } from './queue-ring.js';
import { CELL, CELL_SHIFT, MESSAGE, POSITION_MASK, RESERVE, SENT, SKIP, SLOT_CLAIMS, STATE_MASK, TAKEN, WRITING, cellsFor } from './queue-layout.js';

/** What roomAt() found. */
const ROOM = 0;
const FULL = 1;
const AGAIN = 2; // RESERVE moved, or a dead peer was cleaned up: look again

export class QueueProducer extends QueueSide {
  readonly #data: Buffer;
  readonly #mask: number;
  readonly #capacity: number;
  /** Positions of a batch's claims, reused. */
  readonly batchAt: number[] = [];

  constructor(ring: QueueRing, data: Buffer, host: SideHost) {
    super(ring, ring.producerSlots, host);
    this.#data = data;
    this.#mask = ring.mask;
    this.#capacity = ring.capacity;
  }

  /**
   * Holding a slot: claims a record for `length` payload bytes (after a
   * filler if it would cross the end of the ring). Returns its position,
   * or NO_ROOM when the ring is full there.
   */
  claim(length: number): number {
    const cells = cellsFor(length);
    const size = cells * CELL;
    for (;;) {
      const r = Atomics.load(this.cells, RESERVE);
      const off = r & this.#mask;
      if (off + size > this.#capacity) {
        // The record would cross the end: claim the cells up to it as a filler first.
        const filler = (this.#capacity - off) >> CELL_SHIFT;
        const room = this.#roomAt(r, filler);
        if (room === FULL) return NO_ROOM;
        if (room === ROOM && this.#claimAt(r, filler)) this.#publishSkip(r, filler);
        continue;
      }
      const room = this.#roomAt(r, cells);
      if (room === FULL) return NO_ROOM;
      if (room === ROOM && this.#claimAt(r, cells)) return r;
    }
  }

  /** Copies `bytes` (`length` bytes) into the record claimed at `at`. */
  fill(at: number, bytes: Uint8Array | string, length: number): void {
    const off = at & this.#mask;
    if (typeof bytes === 'string') this.#data.write(bytes, off, length, 'utf8');
    else this.#data.set(bytes, off);
  }

  /**
   * Completes the record claimed at `at` for `claimed` bytes, holding
   * `length` (<= claimed; the cells it no longer needs become a SKIP
   * record), and makes it visible. Counting (SENT) and waking are the
   * caller's: announce().
   */
  complete(at: number, length: number, claimed: number): void {
    const meta = this.meta;
    const i = this.ring.stampIndex(at);
    const used = cellsFor(length);
    const cells = cellsFor(claimed);
    if (used < cells) {
      const rest = (at + used * CELL) | 0;
      meta[i + 2 * used + 1] = used - cells;
      // release: the rest's LEN before its SKIP (consumers reach it only after this record)
      Atomics.store(meta, i + 2 * used, rest | SKIP);
    }
    meta[i + 1] = length;
    // release: the payload and LEN are complete for the consumer that loads
    // this stamp (acquire) before reading them
    Atomics.store(meta, i, at | MESSAGE);
  }

  /** Drops the record claimed at `at` for `claimed` bytes: it becomes a SKIP record. */
  abandon(at: number, claimed: number): void {
    this.#publishSkip(at, cellsFor(claimed));
    this.ring.announceData(1); // consumers parked behind it go on
  }

  /** Counts `n` completed messages and wakes parked consumers. */
  announce(n: number): void {
    Atomics.add(this.cells, SENT, n);
    this.ring.announceData(n);
  }

  /** Claims, fills and publishes one message; false when the ring is full. */
  send(bytes: Uint8Array | string, length: number): boolean {
    const at = this.claim(length);
    if (at === NO_ROOM) return false;
    this.fill(at, bytes, length);
    this.complete(at, length, length);
    this.announce(1);
    return true;
  }

  /**
   * Writes as many of `encoded` (payload `lengths`) as fit, in order: all
   * claimed, then filled, then published in ring order with one count and
   * one wake-up. Returns how many.
   */
  sendBatch(encoded: readonly (Uint8Array | string)[], lengths: readonly number[]): number {
    const at = this.batchAt;
    let n = 0;
    for (; n < encoded.length; n++) {
      const p = this.claim(lengths[n] as number);
      if (p === NO_ROOM) break;
      at[n] = p;
    }
    for (let i = 0; i < n; i++) this.fill(at[i] as number, encoded[i] as Uint8Array | string, lengths[i] as number);
    for (let i = 0; i < n; i++) {
      this.complete(at[i] as number, lengths[i] as number, lengths[i] as number);
      // Counted one by one: a death inside the batch leaves SENT one low at most.
      Atomics.add(this.cells, SENT, 1);
    }
    if (n > 0) this.ring.announceData(n);
    return n;
  }

  // Whether `cells` cells at `r` (RESERVE as loaded) are free for this lap.
  // AGAIN: a record of this lap is already there (its claimant has not moved
  // RESERVE yet: we did it for them), or a dead consumer's record was in the
  // way and is cleaned up.
  #roomAt(r: number, cells: number): number {
    const meta = this.meta;
    const i = this.ring.stampIndex(r);
    const head = Atomics.load(meta, i);
    if (head !== r) {
      if ((head & POSITION_MASK) === r) {
        this.ring.helpReserve(r, head);
        return AGAIN;
      }
      return this.#inTheWay(r, head);
    }
    for (let k = 1; k < cells; k++) {
      const stamp = Atomics.load(meta, i + 2 * k);
      if (stamp !== ((r + k * CELL) | 0)) return this.#inTheWay(r, stamp);
    }
    return ROOM;
  }

  // A cell is not free for this lap: the head of an older record a consumer
  // has not freed (if its consumer is dead, clean up after it), or RESERVE
  // moved on since we read `r` (claimed, taken and freed meanwhile).
  #inTheWay(r: number, stamp: number): number {
    if (Atomics.load(this.cells, RESERVE) !== r) return AGAIN;
    const state = stamp & STATE_MASK;
    if (state >= TAKEN && state < TAKEN + 16 && this.ring.cleanUpAfter(this.ring.consumerSlots, state - TAKEN)) return AGAIN;
    return FULL;
  }

  // Claims `cells` cells at `r` (checked free). CELLS, then AT, both before
  // the claim's compare-and-swap: a helper that reads AT == r (then CELLS)
  // can move RESERVE past the claim before we do. (Our next claim rewrites
  // CELLS only after RESERVE left r, so a helper's CAS with it fails.)
  #claimAt(r: number, cells: number): boolean {
    const w = SLOT_CLAIMS + 2 * this.slot;
    const c = this.cells;
    c[w + 1] = cells;
    c[w] = r;
    const i = this.ring.stampIndex(r);
    if (Atomics.compareExchange(this.meta, i, r, r | (WRITING + this.slot)) !== r) return false;
    Atomics.compareExchange(c, RESERVE, r, (r + cells * CELL) | 0); // fails only if a helper did it
    this.meta[i + 1] = -cells; // for helpers and clean-up once AT names a later claim
    return true;
  }

  // Publishes the filler claimed at `r`.
  #publishSkip(r: number, cells: number): void {
    const i = this.ring.stampIndex(r);
    this.meta[i + 1] = -cells;
    // release: LEN before the SKIP that makes consumers read it
    Atomics.store(this.meta, i, r | SKIP);
  }
}
