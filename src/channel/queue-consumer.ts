/**
 * The consumer side of a Queue handle: taking messages from the ring and
 * freeing them, exclusively (a lone consumer: records at HEAD, then CLAIM
 * and HEAD move together) or shared (retag messages under the role, copy
 * with no lock held, free in any order; HEAD moves past freed records).
 * The rules are in queue-layout.ts; the role handling in queue-role.ts.
 */
import type { Mutex } from '../sync/mutex.js';
import { wake } from '../sync/wait.js';
import { decodeMessage, type Encoding } from './codec.js';
import { BUSY, GO_EXCLUSIVE, NO_ROOM, QueueRole, type RoleHost } from './queue-role.js';
import type { QueueRing } from './queue-ring.js';
import {
  CLAIM, C_WANT, HEAD, ORPHANS, RECEIVED, RECEIVED_SHARED, RECORD_HEADER_LENGTH, RELEASED, SPACE_SEQ, SPACE_WAITERS, TAIL, consumerSlotOf,
  consumerTag, taggedLength,
} from './queue-layout.js';

/**
 * What a take step got: `status` TAKEN (the message at `at`, `length`
 * bytes, taken `shared` or exclusively), NO_ROOM (nothing committed) or
 * BUSY. One per consumer, reused: valid until its next take.
 */
export interface Taken {
  status: number;
  at: number;
  length: number;
  shared: boolean;
}

/** Taken.status: a message was taken. */
export const TAKEN = 0;

export class QueueConsumer extends QueueRole {
  readonly #data: Buffer;
  readonly #bytes: Uint8Array;
  readonly #words: Int32Array;
  readonly #mask: number;
  readonly #encoding: Encoding;
  readonly #name: string | null;
  readonly #taken: Taken = { status: TAKEN, at: 0, length: 0, shared: false };
  // Positions and lengths of a shared batch, reused.
  readonly #batchAt: number[] = [];
  readonly #batchLength: number[] = [];
  // Exclusive: our HEAD and the TAIL we last saw.
  #head = 0;
  #tailSeen = 0;

  constructor(ring: QueueRing, data: Buffer, bytes: Uint8Array, role: Mutex, alwaysShared: boolean, host: RoleHost, encoding: Encoding, name: string | null) {
    super(ring, role, ring.consumerSlots, C_WANT, alwaysShared, host);
    this.#data = data;
    this.#bytes = bytes;
    this.#words = ring.words;
    this.#mask = ring.mask;
    this.#encoding = encoding;
    this.#name = name;
  }

  protected startExclusive(): boolean {
    const cells = this.cells;
    const head = Atomics.load(cells, HEAD);
    if (head !== Atomics.load(cells, CLAIM)) return false; // another consumer's claim is open
    this.#head = head;
    this.#tailSeen = head;
    return true;
  }

  /** With the role held: the next message taken for this handle, exclusive or shared. */
  take(): Taken {
    const t = this.#taken;
    t.shared = !this.exclusiveStill();
    if (t.shared) {
      const n = this.#claimMessages(1);
      if (n === GO_EXCLUSIVE) t.shared = false;
      else {
        t.status = n === BUSY ? BUSY : n === 0 ? NO_ROOM : TAKEN;
        t.at = this.#batchAt[0] as number;
        t.length = this.#batchLength[0] as number;
        return t;
      }
    }
    const at = this.#nextExclusive(t);
    t.status = at === NO_ROOM ? NO_ROOM : TAKEN;
    t.at = at;
    return t;
  }

  /** Frees a message taken by take() (exclusive or shared). */
  free(at: number, shared: boolean): void {
    if (!shared) {
      this.#releaseExclusive(at);
      this.#publishHead();
      return;
    }
    Atomics.add(this.cells, RECEIVED_SHARED, 1);
    // release: we are done reading the message; advanceHead() in any process
    // loads LEN (acquire) before HEAD moves past it and a producer reuses it
    Atomics.store(this.#words, (at & this.#mask) >> 2, RELEASED);
    this.ring.advanceHead();
  }

  /** Gives back a message taken by take() without consuming it. */
  untake(at: number, length: number, shared: boolean): void {
    if (shared) {
      // Back to a message for the next consumer (an orphan of a live one).
      Atomics.store(this.#words, (at & this.#mask) >> 2, length);
      Atomics.add(this.cells, ORPHANS, 1);
      this.ring.announceData(1); // a consumer parked meanwhile takes it now, not at its next repair slice
    } else if (at !== this.#head) {
      this.#head = at; // fillers before it stay skipped
      this.#publishHead();
    }
    this.yield();
  }

  /** Copies out (and decodes) the message at `at`, then frees it, also when it does not decode (consumed; thrown for it alone). */
  takeOut(at: number, length: number, shared: boolean): unknown {
    let message: unknown;
    try {
      message = this.copyOut(at, length);
    } catch (err) {
      this.free(at, shared);
      this.yield();
      throw err;
    }
    this.free(at, shared);
    return message;
  }

  /** The message at `at`: a new Buffer, or the decoded value. */
  copyOut(at: number, length: number): unknown {
    const start = (at & this.#mask) + RECORD_HEADER_LENGTH;
    if (this.#encoding !== undefined) return decodeMessage(this.#encoding, this.#data.subarray(start, start + length), 'queue', this.#name);
    const out = Buffer.allocUnsafe(length);
    this.copyInto(out, 0, at, length);
    return out;
  }

  /** Copies the `length`-byte message at `at` into `target` at `offset`. */
  copyInto(target: Uint8Array, offset: number, at: number, length: number): void {
    const start = (at & this.#mask) + RECORD_HEADER_LENGTH;
    // A plain Uint8Array view: its subarray() is cheaper than Buffer's, and
    // set() beats Buffer#copy at every size.
    target.set(this.#bytes.subarray(start, start + length), offset);
  }

  /** A view of the `length`-byte message at `at` inside the ring. */
  view(at: number, length: number): Uint8Array {
    const off = (at & this.#mask) + RECORD_HEADER_LENGTH;
    return this.#bytes.subarray(off, off + length);
  }

  /**
   * With the role held: takes up to `max` messages that are there now into
   * `out` (decoded), freeing them together. A message that does not decode
   * ends the batch: thrown (and consumed) if it is the first, else left for
   * the next call. Returns BUSY or how many were taken.
   */
  takeBatch(max: number, out: unknown[]): number {
    if (this.exclusiveStill()) return this.#takeBatchExclusive(max, out);
    const n = this.#claimMessages(max);
    if (n === GO_EXCLUSIVE) return this.#takeBatchExclusive(max, out);
    if (n === BUSY || n === 0) {
      this.yield();
      return n;
    }
    const at = this.#batchAt;
    const lengths = this.#batchLength;
    let failure: unknown;
    let k = 0;
    for (; k < n; k++) {
      try {
        out.push(this.copyOut(at[k] as number, lengths[k] as number));
      } catch (err) {
        failure = err;
        break;
      }
    }
    const consumed = failure !== undefined && k === 0 ? 1 : k;
    const cells = this.cells;
    const words = this.#words;
    Atomics.add(cells, RECEIVED_SHARED, consumed);
    // release (each): done reading, as in free()
    for (let i = 0; i < consumed; i++) Atomics.store(words, ((at[i] as number) & this.#mask) >> 2, RELEASED);
    for (let i = consumed; i < n; i++) {
      // Given back: a message again, for the next consumer (an orphan of a live one).
      Atomics.store(words, ((at[i] as number) & this.#mask) >> 2, lengths[i] as number);
      Atomics.add(cells, ORPHANS, 1);
    }
    if (consumed < n) this.ring.announceData(n - consumed);
    this.ring.advanceHead();
    this.yield();
    if (failure !== undefined && k === 0) throw failure;
    return k;
  }

  #takeBatchExclusive(max: number, out: unknown[]): number {
    const t = this.#taken;
    let n = 0;
    while (n < max) {
      const at = this.#nextExclusive(t);
      if (at === NO_ROOM) break;
      let message: unknown;
      try {
        message = this.copyOut(at, t.length);
      } catch (err) {
        // Does not decode: it ends the batch, and is consumed (thrown) alone.
        if (n > 0) break;
        this.#releaseExclusive(at);
        this.#publishHead();
        this.yield();
        throw err;
      }
      out.push(message);
      this.#releaseExclusive(at);
      n++;
    }
    if (n > 0) this.#publishHead();
    this.yield();
    return n;
  }

  // ---- Exclusive ---------------------------------------------------------------------

  // Position of the next message (its length in t.length), skipping
  // fillers and records already released; NO_ROOM when there is none.
  #nextExclusive(t: Taken): number {
    const words = this.#words;
    let head = this.#head;
    for (;;) {
      if (head === this.#tailSeen) {
        // acquire: pairs with the producer's release store of TAIL; the
        // records before it are complete
        this.#tailSeen = Atomics.load(this.cells, TAIL);
        if (head === this.#tailSeen) {
          if (head !== this.#head) {
            this.#head = head;
            this.#publishHead();
          }
          return NO_ROOM;
        }
      }
      const w = (head & this.#mask) >> 2;
      let len = words[w] as number;
      const size = words[w + 1] as number;
      this.ring.checkRecord(head, len, size, (this.#tailSeen - head) >>> 0);
      if (len < RELEASED) {
        // A consumer died while taking it, before it could move CLAIM: still ours to take.
        if (consumerSlotOf(len) < 0) this.ring.corrupt(head, len, size);
        len = taggedLength(len, size);
        words[w] = len;
      }
      if (len >= 0) {
        if (head !== this.#head) {
          this.#head = head;
          this.#publishHead();
        }
        t.length = len;
        return head;
      }
      head = (head + size) | 0; // PADDING or RELEASED
    }
  }

  // Frees the record at `at`: LEN = RELEASED, our HEAD past it (published by #publishHead).
  #releaseExclusive(at: number): void {
    const w = (at & this.#mask) >> 2;
    const size = this.#words[w + 1] as number;
    // Counted before it is freed: a death in between leaves `length` low, not high.
    this.cells[RECEIVED] = ((this.cells[RECEIVED] as number) + 1) | 0; // only the role holder writes it
    this.#words[w] = RELEASED;
    this.#head = (at + size) | 0;
  }

  // CLAIM and HEAD move together (CLAIM first: HEAD <= CLAIM).
  #publishHead(): void {
    const cells = this.cells;
    cells[CLAIM] = this.#head; // ordered before HEAD by its release store
    // release: we are done with the memory before HEAD; a producer that
    // loads HEAD (acquire) may reuse it
    Atomics.store(cells, HEAD, this.#head);
    if (Atomics.load(cells, SPACE_WAITERS) !== 0) {
      Atomics.add(cells, SPACE_SEQ, 1);
      wake(cells, SPACE_SEQ, 0);
    }
  }

  // ---- Shared ------------------------------------------------------------------------

  // With the role held: takes up to `max` messages (positions and lengths
  // in the batch arrays), orphans first, then releases the role. Returns
  // how many, BUSY when no slot is free and other claims are open, or
  // GO_EXCLUSIVE when no slot is free and none is open (role kept).
  #claimMessages(max: number): number {
    const cells = this.cells;
    const words = this.#words;
    if (this.slot < 0 && !this.slotTaken(this.ring.takeConsumerSlot())) {
      // All slots busy: take exclusively once the open claims are done.
      if (this.startExclusive()) {
        this.goExclusive();
        return GO_EXCLUSIVE;
      }
      this.drop();
      return BUSY;
    }
    const slot = this.slot;
    const at = this.#batchAt;
    const lengths = this.#batchLength;
    let n = 0;
    while (n < max && Atomics.load(cells, ORPHANS) > 0) {
      const orphan = this.ring.adoptOrphan(slot);
      if (orphan === null) break;
      at[n] = orphan.at;
      lengths[n] = orphan.length;
      n++;
    }
    const start = Atomics.load(cells, CLAIM);
    let c = start;
    let skipped = false;
    if (n < max) {
      // acquire: pairs with the release store of TAIL; records before it are complete
      const tail = Atomics.load(cells, TAIL);
      while (c !== tail) {
        const w = (c & this.#mask) >> 2;
        let len = words[w] as number;
        const size = words[w + 1] as number;
        this.ring.checkRecord(c, len, size, (tail - c) >>> 0);
        // A tag here was left by a consumer that died before moving CLAIM.
        if (consumerSlotOf(len) >= 0) len = taggedLength(len, size);
        else if (len < -2) this.ring.corrupt(c, len, size);
        if (len >= 0) {
          Atomics.store(words, w, consumerTag(slot, size, len));
          at[n] = c;
          lengths[n] = len;
          n++;
        } else {
          skipped = true;
        }
        c = (c + size) | 0;
        if (n === max) break;
      }
    }
    // release: our tags are on the records before CLAIM moves past them, for
    // the next claimant and for advanceHead()
    if (c !== start) Atomics.store(cells, CLAIM, c);
    this.drop();
    if (skipped) this.ring.advanceHead();
    return n;
  }
}
