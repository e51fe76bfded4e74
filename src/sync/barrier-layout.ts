/**
 * Barrier: a reusable rendezvous of a fixed number of parties (128 bytes).
 *
 *  0                                   64        68        72           76        80     128
 *  +-----------------------------------+---------+---------+------------+---------+------+
 *  | common header (kind 5, version 1) | PARTIES | ARRIVED | GENERATION | WAITERS | res. |
 *  +-----------------------------------+---------+---------+------------+---------+------+
 *
 * PARTIES (u32, fixed at creation). ARRIVED (u32) counts arrivals in the
 * current generation. GENERATION (i32, wrapping) is the futex word.
 * The rule: the arrival that brings ARRIVED to PARTIES resets ARRIVED to 0
 * and then increments GENERATION; everyone of that generation waits for
 * GENERATION to move past the value it read before arriving.
 */
import { HEADER_LENGTH } from '../layout/header.js';

export const BARRIER_VERSION = 1;
export const BARRIER_PARTIES_OFFSET = HEADER_LENGTH;
export const BARRIER_ARRIVED_OFFSET = HEADER_LENGTH + 4;
export const BARRIER_GENERATION_OFFSET = HEADER_LENGTH + 8;
export const BARRIER_WAITERS_OFFSET = HEADER_LENGTH + 12;
export const BARRIER_LENGTH = 128;
export const BARRIER_MAX_PARTIES = 0x3fffffff;

export const PARTIES = BARRIER_PARTIES_OFFSET / 4;
export const ARRIVED = BARRIER_ARRIVED_OFFSET / 4;
export const GENERATION = BARRIER_GENERATION_OFFSET / 4;
export const WAITERS = BARRIER_WAITERS_OFFSET / 4;
