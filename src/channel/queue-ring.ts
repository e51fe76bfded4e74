/**
 * What the producer and consumer sides of a Queue share (queue-layout.ts
 * has the protocol): the views, the cell stamps, the slots, checking a
 * record, freeing one, and cleaning up after a dead process's claims.
 */
import { ownError } from '../errors.js';
import { Mutex } from '../sync/mutex.js';
import { MUTEX_LENGTH } from '../sync/mutex-layout.js';
import { wake } from '../sync/wait.js';
import {
  CELL, CELL_SHIFT, CLAIM, CONSUMER_SLOTS_OFFSET, DATA_SEQ, DATA_WAITERS, FREE, HEAD, MESSAGE, META_OFFSET, ORPHAN, ORPHANS, POSITION_MASK,
  PRODUCER_SLOTS_OFFSET, RESERVE, SKIP, SLOT_CLAIMS, SLOT_COUNT, SPACE_SEQ, SPACE_WAITERS, STATE_MASK, TAKEN, WRITING, cellsOf, maxMessage,
  metaEntryIn, metaSpread,
} from './queue-layout.js';

/** "No position": positions are multiples of 64, so -1 never is one. */
export const NONE = -1;

/** Per-process start for slot searches, so processes do not all try slot 0 first. */
const SLOT_START = (process.pid * 7) % SLOT_COUNT;

export class QueueRing {
  /** The fixed fields (header to the slots), as Int32. */
  readonly cells: Int32Array;
  /** The cell meta array: STAMP at stampIndex(p), LEN just after it (cells spread over lines: metaEntry() in queue-layout.ts). */
  readonly meta: Int32Array;
  readonly capacity: number;
  readonly mask: number;
  readonly maxMessage: number;
  readonly producerSlots: Mutex[] = [];
  readonly consumerSlots: Mutex[] = [];
  #orphanScan = 0; // where the last orphan search stopped (entry index)
  // metaSpread() of this ring, for metaEntryIn().
  readonly #lineMask: number;
  readonly #lineShift: number;
  // ORPHANS as it was before our last orphan search that found none: while
  // it has not moved since, there is no orphan to look for. (A count of
  // orphans waiting would drift for good when a process dies between its
  // stamp CAS and the count; a count of orphans made only ever prompts a
  // search, once per process.)
  #orphansSeen = 0;

  /** How errors name the queue ("Queue '/jobs'"), and its name for their `path`. */
  readonly label: string;
  readonly path: string | undefined;

  constructor(buffer: SharedArrayBuffer, byteOffset: number, capacity: number, cells: Int32Array, label: string, path: string | undefined) {
    this.label = label;
    this.path = path;
    this.cells = cells;
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.maxMessage = maxMessage(capacity);
    const n = capacity >> CELL_SHIFT;
    this.meta = new Int32Array(buffer, byteOffset + META_OFFSET, n * 2);
    const spread = metaSpread(n);
    this.#lineMask = spread.lineMask;
    this.#lineShift = spread.lineShift;
    for (let s = 0; s < SLOT_COUNT; s++) {
      this.producerSlots.push(Mutex.attach(buffer, byteOffset + PRODUCER_SLOTS_OFFSET + s * MUTEX_LENGTH, { spin: 0 }));
      this.consumerSlots.push(Mutex.attach(buffer, byteOffset + CONSUMER_SLOTS_OFFSET + s * MUTEX_LENGTH, { spin: 0 }));
    }
  }

  close(): void {
    for (const m of this.producerSlots) m.close();
    for (const m of this.consumerSlots) m.close();
  }

  /** Index in `meta` of the STAMP of the cell holding position `p` (LEN follows it). */
  stampIndex(p: number): number {
    return metaEntryIn((p & this.mask) >> CELL_SHIFT, this.#lineMask, this.#lineShift) << 1;
  }

  /**
   * A head cell whose LEN breaks the format means the memory was
   * overwritten: refuse it rather than read garbage or loop. Returns its cells.
   */
  checkedCells(at: number, stamp: number, len: number): number {
    const cells = this.cellsIfValid(at, stamp, len);
    if (cells < 0) this.corrupt(at, stamp, len);
    return cells;
  }

  /** The cells of the record at `at` with this stamp and LEN, or -1 if they break the format. */
  cellsIfValid(at: number, stamp: number, len: number): number {
    const state = stamp & STATE_MASK;
    const cells = cellsOf(len);
    const fits = (at & this.mask) + cells * CELL <= this.capacity;
    const ok = fits && (len >= 0 ? len <= this.maxMessage && state !== SKIP : len < 0 && state !== MESSAGE && state !== ORPHAN);
    return ok ? cells : -1;
  }

  /** The error for a cell whose meta breaks the format. */
  corrupt(at: number, stamp: number, len: number, cursor?: string): never {
    const where = cursor === undefined ? `record at position ${at >>> 0}` : `${cursor} ${at >>> 0} against the record there`;
    throw ownError('ERR_SHMKIT_CORRUPT', this.label, `corrupt ${where} (stamp ${stamp >>> 0}, length ${len}); repair() turns a corrupt record into a skipped one`, this.path);
  }

  /** Cells of the record at `at` that a peer claimed (stamp WRITING(t)) but may not have moved RESERVE past yet. */
  claimCells(at: number, stamp: number): number {
    const state = stamp & STATE_MASK;
    if (state >= WRITING && state < WRITING + SLOT_COUNT) {
      const w = SLOT_CLAIMS + 2 * (state - WRITING);
      // AT, then CELLS, then AT again: the claimant stores CELLS before AT
      // (see QueueProducer#claimAt), and once done with `at` it may store its
      // next claim's CELLS between our two reads. A helper's CAS of RESERVE
      // from `at` fails then anyway; check() walks on these cells and must
      // not. AT moved: the claim at `at` is over and LEN holds -cells.
      if (Atomics.load(this.cells, w) === at) {
        const cells = Atomics.load(this.cells, w + 1);
        if (Atomics.load(this.cells, w) === at) return cells;
      }
    }
    return cellsOf(this.meta[this.stampIndex(at) + 1] as number);
  }

  /** Moves RESERVE past a record claimed at `at` whose claimant has not moved it yet. */
  helpReserve(at: number, stamp: number): void {
    const cells = this.claimCells(at, stamp);
    if (cells < 1 || cells > this.capacity >> CELL_SHIFT) this.corrupt(at, stamp, cells);
    Atomics.compareExchange(this.cells, RESERVE, at, (at + cells * CELL) | 0);
  }

  /**
   * Frees the record at `at` (taken by us), moves HEAD past every freed
   * record at its front, and wakes producers parked for room if it moved.
   */
  free(at: number): void {
    this.markFree(at);
    const cells = this.cells;
    // The usual case, in order: HEAD is at our record; move it past without
    // reading the stamp back, and look further only if CLAIM is further.
    const next = (at + cellsOf(this.meta[this.stampIndex(at) + 1] as number) * CELL) | 0;
    if (Atomics.compareExchange(cells, HEAD, at, next) === at) {
      if (next !== Atomics.load(cells, CLAIM)) this.advanceHead();
      this.announceSpace();
    } else if (this.advanceHead()) {
      this.announceSpace();
    }
  }

  /** Frees the record at `at` (taken by us) without moving HEAD (a batch moves it once). */
  markFree(at: number): void {
    // release: we are done reading the record; HEAD moves past it (and a
    // producer reuses its cells) only after this store is seen
    Atomics.store(this.meta, this.stampIndex(at), (at + this.capacity) | 0);
  }

  /**
   * Moves HEAD past every freed record at its front (whoever freed them),
   * with one compare-and-swap for all of them. Returns whether it moved.
   */
  advanceHead(): boolean {
    const cells = this.cells;
    const meta = this.meta;
    const capacity = this.capacity;
    let moved = false;
    for (;;) {
      const h = Atomics.load(cells, HEAD);
      const claim = Atomics.load(cells, CLAIM);
      // Walk the freed records from h to CLAIM at most. Their LENs are
      // theirs while HEAD is still h: their cells are reused only after
      // HEAD passed them, and then our CAS fails (a walk that goes wrong
      // meanwhile is noticed by re-reading HEAD).
      let x = h;
      while (x !== claim) {
        const i = this.stampIndex(x);
        // acquire: the FREE store says its consumer is done reading; HEAD moves past it after
        if (Atomics.load(meta, i) !== ((x + capacity) | 0)) break; // not freed yet
        const len = meta[i + 1] as number;
        const n = cellsOf(len);
        const next = (x + n * CELL) | 0;
        if (n < 1 || (x & this.mask) + n * CELL > capacity || ((claim - next) | 0) < 0) {
          if (Atomics.load(cells, HEAD) !== h) break; // moved under us: x is not used (the CAS fails)
          this.corrupt(x, (x + capacity) | 0, len);
        }
        x = next;
      }
      if (x === h) return moved; // nothing freed at the front
      if (Atomics.compareExchange(cells, HEAD, h, x) === h) moved = true;
    }
  }

  /** Wakes producers parked for room. */
  announceSpace(): void {
    const cells = this.cells;
    if (Atomics.load(cells, SPACE_WAITERS) !== 0) {
      Atomics.add(cells, SPACE_SEQ, 1);
      wake(cells, SPACE_SEQ, 0);
    }
  }

  /**
   * A SKIP was made where consumers may have stopped (a dropped reservation,
   * a dead producer's claim): bumps DATA_SEQ even with nobody parked (the
   * consumers' look-again check, QueueConsumer#take, watches it) and wakes all.
   */
  announceSkip(): void {
    const cells = this.cells;
    Atomics.add(cells, DATA_SEQ, 1);
    if (Atomics.load(cells, DATA_WAITERS) !== 0) wake(cells, DATA_SEQ, 0);
  }

  /** Wakes up to `n` consumers parked for data (0: all). */
  announceData(n: number): void {
    const cells = this.cells;
    if (Atomics.load(cells, DATA_WAITERS) !== 0) {
      Atomics.add(cells, DATA_SEQ, 1);
      wake(cells, DATA_SEQ, n);
    }
  }

  // ---- Slots --------------------------------------------------------------------------

  /** Takes a free slot of `slots` (cleaning up after a dead holder first); -1 if all are busy. */
  takeSlot(slots: Mutex[]): number {
    for (let i = 0; i < SLOT_COUNT; i++) {
      const s = (SLOT_START + i) % SLOT_COUNT;
      const got = (slots[s] as Mutex).tryLock();
      if (got === false) continue;
      if (got.ownerDied) this.#recover(slots, s);
      return s;
    }
    return -1;
  }

  /**
   * A stamp of slot `s` of `slots` is in our way: if that slot can be
   * locked, its holder is dead (a live one holds it while any claim of its
   * is open). Cleans up after it; returns whether it did.
   */
  cleanUpAfter(slots: Mutex[], s: number): boolean {
    const slot = slots[s] as Mutex;
    if (slot.locked) return false;
    if (slot.tryLock() === false) return false;
    try {
      this.#recover(slots, s);
    } finally {
      slot.unlock();
    }
    return true;
  }

  /** Every slot whose holder died and nobody noticed yet (run by waiters now and then). */
  repair(): void {
    for (const slots of [this.producerSlots, this.consumerSlots]) {
      for (let s = 0; s < SLOT_COUNT; s++) {
        const slot = slots[s] as Mutex;
        if (slot.locked) continue;
        const got = slot.tryLock();
        if (got === false) continue;
        try {
          if (got.ownerDied) this.#recover(slots, s);
        } finally {
          slot.unlock();
        }
      }
    }
    // A consumer that died between freeing a record and moving HEAD past it.
    if (this.advanceHead()) this.announceSpace();
    // An orphan whose maker died before bumping ORPHANS would wait unseen.
    if (!this.orphansMayWait() && this.#anyOrphan()) {
      Atomics.add(this.cells, ORPHANS, 1);
      this.announceData(0);
    }
  }

  // With slot `s` of `slots` locked by us after its holder died: its
  // producer claims become SKIP records, its taken messages ORPHANs.
  #recover(slots: Mutex[], s: number): void {
    const producer = slots === this.producerSlots;
    const tag = (producer ? WRITING : TAKEN) + s;
    const meta = this.meta;
    let orphans = 0;
    let skips = 0;
    for (let i = 0; i < meta.length; i += 2) {
      const stamp = Atomics.load(meta, i);
      if ((stamp & STATE_MASK) !== tag) continue;
      const at = stamp & POSITION_MASK;
      if (producer) {
        const cells = this.claimCells(at, stamp);
        Atomics.compareExchange(this.cells, RESERVE, at, (at + cells * CELL) | 0);
        meta[i + 1] = -cells;
        // release: LEN before the SKIP that makes consumers read it
        if (Atomics.compareExchange(meta, i, stamp, at | SKIP) === stamp) skips++;
      } else {
        const len = meta[i + 1] as number;
        if (len >= 0) {
          if (Atomics.compareExchange(meta, i, stamp, at | ORPHAN) === stamp) orphans++;
        } else {
          this.free(at);
          skips++;
        }
      }
    }
    if (orphans > 0) Atomics.add(this.cells, ORPHANS, orphans);
    if (producer && skips > 0) this.announceSkip();
    else if (orphans > 0) this.announceData(0);
  }

  /** Whether an ORPHAN may be waiting: ORPHANS moved since our last search found none. */
  orphansMayWait(): boolean {
    return Atomics.load(this.cells, ORPHANS) !== this.#orphansSeen;
  }

  /**
   * Takes an ORPHAN (a message a dead consumer, or a live one giving it
   * back, left behind CLAIM) for consumer slot `s`: its position, or NONE.
   */
  adoptOrphan(s: number): number {
    const meta = this.meta;
    const made = Atomics.load(this.cells, ORPHANS); // before the search: one made during it moves ORPHANS again
    const n = meta.length >> 1;
    let i = this.#orphanScan;
    for (let k = 0; k < n; k++, i = i + 1 === n ? 0 : i + 1) {
      const stamp = Atomics.load(meta, 2 * i);
      if ((stamp & STATE_MASK) !== ORPHAN) continue;
      const at = stamp & POSITION_MASK;
      if (Atomics.compareExchange(meta, 2 * i, stamp, at | (TAKEN + s)) !== stamp) continue;
      this.#orphanScan = i;
      return at;
    }
    this.#orphansSeen = made;
    return NONE;
  }

  // Whether any ORPHAN stamp is there (a search, for the rare checks that need the truth).
  #anyOrphan(): boolean {
    const meta = this.meta;
    for (let i = 0; i < meta.length; i += 2) if ((Atomics.load(meta, i) & STATE_MASK) === ORPHAN) return true;
    return false;
  }

  /** Gives back a message taken at `at` (a live consumer's): an ORPHAN for the next consumer. */
  giveBack(at: number): void {
    Atomics.store(this.meta, this.stampIndex(at), at | ORPHAN);
    Atomics.add(this.cells, ORPHANS, 1); // after the stamp: a search prompted by it finds the orphan
    this.announceData(1);
  }

  /** Whether the record at CLAIM can be taken or stepped over now (or orphans wait). */
  dataThere(): boolean {
    const cells = this.cells;
    if (this.orphansMayWait()) return true;
    const c = Atomics.load(cells, CLAIM);
    const stamp = Atomics.load(this.meta, this.stampIndex(c));
    if ((stamp & POSITION_MASK) !== c) return Atomics.load(cells, CLAIM) !== c; // moved on: look again
    const state = stamp & STATE_MASK;
    return state === MESSAGE || state === SKIP || state === ORPHAN || (state >= TAKEN && state < TAKEN + SLOT_COUNT);
  }

  /** Whether a record of `cells` cells could be claimed at RESERVE now (or RESERVE or HEAD needs a push). */
  roomThere(cells: number): boolean {
    const c = this.cells;
    const r = Atomics.load(c, RESERVE);
    const off = r & this.mask;
    const need = off + cells * CELL > this.capacity ? this.capacity - off : cells * CELL; // the filler comes first
    const stamp = Atomics.load(this.meta, this.stampIndex(r));
    if ((stamp & POSITION_MASK) === r && stamp !== r) return true; // a record is there: RESERVE needs a push
    // (A HEAD that a dying consumer left behind is moved by repair(), between wait slices.)
    return this.capacity - ((r - Atomics.load(c, HEAD)) >>> 0) >= need;
  }

  /** Nothing was claimed at CLAIM and nothing waits: CLAIM == RESERVE, no orphans, no record at CLAIM. */
  drained(): boolean {
    const cells = this.cells;
    const c = Atomics.load(cells, CLAIM);
    if (c !== Atomics.load(cells, RESERVE)) return false;
    const stamp = Atomics.load(this.meta, this.stampIndex(c));
    if ((stamp & POSITION_MASK) === c && (stamp & STATE_MASK) !== FREE) return false;
    return !this.orphansMayWait() || !this.#anyOrphan();
  }
}
