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
  readonly #bytes: Uint8Array;
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

  constructor(ring: QueueRing, data: Buffer, bytes: Uint8Array, host: SideHost, encoding: Encoding, name: string | null) {
    super(ring, ring.consumerSlots, host);
    this.#data = data;
    this.#bytes = bytes;
    this.#mask = ring.mask;
    this.#encoding = encoding;
    this.#name = name;
  }

  /**
   * Holding a slot: takes the next message (an orphan first), its length
   * in `length`. Returns its position, or NO_ROOM when nothing is there
   * to take (the record at CLAIM is still being written, or there is none).
   */
  take(): number {
    const cells = this.cells;
    const meta = this.meta;
    const ring = this.ring;
    const mine = TAKEN + this.slot;
    // acquire: a SENT (DATA_SEQ) that moved pairs with the add after a MESSAGE (SKIP) store
    const sent = Atomics.load(cells, SENT);
    const seq = Atomics.load(cells, DATA_SEQ);
    const orphans = ring.orphansMayWait();
    if (sent === this.#emptySent && seq === this.#emptySeq && !orphans && (++this.#skips & 255) !== 0) return NO_ROOM;
    this.#emptySent = Number.NaN;
    if (orphans) {
      const at = ring.adoptOrphan(this.slot);
      if (at !== NONE) {
        this.length = meta[ring.stampIndex(at) + 1] as number;
        ring.checkedCells(at, at | MESSAGE, this.length);
        return at;
      }
    }
    for (;;) {
      const c = Atomics.load(cells, CLAIM);
      const i = ring.stampIndex(c);
      // acquire: a MESSAGE stamp publishes the LEN and payload written before it
      const stamp = Atomics.load(meta, i);
      if ((stamp & POSITION_MASK) !== c) {
        // An older lap's stamp: nothing claimed here yet. Or a newer one:
        // the record was taken and freed since we read CLAIM, which moved.
        if (Atomics.load(cells, CLAIM) !== c) continue;
        this.#sawEmpty(sent, seq);
        return NO_ROOM;
      }
      const state = stamp & STATE_MASK;
      if (state === MESSAGE || state === SKIP || state === ORPHAN) {
        const len = meta[i + 1] as number;
        const n = ring.checkedCells(c, stamp, len);
        if (Atomics.compareExchange(meta, i, stamp, c | mine) !== stamp) continue; // another consumer took it
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
        const n = ring.checkedCells(c, stamp, meta[i + 1] as number);
        Atomics.compareExchange(cells, CLAIM, c, (c + n * CELL) | 0);
        continue;
      }
      if (state >= WRITING && state < WRITING + SLOT_COUNT) {
        // Being written. Unless its producer died (then it becomes a SKIP), nothing to take yet.
        if (ring.cleanUpAfter(ring.producerSlots, state - WRITING)) continue;
        this.#sawEmpty(sent, seq);
        return NO_ROOM;
      }
      if (state === FREE) {
        this.#sawEmpty(sent, seq);
        return NO_ROOM;
      }
      return ring.corrupt(c, stamp, meta[i + 1] as number);
    }
  }

  #sawEmpty(sent: number, seq: number): void {
    this.#emptySent = sent;
    this.#emptySeq = seq;
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
    const start = at & this.#mask;
    if (length <= 64) {
      // A byte loop beats making a subarray view for a message this short.
      const bytes = this.#bytes;
      for (let k = 0; k < length; k++) target[offset + k] = bytes[start + k] as number;
      return;
    }
    target.set(this.#bytes.subarray(start, start + length), offset);
  }

  /** A view of the `length`-byte message at `at` inside the ring. */
  view(at: number, length: number): Uint8Array {
    const off = at & this.#mask;
    return this.#bytes.subarray(off, off + length);
  }

  /**
   * Takes up to `max` messages that are there now into `out` (decoded),
   * freeing each. A message that does not decode ends the batch: thrown
   * (and consumed) if it is the first, else given back for the next call.
   * Returns how many were taken.
   */
  takeBatch(max: number, out: unknown[]): number {
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
      Atomics.add(this.cells, RECEIVED, 1);
      this.ring.markFree(at);
      n++;
    }
    if (n > 0 && this.ring.advanceHead()) this.ring.announceSpace();
    return n;
  }
}
