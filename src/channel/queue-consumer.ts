/**
 * The consumer side of a Queue handle: taking a message (one
 * compare-and-swap on its head cell's stamp), copying it out with no lock
 * held, and freeing its cells. The rules are in queue-layout.ts.
 */
import { decodeMessage, type Encoding } from './codec.js';
import { NO_ROOM, QueueSide, type SideHost } from './queue-side.js';
import { NONE, type QueueRing } from './queue-ring.js';
import { CELL, CLAIM, DATA_SEQ, FREE, MESSAGE, ORPHAN, POSITION_MASK, RECEIVED, SENT, SKIP, SLOT_COUNT, STATE_MASK, TAKEN, WRITING } from './queue-layout.js';

export class QueueConsumer extends QueueSide {
  readonly #data: Buffer;
  // The ring's memory and where its data starts in it: a view made with the
  // constructor costs half what subarray() does (no species lookup).
  readonly #buffer: SharedArrayBuffer;
  readonly #dataStart: number;
  readonly #mask: number;
  readonly #encoding: Encoding;
  readonly #name: string | null;
  /** The length of the message take() returned last. */
  length = 0;
  // SENT and DATA_SEQ when take() last found nothing at CLAIM (NaN: it did
  // not). While both stay there nothing was published since (a message adds
  // to SENT; a SKIP made by a dropped reservation or a dead producer's clean-
  // up bumps DATA_SEQ), so take() says so without reading CLAIM's stamp:
  // polling that line would pull it away from the producer writing it
  // (several writes per message), where SENT changes once per message.
  // Every 256th call looks anyway (a dead producer's claim at CLAIM is
  // cleaned up by a look, not by a publish).
  #emptySent = Number.NaN;
  #emptySeq = Number.NaN;
  #skips = 0;
  #takes = 0;
  /** Positions of a batch's messages, reused. */
  readonly #batchAt: number[] = [];

  constructor(ring: QueueRing, data: Buffer, bytes: Uint8Array, host: SideHost, encoding: Encoding, name: string | null) {
    super(ring, ring.consumerSlots, host);
    this.#data = data;
    this.#buffer = bytes.buffer as SharedArrayBuffer;
    this.#dataStart = bytes.byteOffset;
    this.#mask = ring.mask;
    this.#encoding = encoding;
    this.#name = name;
  }

  /**
   * Holding a slot: takes the next message (an orphan first, when one may
   * wait), its length in `length`. Returns its position, or NO_ROOM when
   * nothing is there to take (the record at CLAIM is still being written,
   * or there is none).
   */
  take(): number {
    if (this.#emptySent === this.#emptySent) { // not NaN: the last look found nothing
      if (this.#nothingNew()) return NO_ROOM;
      this.#emptySent = Number.NaN;
    }
    // Orphans (rare) are looked for every ORPHAN_LOOKS takes and whenever
    // nothing is at CLAIM (#nothingThere): not one load more per message.
    if ((++this.#takes & (ORPHAN_LOOKS - 1)) === 0 && this.ring.orphansMayWait()) {
      const at = this.#adopt();
      if (at !== NONE) return at;
    }
    const cells = this.cells;
    const meta = this.meta;
    const ring = this.ring;
    const mine = TAKEN + this.slot;
    // Plain reads of CLAIM and of the stamp: the take's compare-and-swap
    // checks the stamp, and a CLAIM read late is one read before a pause;
    // the protocol copes with both (it is read again, atomically, on the
    // way round).
    let c = cells[CLAIM] as number;
    for (;; c = Atomics.load(cells, CLAIM)) {
      const i = ring.stampIndex(c);
      const stamp = meta[i] as number;
      if ((stamp & POSITION_MASK) !== c) {
        // An older lap's stamp: nothing claimed here yet. Or a newer one:
        // the record was taken and freed since we read CLAIM, which moved.
        if (Atomics.load(cells, CLAIM) !== c) continue;
        const at = this.#nothingThere(i, stamp);
        if (at === AGAIN) continue;
        return at;
      }
      const state = stamp & STATE_MASK;
      if (state === MESSAGE || state === SKIP || state === ORPHAN) {
        // acquire: the CAS reads the MESSAGE (SKIP) store that published LEN and the payload
        if (Atomics.compareExchange(meta, i, stamp, c | mine) !== stamp) continue; // another consumer took it
        const len = meta[i + 1] as number; // ours now: nobody rewrites it until we free the record
        const n = ring.cellsIfValid(c, stamp, len);
        if (n < 0) {
          Atomics.store(meta, i, stamp); // put back as found: every consumer refuses it, not just us
          ring.corrupt(c, stamp, len);
        }
        Atomics.compareExchange(cells, CLAIM, c, (c + n * CELL) | 0); // fails only if a helper did it
        if (state === SKIP) {
          ring.free(c);
          continue;
        }
        this.length = len;
        return c;
      }
      if (state >= TAKEN && state < TAKEN + SLOT_COUNT) {
        // Taken by a consumer that has not moved CLAIM yet: do it for it.
        // acquire: the stamp read plainly is read again before its LEN (a
        // LEN read first could be an older lap's, on a CPU that reorders loads)
        if (Atomics.load(meta, i) !== stamp) continue;
        const n = ring.checkedCells(c, stamp, meta[i + 1] as number);
        Atomics.compareExchange(cells, CLAIM, c, (c + n * CELL) | 0);
        continue;
      }
      if (state >= WRITING && state < WRITING + SLOT_COUNT) {
        // Being written. Unless its producer died (then it becomes a SKIP), nothing to take yet.
        if (ring.cleanUpAfter(ring.producerSlots, state - WRITING)) continue;
      } else if (state !== FREE) {
        return ring.corrupt(c, stamp, meta[i + 1] as number);
      }
      const at = this.#nothingThere(i, stamp);
      if (at !== AGAIN) return at;
    }
  }

  // Nothing to take at CLAIM (its stamp, at `i`, read as `stamp`): an
  // orphan, if one may wait; else NO_ROOM, remembering SENT and DATA_SEQ
  // for #nothingNew(). They are loaded before the stamp is read again: a
  // message published before these loads shows in the stamp (AGAIN: look
  // again), and one published after them moves SENT (or DATA_SEQ).
  #nothingThere(i: number, stamp: number): number {
    // acquire: a SENT (DATA_SEQ) that moved pairs with the add after a MESSAGE (SKIP) store
    const sent = Atomics.load(this.cells, SENT);
    const seq = Atomics.load(this.cells, DATA_SEQ);
    if (Atomics.load(this.meta, i) !== stamp) return AGAIN;
    if (this.ring.orphansMayWait()) {
      const at = this.#adopt();
      if (at !== NONE) return at;
    }
    this.#emptySent = sent;
    this.#emptySeq = seq;
    return NO_ROOM;
  }

  // Whether nothing was published since the last look found nothing (see #emptySent).
  #nothingNew(): boolean {
    const cells = this.cells;
    return Atomics.load(cells, SENT) === this.#emptySent && Atomics.load(cells, DATA_SEQ) === this.#emptySeq &&
      !this.ring.orphansMayWait() && (++this.#skips & 255) !== 0;
  }

  // Takes an orphan, if there is one: its position (its length in `length`), or NONE.
  #adopt(): number {
    const ring = this.ring;
    const at = ring.adoptOrphan(this.slot);
    if (at !== NONE) {
      this.length = this.meta[ring.stampIndex(at) + 1] as number;
      ring.checkedCells(at, at | MESSAGE, this.length);
    }
    return at;
  }

  /** Whether take() may find something (the wait core's check): false while nothing was published since it found nothing. */
  mayTake(): boolean {
    const cells = this.cells;
    if (Atomics.load(cells, SENT) !== this.#emptySent || Atomics.load(cells, DATA_SEQ) !== this.#emptySeq || this.ring.orphansMayWait()) {
      return this.ring.dataThere();
    }
    return false;
  }

  /** Forget what the last empty take() saw: the next one looks at CLAIM (after a wait slice, in case a death went unannounced). */
  lookAgain(): void {
    this.#emptySent = Number.NaN;
  }

  /** Frees a message taken by take() (counted as received) and wakes parked producers. */
  free(at: number): void {
    Atomics.add(this.cells, RECEIVED, 1); // counted before freed: a death in between leaves length low, not high
    this.ring.free(at);
  }

  /** Gives back a message taken by take() without consuming it (for the next consumer). */
  untake(at: number): void {
    this.ring.giveBack(at);
    this.#takes = ORPHAN_LOOKS - 1; // our next take looks for orphans first: this one comes back first
  }

  /** Copies out (and decodes) the message at `at`, then frees it, also when it does not decode (consumed; thrown for it alone). */
  takeOut(at: number, length: number): unknown {
    let message: unknown;
    try {
      message = this.copyOut(at, length);
    } catch (err) {
      this.free(at);
      throw err;
    }
    this.free(at);
    return message;
  }

  /** The message at `at`: a new Buffer, or the decoded value. */
  copyOut(at: number, length: number): unknown {
    const start = at & this.#mask;
    if (this.#encoding !== undefined) return decodeMessage(this.#encoding, this.#data.subarray(start, start + length), 'queue', this.#name);
    const out = Buffer.allocUnsafe(length);
    this.copyInto(out, 0, at, length);
    return out;
  }

  /** Copies the `length`-byte message at `at` into `target` at `offset`. */
  copyInto(target: Uint8Array, offset: number, at: number, length: number): void {
    // One set() from a view made for it: a byte loop over shared memory
    // costs over 3 ns a byte (224 ns for 64 bytes, against 67).
    target.set(new Uint8Array(this.#buffer, this.#dataStart + (at & this.#mask), length), offset);
  }

  /** A view of the `length`-byte message at `at` inside the ring. */
  view(at: number, length: number): Uint8Array {
    return new Uint8Array(this.#buffer, this.#dataStart + (at & this.#mask), length);
  }

  /**
   * Takes up to `max` messages that are there now into `out` (decoded),
   * freeing each. A message that does not decode ends the batch: thrown
   * (and consumed) if it is the first, else given back for the next call.
   * Returns how many were taken.
   */
  takeBatch(max: number, out: unknown[]): number {
    const taken = this.#batchAt;
    let n = 0;
    while (n < max) {
      const at = this.take();
      if (at === NO_ROOM) break;
      const length = this.length;
      let message: unknown;
      try {
        message = this.copyOut(at, length);
      } catch (err) {
        if (n > 0) {
          this.untake(at);
          break;
        }
        this.free(at);
        throw err;
      }
      out.push(message);
      taken[n++] = at;
    }
    if (n > 0) {
      // Counted before freed (a death in between leaves length low, not
      // high), once for the batch; HEAD moves once past all of them.
      Atomics.add(this.cells, RECEIVED, n);
      for (let k = 0; k < n; k++) this.ring.markFree(taken[k] as number);
      if (this.ring.advanceHead()) this.ring.announceSpace();
    }
    return n;
  }
}

/** Takes between looks for orphans while messages flow (a power of two). */
const ORPHAN_LOOKS = 64;

/** What #nothingThere() returns when the stamp changed meanwhile: look again. */
const AGAIN = -5;
