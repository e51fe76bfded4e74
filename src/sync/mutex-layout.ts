/**
 * Mutex: a robust lock (128 bytes, 8-aligned), following the kernel's
 * robust-futex protocol so that the kernel itself releases it when the
 * holding thread dies.
 *
 *  0                                   64       68         72                  80        84       128
 *  +-----------------------------------+--------+----------+-------------------+---------+--------+
 *  | common header (kind 1, version 1) | WORD   | reserved | ROBUST_NEXT (u64) | OWNER   | unused |
 *  +-----------------------------------+--------+----------+-------------------+---------+--------+
 *
 * WORD (u32, the futex word):
 *   bits 0..29  TID of the holding thread (0: free)
 *   bit 30      OWNER_DIED: the kernel found the holder dead (FUTEX_OWNER_DIED)
 *   bit 31      WAITERS: somebody may be parked; unlock must FUTEX_WAKE (FUTEX_WAITERS)
 * ROBUST_NEXT: the holder's private robust_list link (a pointer in the
 *   holder's address space, meaningless to everyone else). The kernel finds
 *   WORD at ROBUST_NEXT + ROBUST_FUTEX_OFFSET (-8).
 * OWNER: pid of the holding process (informational, for `shmkit inspect`).
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
export const MUTEX_LENGTH = 128;

export const TID_MASK = 0x3fffffff;
export const OWNER_DIED = 0x40000000;
export const WAITERS_BIT = 0x80000000 | 0; // negative as an Int32

/** Int32 indexes, relative to the object start. */
export const WORD = MUTEX_WORD_OFFSET / 4;
export const ROBUST_NEXT = MUTEX_ROBUST_NEXT_OFFSET / 4;
export const OWNER = MUTEX_OWNER_OFFSET / 4;
