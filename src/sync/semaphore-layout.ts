/**
 * Semaphore: a counting semaphore (128 bytes, 8-aligned).
 *
 *  0                                   64        68        72        76     80     84       88         128
 *  +-----------------------------------+---------+---------+---------+------+------+--------+----------+
 *  | common header (kind 3, version 2) | VALUE   | WAITERS | INITIAL | ACQS | CONT.| RELSD  | reserved |
 *  +-----------------------------------+---------+---------+---------+------+------+--------+----------+
 *
 * VALUE (i32, >= 0) is the number of units available; it is the futex word.
 * WAITERS counts parked threads; release() skips FUTEX_WAKE at 0.
 * INITIAL (i32) is the value the creator gave; it never changes (openOrCreate
 * compares a requested `initial` with it). Version 1 had no INITIAL.
 * Statistics (u32, wrapping at 2^32), on VALUE's line, each an atomic add
 * right after the CAS on VALUE it counts (many processes take units at
 * once): ACQUISITIONS (units taken), CONTENDED (of those, taken after
 * waiting), RELEASED (units given back). Zero in semaphores made before
 * they existed (the bytes were reserved): no version change.
 * The rule: a unit is taken only by a CAS from v > 0 to v - 1.
 */
import { HEADER_LENGTH } from '../layout/header.js';

export const SEMAPHORE_VERSION = 2;
export const SEMAPHORE_VALUE_OFFSET = HEADER_LENGTH;
export const SEMAPHORE_WAITERS_OFFSET = HEADER_LENGTH + 4;
export const SEMAPHORE_INITIAL_OFFSET = HEADER_LENGTH + 8;
export const SEMAPHORE_ACQUISITIONS_OFFSET = HEADER_LENGTH + 12;
export const SEMAPHORE_CONTENDED_OFFSET = HEADER_LENGTH + 16;
export const SEMAPHORE_RELEASED_OFFSET = HEADER_LENGTH + 20;
export const SEMAPHORE_LENGTH = 128;
/** Largest value (SEM_VALUE_MAX on Linux). */
export const SEMAPHORE_MAX = 0x7fffffff;

export const VALUE = SEMAPHORE_VALUE_OFFSET / 4;
export const WAITERS = SEMAPHORE_WAITERS_OFFSET / 4;
export const INITIAL = SEMAPHORE_INITIAL_OFFSET / 4;
export const ACQUISITIONS = SEMAPHORE_ACQUISITIONS_OFFSET / 4;
export const CONTENDED = SEMAPHORE_CONTENDED_OFFSET / 4;
export const RELEASED = SEMAPHORE_RELEASED_OFFSET / 4;
