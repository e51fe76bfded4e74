/**
 * Semaphore: a counting semaphore (128 bytes, 8-aligned).
 *
 *  0                                   64        68        72        76          128
 *  +-----------------------------------+---------+---------+---------+-----------+
 *  | common header (kind 3, version 2) | VALUE   | WAITERS | INITIAL | reserved  |
 *  +-----------------------------------+---------+---------+---------+-----------+
 *
 * VALUE (i32, >= 0) is the number of units available; it is the futex word.
 * WAITERS counts parked threads; release() skips FUTEX_WAKE at 0.
 * INITIAL (i32) is the value the creator gave; it never changes (openOrCreate
 * compares a requested `initial` with it). Version 1 had no INITIAL.
 * The rule: a unit is taken only by a CAS from v > 0 to v - 1.
 */
import { HEADER_LENGTH } from '../layout/header.js';

export const SEMAPHORE_VERSION = 2;
export const SEMAPHORE_VALUE_OFFSET = HEADER_LENGTH;
export const SEMAPHORE_WAITERS_OFFSET = HEADER_LENGTH + 4;
export const SEMAPHORE_INITIAL_OFFSET = HEADER_LENGTH + 8;
export const SEMAPHORE_LENGTH = 128;
/** Largest value (SEM_VALUE_MAX on Linux). */
export const SEMAPHORE_MAX = 0x7fffffff;

export const VALUE = SEMAPHORE_VALUE_OFFSET / 4;
export const WAITERS = SEMAPHORE_WAITERS_OFFSET / 4;
export const INITIAL = SEMAPHORE_INITIAL_OFFSET / 4;
