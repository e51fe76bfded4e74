/**
 * Queue: a ring of variable-length records in shared memory, many producers
 * and many consumers, no lock held while a message is copied.
 *
 *  0       64        128       192         256       320           384            512      640      768             2816            4864
 *  +-------+---------+---------+-----------+---------+-------------+--------------+--------+--------+---------------+---------------+----------------+
 *  |header | geometry| TAIL,   | SENT,     | HEAD,   | RECEIVED,   | DATA_SEQ,    | prod.  | cons.  | producer slots| consumer slots| data           |
 *  |kind 7 | CAPACITY| RESERVE,| SENT_     | CLAIM,  | RECEIVED_   | DATA_WAITERS,| role   | role   | 16 Mutexes    | 16 Mutexes    | CAPACITY bytes |
 *  |v 2    | FLAGS   | P_WANT  | SHARED    | ORPHANS,| SHARED      | SPACE_SEQ,   | Mutex  | Mutex  | (128 B each)  | (128 B each)  |                |
 *  |       | MAX_MSG |         |           | C_WANT  |             | SPACE_WAITERS|        |        |               |               |                |
 *  |       | SLOTS   |         |           |         |             |              |        |        |               |               |                |
 *  +-------+---------+-------------+--------------+--------------+--------+--------+---------------+---------------+----------------+
 *
 * Positions count bytes since creation, wrapping at 2^32; the record at
 * position p lives at data offset p & (CAPACITY - 1) (a power of two).
 * Producer and consumer words sit on separate cache lines, and the
 * counters on lines of their own (nobody spins on them). Four cursors, in ring order:
 *
 *     HEAD <= CLAIM <= TAIL <= RESERVE <= HEAD + CAPACITY
 *
 *   [HEAD, CLAIM)    taken by consumers: being copied out, or released
 *   [CLAIM, TAIL)    complete messages nobody took yet
 *   [TAIL, RESERVE)  taken by producers: being written, or written and
 *                    waiting for the records before them
 *
 * Record (8-aligned):  0 LEN i32 | 4 SIZE i32 | 8 payload | pad to 8
 *   SIZE: bytes from this record to the next. A message record has
 *   SIZE = recordSize(LEN) exactly (so its padding, SIZE - 8 - LEN, is 0..7).
 *   LEN >= 0          a complete message of LEN bytes
 *   LEN = PADDING -1  filler up to the end of the data area
 *   LEN = RELEASED -2 consumed (or a producer's claim that was abandoned)
 *   LEN = -16 - s     claimed by the producer holding producer slot s (0..15),
 *                     not written yet
 *   LEN = -1024 - 8s - pad
 *                     a message (of SIZE - 8 - pad bytes) being taken by the
 *                     consumer holding consumer slot s
 *
 * Two ways to write, two ways to read:
 * - Exclusive (a lone producer): hold the producer role while TAIL ==
 *   RESERVE, write records past TAIL, then store RESERVE and TAIL past them.
 *   A lone consumer likewise holds the consumer role while HEAD == CLAIM and
 *   moves both. This is the fast path, and what a foreign (C) peer does.
 * - Shared: under the role, write the header of each record claimed (a
 *   claim tag and SIZE) and move RESERVE (or, for consumers, retag the
 *   messages and move CLAIM); release the role; copy; then store LEN (the
 *   message, or RELEASED) and move TAIL (HEAD) past every finished record at
 *   its front with compare-and-swap, whoever finished them.
 * - Whoever wants the role while another has it adds 1 to P_WANT (C_WANT),
 *   and an exclusive holder that sees it change releases the role after its
 *   current operation and both go shared for a while.
 * - A slot's Mutex is held (robust) by its producer or consumer from before
 *   its first claim until its last claim is finished. A claim whose slot
 *   has no holder belongs to a dead process: the first to notice takes the
 *   slot, turns that producer's claims into RELEASED records, or that
 *   consumer's claims back into messages (ORPHANS counts them, and the next
 *   shared consumer takes them), and releases the slot.
 * - Counters: messages sent = SENT (kept by exclusive writers, under the
 *   role) + SENT_SHARED (atomic adds by shared writers); received likewise.
 *   Each is counted just after the message is finished (taken), so a death
 *   in between leaves the count of waiting messages low, never high.
 * - A message is at most MAX_MSG = CAPACITY / 2 - 8 bytes, so it always
 *   fits once the ring is empty, wherever the cursors stand.
 */
import { HEADER_LENGTH, Kind } from '../layout/header.js';
import { MUTEX_LENGTH } from '../sync/mutex-layout.js';

export const QUEUE_KIND = Kind.Queue;
export const QUEUE_VERSION = 2;

/** Producer and consumer slots (at most this many of each work in parallel). */
export const SLOT_COUNT = 16;

export const CAPACITY_OFFSET = HEADER_LENGTH;
export const FLAGS_OFFSET = HEADER_LENGTH + 4;
export const MAX_MESSAGE_OFFSET = HEADER_LENGTH + 8;
export const SLOTS_OFFSET = HEADER_LENGTH + 12;
export const TAIL_OFFSET = 128;
export const RESERVE_OFFSET = 132;
export const P_WANT_OFFSET = 136;
// Counters get lines of their own: consumers spin on TAIL's line, and every
// extra write there would pull it back from them.
export const SENT_OFFSET = 192;
export const SENT_SHARED_OFFSET = 196;
export const HEAD_OFFSET = 256;
export const CLAIM_OFFSET = 260;
export const ORPHANS_OFFSET = 264;
export const C_WANT_OFFSET = 268;
export const RECEIVED_OFFSET = 320;
export const RECEIVED_SHARED_OFFSET = 324;
export const DATA_SEQ_OFFSET = 384;
export const DATA_WAITERS_OFFSET = 388;
export const SPACE_SEQ_OFFSET = 392;
export const SPACE_WAITERS_OFFSET = 396;
export const PRODUCER_ROLE_OFFSET = 512;
export const CONSUMER_ROLE_OFFSET = 640;
export const PRODUCER_SLOTS_OFFSET = 768;
export const CONSUMER_SLOTS_OFFSET = PRODUCER_SLOTS_OFFSET + SLOT_COUNT * MUTEX_LENGTH;
export const DATA_OFFSET = CONSUMER_SLOTS_OFFSET + SLOT_COUNT * MUTEX_LENGTH;

/** FLAGS bits. */
export const FLAG_ENDED = 1;

/** Record header. */
export const RECORD_HEADER_LENGTH = 8;
export const RECORD_ALIGNMENT = 8;
export const LEN_FIELD = 0;
export const SIZE_FIELD = 4;
/** LEN of a filler record that runs to the end of the data area. */
export const PADDING = -1;
/** LEN of a record that was consumed (or an abandoned claim). */
export const RELEASED = -2;
/** LEN of a record claimed by producer slot s: PRODUCER_TAG - s. */
export const PRODUCER_TAG = -16;
/** LEN of a message taken by consumer slot s, with pad bytes of padding: CONSUMER_TAG - 8 s - pad. */
export const CONSUMER_TAG = -1024;

export const MIN_CAPACITY = 64;
export const MAX_CAPACITY = 2 ** 30;

/** Int32 indexes, relative to the object start. */
export const CAPACITY = CAPACITY_OFFSET / 4;
export const FLAGS = FLAGS_OFFSET / 4;
export const MAX_MESSAGE = MAX_MESSAGE_OFFSET / 4;
export const SLOTS = SLOTS_OFFSET / 4;
export const TAIL = TAIL_OFFSET / 4;
export const RESERVE = RESERVE_OFFSET / 4;
export const SENT = SENT_OFFSET / 4;
export const SENT_SHARED = SENT_SHARED_OFFSET / 4;
export const P_WANT = P_WANT_OFFSET / 4;
export const HEAD = HEAD_OFFSET / 4;
export const CLAIM = CLAIM_OFFSET / 4;
export const RECEIVED = RECEIVED_OFFSET / 4;
export const RECEIVED_SHARED = RECEIVED_SHARED_OFFSET / 4;
export const ORPHANS = ORPHANS_OFFSET / 4;
export const C_WANT = C_WANT_OFFSET / 4;
export const DATA_SEQ = DATA_SEQ_OFFSET / 4;
export const DATA_WAITERS = DATA_WAITERS_OFFSET / 4;
export const SPACE_SEQ = SPACE_SEQ_OFFSET / 4;
export const SPACE_WAITERS = SPACE_WAITERS_OFFSET / 4;

/** Total bytes of a queue whose data area holds `capacity` bytes. */
export function queueLength(capacity: number): number {
  return DATA_OFFSET + capacity;
}

/** Largest message a queue of `capacity` data bytes accepts. */
export function maxMessage(capacity: number): number {
  return capacity / 2 - RECORD_HEADER_LENGTH;
}

/** Bytes a record with `length` payload bytes occupies. */
export function recordSize(length: number): number {
  return (RECORD_HEADER_LENGTH + length + RECORD_ALIGNMENT - 1) & ~(RECORD_ALIGNMENT - 1);
}

/** Producer slot of a producer claim tag, or -1 if `len` is not one. */
export function producerSlotOf(len: number): number {
  const s = PRODUCER_TAG - len;
  return s >= 0 && s < SLOT_COUNT ? s : -1;
}

/** Consumer slot of a consumer claim tag, or -1 if `len` is not one. */
export function consumerSlotOf(len: number): number {
  const v = CONSUMER_TAG - len;
  return v >= 0 && v < SLOT_COUNT * 8 ? v >> 3 : -1;
}

/** The consumer claim tag for slot `slot` on a message record of `size` bytes and `length` payload. */
export function consumerTag(slot: number, size: number, length: number): number {
  return CONSUMER_TAG - 8 * slot - (size - RECORD_HEADER_LENGTH - length);
}

/** Payload length of a message record of `size` bytes carrying consumer tag `len`. */
export function taggedLength(len: number, size: number): number {
  return size - RECORD_HEADER_LENGTH - ((CONSUMER_TAG - len) & 7);
}
