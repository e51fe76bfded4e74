/**
 * Topic: a broadcast ring. Publishers overwrite the oldest messages and
 * never wait; each subscriber keeps its own position (in its own process)
 * and finds out, after copying a message, whether it was overwritten
 * meanwhile (then it has lagged a lap behind).
 *
 *  0       64         128               256                  384            512          640
 *  +-------+----------+-----------------+--------------------+--------------+------------+----------------+
 *  |header | CAPACITY | TAIL, NEXT_SEQ, | OLDEST_POS,        | DATA_SEQ,    | publisher  | data           |
 *  |kind 8 | MAX_MSG  | LAPS            | OLDEST_SEQ         | DATA_WAITERS | Mutex      | CAPACITY bytes |
 *  +-------+----------+-----------------+--------------------+--------------+------------+----------------+
 *
 * Positions count bytes (wrapping at 2^32); sequence numbers count messages
 * (wrapping at 2^32). Records (8-aligned, never crossing the end):
 *   0 SEQ i32 | 4 LEN i32 | 8 SIZE i32 | 12 reserved | 16 payload | pad
 *   LEN >= 0: message number SEQ of LEN bytes; LEN = -1: filler to the end.
 *
 * The rules (publishers hold the publisher Mutex while publishing):
 * - Make room first: while the ring lacks space, drop the oldest record by
 *   storing OLDEST_SEQ = its SEQ + 1 (for a message) then OLDEST_POS past it.
 *   Only then overwrite its bytes. A publisher that finds the previous one
 *   died holding the lock recomputes OLDEST_SEQ from the record at OLDEST_POS.
 * - Write the record, then NEXT_SEQ = SEQ + 1, then TAIL past the record
 *   (release); if TAIL went past a multiple of CAPACITY (a filler, or a
 *   record ending at the end), LAPS += 1 (a plain store: under the lock). Every record in [OLDEST_POS, TAIL) is complete. A publisher
 *   that dies mid-way leaves at most a gap in the sequence numbers.
 * - A subscriber reads the record at its position (< TAIL), copies it, then
 *   loads OLDEST_POS: if that has moved past its position, the record may
 *   have been overwritten while it copied, so it has lagged: it is told
 *   OLDEST_SEQ - expected messages were missed and continues from
 *   OLDEST_POS/OLDEST_SEQ (read under the lock).
 */
import { HEADER_LENGTH, Kind } from '../layout/header.js';

export const TOPIC_KIND = Kind.Topic;
export const TOPIC_VERSION = 1;

export const CAPACITY_OFFSET = HEADER_LENGTH;
export const MAX_MESSAGE_OFFSET = HEADER_LENGTH + 4;
export const TAIL_OFFSET = 128;
export const NEXT_SEQ_OFFSET = 132;
/**
 * Laps completed: times TAIL reached a multiple of CAPACITY (u32, wraps),
 * bumped by the publisher under the lock, on the line it writes TAIL on
 * anyway. Zero in topics made before it existed (the word was unused).
 */
export const LAPS_OFFSET = 136;
export const OLDEST_POS_OFFSET = 256;
export const OLDEST_SEQ_OFFSET = 260;
export const DATA_SEQ_OFFSET = 384;
export const DATA_WAITERS_OFFSET = 388;
export const PUBLISHER_LOCK_OFFSET = 512;
export const DATA_OFFSET = 640;

export const RECORD_HEADER_LENGTH = 16;
/** LEN of a filler record. */
export const FILLER = -1;
export const MIN_CAPACITY = 128;
export const MAX_CAPACITY = 2 ** 30;

export const CAPACITY = CAPACITY_OFFSET / 4;
export const MAX_MESSAGE = MAX_MESSAGE_OFFSET / 4;
export const TAIL = TAIL_OFFSET / 4;
export const NEXT_SEQ = NEXT_SEQ_OFFSET / 4;
export const LAPS = LAPS_OFFSET / 4;
export const OLDEST_POS = OLDEST_POS_OFFSET / 4;
export const OLDEST_SEQ = OLDEST_SEQ_OFFSET / 4;
export const DATA_SEQ = DATA_SEQ_OFFSET / 4;
export const DATA_WAITERS = DATA_WAITERS_OFFSET / 4;

/** Record word indexes (relative to the record). */
export const R_SEQ = 0;
export const R_LEN = 1;
export const R_SIZE = 2;

export function topicLength(capacity: number): number {
  return DATA_OFFSET + capacity;
}

/** Largest message: a quarter of the ring, so a lap always holds several. */
export function topicMaxMessage(capacity: number): number {
  return capacity / 4 - RECORD_HEADER_LENGTH;
}

export function topicRecordSize(length: number): number {
  return (RECORD_HEADER_LENGTH + length + 7) & ~7;
}
