/**
 * The kernel's robust-futex list, kept by JavaScript. Each thread that locks
 * a shmkit Mutex registers one list head with the kernel (set_robust_list);
 * every mutex the thread holds is linked into it. When the thread or its
 * process dies (SIGKILL included), the kernel walks the list, marks each
 * mutex whose word still holds the dead thread's id with OWNER_DIED and wakes
 * one waiter: recovery is immediate and cannot be fooled by pid reuse.
 *
 * The head lives in a private page that JavaScript writes directly, so
 * linking costs a few stores and no syscall. It replaces glibc's head for
 * that thread: glibc robust mutexes (PTHREAD_MUTEX_ROBUST) locked by the same
 * thread lose owner-died recovery (documented in docs/LIFETIMES.md).
 *
 * Head page (struct robust_list_head):
 *   0  list.next        u64  first entry, or the head's own address when empty
 *   8  futex_offset     i64  word address minus entry address (ROBUST_FUTEX_OFFSET)
 *   16 list_op_pending  u64  entry being locked or unlocked right now
 */
import { native } from '../binding.js';

/** Each entry is the mutex's ROBUST_NEXT field; its futex word sits this far away. */
export const ROBUST_FUTEX_OFFSET = -8;

const HEAD_NEXT_LO = 0;
const HEAD_NEXT_HI = 1;
const HEAD_PENDING_LO = 4;
const HEAD_PENDING_HI = 5;
const TWO_32 = 4294967296;

/** What the list needs from a held lock: where its link field is. */
export interface RobustEntry {
  /** Int32 view holding the link field. */
  readonly linkCells: Int32Array;
  /** Index (in linkCells) of the link's low 32 bits; high bits follow. */
  readonly linkIndex: number;
  /** Virtual address of the link field in this process. */
  readonly linkAddress: number;
  /** linkAddress split into the two halves stored in the list. */
  readonly linkLo: number;
  readonly linkHi: number;
}

/** Builds the entry for a link field at `address` in `cells[index]`. */
export function robustEntry(cells: Int32Array, index: number, address: number): RobustEntry {
  return { linkCells: cells, linkIndex: index, linkAddress: address, linkLo: address % TWO_32 | 0, linkHi: (address / TWO_32) | 0 };
}

export class RobustList {
  /** Kernel thread id of this JavaScript thread (what mutex words hold). */
  readonly tid: number;
  readonly #head: Int32Array;
  readonly #held: RobustEntry[] = [];

  constructor() {
    const { buffer } = native.robustListInit(ROBUST_FUTEX_OFFSET);
    this.#head = new Int32Array(buffer, 0, 8);
    this.tid = native.gettid();
  }

  /** Marks `entry` as being locked/unlocked, so a death mid-operation is handled. */
  setPending(entry: RobustEntry): void {
    this.#head[HEAD_PENDING_LO] = entry.linkLo;
    this.#head[HEAD_PENDING_HI] = entry.linkHi;
  }

  clearPending(): void {
    this.#head[HEAD_PENDING_LO] = 0;
    this.#head[HEAD_PENDING_HI] = 0;
  }

  /** Links a just-acquired lock at the front of the list. */
  link(entry: RobustEntry): void {
    const cells = entry.linkCells;
    const i = entry.linkIndex;
    const head = this.#head;
    cells[i] = head[HEAD_NEXT_LO] as number;
    cells[i + 1] = head[HEAD_NEXT_HI] as number;
    head[HEAD_NEXT_LO] = entry.linkLo;
    head[HEAD_NEXT_HI] = entry.linkHi;
    this.#held.push(entry);
  }

  /** Unlinks a lock about to be released (usually the last one linked). */
  unlink(entry: RobustEntry): void {
    const held = this.#held;
    let at = held.length - 1;
    while (at >= 0 && held[at] !== entry && (held[at] as RobustEntry).linkAddress !== entry.linkAddress) at--;
    if (at < 0) return;
    const own = held[at] as RobustEntry;
    const lo = own.linkCells[own.linkIndex] as number;
    const hi = own.linkCells[own.linkIndex + 1] as number;
    if (at === held.length - 1) {
      this.#head[HEAD_NEXT_LO] = lo;
      this.#head[HEAD_NEXT_HI] = hi;
    } else {
      const newer = held[at + 1] as RobustEntry; // the entry that points at this one
      newer.linkCells[newer.linkIndex] = lo;
      newer.linkCells[newer.linkIndex + 1] = hi;
    }
    // remove without allocating (splice would return an array)
    for (let j = at; j < held.length - 1; j++) held[j] = held[j + 1] as RobustEntry;
    held.pop();
  }
}

let list: RobustList | undefined;

/** This thread's list (each worker thread has its own module instance). */
export function robustList(): RobustList {
  if (list === undefined) list = new RobustList();
  return list;
}

/** This thread's id if it ever locked a Mutex, else 0 (never creates the list). */
export function lockingTid(): number {
  return list === undefined ? 0 : list.tid;
}
