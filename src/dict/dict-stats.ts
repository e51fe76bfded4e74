/**
 * The Dict's read counters (dict-layout.ts, "read counters"): reader slots
 * claimed by a CAS of the owner's pid, given back on close, taken over when
 * their owner is dead, and summed by whoever samples them.
 *
 * A slot's HITS and MISSES are never reset: they count reads of the Dict,
 * whoever owns the slot. Only OWNER changes hands, so the sum over every
 * line never goes back and nothing has to be folded anywhere (no window in
 * which a sampler could count a slot twice or not at all). The owner is the
 * only writer of its slot's words (plain stores); a new owner continues
 * from what the previous one left (its CAS on OWNER acquires the previous
 * owner's release store, or the owner is dead and wrote nothing since).
 */
import { OVERFLOW_LINE, PID_MAX, READER_SLOTS, STAT_LINE_INTS, STAT_LINES, S_HITS, S_MISSES, S_OWNER } from './dict-layout.js';

/** Whether `owner` may be a pid (else a stray write put it there). */
export function isPid(owner: number): boolean {
  return owner > 0 && owner <= PID_MAX;
}

/**
 * Whether process `pid` is alive: kill(pid, 0) fails with ESRCH only when
 * there is no such process (EPERM: it exists, under another user). A pid in
 * another pid namespace looks dead from here: a slot shared across pid
 * namespaces may be taken over while its owner lives, which can lose counts
 * (never more: the counts are only statistics).
 */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Claims a reader slot for this process: first a free one (OWNER 0), then
 * one whose OWNER is no pid or a dead process's. Returns its line (1 +
 * slot), or OVERFLOW_LINE when every slot is owned by a live process.
 * At most 2 × READER_SLOTS CAS attempts and READER_SLOTS kill(pid, 0) calls.
 */
export function claimSlot(stats: Int32Array, pid: number): number {
  for (let line = 1; line < STAT_LINES; line++) {
    const at = line * STAT_LINE_INTS + S_OWNER;
    // acq_rel: on success, what the previous owner wrote into the slot is seen before we add to it
    if (Atomics.load(stats, at) === 0 && Atomics.compareExchange(stats, at, 0, pid) === 0) return line;
  }
  for (let line = 1; line < STAT_LINES; line++) {
    const at = line * STAT_LINE_INTS + S_OWNER;
    const owner = Atomics.load(stats, at);
    if (owner === pid) continue; // another handle of this process (or thread): it counts there
    if (owner !== 0 && isPid(owner) && alive(owner)) continue;
    if (Atomics.compareExchange(stats, at, owner, pid) === owner) return line;
  }
  return OVERFLOW_LINE;
}

/** Gives slot `line` back, if `pid` still owns it. */
export function releaseSlot(stats: Int32Array, line: number, pid: number): void {
  // release: the counts written with plain stores are seen by the next owner's CAS
  if (line !== OVERFLOW_LINE) Atomics.compareExchange(stats, line * STAT_LINE_INTS + S_OWNER, pid, 0);
}

/** HITS and MISSES summed over OVERFLOW and every slot (u32, wrapping), into `out`. */
export function sumReads(stats: Int32Array, out: { hits: number; misses: number }): void {
  let hits = 0;
  let misses = 0;
  for (let line = 0; line < STAT_LINES; line++) {
    const at = line * STAT_LINE_INTS;
    hits = (hits + Atomics.load(stats, at + S_HITS)) | 0;
    misses = (misses + Atomics.load(stats, at + S_MISSES)) | 0;
  }
  out.hits = hits >>> 0;
  out.misses = misses >>> 0;
}

/** The stats lines' problems: an OWNER that is no pid (a stray write; at most a statistics problem). */
export function checkSlots(stats: Int32Array): string[] {
  const problems: string[] = [];
  const overflow = Atomics.load(stats, OVERFLOW_LINE * STAT_LINE_INTS + S_OWNER);
  if (overflow !== 0) problems.push(`read counters: OVERFLOW's OWNER word is ${overflow}, not 0`);
  for (let slot = 0; slot < READER_SLOTS; slot++) {
    const owner = Atomics.load(stats, (1 + slot) * STAT_LINE_INTS + S_OWNER);
    if (owner !== 0 && !isPid(owner)) problems.push(`read counters: slot ${slot}'s OWNER is ${owner}, not a pid`);
  }
  return problems;
}

/** Clears what checkSlots() reports (the counts are kept). Returns what it did, one line each. */
export function repairSlots(stats: Int32Array): string[] {
  const done: string[] = [];
  for (let line = 0; line < STAT_LINES; line++) {
    const at = line * STAT_LINE_INTS + S_OWNER;
    const owner = Atomics.load(stats, at);
    const bad = line === OVERFLOW_LINE ? owner !== 0 : owner !== 0 && !isPid(owner);
    // A CAS: a reader may claim the slot meanwhile (a garbage OWNER may be taken over).
    if (bad && Atomics.compareExchange(stats, at, owner, 0) === owner) {
      done.push(line === OVERFLOW_LINE ? `read counters: OVERFLOW's OWNER word ${owner} cleared` : `read counters: slot ${line - 1}'s OWNER ${owner} cleared (its counts kept)`);
    }
  }
  return done;
}
