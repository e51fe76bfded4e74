/**
 * The shared-mode half of the Queue ring (see queue-layout.ts): moving TAIL
 * and HEAD past records that several producers or consumers finished in any
 * order, and cleaning up after the ones that died holding claims. Nothing
 * here is on the lone-producer, lone-consumer fast path.
 */
import { ShmkitError } from '../errors.js';
import { Mutex } from '../sync/mutex.js';
import { MUTEX_LENGTH } from '../sync/mutex-layout.js';
import { wake } from '../sync/wait.js';
import {
  CLAIM, CONSUMER_SLOTS_OFFSET, DATA_OFFSET, DATA_SEQ, DATA_WAITERS, HEAD, ORPHANS, PADDING, PRODUCER_SLOTS_OFFSET, PRODUCER_TAG,
  RECORD_HEADER_LENGTH, RELEASED, RESERVE, SLOT_COUNT, SPACE_SEQ, SPACE_WAITERS, TAIL, consumerSlotOf, consumerTag, producerSlotOf,
  recordSize, taggedLength,
} from './queue-layout.js';

/** "No position": positions are multiples of 8, so -1 never is one. */
export const NONE = -1;

/** An orphan adopted by adoptOrphan(): where it is and how long its message is. */
export interface Adopted {
  at: number;
  length: number;
}

/** Per-process start for slot searches, so processes do not all try slot 0 first. */
const SLOT_START = (process.pid * 7) % SLOT_COUNT;

export class QueueRing {
  readonly cells: Int32Array;
  readonly words: Int32Array;
  readonly capacity: number;
  readonly mask: number;
  readonly producerSlots: Mutex[] = [];
  readonly consumerSlots: Mutex[] = [];
  constructor(buffer: SharedArrayBuffer, byteOffset: number, capacity: number, cells: Int32Array) {
    this.cells = cells;
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.words = new Int32Array(buffer, byteOffset + DATA_OFFSET, capacity / 4);
    for (let s = 0; s < SLOT_COUNT; s++) {
      this.producerSlots.push(Mutex.attach(buffer, byteOffset + PRODUCER_SLOTS_OFFSET + s * MUTEX_LENGTH, { spin: 0 }));
      this.consumerSlots.push(Mutex.attach(buffer, byteOffset + CONSUMER_SLOTS_OFFSET + s * MUTEX_LENGTH, { spin: 0 }));
    }
  }

  close(): void {
    for (const m of this.producerSlots) m.close();
    for (const m of this.consumerSlots) m.close();
  }

  /**
   * A record that breaks the format means the memory was overwritten: refuse
   * it rather than read garbage or loop. `room`: bytes from `at` to the
   * cursor that bounds it.
   */
  checkRecord(at: number, len: number, size: number, room: number): void {
    const off = at & this.mask;
    const ok = size >= RECORD_HEADER_LENGTH && (size & 7) === 0 && off + size <= this.capacity && room >= size &&
      ((len >= 0 && recordSize(len) === size) || (len === PADDING && off + size === this.capacity) || len === RELEASED ||
        producerSlotOf(len) >= 0 || (consumerSlotOf(len) >= 0 && taggedLength(len, size) >= 0));
    if (!ok) this.corrupt(at, len, size);
  }

  /** The error for a record that breaks the format. */
  corrupt(at: number, len: number, size: number): never {
    throw new ShmkitError('ERR_SHMKIT_BAD_LAYOUT', `Queue: corrupt record at position ${at >>> 0} (length ${len}, size ${size})`);
  }

  // ---- Slots ----------------------------------------------------------------------

  /** Takes a free producer slot (cleaning up after a dead holder); -1 if all are busy. */
  takeProducerSlot(): number {
    for (let i = 0; i < SLOT_COUNT; i++) {
      const s = (SLOT_START + i) % SLOT_COUNT;
      const got = (this.producerSlots[s] as Mutex).tryLock();
      if (got === false) continue;
      if (got.ownerDied) {
        this.#abandonProducerClaims(s);
        this.advanceTail();
      }
      return s;
    }
    return -1;
  }

  takeConsumerSlot(): number {
    for (let i = 0; i < SLOT_COUNT; i++) {
      const s = (SLOT_START + i) % SLOT_COUNT;
      const got = (this.consumerSlots[s] as Mutex).tryLock();
      if (got === false) continue;
      if (got.ownerDied) {
        this.#orphanConsumerClaims(s);
        this.advanceHead();
      }
      return s;
    }
    return -1;
  }

  // A claim whose slot nobody holds was left by a dead process.
  #abandoned(slots: Mutex[], s: number): boolean {
    return !(slots[s] as Mutex).locked;
  }

  // Takes dead producer slot `s`, turns its claims into RELEASED records, frees the slot.
  #reclaimProducerSlot(s: number): void {
    const slot = this.producerSlots[s] as Mutex;
    if (slot.tryLock() === false) return; // someone else is at it (or a new holder took it)
    try {
      this.#abandonProducerClaims(s);
    } finally {
      slot.unlock();
    }
  }

  // Takes dead consumer slot `s`, turns its claims back into messages, frees the slot.
  #reclaimConsumerSlot(s: number): void {
    const slot = this.consumerSlots[s] as Mutex;
    if (slot.tryLock() === false) return;
    try {
      this.#orphanConsumerClaims(s);
    } finally {
      slot.unlock();
    }
  }

  // With slot `s` held: its claims in [TAIL, RESERVE) become RELEASED, so
  // TAIL moves past them (their messages were never complete).
  #abandonProducerClaims(s: number): void {
    this.#walk(TAIL, RESERVE, new AbandonClaims(s));
  }

  // With slot `s` held: its claims in [HEAD, CLAIM) become messages again
  // (orphans, counted in ORPHANS) for the next shared consumer to take.
  #orphanConsumerClaims(s: number): void {
    const job = new OrphanClaims(s);
    this.#walk(HEAD, CLAIM, job);
    if (job.found > 0) this.announceData(job.found);
  }

  /**
   * `n` messages became takeable outside a producer's commit (orphans of a
   * dead consumer, messages a live one gave back): consumers parked on
   * DATA_SEQ wake and look again. Called after the messages' LEN stores.
   */
  announceData(n: number): void {
    const cells = this.cells;
    Atomics.add(cells, DATA_SEQ, 1);
    if (Atomics.load(cells, DATA_WAITERS) !== 0) wake(cells, DATA_SEQ, n);
  }

  /**
   * With the consumer role held: takes an orphan (a message a dead consumer
   * had taken) for consumer slot `slot`: its position and length, or null.
   * Rare (after a death), so it may allocate.
   */
  adoptOrphan(slot: number): Adopted | null {
    const job = new AdoptOrphan(slot);
    const at = this.#walk(HEAD, CLAIM, job);
    return at === NONE ? null : { at, length: job.length };
  }

  // The record walk the three jobs share: visits the records from
  // cells[from] to cells[to], each checked, until a job's visit() says stop.
  // Returns where it stopped, or NONE at the end.
  #walk(from: number, to: number, job: RecordJob): number {
    const cells = this.cells;
    const words = this.words;
    let p = Atomics.load(cells, from);
    for (;;) {
      const end = Atomics.load(cells, to);
      if (p === end) return NONE;
      const w = (p & this.mask) >> 2;
      const len = Atomics.load(words, w);
      const size = words[w + 1] as number;
      // Memory at p is reused only after HEAD passes it: if it did, the read
      // may be garbage, so start again from the front.
      if (((p - Atomics.load(cells, HEAD)) >>> 0) > this.capacity) {
        p = Atomics.load(cells, from);
        continue;
      }
      this.checkRecord(p, len, size, (end - p) >>> 0);
      if (job.visit(this, w, len, size)) return p;
      p = (p + size) | 0;
    }
  }

  // ---- Fronts ---------------------------------------------------------------------

  /**
   * Moves TAIL past every finished record at its front (whoever wrote it),
   * abandoning dead producers' claims on the way, and wakes consumers.
   * Returns whether TAIL moved.
   */
  advanceTail(): boolean {
    const cells = this.cells;
    const words = this.words;
    let moved = 0;
    for (;;) {
      const t = Atomics.load(cells, TAIL);
      const end = Atomics.load(cells, RESERVE);
      if (t === end) break;
      const w = (t & this.mask) >> 2;
      // acquire: pairs with the producer's release store of LEN (#commitShared): the payload is complete
      const len = Atomics.load(words, w);
      const size = words[w + 1] as number;
      if (Atomics.load(cells, TAIL) !== t) continue; // moved under us: the read may be stale
      this.checkRecord(t, len, size, (end - t) >>> 0);
      if (len >= 0 || len === PADDING || len === RELEASED) {
        // release (CAS): TAIL past a complete record publishes it to consumers, which load TAIL (acquire) before reading it
        if (Atomics.compareExchange(cells, TAIL, t, (t + size) | 0) === t && len >= 0) moved++;
        continue;
      }
      const s = producerSlotOf(len);
      if (s < 0 || !this.#abandoned(this.producerSlots, s)) break; // still being written
      this.#reclaimProducerSlot(s);
    }
    if (moved > 0 && Atomics.load(cells, DATA_WAITERS) !== 0) {
      Atomics.add(cells, DATA_SEQ, 1);
      wake(cells, DATA_SEQ, moved);
    }
    return moved > 0;
  }

  /** Moves HEAD past every released record at its front, orphaning dead consumers' claims, and wakes producers. */
  advanceHead(): boolean {
    const cells = this.cells;
    const words = this.words;
    let moved = false;
    for (;;) {
      const h = Atomics.load(cells, HEAD);
      const end = Atomics.load(cells, CLAIM);
      if (h === end) break;
      const w = (h & this.mask) >> 2;
      // acquire: pairs with the consumer's release store of RELEASED: it is done with the message
      const len = Atomics.load(words, w);
      const size = words[w + 1] as number;
      if (Atomics.load(cells, HEAD) !== h) continue;
      this.checkRecord(h, len, size, (end - h) >>> 0);
      if (len === RELEASED || len === PADDING) {
        // release (CAS): HEAD past a freed record hands its memory to producers, which load HEAD (acquire) before reusing it
        if (Atomics.compareExchange(cells, HEAD, h, (h + size) | 0) === h) moved = true;
        continue;
      }
      const s = consumerSlotOf(len);
      if (s < 0 || !this.#abandoned(this.consumerSlots, s)) break; // being taken, or an orphan waiting
      this.#reclaimConsumerSlot(s);
    }
    if (moved && Atomics.load(cells, SPACE_WAITERS) !== 0) {
      Atomics.add(cells, SPACE_SEQ, 1);
      wake(cells, SPACE_SEQ, 0);
    }
    return moved;
  }

  /** Cleans up after dead peers at both fronts (called by waiters now and then). */
  repair(): void {
    this.advanceTail();
    this.advanceHead();
  }
}

// ---- The walk's jobs (rare paths: after a death) --------------------------------

/** One job of QueueRing's record walk: visit() is called for each record; true stops the walk there. */
interface RecordJob {
  visit(ring: QueueRing, w: number, len: number, size: number): boolean;
}

/** A dead producer's claims (slot `slot`) become RELEASED. */
class AbandonClaims implements RecordJob {
  constructor(readonly slot: number) {}
  visit(ring: QueueRing, w: number, len: number): boolean {
    if (len === PRODUCER_TAG - this.slot) Atomics.compareExchange(ring.words, w, len, RELEASED);
    return false;
  }
}

/** A dead consumer's claims (slot `slot`) become messages again; counts them. */
class OrphanClaims implements RecordJob {
  found = 0;
  constructor(readonly slot: number) {}
  visit(ring: QueueRing, w: number, len: number, size: number): boolean {
    if (consumerSlotOf(len) === this.slot && Atomics.compareExchange(ring.words, w, len, taggedLength(len, size)) === len) {
      Atomics.add(ring.cells, ORPHANS, 1);
      this.found++;
    }
    return false;
  }
}

/** The first orphan becomes consumer slot `slot`'s; stops there with its length. */
class AdoptOrphan implements RecordJob {
  length = 0;
  constructor(readonly slot: number) {}
  visit(ring: QueueRing, w: number, len: number, size: number): boolean {
    if (len < 0 || Atomics.compareExchange(ring.words, w, len, consumerTag(this.slot, size, len)) !== len) return false;
    Atomics.sub(ring.cells, ORPHANS, 1);
    this.length = len;
    return true;
  }
}
