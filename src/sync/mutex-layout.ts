/**
 * Mutex: a robust lock (128 bytes, 8-aligned), following the kernel's
 * robust-futex protocol so that the kernel itself releases it when the
 * holding thread dies.
 *
 *  0                                   64       68         72                  80        84      88      92      96       128
 *  +-----------------------------------+--------+----------+-------------------+---------+-------+-------+-------+--------+
 *  | common header (kind 1, version 1) | WORD   | reserved | ROBUST_NEXT (u64) | OWNER   | ACQS  | CONT. | DIED  | unused |
 *  +-----------------------------------+--------+----------+-------------------+---------+-------+-------+-------+--------+
 *
 * WORD (u32, the futex word):
 *   bits 0..29  TID of the holding thread (0: free)
 *   bit 30      OWNER_DIED: the kernel found the holder dead (FUTEX_OWNER_DIED)
 *   bit 31      WAITERS: somebody may be parked; unlock must FUTEX_WAKE (FUTEX_WAITERS)
 * ROBUST_NEXT: the holder's private robust_list link (a pointer in the
 *   holder's address space, meaningless to everyone else). The kernel finds
 *   WORD at ROBUST_NEXT + ROBUST_FUTEX_OFFSET (-8).
 * OWNER: pid of the holding process (informational, for `shmkit inspect`).
 * Statistics (u32, wrapping at 2^32), written only by the holder right after
 * the CAS that took the lock, on WORD's own line (which that CAS has just
 * made its own), with a plain read and store: ACQUISITIONS every lock taken,
 * CONTENDED those that had to wait (spin or park) first, OWNER_DIED_COUNT
 * those that found OWNER_DIED (a dead holder recovered). Zero in mutexes
 * made before they existed (the bytes were unused): no version change.
 *
 * The rule: the lock is held exactly when WORD's TID bits are non-zero.
 * Lock: CAS 0 -> TID (or OWNER_DIED|w -> TID|w: the previous owner died).
 * Unlock: CAS TID -> 0; if WAITERS was set, store 0 and FUTEX_WAKE one.
 */
import { HEADER_LENGTH, Kind } from '../layout/header.js';

export const MUTEX_KIND = Kind.Mutex;
export const MUTEX_VERSION = 1;
export const MUTEX_WORD_OFFSET = HEADER_LENGTH;
export const MUTEX_ROBUST_NEXT_OFFSET = HEADER_LENGTH + 8;
export const MUTEX_OWNER_OFFSET = HEADER_LENGTH + 16;
export const MUTEX_ACQUISITIONS_OFFSET = HEADER_LENGTH + 20;
export const MUTEX_CONTENDED_OFFSET = HEADER_LENGTH + 24;
export const MUTEX_OWNER_DIED_COUNT_OFFSET = HEADER_LENGTH + 28;
export const MUTEX_LENGTH = 128;

export const TID_MASK = 0x3fffffff;
export const OWNER_DIED = 0x40000000;
export const WAITERS_BIT = 0x80000000 | 0; // negative as an Int32

/** Int32 indexes, relative to the object start. */
export const WORD = MUTEX_WORD_OFFSET / 4;
export const ROBUST_NEXT = MUTEX_ROBUST_NEXT_OFFSET / 4;
export const OWNER = MUTEX_OWNER_OFFSET / 4;
export const ACQUISITIONS = MUTEX_ACQUISITIONS_OFFSET / 4;
export const CONTENDED = MUTEX_CONTENDED_OFFSET / 4;
export const OWNER_DIED_COUNT = MUTEX_OWNER_DIED_COUNT_OFFSET / 4;
