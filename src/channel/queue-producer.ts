/**
 * The producer side of a Queue handle: claiming room in the ring, writing
 * records, and publishing them, exclusively (a lone producer: records past
 * TAIL, then RESERVE and TAIL move together) or shared (claim under the
 * role, write with no lock held, publish in ring order with the others).
 * The rules are in queue-layout.ts; the role handling in queue-role.ts.
 */
import type { Mutex } from '../sync/mutex.js';
import { wake } from '../sync/wait.js';
import { BUSY, GO_EXCLUSIVE, NO_ROOM, QueueRole, type RoleHost } from './queue-role.js';
import type { QueueRing } from './queue-ring.js';
import {
  DATA_SEQ, DATA_WAITERS, HEAD, PADDING, PRODUCER_TAG, P_WANT, RECORD_HEADER_LENGTH, RELEASED, RESERVE, SENT, SENT_SHARED, TAIL, recordSize,
} from './queue-layout.js';

/**
 * What a claim step got: `status` CLAIMED (a record at `at`, `shared` or
 * exclusive), NO_ROOM (full) or BUSY. One per producer, reused: valid until
 * its next claim.
 */
export interface Claim {
  status: number;
  at: number;
  shared: boolean;
}

/** Claim.status: a record was claimed. */
export const CLAIMED = 0;

export class QueueProducer extends QueueRole {
  readonly #data: Buffer;
  readonly #words: Int32Array;
  readonly #mask: number;
  readonly #capacity: number;
  readonly #claim: Claim = { status: CLAIMED, at: 0, shared: false };
  // Positions of a shared batch, reused.
  readonly #batchAt: number[] = [];
  // Exclusive: our TAIL, the HEAD we last saw, and records written but not published.
  #tail = 0;
  #headSeen = 0;
  #unpublished = 0;

  constructor(ring: QueueRing, data: Buffer, role: Mutex, alwaysShared: boolean, host: RoleHost) {
    super(ring, role, ring.producerSlots, P_WANT, alwaysShared, host);
    this.#data = data;
    this.#words = ring.words;
    this.#mask = ring.mask;
    this.#capacity = ring.capacity;
  }

  protected startExclusive(): boolean {
    const cells = this.cells;
    const tail = Atomics.load(cells, TAIL);
    if (tail !== Atomics.load(cells, RESERVE)) return false; // another producer's claim is open
    this.#tail = tail;
    this.#headSeen = Atomics.load(cells, HEAD);
    return true;
  }

  /** With the role held: room for one record of `size` bytes, exclusive or shared (then the role is released). */
  claim(size: number): Claim {
    const c = this.#claim;
    c.shared = !this.exclusiveStill();
    if (c.shared) {
      const n = this.#claimShared(null, size);
      if (n === GO_EXCLUSIVE) c.shared = false;
      else {
        c.status = n === BUSY ? BUSY : n === 0 ? NO_ROOM : CLAIMED;
        c.at = this.#batchAt[0] as number;
        return c;
      }
    }
    const at = this.#placeExclusive(size);
    c.status = at === NO_ROOM ? NO_ROOM : CLAIMED;
    c.at = at;
    return c;
  }

  /** Copies `bytes` (`length` bytes) into the record claimed at `at`. */
  fill(at: number, bytes: Uint8Array | string, length: number): void {
    const off = (at & this.#mask) + RECORD_HEADER_LENGTH;
    if (typeof bytes === 'string') this.#data.write(bytes, off, length, 'utf8');
    else this.#data.set(bytes, off);
  }

  /** Completes and publishes the record claimed at `at` (claimed for `claimed` payload bytes, holding `length`). */
  finish(at: number, length: number, claimed: number, shared: boolean): void {
    if (shared) {
      this.#commitShared(at, length, recordSize(claimed));
      this.#publishShared(1);
    } else {
      this.#finishExclusive(at, length);
      this.#publishExclusive();
    }
    this.yield();
  }

  /**
   * With the role held: writes as many of `encoded` (payload `lengths`) as
   * fit, in order, published together. Returns how many, or BUSY.
   */
  sendBatch(encoded: readonly (Uint8Array | string)[], lengths: readonly number[]): number {
    let n = 0;
    if (!this.exclusiveStill()) {
      n = this.#claimShared(lengths, 0);
      if (n !== GO_EXCLUSIVE) {
        if (n !== BUSY) {
          const at = this.#batchAt;
          for (let i = 0; i < n; i++) this.fill(at[i] as number, encoded[i] as Uint8Array | string, lengths[i] as number);
          for (let i = 0; i < n; i++) this.#commitShared(at[i] as number, lengths[i] as number, recordSize(lengths[i] as number));
          if (n > 0) this.#publishShared(n);
        }
        this.yield();
        return n;
      }
      n = 0;
    }
    for (; n < encoded.length; n++) {
      const length = lengths[n] as number;
      const at = this.#placeExclusive(recordSize(length));
      if (at === NO_ROOM) break;
      this.fill(at, encoded[n] as Uint8Array | string, length);
      this.#finishExclusive(at, length);
    }
    if (n > 0) this.#publishExclusive();
    this.yield();
    return n;
  }

  // ---- Exclusive ---------------------------------------------------------------------

  // Finds room at our tail for a record of `size` bytes (after a filler if
  // it would cross the end). Returns its position, or NO_ROOM if full.
  #placeExclusive(size: number): number {
    let tail = this.#tail;
    const off = tail & this.#mask;
    const pad = off + size > this.#capacity ? this.#capacity - off : 0;
    if (this.#capacity - ((tail - this.#headSeen) >>> 0) < pad + size) {
      // acquire: HEAD past a record means its consumer is done with that memory
      this.#headSeen = Atomics.load(this.cells, HEAD);
      if (this.#capacity - ((tail - this.#headSeen) >>> 0) < pad + size) return NO_ROOM;
    }
    if (pad > 0) {
      const w = off >> 2;
      this.#words[w + 1] = pad;
      this.#words[w] = PADDING;
      tail = (tail + pad) | 0;
      this.#tail = tail;
    }
    return tail;
  }

  // Completes the record at `at` (payload in place); not yet visible.
  #finishExclusive(at: number, length: number): void {
    const size = recordSize(length);
    const w = (at & this.#mask) >> 2;
    this.#words[w + 1] = size;
    this.#words[w] = length;
    this.#tail = (at + size) | 0;
    this.#unpublished++;
  }

  // Makes every completed record visible and wakes a consumer.
  #publishExclusive(): void {
    const cells = this.cells;
    const n = this.#unpublished;
    this.#unpublished = 0;
    // A plain store is enough for RESERVE: the release store of TAIL after
    // it keeps RESERVE >= TAIL for every reader.
    cells[RESERVE] = this.#tail;
    // release: the records before TAIL (payloads and headers) are complete for
    // the consumer that loads TAIL (acquire) before reading them
    Atomics.store(cells, TAIL, this.#tail);
    cells[SENT] = ((cells[SENT] as number) + n) | 0; // only the role holder writes it
    if (Atomics.load(cells, DATA_WAITERS) !== 0) {
      Atomics.add(cells, DATA_SEQ, 1);
      wake(cells, DATA_SEQ, n);
    }
  }

  // ---- Shared ------------------------------------------------------------------------

  // With the role held: claims records for as many of `lengths` as fit (or
  // one record of `single` bytes when lengths is null; positions in
  // #batchAt), then releases the role. Returns how many, BUSY when no slot
  // is free and other claims are open, or GO_EXCLUSIVE when no slot is free
  // and none is open (the role is kept: write exclusively).
  #claimShared(lengths: readonly number[] | null, single: number): number {
    const cells = this.cells;
    const words = this.#words;
    if (this.slot < 0 && !this.slotTaken(this.ring.takeProducerSlot())) {
      // All slots busy: write exclusively once the open claims are done.
      if (this.startExclusive()) {
        this.goExclusive();
        return GO_EXCLUSIVE;
      }
      this.drop();
      return BUSY;
    }
    const tag = PRODUCER_TAG - this.slot;
    const head = Atomics.load(cells, HEAD);
    const batch = this.#batchAt;
    let r = Atomics.load(cells, RESERVE);
    let n = 0;
    const count = lengths === null ? 1 : lengths.length;
    for (; n < count; n++) {
      const size = lengths === null ? single : recordSize(lengths[n] as number);
      const off = r & this.#mask;
      const pad = off + size > this.#capacity ? this.#capacity - off : 0;
      if (this.#capacity - ((r - head) >>> 0) < pad + size) break;
      if (pad > 0) {
        words[(off >> 2) + 1] = pad;
        words[off >> 2] = PADDING;
        r = (r + pad) | 0;
      }
      const w = (r & this.#mask) >> 2;
      words[w + 1] = size;
      words[w] = tag;
      batch[n] = r;
      r = (r + size) | 0;
    }
    // release: the claim headers above are in place before RESERVE covers
    // them, for the next claimant and for advanceTail() (which loads RESERVE)
    if (n > 0) Atomics.store(cells, RESERVE, r);
    this.drop();
    return n;
  }

  // The record at `at` (claimed with `size` bytes) now holds `length` bytes.
  #commitShared(at: number, length: number, size: number): void {
    const words = this.#words;
    const w = (at & this.#mask) >> 2;
    const used = recordSize(length);
    if (used < size) {
      // A shorter commit: the rest of the claim becomes a released record.
      const rest = ((at + used) & this.#mask) >> 2;
      words[rest + 1] = size - used;
      words[rest] = RELEASED;
      words[w + 1] = used;
    }
    // release: payload (and a split's header) before LEN, for advanceTail()
    // in any process, which loads LEN (acquire) before moving TAIL past it
    Atomics.store(words, w, length);
  }

  #publishShared(n: number): void {
    Atomics.add(this.cells, SENT_SHARED, n);
    this.ring.advanceTail();
  }
}
