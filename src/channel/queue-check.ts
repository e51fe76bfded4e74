/**
 * Checking and repairing a Queue while other processes use it (the rules
 * are in queue-layout.ts). Neither takes a lock or waits for anyone: both
 * read the ring the way the protocol lets anyone read it, and repair()
 * changes it only with the compare-and-swaps the protocol itself makes
 * (a SKIP where a record head is unreadable, an ORPHAN for a message left
 * behind CLAIM, a helping move of RESERVE), so a racing peer or repairer
 * either wins cleanly or finds the change done.
 *
 * Live change must not look like damage. The cursors are read HEAD, CLAIM,
 * RESERVE, HEAD: as they only move forward, that order cannot fake a
 * violation of HEAD <= CLAIM <= RESERVE <= HEAD + CAPACITY. Records are
 * walked from HEAD to RESERVE; an anomaly counts only once confirmed: its
 * stamp and LEN read again unchanged, HEAD not past it (nor off the walk's
 * path: the records HEAD passed may have been reused, their LENs then
 * misread). Otherwise the whole pass starts again, at most PASSES times.
 */
import type { RepairReport } from '../object/repair-report.js';
import type { QueueRing } from './queue-ring.js';
import {
  CAPACITY, CELL, CELL_INDEX, CELL_SHIFT, CLAIM, FLAGS, FLAG_ENDED, FREE, HEAD, MAX_MESSAGE, MESSAGE, ORPHAN, ORPHANS, POSITION_MASK, RESERVE,
  SKIP, SLOTS, SLOT_CLAIMS, SLOT_COUNT, STATE_MASK, TAKEN, WRITING, cellsOf,
} from './queue-layout.js';

/** Passes before check() gives up waiting for the ring to hold still (then it reports only what it confirmed). */
const PASSES = 8;

/** What a problem is, for what repair() may do about it. */
const enum Sort {
  /** A field a repair restores from what the handle knows (geometry, FLAGS). */
  Field,
  /** A cursor out of place: nothing moves it back safely while peers run. */
  Cursor,
  /** A record head (or a free cell's stamp) a repair rewrites once nobody works on it. */
  Record,
}

interface Finding {
  readonly text: string;
  readonly sort: Sort;
}

/** What the walk makes of one record head. */
const enum Verdict {
  Sound,
  /** Unreadable: bad stamp or LEN (cells: -1 unless LEN still gives its size). */
  Corrupt,
  /** A MESSAGE, SKIP or WRITING behind CLAIM: consumers never come back to it. */
  Behind,
  /** Freed, but not behind CLAIM: consumers stop at it. */
  FreedAhead,
  /** TAKEN ahead of CLAIM, where no consumer can have taken it: consumers would step over it and HEAD never pass it. */
  TakenAhead,
}

interface Judgement {
  verdict: Verdict;
  /** The record's cells, or -1 when they cannot be known. */
  cells: number;
  text: string;
}

/** How a walk from HEAD ended. */
const enum Walk {
  AtReserve,
  /** At a record of unknown size, or at a cursor inside a record: the rest cannot be walked. */
  Stopped,
  /** Something moved under it: the pass starts again. */
  Moved,
}

const u32 = (v: number): number => v >>> 0;

/** Whether `state` (a STAMP's low bits) is one of a record head: MESSAGE, SKIP, ORPHAN, WRITING(s), TAKEN(s). */
function recordState(state: number): boolean {
  return state === MESSAGE || state === SKIP || state === ORPHAN || (state >= WRITING && state < WRITING + SLOT_COUNT) ||
    (state >= TAKEN && state < TAKEN + SLOT_COUNT);
}

function stateName(state: number): string {
  return state === MESSAGE ? 'MESSAGE' : state === SKIP ? 'SKIP' : `WRITING(${state - WRITING})`;
}

export class QueueCheck {
  readonly #ring: QueueRing;
  readonly #cells: Int32Array;
  readonly #meta: Int32Array;
  readonly #capacity: number;
  #findings: Finding[] = [];
  /** The positions the current walk stepped on, in order. */
  readonly #visited: number[] = [];
  // While repair() runs: what it did, and what it needs announced.
  #fixing = false;
  #repaired: string[] = [];
  #skips = 0;
  #freed = 0;
  #orphans = 0;
  /** A fix moved a cursor: walk again. */
  #again = false;

  constructor(ring: QueueRing) {
    this.#ring = ring;
    this.#cells = ring.cells;
    this.#meta = ring.meta;
    this.#capacity = ring.capacity;
  }

  /** Every problem found (none: an empty array), from a pass the ring held still for. */
  check(): string[] {
    return this.#settle().map((f) => f.text);
  }

  /** Fixes what can be fixed while peers run; reports the rest with what to do about it. */
  repair(): RepairReport {
    const ring = this.#ring;
    this.#protocolRepair(); // dead peers first, the protocol's own way
    const found = this.check();
    this.#fixing = true;
    this.#repaired = [];
    this.#skips = this.#freed = this.#orphans = 0;
    try {
      // A pass fixes every record it confirms; another follows only if a
      // compare-and-swap lost a race or RESERVE was moved.
      for (let pass = 0; pass < PASSES; pass++) {
        this.#again = false;
        if (this.#pass() && !this.#again) break;
      }
    } finally {
      this.#fixing = false;
    }
    if (this.#skips > 0) ring.announceSkip(); // consumers stopped at a corrupt head go on
    if (this.#orphans > 0) ring.announceData(0);
    if (this.#freed > 0) this.#protocolRepair(); // HEAD moves past what was freed
    const remaining = this.#settle().map((f) =>
      f.sort === Sort.Cursor
        ? `${f.text}: no cursor can be moved back safely while the queue may be in use; recreate the queue (unlink and create)`
        : `${f.text}: left alone while a producer or consumer may be at work on it; run repair() again later`);
    return { found, repaired: this.#repaired, remaining };
  }

  // The clean-up waiters run (dead peers' claims, a HEAD left behind). It
  // throws ERR_SHMKIT_CORRUPT for a freed record with a bad LEN at HEAD: the
  // walk finds that one and frees it properly.
  #protocolRepair(): void {
    try {
      this.#ring.repair();
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'ERR_SHMKIT_CORRUPT') throw err;
    }
  }

  #settle(): Finding[] {
    for (let pass = 1; pass < PASSES; pass++) if (this.#pass()) return this.#findings;
    this.#pass();
    return this.#findings; // never held still: only what was confirmed
  }

  // One pass over the whole queue into #findings (fixing as it goes while
  // #fixing). Returns false if something moved under it.
  #pass(): boolean {
    this.#findings = [];
    this.#fields();
    const cells = this.#cells;
    const h = Atomics.load(cells, HEAD);
    const c = Atomics.load(cells, CLAIM);
    const r = Atomics.load(cells, RESERVE);
    const h2 = Atomics.load(cells, HEAD);
    const cursors = this.#cursorProblems(h, c, r, h2);
    if (cursors.length > 0) {
      // The reading order cannot fake these; a second look only makes sure
      // that a repairer racing with us did not just change them.
      const again = this.#cursorProblems(Atomics.load(cells, HEAD), Atomics.load(cells, CLAIM), Atomics.load(cells, RESERVE), Atomics.load(cells, HEAD));
      if (again.map((p) => p[0]).join() !== cursors.map((p) => p[0]).join()) return false;
      for (const [, text] of cursors) this.#report(Sort.Cursor, text);
      return true;
    }
    if (((r - h) | 0) > this.#capacity) return false; // HEAD moved on while we read: more than a ring to walk
    const walk = this.#walk(h, c, r);
    if (walk === Walk.Moved) return false;
    return walk === Walk.Stopped || this.#freeCells(h, r);
  }

  #report(sort: Sort, text: string): void {
    this.#findings.push({ sort, text });
  }

  // ---- Fixed fields ---------------------------------------------------------------------

  // The geometry the handle checked at open (nobody writes it afterwards: a
  // compare-and-swap puts it back), and FLAGS, whose unknown bits nobody reads.
  #fields(): void {
    const ring = this.#ring;
    const expected: [string, number, number][] = [
      ['CAPACITY', CAPACITY, this.#capacity], ['MAX_MSG', MAX_MESSAGE, ring.maxMessage], ['SLOTS', SLOTS, SLOT_COUNT], ['CELL', CELL_INDEX, CELL],
    ];
    for (const [name, index, value] of expected) {
      const seen = Atomics.load(this.#cells, index);
      if (seen === value) continue;
      if (this.#fixing && Atomics.compareExchange(this.#cells, index, seen, value) === seen) {
        this.#repaired.push(`${name}: ${u32(seen)} restored to ${value}`);
      } else {
        this.#report(Sort.Field, `${name} is ${u32(seen)}, not ${value} (the queue's size says ${value})`);
      }
    }
    const flags = Atomics.load(this.#cells, FLAGS);
    const unknown = flags & ~FLAG_ENDED;
    if (unknown === 0) return;
    if (this.#fixing) {
      Atomics.and(this.#cells, FLAGS, FLAG_ENDED);
      this.#repaired.push(`FLAGS: unknown bits 0x${u32(unknown).toString(16)} cleared`);
    } else {
      this.#report(Sort.Field, `FLAGS 0x${u32(flags).toString(16)} has unknown bits 0x${u32(unknown).toString(16)}`);
    }
  }

  // ---- Cursors --------------------------------------------------------------------------

  // [kind, text] of each cursor problem in a reading (HEAD h, CLAIM c, RESERVE
  // r, HEAD again h2). Read in that order, live cursors give h <= c <= r and
  // r <= h2 + CAPACITY, whatever moved in between.
  #cursorProblems(h: number, c: number, r: number, h2: number): [string, string][] {
    const problems: [string, string][] = [];
    for (const [name, v] of [['HEAD', h], ['CLAIM', c], ['RESERVE', r]] as const) {
      if ((v & STATE_MASK) !== 0) problems.push([`${name} align`, `${name} ${u32(v)} is not a multiple of ${CELL}`]);
    }
    if (((c - h) | 0) < 0) problems.push(['CLAIM < HEAD', `CLAIM ${u32(c)} is behind HEAD ${u32(h)}`]);
    if (((r - c) | 0) < 0) problems.push(['RESERVE < CLAIM', `RESERVE ${u32(r)} is behind CLAIM ${u32(c)}`]);
    if (((r - h2) | 0) > this.#capacity) problems.push(['RESERVE > HEAD', `RESERVE ${u32(r)} is more than CAPACITY ${this.#capacity} ahead of HEAD ${u32(h2)}`]);
    return problems;
  }

  // ---- Records --------------------------------------------------------------------------

  // Walks the records from HEAD h to RESERVE r (CLAIM c read between them).
  #walk(h: number, c: number, r: number): Walk {
    const ring = this.#ring;
    const meta = this.#meta;
    const visited = this.#visited;
    visited.length = 0;
    let x = h;
    for (let steps = 0; x !== r; steps++) {
      if (steps > this.#capacity >> CELL_SHIFT) return Walk.Moved; // more records than cells: our reads were not of one lap
      visited.push(x);
      const i = ring.stampIndex(x);
      const stamp = Atomics.load(meta, i);
      const len = Atomics.load(meta, i + 1);
      const j = this.#judge(x, stamp, len, c, r);
      if (j.verdict !== Verdict.Sound && !this.#confirmed(x, stamp, len, c, r, h, j)) return Walk.Moved;
      // A record of known size must end by RESERVE, and CLAIM be at a record's edge.
      const next = (x + j.cells * CELL) | 0;
      let cursor = '';
      if (j.cells > 0 && ((r - next) | 0) < 0) cursor = `record at position ${u32(x)}: its ${j.cells} cells end at ${u32(next)}, past RESERVE ${u32(r)}`;
      else if (j.cells > 0 && ((c - x) | 0) > 0 && ((next - c) | 0) > 0) cursor = `record at position ${u32(x)}: CLAIM ${u32(c)} is inside its ${j.cells} cells`;
      if (cursor !== '' && j.verdict === Verdict.Sound && !this.#stable(x, stamp, len, h)) return Walk.Moved;
      if (j.verdict !== Verdict.Sound) {
        // Next to a cursor out of place, which of the two is wrong is a guess: left alone.
        const fixed = this.#fixing && cursor === '' ? this.#fixRecord(x, stamp, len, j, r) : 0;
        if (fixed < 0) return Walk.Moved; // a compare-and-swap lost: look again
        if (fixed > 0) {
          x = (x + fixed * CELL) | 0;
          continue;
        }
        this.#report(cursor === '' ? Sort.Record : Sort.Cursor, j.text);
        if (j.cells < 0) return Walk.Stopped;
      }
      if (cursor !== '') {
        this.#report(Sort.Cursor, cursor);
        if (((r - next) | 0) < 0) return Walk.Stopped;
      }
      x = next;
    }
    return Walk.AtReserve;
  }

  // What the head at x (in [HEAD, RESERVE), CLAIM c, RESERVE r) says, read as
  // `stamp` and `len`.
  #judge(x: number, stamp: number, len: number, c: number, r: number): Judgement {
    const ring = this.#ring;
    const at = `record at position ${u32(x)}`;
    const state = stamp & STATE_MASK;
    const behindClaim = ((c - x) | 0) > 0;
    if ((stamp & POSITION_MASK) === x) {
      if (state === FREE) return { verdict: Verdict.Corrupt, cells: -1, text: `${at}: stamp ${u32(stamp)} says FREE, but RESERVE ${u32(r)} is past it` };
      if (!recordState(state)) return { verdict: Verdict.Corrupt, cells: -1, text: `${at}: stamp ${u32(stamp)} has an unknown state ${state}` };
      let cells: number;
      if (state >= WRITING && state < WRITING + SLOT_COUNT) {
        // As producers and consumers size a claim: the claimant's AT/CELLS while they name it, else LEN.
        cells = ring.claimCells(x, stamp);
        if (cells < 1 || (x & ring.mask) + cells * CELL > this.#capacity) {
          return { verdict: Verdict.Corrupt, cells: -1, text: `${at}: a claim of producer slot ${state - WRITING} with no valid size (${cells} cells)` };
        }
      } else {
        cells = ring.cellsIfValid(x, stamp, len);
        if (cells < 0) return { verdict: Verdict.Corrupt, cells: -1, text: `${at}: ${this.#lenProblem(x, state, len)} (stamp ${u32(stamp)})` };
      }
      // Consumers move CLAIM only past a record they took: a record never taken is never behind it.
      if (behindClaim && (state === MESSAGE || state === SKIP || (state >= WRITING && state < WRITING + SLOT_COUNT))) {
        return { verdict: Verdict.Behind, cells, text: `${at}: a ${stateName(state)} behind CLAIM ${u32(c)}` };
      }
      // And they take only at CLAIM (a CLAIM read late is behind the true
      // one): CLAIM read after the stamp is at it or past it.
      if (state >= TAKEN && ((x - c) | 0) > 0) {
        const claim = Atomics.load(this.#cells, CLAIM);
        if (((x - claim) | 0) > 0) return { verdict: Verdict.TakenAhead, cells, text: `${at}: taken by consumer slot ${state - TAKEN}, but ahead of CLAIM ${u32(claim)}` };
      }
      return { verdict: Verdict.Sound, cells, text: '' };
    }
    if (stamp === ((x + this.#capacity) | FREE)) {
      // Freed: consumed, HEAD not past it yet.
      const cells = ring.cellsIfValid(x, stamp, len);
      if (cells < 0) return { verdict: Verdict.Corrupt, cells: -1, text: `${at}: freed, but ${this.#lenProblem(x, FREE, len)}` };
      if (!behindClaim) {
        // Not behind CLAIM as read before the stamp; read after it, it may be.
        const claim = Atomics.load(this.#cells, CLAIM);
        if (((claim - x) | 0) <= 0) return { verdict: Verdict.FreedAhead, cells, text: `${at}: freed (stamp ${u32(stamp)}) but not behind CLAIM ${u32(claim)}` };
      }
      return { verdict: Verdict.Sound, cells, text: '' };
    }
    return { verdict: Verdict.Corrupt, cells: -1, text: `${at}: stamp ${u32(stamp)} is not of this lap (its position is ${u32(stamp & POSITION_MASK)})` };
  }

  #lenProblem(x: number, state: number, len: number): string {
    if (len >= 0 && state === SKIP) return `LEN ${len} of a SKIP is not minus its cells`;
    if (len > this.#ring.maxMessage) return `LEN ${len} is more than MAX_MSG ${this.#ring.maxMessage}`;
    if (len < 0 && (state === MESSAGE || state === ORPHAN)) return `LEN ${len} of a message is negative`;
    return `its ${u32(cellsOf(len))} cells (LEN ${len}) cross the end of the data area at ${(x & this.#ring.mask) >>> 0}`;
  }

  // Whether the head at x still reads `stamp` and `len`, and the walk that
  // reached it (from HEAD h) still stands: HEAD is not past x, and is where
  // the walk began or on its path (the records HEAD passed may have been
  // reused since, their LENs misread).
  #stable(x: number, stamp: number, len: number, h: number): boolean {
    const head = Atomics.load(this.#cells, HEAD);
    if (((head - x) | 0) > 0 || (head !== h && !this.#visited.includes(head))) return false;
    const i = this.#ring.stampIndex(x);
    return Atomics.load(this.#meta, i) === stamp && Atomics.load(this.#meta, i + 1) === len;
  }

  // #stable(), and the same judgement again (a claim's AT/CELLS, and CLAIM
  // for what is ahead of it, read anew).
  #confirmed(x: number, stamp: number, len: number, c: number, r: number, h: number, j: Judgement): boolean {
    if (!this.#stable(x, stamp, len, h)) return false;
    const again = this.#judge(x, stamp, len, c, r);
    return again.verdict === j.verdict && again.cells === j.cells;
  }

  // Repairs the confirmed bad head at x. Returns the cells it now covers
  // (the walk goes on after them), 0 if left alone, -1 if a compare-and-swap
  // lost (something changed: look again).
  #fixRecord(x: number, stamp: number, len: number, j: Judgement, r: number): number {
    const ring = this.#ring;
    const state = stamp & STATE_MASK;
    const at = `record at position ${u32(x)}`;
    const i = ring.stampIndex(x);
    if (j.verdict === Verdict.Behind) {
      if (state === MESSAGE) {
        // An intact message CLAIM skipped: to the consumers as an ORPHAN (one CAS: one of them takes it).
        if (Atomics.compareExchange(this.#meta, i, stamp, x | ORPHAN) !== stamp) return -1;
        Atomics.add(this.#cells, ORPHANS, 1); // after the stamp: a search it prompts finds it
        this.#orphans++;
        this.#repaired.push(`${at}: a message behind CLAIM, handed to the consumers as an orphan`);
        return j.cells;
      }
      if (state === SKIP) {
        if (Atomics.compareExchange(this.#meta, i, stamp, (x + this.#capacity) | FREE) !== stamp) return -1;
        this.#freed++;
        this.#repaired.push(`${at}: a SKIP behind CLAIM, freed`);
        return j.cells;
      }
      return 0; // WRITING: once published it is a MESSAGE the next repair hands over
    }
    if (j.verdict === Verdict.TakenAhead) {
      // Nobody took it: put it back as what it was for the consumers to take (or step over).
      if (Atomics.compareExchange(this.#meta, i, stamp, x | (len >= 0 ? MESSAGE : SKIP)) !== stamp) return -1;
      this.#repaired.push(`${at}: taken ahead of CLAIM, put back`);
      return j.cells;
    }
    const claim = Atomics.load(this.#cells, CLAIM);
    if (((x - claim) | 0) >= 0) {
      // Consumers will meet it at CLAIM: a SKIP they step over, up to the next head.
      if (this.#workedOn(stamp, x)) return 0;
      const n = this.#cellsToHead(x, r);
      if (!this.#replace(i, stamp, len, -n, x | SKIP)) return -1;
      this.#skips++;
      this.#repaired.push(`${at}: unreadable, skipped (${n} cells)`);
      return n;
    }
    // Behind CLAIM: taken, an orphan or freed. HEAD cannot pass it until it
    // is freed, and it can be freed only while no consumer is at work (none
    // can be reading it then, and none can take it later: it is no ORPHAN).
    for (let s = 0; s < SLOT_COUNT; s++) if (ring.consumerSlots[s]?.locked) return 0;
    const n = this.#cellsToHead(x, claim);
    if (!this.#replace(i, stamp, len, -n, (x + this.#capacity) | FREE)) return -1;
    this.#freed++;
    this.#repaired.push(`${at}: unreadable, freed (${n} cells)`);
    return n;
  }

  // Whether a live producer may be writing at x (its slot is held and its
  // claim words or the stamp name it), or a live consumer holds what the stamp says it took.
  #workedOn(stamp: number, x: number): boolean {
    const ring = this.#ring;
    const state = stamp & STATE_MASK;
    for (let t = 0; t < SLOT_COUNT; t++) {
      const named = Atomics.load(this.#cells, SLOT_CLAIMS + 2 * t) === x || state === WRITING + t;
      if (named && ring.producerSlots[t]?.locked) return true;
    }
    return state >= TAKEN && state < TAKEN + SLOT_COUNT && (ring.consumerSlots[state - TAKEN]?.locked ?? false);
  }

  // Cells from x to the next head of this lap (a record's stamp, or one freed
  // this lap), `limit` or the end of the data area (no record crosses it).
  #cellsToHead(x: number, limit: number): number {
    const ring = this.#ring;
    let n = 1;
    for (let y = (x + CELL) | 0; ((limit - y) | 0) > 0 && (y & ring.mask) !== 0; y = (y + CELL) | 0, n++) {
      const stamp = Atomics.load(this.#meta, ring.stampIndex(y));
      if (((stamp & POSITION_MASK) === y && recordState(stamp & STATE_MASK)) || stamp === ((y + this.#capacity) | FREE)) break;
    }
    return n;
  }

  // LEN from `len` to `newLen`, then the STAMP from `stamp` to `newStamp`
  // (release: the new LEN with it), each a compare-and-swap from what we judged.
  #replace(i: number, stamp: number, len: number, newLen: number, newStamp: number): boolean {
    if (Atomics.compareExchange(this.#meta, i + 1, len, newLen) !== len) return false;
    return Atomics.compareExchange(this.#meta, i, stamp, newStamp) === stamp;
  }

  // ---- Free cells -------------------------------------------------------------------------

  // The cells from RESERVE r to HEAD h + CAPACITY are free: each stamp must
  // be of an earlier lap (or say FREE for this one), else producers refuse
  // the cell or take it for a record. Returns false if something moved.
  #freeCells(h: number, r: number): boolean {
    const ring = this.#ring;
    const meta = this.#meta;
    const end = (h + this.#capacity) | 0;
    for (let y = r; y !== end; y = (y + CELL) | 0) {
      const i = ring.stampIndex(y);
      const stamp = Atomics.load(meta, i);
      if (stamp === y || (((stamp & POSITION_MASK) - y) | 0) < 0) continue;
      const reserve = Atomics.load(this.#cells, RESERVE);
      if (((reserve - y) | 0) > 0) continue; // claimed since we read RESERVE
      if (Atomics.load(meta, i) !== stamp) return false;
      const state = stamp & STATE_MASK;
      if (y === reserve && (stamp & POSITION_MASK) === y && recordState(state)) {
        const writing = state >= WRITING && state < WRITING + SLOT_COUNT;
        const cells = writing ? ring.claimCells(y, stamp) : ring.cellsIfValid(y, stamp, Atomics.load(meta, i + 1));
        if (cells >= 1 && (y & ring.mask) + cells * CELL <= this.#capacity) {
          if (writing) continue; // a claim whose producer has not moved RESERVE yet
          // RESERVE is behind a record: move it on as producers do (helpReserve).
          if (!this.#fixing) {
            this.#report(Sort.Record, `RESERVE ${u32(y)} is behind the record there (stamp ${u32(stamp)})`);
            return true;
          }
          if (Atomics.compareExchange(this.#cells, RESERVE, y, (y + cells * CELL) | 0) === y) {
            this.#repaired.push(`RESERVE: moved from ${u32(y)} past the record there (${cells} cells)`);
          }
          this.#again = true;
          return true;
        }
      }
      if (this.#fixing && Atomics.compareExchange(meta, i, stamp, y | FREE) === stamp) {
        this.#repaired.push(`free cell at position ${u32(y)}: stamp ${u32(stamp)} reset to FREE`);
        continue;
      }
      this.#report(Sort.Record, `free cell at position ${u32(y)}: stamp ${u32(stamp)} is not of an earlier lap (RESERVE is ${u32(reserve)})`);
    }
    return true;
  }
}
