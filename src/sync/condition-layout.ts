/**
 * Condition: a condition variable used with a shmkit Mutex (128 bytes).
 *
 *  0                                   64        68        72             76           80          128
 *  +-----------------------------------+---------+---------+--------------+------------+-----------+
 *  | common header (kind 4, version 1) | SEQ     | WAITERS | PARKED_WAITS | BROADCASTS | reserved  |
 *  +-----------------------------------+---------+---------+--------------+------------+-----------+
 *
 * SEQ (i32, wrapping) changes on every notify; waiters park on it (so it
 * also counts notify() and notifyAll() calls).
 * Statistics (u32, wrapping at 2^32), atomic adds on SEQ's line:
 * PARKED_WAITS (waits that parked, by the waiter beside its WAITERS add),
 * BROADCASTS (notifyAll() calls, right after its add to SEQ). Zero in
 * conditions made before they existed (the bytes were reserved).
 * The rule: a waiter reads SEQ while still holding the mutex, then unlocks
 * and parks on that value, so a notify after the unlock always changes SEQ
 * first and the park returns at once: no lost wake-up.
 */
import { HEADER_LENGTH } from '../layout/header.js';

export const CONDITION_VERSION = 1;
export const CONDITION_SEQ_OFFSET = HEADER_LENGTH;
export const CONDITION_WAITERS_OFFSET = HEADER_LENGTH + 4;
export const CONDITION_PARKED_WAITS_OFFSET = HEADER_LENGTH + 8;
export const CONDITION_BROADCASTS_OFFSET = HEADER_LENGTH + 12;
export const CONDITION_LENGTH = 128;

export const SEQ = CONDITION_SEQ_OFFSET / 4;
export const WAITERS = CONDITION_WAITERS_OFFSET / 4;
export const PARKED_WAITS = CONDITION_PARKED_WAITS_OFFSET / 4;
export const BROADCASTS = CONDITION_BROADCASTS_OFFSET / 4;
