/**
 * Barrier: a reusable rendezvous of a fixed number of parties (128 bytes).
 *
 *  0                                   64        68        72           76        80             84     128
 *  +-----------------------------------+---------+---------+------------+---------+--------------+------+
 *  | common header (kind 5, version 1) | PARTIES | ARRIVAL | GENERATION | WAITERS | PARKED_WAITS | res. |
 *  +-----------------------------------+---------+---------+------------+---------+--------------+------+
 *
 * PARTIES (u32, 1..65535, fixed at creation).
 * ARRIVAL (u32): bits 16..31 the low 16 bits of the generation it counts
 *   for (its tag), bits 0..15 the arrivals so far. Every change is a CAS on
 *   the whole word, so an arrival or a withdrawal can never count towards
 *   another generation.
 * GENERATION (i32, wrapping) is the futex word waiters park on; it counts
 * the generations completed.
 * PARKED_WAITS (u32, wrapping) counts waits that parked: an atomic add by
 * the waiter right after its WAITERS add (zero in barriers made before it).
 * The rule: the arrival that completes a generation g swaps ARRIVAL to
 * (tag g+1, count 0), then moves GENERATION from g to g+1 (a CAS, so anyone
 * who finds the swap done but GENERATION not yet moved can finish it), then
 * wakes everyone. A party of generation g is through once GENERATION != g.
 */
import { HEADER_LENGTH } from '../layout/header.js';

export const BARRIER_VERSION = 1;
export const BARRIER_PARTIES_OFFSET = HEADER_LENGTH;
export const BARRIER_ARRIVAL_OFFSET = HEADER_LENGTH + 4;
export const BARRIER_GENERATION_OFFSET = HEADER_LENGTH + 8;
export const BARRIER_WAITERS_OFFSET = HEADER_LENGTH + 12;
export const BARRIER_PARKED_WAITS_OFFSET = HEADER_LENGTH + 16;
export const BARRIER_LENGTH = 128;
export const BARRIER_MAX_PARTIES = 0xffff;

/** ARRIVAL = TAG << TAG_SHIFT | COUNT */
export const TAG_SHIFT = 16;
export const COUNT_MASK = 0xffff;

export const PARTIES = BARRIER_PARTIES_OFFSET / 4;
export const ARRIVAL = BARRIER_ARRIVAL_OFFSET / 4;
export const GENERATION = BARRIER_GENERATION_OFFSET / 4;
export const WAITERS = BARRIER_WAITERS_OFFSET / 4;
export const PARKED_WAITS = BARRIER_PARKED_WAITS_OFFSET / 4;
