/**
 * RwLock: a writer-preferring readers-writer lock (128 bytes, 8-aligned).
 *
 *  0                                   64       68               72        76           80      84       88          92    128
 *  +-----------------------------------+--------+----------------+---------+------------+-------+--------+-----------+-----+
 *  | common header (kind 2, version 1) | STATE  | WRITERS_WAITING| WAITERS | WRITER_PID | READS | WRITES | CONTENDED | res.|
 *  +-----------------------------------+--------+----------------+---------+------------+-------+--------+-----------+-----+
 *
 * STATE (u32, the futex word):
 *   bits 0..29  number of readers holding the lock
 *   bit 30      WRITER_WAITING: a writer is waiting; new readers must wait
 *   bit 31      WRITER: a writer holds the lock
 * WRITERS_WAITING counts writers waiting (the bit is set while it is > 0).
 * WAITERS counts parked threads of either kind; unlockers skip FUTEX_WAKE at 0.
 * Statistics (u32, wrapping at 2^32), on STATE's line, written right after
 * the CAS on STATE that let the writer of the counter in: READS (read locks
 * taken: an atomic add, readers enter together), WRITES (write locks taken:
 * the writer alone, a plain store), CONTENDED (locks of either kind taken
 * after waiting: an atomic add). Zero in locks made before they existed.
 * The rules: a reader enters only by CAS on a STATE with neither WRITER nor
 * WRITER_WAITING; a writer enters only by CAS from a STATE with no readers
 * and no WRITER. Writers are preferred: once one waits, readers queue behind.
 */
import { HEADER_LENGTH } from '../layout/header.js';

export const RWLOCK_VERSION = 1;
export const RWLOCK_STATE_OFFSET = HEADER_LENGTH;
export const RWLOCK_WRITERS_WAITING_OFFSET = HEADER_LENGTH + 4;
export const RWLOCK_WAITERS_OFFSET = HEADER_LENGTH + 8;
export const RWLOCK_WRITER_PID_OFFSET = HEADER_LENGTH + 12;
export const RWLOCK_READS_OFFSET = HEADER_LENGTH + 16;
export const RWLOCK_WRITES_OFFSET = HEADER_LENGTH + 20;
export const RWLOCK_CONTENDED_OFFSET = HEADER_LENGTH + 24;
export const RWLOCK_LENGTH = 128;

export const READERS_MASK = 0x3fffffff;
export const WRITER_WAITING = 0x40000000;
export const WRITER = 0x80000000 | 0;

export const STATE = RWLOCK_STATE_OFFSET / 4;
export const WRITERS_WAITING = RWLOCK_WRITERS_WAITING_OFFSET / 4;
export const WAITERS = RWLOCK_WAITERS_OFFSET / 4;
export const WRITER_PID = RWLOCK_WRITER_PID_OFFSET / 4;
export const READS = RWLOCK_READS_OFFSET / 4;
export const WRITES = RWLOCK_WRITES_OFFSET / 4;
export const CONTENDED = RWLOCK_CONTENDED_OFFSET / 4;
