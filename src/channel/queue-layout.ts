/**
 * Queue: a ring of 64-byte cells in shared memory, many producers and many
 * consumers, and no lock anywhere: every claim is one compare-and-swap on a
 * record's head cell stamp, so a process that stops (descheduled, SIGSTOP,
 * killed) in the middle of its work never keeps another from claiming.
 *
 *  0       64         128       192     256       320        384           448          640             2688            4736         4736 + META
 *  +-------+----------+---------+-------+---------+----------+-------------+------------+---------------+---------------+------------+-------------+
 *  |header | CAPACITY | RESERVE | SENT  | CLAIM,  | RECEIVED | DATA_SEQ,   | producer   | producer slots| consumer slots| cell meta  | data        |
 *  |kind 7 | FLAGS    |         |       | ORPHANS,| (RCVD)   | DATA_WAIT., | slot claims| 16 Mutexes    | 16 Mutexes    | STAMP, LEN | CAPACITY    |
 *  |v 3    | MAX_MSG  |         |       | HEAD    |          | SPACE_SEQ,  | (AT, CELLS)| (128 B each)  | (128 B each)  | per cell   | bytes       |
 *  |       | SLOTS    |         |       |         |          | SPACE_WAIT. | x 16       |               |               | (8 B each) |             |
 *  |       | CELL     |         |       |         |          | FULL_WAITS, |            |               |               |            |             |
 *  |       |          |         |       |         |          | EMPTY_WAITS |            |               |               |            |             |
 *  +-------+----------+---------+-------+---------+----------+-------------+------------+---------------+---------------+------------+-------------+
 *
 * Positions count bytes since creation, wrapping at 2^32; cell i of the
 * ring holds positions p with (p & (CAPACITY - 1)) >> 6 == i. A record is
 * one or more whole cells, never crossing the end of the data area (a
 * SKIP record fills the cells up to the end when the next one would not
 * fit). The meta entry (STAMP, LEN) of a record's first cell, its head,
 * says what the record is; the entries of its other cells mean nothing.
 *
 *   STAMP = p | state, p a position (a multiple of 64), state one of:
 *     FREE 0        the record whose head was here, one lap before p, is
 *                   freed (any stamp of an older lap means the same)
 *     MESSAGE 1     head of a complete message at p; LEN = its bytes
 *     SKIP 2        head of a record to skip at p (filler, a shortened
 *                   commit, a dead producer's claim); LEN = -(its cells)
 *     ORPHAN 3      head of a message at p that a dead consumer had taken,
 *                   for any consumer to take (it is behind CLAIM)
 *     16 + s        WRITING: claimed at p by the producer holding producer
 *                   slot s; LEN = -(its cells) once written (see AT/CELLS)
 *     32 + s        TAKEN: taken by the consumer holding consumer slot s;
 *                   LEN as it was (a message's bytes, or -cells)
 *
 * Three cursors, each only ever moved forward by compare-and-swap, by anyone:
 *   HEAD <= CLAIM <= RESERVE <= HEAD + CAPACITY
 *   RESERVE  end of the records claimed by producers
 *   CLAIM    end of the records taken by consumers
 *   HEAD     end of the records freed, in ring order: memory before it is
 *            free for the next lap
 *
 * Producer (holding a producer slot s), a record (or a batch) of k cells:
 *   r = RESERVE; s0 = the STAMP at r. If s0 is a record of this lap
 *   (s0 & ~63 == r and s0 != r), its claimant has not moved RESERVE yet:
 *   move it for them (CAS RESERVE r -> r + 64 * cells, the cells from slot
 *   t's AT/CELLS when AT == r, else from LEN) and start again. Else there
 *   is room when r + 64k - HEAD <= CAPACITY (else try moving HEAD, see
 *   below, or the ring is full). Store CELLS = k, then AT = r, in slot s's
 *   claim words, then CAS the STAMP from s0 to r|WRITING(s): the claim.
 *   CAS RESERVE r -> r + 64k (a helper may have done it), store LEN = -k.
 *   Write the payload, store LEN = its bytes, store STAMP = r|MESSAGE
 *   (release: publishes LEN and the payload). SENT += 1; then if
 *   DATA_WAITERS != 0, DATA_SEQ += 1 and wake. A batch claims all its
 *   records at once and publishes the later heads (LEN, then MESSAGE)
 *   before the first.
 * Consumer (holding a consumer slot s):
 *   c = CLAIM; the STAMP at c. A MESSAGE or SKIP of this lap: CAS it to
 *   c|TAKEN(s) (the take; it acquires LEN and the payload: read LEN after
 *   it), then CAS CLAIM past it. TAKEN by
 *   another: move CLAIM past it for them. WRITING: a message being written
 *   (nothing to take yet, unless its producer is dead). Anything else
 *   (FREE, an older lap): nothing there, unless CLAIM moved meanwhile.
 *   After copying the message out: RECEIVED += 1, store STAMP = (c +
 *   CAPACITY)|FREE (release: done reading), then move HEAD: walk from
 *   h = HEAD over the records whose STAMP is (x + CAPACITY)|FREE up to
 *   CLAIM (cells from their LENs, valid while HEAD is still h) and CAS
 *   HEAD h -> the end of the walk; if it moved and SPACE_WAITERS != 0,
 *   SPACE_SEQ += 1 and wake.
 * Dead peers: a WRITING(s) or TAKEN(s) stamp whose slot Mutex can be
 *   locked (the kernel released it: its holder died) belongs to a dead
 *   process. Whoever finds one at CLAIM or at HEAD locks that slot, scans
 *   every STAMP for that slot's tag: a producer's claims become SKIP
 *   records (after moving RESERVE past them if needed), a consumer's
 *   messages become ORPHANs (then ORPHANS += how many, wake consumers) and
 *   its skips are freed; then unlocks it. A consumer looks for an orphan
 *   (CAS ORPHAN -> TAKEN) now and then (every 64th take, and whenever
 *   nothing is at CLAIM) if ORPHANS moved since its last search found none.
 * Statistics (u32, wrapping): SENT, RECEIVED above; FULL_WAITS (sends that
 *   parked for room) and EMPTY_WAITS (receives that parked for a message),
 *   each an atomic add once per call, by the waiter as it parks.
 * A message is at most MAX_MSG = CAPACITY / 2 bytes, so it always fits
 * once the ring is empty, wherever the cursors stand.
 */
import { HEADER_LENGTH, Kind } from '../layout/header.js';
import { MUTEX_LENGTH } from '../sync/mutex-layout.js';

export const QUEUE_KIND = Kind.Queue;
export const QUEUE_VERSION = 3;

/** Producer and consumer slots (at most this many of each work at once). */
export const SLOT_COUNT = 16;
/** Bytes per cell: a record is a whole number of cells. */
export const CELL = 64;
export const CELL_SHIFT = 6;

export const CAPACITY_OFFSET = HEADER_LENGTH;
export const FLAGS_OFFSET = HEADER_LENGTH + 4;
export const MAX_MESSAGE_OFFSET = HEADER_LENGTH + 8;
export const SLOTS_OFFSET = HEADER_LENGTH + 12;
export const CELL_OFFSET = HEADER_LENGTH + 16;
// Each cursor and counter on a line of its own: producers CAS RESERVE,
// consumers CLAIM, and a counter's add must not pull a cursor's line away.
export const RESERVE_OFFSET = 128;
export const SENT_OFFSET = 192;
export const CLAIM_OFFSET = 256;
export const ORPHANS_OFFSET = 260;
export const HEAD_OFFSET = 264;
export const RECEIVED_OFFSET = 320;
export const DATA_SEQ_OFFSET = 384;
export const DATA_WAITERS_OFFSET = 388;
export const SPACE_SEQ_OFFSET = 392;
export const SPACE_WAITERS_OFFSET = 396;
// Statistics bumped only by a wait that parks, beside the waiters count it
// has just added to (a line nobody writes on the fast path). Zero in queues
// made before they existed (the bytes were unused), so no version change.
export const FULL_WAITS_OFFSET = 400;
export const EMPTY_WAITS_OFFSET = 404;
/** Producer slot s's claim words: AT (position of its latest claim) at 448 + 8 s, CELLS at 452 + 8 s. */
export const SLOT_CLAIMS_OFFSET = 448;
export const PRODUCER_SLOTS_OFFSET = 640;
export const CONSUMER_SLOTS_OFFSET = PRODUCER_SLOTS_OFFSET + SLOT_COUNT * MUTEX_LENGTH;
export const META_OFFSET = CONSUMER_SLOTS_OFFSET + SLOT_COUNT * MUTEX_LENGTH;

/** FLAGS bits. */
export const FLAG_ENDED = 1;

/** STAMP states (the low 6 bits). */
export const FREE = 0;
export const MESSAGE = 1;
export const SKIP = 2;
export const ORPHAN = 3;
export const WRITING = 16;
export const TAKEN = 32;
export const STATE_MASK = CELL - 1;
export const POSITION_MASK = ~STATE_MASK;

export const MIN_CAPACITY = 64;
export const MAX_CAPACITY = 2 ** 30;

/** Int32 indexes, relative to the object start. */
export const CAPACITY = CAPACITY_OFFSET / 4;
export const FLAGS = FLAGS_OFFSET / 4;
export const MAX_MESSAGE = MAX_MESSAGE_OFFSET / 4;
export const SLOTS = SLOTS_OFFSET / 4;
export const CELL_INDEX = CELL_OFFSET / 4;
export const RESERVE = RESERVE_OFFSET / 4;
export const SENT = SENT_OFFSET / 4;
export const CLAIM = CLAIM_OFFSET / 4;
export const ORPHANS = ORPHANS_OFFSET / 4;
export const HEAD = HEAD_OFFSET / 4;
export const RECEIVED = RECEIVED_OFFSET / 4;
export const DATA_SEQ = DATA_SEQ_OFFSET / 4;
export const DATA_WAITERS = DATA_WAITERS_OFFSET / 4;
export const SPACE_SEQ = SPACE_SEQ_OFFSET / 4;
export const SPACE_WAITERS = SPACE_WAITERS_OFFSET / 4;
export const FULL_WAITS = FULL_WAITS_OFFSET / 4;
export const EMPTY_WAITS = EMPTY_WAITS_OFFSET / 4;
export const SLOT_CLAIMS = SLOT_CLAIMS_OFFSET / 4;

/** Bytes of the cell meta array (8 per cell), rounded up to whole cache lines. */
export function metaLength(capacity: number): number {
  return ((capacity >> CELL_SHIFT) * 8 + 63) & ~63;
}

/** Offset of the data area from the object start. */
export function dataOffset(capacity: number): number {
  return META_OFFSET + metaLength(capacity);
}

/** Total bytes of a queue whose data area holds `capacity` bytes. */
export function queueLength(capacity: number): number {
  return dataOffset(capacity) + capacity;
}

/** Largest message a queue of `capacity` data bytes accepts. */
export function maxMessage(capacity: number): number {
  return capacity / 2;
}

/**
 * Index (in 8-byte entries) of cell `cell`'s meta entry in a ring of `cells`
 * cells. Consecutive cells go to different cache lines (8 entries to a
 * line): a producer writing one record's stamp and a consumer taking the
 * record just before it must not share a line. With L = cells / 8 lines
 * (cells >= 8), cell i is entry (i mod L) * 8 + floor(i / L); with fewer
 * than 8 cells, entry i.
 */
export function metaEntry(cell: number, cells: number): number {
  const spread = metaSpread(cells);
  return metaEntryIn(cell, spread.lineMask, spread.lineShift);
}

/** metaEntry() for a ring of `cells` cells as a mask and a shift (cells is a power of two), made once per handle. */
export function metaSpread(cells: number): { lineMask: number; lineShift: number } {
  return cells < 8 ? { lineMask: 0, lineShift: 0 } : { lineMask: (cells >> 3) - 1, lineShift: Math.log2(cells >> 3) };
}

/** metaEntry() with metaSpread()'s mask and shift: the hot-path form. */
export function metaEntryIn(cell: number, lineMask: number, lineShift: number): number {
  return ((cell & lineMask) << 3) | (cell >> lineShift);
}

/** Cells a message of `length` bytes occupies (at least one). */
export function cellsFor(length: number): number {
  return length <= CELL ? 1 : (length + CELL - 1) >> CELL_SHIFT;
}

/** Cells of a record from its LEN: a message's bytes, or -cells. */
export function cellsOf(len: number): number {
  return len >= 0 ? cellsFor(len) : -len;
}
