/**
 * Condition: a condition variable used with a shmkit Mutex (128 bytes).
 *
 *  0                                   64        68        72          128
 *  +-----------------------------------+---------+---------+-----------+
 *  | common header (kind 4, version 1) | SEQ     | WAITERS | reserved  |
 *  +-----------------------------------+---------+---------+-----------+
 *
 * SEQ (i32, wrapping) changes on every notify; waiters park on it.
 * The rule: a waiter reads SEQ while still holding the mutex, then unlocks
 * and parks on that value, so a notify after the unlock always changes SEQ
 * first and the park returns at once: no lost wake-up.
 */
import { HEADER_LENGTH } from '../layout/header.js';

export const CONDITION_VERSION = 1;
export const CONDITION_SEQ_OFFSET = HEADER_LENGTH;
export const CONDITION_WAITERS_OFFSET = HEADER_LENGTH + 4;
export const CONDITION_LENGTH = 128;

export const SEQ = CONDITION_SEQ_OFFSET / 4;
export const WAITERS = CONDITION_WAITERS_OFFSET / 4;
