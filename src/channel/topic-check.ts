/**
 * Checking and repairing a Topic's ring (both under the publisher lock, so
 * no publisher moves anything meanwhile; subscribers only read).
 *
 * Everything a publisher that died can leave is repaired when the next
 * publisher takes the lock (TopicRing#repair). What is found here can only
 * come from overwritten memory: a record whose SIZE or LEN breaks the
 * format, cursors that are misaligned or more than a ring apart, a walk of
 * the records that does not land on TAIL, sequence numbers that go back.
 * A record walk cannot find the record after a broken one, so the repair
 * drops every record kept (OLDEST_POS moves to TAIL, announced first as
 * publishers do): subscribers see a lag, never garbage, and publishing goes
 * on. The sequence counters alone are recomputed from the records.
 */
import {
  FILLER, NEXT_SEQ, OLDEST_POS, OLDEST_SEQ, R_LEN, R_SEQ, R_SIZE, TAIL,
} from './topic-layout.js';
import { type TopicRing } from './topic-ring.js';

/** What a walk of the ring found. */
interface Walk {
  /** Problems that only dropping the records can cure. */
  records: string[];
  /** Problems of the sequence counters alone (recomputed by a repair). */
  counters: string[];
  /** SEQ of the first and last message kept (undefined when none). */
  first: number | undefined;
  last: number | undefined;
  messages: number;
}

function walk(ring: TopicRing): Walk {
  const cells = ring.cells;
  const words = ring.words;
  const capacity = ring.capacity;
  const tail = Atomics.load(cells, TAIL);
  const oldest = Atomics.load(cells, OLDEST_POS);
  const out: Walk = { records: [], counters: [], first: undefined, last: undefined, messages: 0 };
  if ((tail & 7) !== 0) out.records.push(`TAIL ${tail >>> 0} is not a multiple of 8`);
  if ((oldest & 7) !== 0) out.records.push(`OLDEST_POS ${oldest >>> 0} is not a multiple of 8`);
  const span = (tail - oldest) >>> 0;
  if (span > capacity) out.records.push(`OLDEST_POS ${oldest >>> 0} is ${span} bytes behind TAIL ${tail >>> 0}, more than the ${capacity}-byte ring`);
  if (out.records.length !== 0) return out;
  // At most `span` bytes: every record is at least 8 (a filler) or 16 bytes.
  let pos = oldest;
  let walked = 0;
  let prevSeq: number | undefined;
  while (pos !== tail) {
    const off = pos & ring.mask;
    const w = off >> 2;
    const len = words[w + R_LEN] as number;
    const size = ring.recordSize(pos);
    if (size < 0) {
      out.records.push(`record at position ${pos >>> 0}: LEN ${len}, SIZE ${words[w + R_SIZE] as number} break the format`);
      return out;
    }
    if (len !== FILLER) {
      const seq = words[w + R_SEQ] as number;
      if (prevSeq !== undefined && ((seq - prevSeq) | 0) <= 0) {
        out.records.push(`record at position ${pos >>> 0}: SEQ ${seq >>> 0} does not follow ${prevSeq >>> 0}`);
        return out;
      }
      if (out.first === undefined) out.first = seq;
      out.last = prevSeq = seq;
      out.messages++;
    }
    walked += size;
    if (walked > span) {
      out.records.push(`TAIL ${tail >>> 0}: the walk of the records from OLDEST_POS ${oldest >>> 0} passes it without landing on it`);
      return out;
    }
    pos = (pos + size) | 0;
  }
  const oldestSeq = Atomics.load(cells, OLDEST_SEQ);
  const nextSeq = Atomics.load(cells, NEXT_SEQ);
  // A gap before the first message is a publisher that died holding a number: OLDEST_SEQ may be behind, never ahead.
  if (out.first !== undefined && ((out.first - oldestSeq) | 0) < 0) out.counters.push(`OLDEST_SEQ ${oldestSeq >>> 0} is ahead of the first message kept (SEQ ${out.first >>> 0})`);
  if (out.last !== undefined && ((nextSeq - out.last) | 0) <= 0) out.counters.push(`NEXT_SEQ ${nextSeq >>> 0} is not past the last message kept (SEQ ${out.last >>> 0})`);
  return out;
}

/** Every problem found (an empty array when the ring is sound). Under the publisher lock. */
export function checkTopic(ring: TopicRing): string[] {
  const found = walk(ring);
  return [...found.records, ...found.counters];
}

/** Repairs what checkTopic() finds; returns what was done. Under the publisher lock. */
export function repairTopic(ring: TopicRing): string[] {
  const cells = ring.cells;
  const found = walk(ring);
  const done: string[] = [];
  if (found.records.length !== 0) {
    let tail = Atomics.load(cells, TAIL);
    if ((tail & 7) !== 0) {
      // Round up: the bytes from the old TAIL on were never a published record.
      const aligned = (tail + 7) & ~7;
      done.push(`TAIL ${tail >>> 0} rounded up to ${aligned >>> 0}`);
      tail = aligned;
      // release: the new TAIL, and nothing at it yet (OLDEST_POS joins it next)
      Atomics.store(cells, TAIL, tail);
    }
    const oldest = Atomics.load(cells, OLDEST_POS);
    // Announce first, as a publisher dropping records does: a subscriber that
    // loads OLDEST_POS after reading sees the lag.
    Atomics.store(cells, OLDEST_SEQ, Atomics.load(cells, NEXT_SEQ));
    // release: subscribers past their copy see the records dropped
    Atomics.store(cells, OLDEST_POS, tail);
    done.push(`dropped every record kept (positions ${oldest >>> 0} to ${tail >>> 0}): they cannot be walked safely; subscribers behind TAIL see a lag`);
    return done;
  }
  if (found.counters.length !== 0) {
    const nextSeq = Atomics.load(cells, NEXT_SEQ);
    if (found.last !== undefined && ((nextSeq - found.last) | 0) <= 0) {
      Atomics.store(cells, NEXT_SEQ, (found.last + 1) | 0);
      done.push(`NEXT_SEQ ${nextSeq >>> 0} set to ${(found.last + 1) >>> 0}, past the last message kept`);
    }
    const oldestSeq = Atomics.load(cells, OLDEST_SEQ);
    if (found.first !== undefined && ((found.first - oldestSeq) | 0) < 0) {
      Atomics.store(cells, OLDEST_SEQ, found.first);
      done.push(`OLDEST_SEQ ${oldestSeq >>> 0} set to ${found.first >>> 0}, the first message kept`);
    }
  }
  return done;
}
