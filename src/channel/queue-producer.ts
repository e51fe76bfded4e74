/**
 * The producer side of a Queue handle: claiming cells (one compare-and-swap
 * on the head cell's stamp), writing the payload with no lock held, and
 * publishing the record with one store. The rules are in queue-layout.ts.
 */
import { NO_ROOM, QueueSide, type SideHost } from './queue-side.js';
import type { QueueRing } from './queue-ring.js';
import { CELL, CELL_SHIFT, HEAD, MESSAGE, POSITION_MASK, RESERVE, SENT, SKIP, SLOT_CLAIMS, SLOT_COUNT, STATE_MASK, TAKEN, WRITING, cellsFor } from './queue-layout.js';

export class QueueProducer extends QueueSide {
  readonly #data: Buffer;
  readonly #mask: number;
  readonly #capacity: number;
  /** Positions of a batch's records, reused. */
  readonly #batchAt: number[] = [];
  // HEAD as we last read it. HEAD only grows, so an old value only
  // understates the room: it is read again only when it shows too little.
  // (Reading it every time would pull the consumers' CLAIM/HEAD line over
  // for every message.)
  #headSeen: number;
  // HEAD at the last claim that found no room, and how many in a row did (see #full).
  #fullAt = Number.NaN;
  #fullCount = 0;

  constructor(ring: QueueRing, data: Buffer, host: SideHost) {
    super(ring, ring.producerSlots, host);
    this.#data = data;
    this.#mask = ring.mask;
    this.#capacity = ring.capacity;
    this.#headSeen = Atomics.load(ring.cells, HEAD);
  }

  // Free bytes at `r` by HEAD (read again only when our copy shows less than `need`).
  #roomAt(r: number, need: number): number {
    let room = this.#capacity - ((r - this.#headSeen) >>> 0);
    if (room < need) {
      this.#headSeen = Atomics.load(this.cells, HEAD);
      room = this.#capacity - ((r - this.#headSeen) >>> 0);
    }
    return room;
  }

  /**
   * Holding a slot: claims `cells` cells (after a filler if they would cross
   * the end of the ring). Returns the position, or NO_ROOM when the ring is
   * full there.
   */
  claim(cells: number): number {
    const size = cells * CELL;
    // A plain read of RESERVE first: a value read late is one read before a
    // pause, which the claim copes with (its compare-and-swap on the stamp
    // checks it); read again atomically on the way round.
    let r = this.cells[RESERVE] as number;
    for (;; r = Atomics.load(this.cells, RESERVE)) {
      const off = r & this.#mask;
      if (off + size > this.#capacity) {
        // The record would cross the end: claim the cells up to it as a filler first.
        const filler = (this.#capacity - off) >> CELL_SHIFT;
        const got = this.#claimAt(r, filler);
        if (got === NO_ROOM) return NO_ROOM;
        if (got === r) this.#publishSkip(r, filler);
        continue;
      }
      const got = this.#claimAt(r, cells);
      if (got !== AGAIN) return got;
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
    const used = cellsFor(length);
    const cells = cellsFor(claimed);
    if (used < cells) this.#publishSkip((at + used * CELL) | 0, cells - used);
    this.#publish(at, length);
  }

  /** Drops the record claimed at `at` for `claimed` bytes: it becomes a SKIP record. */
  abandon(at: number, claimed: number): void {
    this.#publishSkip(at, cellsFor(claimed));
    this.ring.announceSkip(); // consumers stopped at it go on
  }

  /** Counts `n` completed messages and wakes parked consumers. */
  announce(n: number): void {
    Atomics.add(this.cells, SENT, n);
    this.ring.announceData(n);
  }

  /** Claims, fills and publishes one message; false when the ring is full. */
  send(bytes: Uint8Array | string, length: number): boolean {
    const at = this.claim(cellsFor(length));
    if (at === NO_ROOM) return false;
    this.fill(at, bytes, length);
    this.#publish(at, length);
    this.announce(1);
    return true;
  }

  /**
   * Writes as many of `encoded` (payload `lengths`) as fit, in order, with
   * one claim for all of them (those that fit before the end of the ring;
   * the rest in the next claim): the later records are published first,
   * the first one last, so consumers see the batch at once. Returns how many.
   */
  sendBatch(encoded: readonly (Uint8Array | string)[], lengths: readonly number[]): number {
    const at = this.#batchAt;
    let n = 0;
    let one = false; // a group did not fit after all (the cursors moved): one at a time
    while (n < encoded.length) {
      // As many as fit in the free space up to the end of the ring (at least one).
      const r = Atomics.load(this.cells, RESERVE);
      const toEnd = this.#capacity - (r & this.#mask);
      const room = Math.min(toEnd, this.#roomAt(r, toEnd));
      let cells = cellsFor(lengths[n] as number);
      let m = 1;
      while (!one && n + m < encoded.length) {
        const more = cellsFor(lengths[n + m] as number);
        if ((cells + more) * CELL > room) break;
        cells += more;
        m++;
      }
      const p = this.claim(cells);
      if (p === NO_ROOM) {
        if (m === 1) break;
        one = true;
        continue;
      }
      let q = p;
      for (let i = 0; i < m; i++) {
        at[i] = q;
        this.fill(q, encoded[n + i] as Uint8Array | string, lengths[n + i] as number);
        q = (q + cellsFor(lengths[n + i] as number) * CELL) | 0;
      }
      // The first record last: until it is published consumers stop at it, and
      // if we die first the clean-up turns the whole claim into one SKIP.
      for (let i = m - 1; i >= 0; i--) this.#publish(at[i] as number, lengths[n + i] as number);
      // Counted once visible: a death in between leaves SENT low by this group, never high.
      Atomics.add(this.cells, SENT, m);
      n += m;
    }
    if (n > 0) this.ring.announceData(n);
    return n;
  }

  // Claims `cells` cells at `r` (RESERVE as loaded): r, NO_ROOM, or AGAIN
  // (RESERVE or HEAD moved, or a dead peer was cleaned up: look again).
  #claimAt(r: number, cells: number): number {
    const c = this.cells;
    const meta = this.meta;
    const i = this.ring.stampIndex(r);
    const seen = meta[i] as number; // a plain read: the claim's compare-and-swap checks it
    const ahead = ((seen & POSITION_MASK) - r) | 0;
    if (ahead > 0 || (r & STATE_MASK) !== 0) {
      // Freed or claimed for a later lap: RESERVE left `r` long ago (we were
      // descheduled), so it has moved. If it has not, the memory is
      // corrupt (a stamp ahead of RESERVE, or a RESERVE that is no cell's
      // position): refuse it rather than look again for ever.
      if (Atomics.load(c, RESERVE) !== r) return AGAIN;
      return this.ring.corrupt(r, seen, meta[i + 1] as number, 'RESERVE');
    }
    if (ahead === 0 && seen !== r) {
      // A record of this lap is there: its claimant has not moved RESERVE
      // yet. acquire: the stamp read plainly is read again before the
      // AT/CELLS or LEN that helping reads (see the consumer's take).
      if (Atomics.load(meta, i) === seen) this.ring.helpReserve(r, seen);
      return AGAIN;
    }
    if (this.#roomAt(r, cells * CELL) < cells * CELL) return this.#full(r, this.#headSeen);
    // CELLS, then AT, both before the claim's compare-and-swap: a helper
    // that reads AT == r (then CELLS) can move RESERVE past the claim before
    // we do. (Our next claim rewrites them only after RESERVE left r, so a
    // helper's CAS with them then fails.)
    const w = SLOT_CLAIMS + 2 * this.slot;
    c[w + 1] = cells;
    c[w] = r;
    // The claim: from whatever older stamp the cell had (HEAD is past its
    // record, so it is freed) to ours. While the stamp is still `seen`
    // (not a record of this lap, nor one freed for a later lap), nobody
    // claimed at r, so RESERVE is still r. Positions only grow, so a stamp
    // we read can come back only after 2^32 bytes.
    if (Atomics.compareExchange(meta, i, seen, r | (WRITING + this.slot)) !== seen) return AGAIN;
    Atomics.compareExchange(c, RESERVE, r, (r + cells * CELL) | 0); // fails only if a helper did it
    meta[i + 1] = -cells; // for helpers and clean-up once AT names a later claim
    return r;
  }

  // No room at `r` with HEAD at `h` (just read). Full, unless RESERVE moved,
  // or HEAD has not moved for a while because of a death: a consumer that
  // died between freeing a record and moving HEAD (move it), or one that
  // died holding the record at HEAD (clean up after it). Only every 64th
  // time in a row with the same HEAD: a producer polling a full ring must
  // not pull the consumers' lines over on every poll (whoever frees the
  // record at HEAD moves HEAD itself).
  #full(r: number, h: number): number {
    if (Atomics.load(this.cells, RESERVE) !== r) return AGAIN;
    if (h !== this.#fullAt) {
      this.#fullAt = h;
      this.#fullCount = 0;
      return NO_ROOM;
    }
    if ((++this.#fullCount & 63) !== 0) return NO_ROOM;
    const ring = this.ring;
    if (ring.advanceHead()) {
      this.#headSeen = Atomics.load(this.cells, HEAD);
      return AGAIN;
    }
    const stamp = Atomics.load(this.meta, ring.stampIndex(h));
    const state = stamp & STATE_MASK;
    if ((stamp & POSITION_MASK) === h && state >= TAKEN && state < TAKEN + SLOT_COUNT && ring.cleanUpAfter(ring.consumerSlots, state - TAKEN)) return AGAIN;
    return NO_ROOM;
  }

  // Publishes a message of `length` bytes at `at` (claimed and filled).
  #publish(at: number, length: number): void {
    const i = this.ring.stampIndex(at);
    this.meta[i + 1] = length;
    // release: the payload and LEN are complete for the consumer that loads
    // this stamp (acquire) before reading them
    Atomics.store(this.meta, i, at | MESSAGE);
  }

  // Publishes a SKIP record of `cells` cells at `at` (claimed by us).
  #publishSkip(at: number, cells: number): void {
    const i = this.ring.stampIndex(at);
    this.meta[i + 1] = -cells;
    // release: LEN before the SKIP that makes consumers read it
    Atomics.store(this.meta, i, at | SKIP);
  }
}

/** What #claimAt() returns when something moved: look again. */
const AGAIN = -5;
