/**
 * Queue: a ring of variable-length records in shared memory. Producers take
 * turns through the producer role (a robust Mutex), consumers through the
 * consumer role, so a dead producer or consumer frees its role.
 *
 *  0       64        128          256          384             512        640        768
 *  +-------+---------+------------+------------+---------------+----------+----------+----------------+
 *  |header | geometry| producer   | consumer   | wait words    | producer | consumer | data           |
 *  |kind 7 | CAPACITY| TAIL, SENT | HEAD,      | DATA_SEQ,     | role     | role     | CAPACITY bytes |
 *  |       | FLAGS   |            | RECEIVED   | DATA_WAITERS, | Mutex    | Mutex    |                |
 *  |       | MAX_MSG |            |            | SPACE_SEQ,    | (128 B)  | (128 B)  |                |
 *  |       |         |            |            | SPACE_WAITERS |          |          |                |
 *  +-------+---------+------------+------------+---------------+----------+----------+----------------+
 *
 * Positions (TAIL, HEAD) count bytes since creation, wrapping at 2^32; the
 * record at position p lives at data offset p & (CAPACITY - 1). CAPACITY is
 * a power of two. Hot words sit 128 bytes apart so the producer and the
 * consumer never write the same cache line.
 *
 * Record (8-aligned):  0 LEN i32 | 4 SIZE i32 | 8 payload (LEN bytes) | pad to 8
 *   LEN >= 0: a message of LEN bytes; LEN = PADDING (-1): filler up to the
 *   end of the data area (the next record starts at offset 0); LEN =
 *   RELEASED (-2): taken by a consumer.
 *   SIZE: bytes from this record to the next (header, payload, padding).
 *
 * The rules:
 * - The producer writes a record completely (payload, SIZE, then LEN) and
 *   only then moves TAIL past it (release): every record in [HEAD, TAIL) is
 *   complete, and a producer that dies mid-record left nothing visible.
 * - The consumer reads records in [HEAD, TAIL), and releases one by setting
 *   LEN = RELEASED and then moving HEAD past it (release): the producer never reuses
 *   memory before HEAD. A record in [HEAD, TAIL) with LEN = RELEASED was
 *   taken by a consumer that died before moving HEAD: skip it (SIZE is intact).
 * - A message is at most MAX_MSG = CAPACITY / 2 - 8 bytes, so it always
 *   fits once the ring is empty, wherever TAIL stands.
 */
import { HEADER_LENGTH, Kind } from '../layout/header.js';

export const QUEUE_KIND = Kind.Queue;
export const QUEUE_VERSION = 1;

export const CAPACITY_OFFSET = HEADER_LENGTH;
export const FLAGS_OFFSET = HEADER_LENGTH + 4;
export const MAX_MESSAGE_OFFSET = HEADER_LENGTH + 8;
export const TAIL_OFFSET = 128;
export const SENT_OFFSET = 132;
export const HEAD_OFFSET = 256;
export const RECEIVED_OFFSET = 260;
export const DATA_SEQ_OFFSET = 384;
export const DATA_WAITERS_OFFSET = 388;
export const SPACE_SEQ_OFFSET = 392;
export const SPACE_WAITERS_OFFSET = 396;
export const PRODUCER_ROLE_OFFSET = 512;
export const CONSUMER_ROLE_OFFSET = 640;
export const DATA_OFFSET = 768;

/** FLAGS bits. */
export const FLAG_ENDED = 1;

/** Record header. */
export const RECORD_HEADER_LENGTH = 8;
export const RECORD_ALIGNMENT = 8;
export const LEN_FIELD = 0;
export const SIZE_FIELD = 4;
/** LEN of a filler record that runs to the end of the data area. */
export const PADDING = -1;
/** LEN of a record a consumer has taken. */
export const RELEASED = -2;

export const MIN_CAPACITY = 64;
export const MAX_CAPACITY = 2 ** 30;

/** Int32 indexes, relative to the object start. */
export const CAPACITY = CAPACITY_OFFSET / 4;
export const FLAGS = FLAGS_OFFSET / 4;
export const MAX_MESSAGE = MAX_MESSAGE_OFFSET / 4;
export const TAIL = TAIL_OFFSET / 4;
export const SENT = SENT_OFFSET / 4;
export const HEAD = HEAD_OFFSET / 4;
export const RECEIVED = RECEIVED_OFFSET / 4;
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
