/**
 * Notifier: an event counter in shared memory (128 bytes, 8-aligned).
 *
 *  0                                   64        68        72             76          128
 *  +-----------------------------------+---------+---------+--------------+-----------+
 *  | common header (kind 6, version 1) | SEQ i32 | WAITERS | PARKED_WAITS | reserved  |
 *  +-----------------------------------+---------+---------+--------------+-----------+
 *
 * SEQ counts notifications (wrapping at 2^32); it is the futex word.
 * WAITERS counts threads parked on SEQ; notify() skips FUTEX_WAKE at 0.
 * PARKED_WAITS (u32, wrapping) counts waits that parked: an atomic add by
 * the waiter right after its WAITERS add (zero in notifiers made before it).
 * The rule: a waiter increments WAITERS before its last check of SEQ, a
 * notifier increments SEQ before reading WAITERS (both sequentially
 * consistent), so at least one of them sees the other.
 */
import { HEADER_LENGTH, Kind } from '../layout/header.js';

export const NOTIFIER_KIND = Kind.Notifier;
export const NOTIFIER_VERSION = 1;
export const NOTIFIER_SEQ_OFFSET = HEADER_LENGTH;
export const NOTIFIER_WAITERS_OFFSET = HEADER_LENGTH + 4;
export const NOTIFIER_PARKED_WAITS_OFFSET = HEADER_LENGTH + 8;
export const NOTIFIER_LENGTH = 128;

/** Int32 indexes, relative to the object start. */
export const SEQ = NOTIFIER_SEQ_OFFSET / 4;
export const WAITERS = NOTIFIER_WAITERS_OFFSET / 4;
export const PARKED_WAITS = NOTIFIER_PARKED_WAITS_OFFSET / 4;
