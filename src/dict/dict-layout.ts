/**
 * Dict: a key-value store in shared memory with a fixed memory budget.
 *
 *  0       64         128          192        320           4416           8576          8576+4·BUCKETS (64-aligned)
 *  +-------+----------+------------+----------+-------------+--------------+-------------+------------------------+
 *  |header | geometry | state      | write    | shard SEQs  | read counters| buckets     | blocks                 |
 *  |kind 9 | BLOCKS,  | FREE_HEAD, | lock     | (one 64-byte| line 0:      | u32 each:   | 64 bytes each;         |
 *  |v 3    | BUCKETS, | FREE_COUNT,| (Mutex,  | line each)  | OVERFLOW;    | first entry | block 0 unused         |
 *  |       | SHARDS,  | ENTRIES,   | 128 B)   |             | lines 1..64: | of the chain| (0 means "none")       |
 *  |       | SLOTS,   | LRU_HEAD,  |          |             | one reader   |             |                        |
 *  |       | CREATED  | LRU_TAIL,  |          |             | slot each    |             |                        |
 *  |       |          | CLOCK,     |          |             | (OWNER pid,  |             |                        |
 *  |       |          | SETS, DELS,|          |             | HITS, MISSES)|             |                        |
 *  |       |          | EVICTIONS, |          |             |              |             |                        |
 *  |       |          | EXPIRATIONS|          |             |              |             |                        |
 *  +-------+----------+------------+----------+-------------+--------------+-------------+------------------------+
 *
 * Memory is one pool of 64-byte blocks, and every entry (or list element) is
 * a chain of them. Any free block serves any entry, so the store never
 * fails for want of a block of the right size: it is full only when too few
 * blocks are free (no size classes, no external fragmentation).
 *
 * Every block starts with MORE u32 (the next block of the same chain, 0:
 * none) and STAMP u32 (when the entry starting there was last used: the
 * LRU stamp, written by readers too; in any other block it means nothing,
 * so a reader that stamps a block just reused by another entry harms
 * nothing, and it costs no extra cache line on a read).
 * Entry, first block:
 *   0 MORE, 4 STAMP
 *   8 NEXT u32     next entry in the bucket chain
 *  12 HASH u32     FNV-1a of the key's UTF-8 bytes
 *  16 VAL_LEN u32  value bytes (number, bigint: 8; boolean: 1; list: 12)
 *  20 KEY_LEN u16, 22 TYPE u8, 23 FLAGS u8
 *  24 LRU_PREV u32, 28 LRU_NEXT u32   (towards the most / least recently used)
 *  32 EXPIRES f64  ms since the epoch; 0: never
 *  40 payload, continuing in later blocks at offset 8: for strings and
 *     bytes the key, then the value (a lookup compares the key in the first
 *     block); for fixed-size values (number, bigint, boolean, list head) the
 *     value first, 8-aligned (a number changes with one 8-byte store), then
 *     the key
 * Continuation block: 0 MORE, 4 STAMP (unused), 8 payload (56 bytes).
 * List value (12 bytes): HEAD u32, TAIL u32, COUNT u32; list elements are
 * chains whose first block is: 0 MORE, 4 STAMP (unused), 8 NEXT (towards
 * the tail), 12 PREV, 16 LEN, 20 TYPE u8, 24 payload (a number at 24).
 * Free blocks are chained through MORE from FREE_HEAD.
 *
 * The rules:
 * - Writers hold the write lock (a robust Mutex). Each change becomes
 *   visible with one 4- or 8-byte store: a new or replaced entry is written
 *   completely in free blocks and then linked (bucket head or predecessor's
 *   NEXT), a deleted one is unlinked, a number changes in place. So a writer
 *   killed at any instant leaves every key with its old or its new value;
 *   the next writer, told OWNER_DIED by the lock, rebuilds the free list,
 *   the LRU list, the counts and the lists' back links from the bucket
 *   chains (which are always whole).
 * - Around a change to the entries of shard s (= bucket & (SHARDS - 1)) the
 *   writer makes SEQ[s] odd, then even again (not around a number changed
 *   in place: one 8-byte store, seen whole, that changes no link). Readers take no lock: they
 *   read SEQ[s] (even), read, and retry if SEQ[s] changed (a seqlock), with
 *   every block index checked before use, since what they read may be
 *   half-changed.
 * - LRU: writers link entries at LRU_HEAD and stamp them 2·CLOCK (CLOCK
 *   counts writes); readers stamp 2·CLOCK + 1 ("used after write CLOCK"),
 *   and so does incr changing a number in place (it moves nothing in the
 *   LRU list, and leaves CLOCK's line unwritten).
 *   Eviction takes LRU_TAIL unless its stamp is newer than its neighbour's
 *   (or equal and odd): it was read since, and moves to the head instead.
 * - Counters. Writers count SETS, DELETES, EVICTIONS, EXPIRATIONS on the
 *   state line with plain increments under the lock (u32, wrapping).
 *   Readers count HITS and MISSES without any shared write: a handle
 *   claims a reader slot (a 64-byte line) by CAS of its pid into OWNER
 *   (0, a dead pid, or a value that is no pid may be taken) and then bumps
 *   the slot's words with plain stores: it is their only writer. A slot's
 *   counts are never reset: they belong to the Dict, whoever owns the slot,
 *   so the sum over OVERFLOW and every slot never goes back. close() gives
 *   the slot back (OWNER = 0). With every slot owned by a live process, a
 *   handle counts into OVERFLOW with atomic adds.
 */
import { HEADER_LENGTH, Kind } from '../layout/header.js';
import { MUTEX_LENGTH } from '../sync/mutex-layout.js';

export const DICT_KIND = Kind.Dict;
export const DICT_VERSION = 3;

export const BLOCK_SIZE = 64;
export const SHARD_COUNT = 64;
export const SEQ_STRIDE = 64;
export const MAX_KEY_BYTES = 65535;
/** Smallest budget: room for a few entries. */
export const MIN_MEMORY = 4096;
/** Largest budget (block indexes are u32, views are limited to 2^32 bytes). */
export const MAX_MEMORY = 2 ** 31;

// Geometry (Int32 indexes).
export const BLOCKS = HEADER_LENGTH / 4;
export const BUCKETS = BLOCKS + 1;
export const SHARDS = BLOCKS + 2;
/** Geometry: reader slots (READER_SLOTS; byte 76). */
export const SLOTS = BLOCKS + 3;
export const CREATED_F64 = (HEADER_LENGTH + 16) / 8; // Float64 index (byte 80): creation time (ms since the epoch)
// State (Int32 indexes).
export const FREE_HEAD = 128 / 4;
export const FREE_COUNT = FREE_HEAD + 1;
export const ENTRIES = FREE_HEAD + 2;
export const LRU_HEAD = FREE_HEAD + 3;
export const LRU_TAIL = FREE_HEAD + 4;
export const CLOCK = FREE_HEAD + 5;
// Writers' counters (Int32 indexes; u32, wrapping at 2^32): bumped with plain
// stores under the write lock, on the state line writers already write.
/** Values stored by set, add, replace and compareAndSet (the calls that stored). */
export const SETS = FREE_HEAD + 6; // byte 152
/** Live entries removed by delete(). */
export const DELETES = FREE_HEAD + 7; // byte 156
/** Entries evicted to make room. */
export const EVICTIONS = FREE_HEAD + 8; // byte 160
/** Expired entries reclaimed (flushExpired, or a write or delete that found its key expired). */
export const EXPIRATIONS = FREE_HEAD + 9; // byte 164

export const LOCK_OFFSET = 192;
export const SEQS_OFFSET = LOCK_OFFSET + MUTEX_LENGTH;
/** Int32s of the fixed fields before the shard sequence words (header, geometry, free list, lock): one view covers them. */
export const HEADER_CELLS = SEQS_OFFSET / 4;

// Read counters: STAT_LINES lines of STAT_LINE bytes after the shard SEQs.
// Line 0 is OVERFLOW (counted with atomic adds by handles that found no free
// slot; its OWNER word stays 0); line 1 + i is reader slot i.
export const STATS_OFFSET = SEQS_OFFSET + SHARD_COUNT * SEQ_STRIDE; // 4416
export const STAT_LINE = 64;
export const READER_SLOTS = 64;
export const STAT_LINES = 1 + READER_SLOTS;
export const STATS_LENGTH = STAT_LINES * STAT_LINE; // 4160
export const OVERFLOW_LINE = 0;
/** Int32s per stats line. */
export const STAT_LINE_INTS = STAT_LINE / 4;
// Fields of a stats line (Int32 index within the line).
/** The owning process's pid (0: free). */
export const S_OWNER = 0;
/** get()/getStale() calls that returned a value (u32, wrapping). */
export const S_HITS = 1;
/** get()/getStale() calls that returned undefined (u32, wrapping). */
export const S_MISSES = 2;
/** Largest pid Linux hands out (pid_max is at most 2^22): an OWNER above it, or below 0, is no pid. */
export const PID_MAX = 2 ** 22;

/** Byte offset (from the object) of stats line `line` (0: OVERFLOW, 1 + i: reader slot i). */
export function statLineOffset(line: number): number {
  return STATS_OFFSET + line * STAT_LINE;
}

// Entry fields (Int32 index within a block, from the block's first Int32).
export const E_MORE = 0;
export const E_STAMP = 1;
export const E_NEXT = 2;
export const E_HASH = 3;
export const E_VAL_LEN = 4;
export const E_KEY_TYPE = 5; // KEY_LEN u16 | TYPE u8 << 16 | FLAGS u8 << 24
export const E_TYPE_BYTE = 22; // byte offset
export const E_FLAGS_BYTE = 23; // byte offset
/** FLAGS bit: a string value is all ASCII (readers decode it in place, block by block). */
export const F_ASCII = 1;
export const E_LRU_PREV = 6;
export const E_LRU_NEXT = 7;
export const E_EXPIRES_F64 = 4; // Float64 index within a block (byte 32)
export const ENTRY_PAYLOAD = 40; // byte offset of the payload in the first block
export const MORE_PAYLOAD = 8; // byte offset of the payload in a continuation block

// A list value (Int32 index within the entry's first block): its payload
// holds HEAD, TAIL, COUNT (a list's value comes before its key, at offset 40).
export const LIST_HEAD = ENTRY_PAYLOAD / 4;
export const LIST_TAIL = LIST_HEAD + 1;
export const LIST_COUNT = LIST_HEAD + 2;
export const LIST_VALUE_BYTES = 12;

// List element fields.
export const L_MORE = 0;
export const L_NEXT = 2;
export const L_PREV = 3;
export const L_LEN = 4;
export const L_TYPE_BYTE = 20;
export const NODE_PAYLOAD = 24;

/** Value types (TYPE byte). Never renumber: they are on-disk values. */
export const T_STRING = 1;
export const T_NUMBER = 2;
export const T_BIGINT = 3;
export const T_BOOLEAN = 4;
export const T_BYTES = 5;
export const T_LIST = 6;

/** Where everything sits for a budget of `memory` bytes. */
export interface DictGeometry {
  blocks: number;
  buckets: number;
  bucketsOffset: number;
  blocksOffset: number;
  byteLength: number;
}

export function dictGeometry(blocks: number, buckets: number): DictGeometry {
  const bucketsOffset = STATS_OFFSET + STATS_LENGTH;
  const blocksOffset = Math.ceil((bucketsOffset + buckets * 4) / BLOCK_SIZE) * BLOCK_SIZE;
  return { blocks, buckets, bucketsOffset, blocksOffset, byteLength: blocksOffset + blocks * BLOCK_SIZE };
}

/**
 * Blocks and buckets for a budget: one bucket per 2–4 blocks. A small entry
 * takes 2 blocks, so a full dict has 1–2 entries per bucket, and a bucket
 * costs an entry 2–4 bytes.
 */
export function geometryFor(memory: number): DictGeometry {
  const blocks = Math.floor(memory / BLOCK_SIZE);
  let buckets = SHARD_COUNT;
  while (buckets * 4 < blocks) buckets *= 2;
  return dictGeometry(blocks, buckets);
}

/** Blocks a chain needs for `payload` bytes when its first block's payload starts at `firstPayload`. */
export function blocksFor(firstPayload: number, payload: number): number {
  const first = BLOCK_SIZE - firstPayload;
  return payload <= first ? 1 : 1 + Math.ceil((payload - first) / (BLOCK_SIZE - MORE_PAYLOAD));
}

/** Blocks for an entry of `valLen` value bytes and `keyLen` key bytes. */
export function entryBlocks(valLen: number, keyLen: number): number {
  return blocksFor(ENTRY_PAYLOAD, valLen + keyLen);
}

/** Blocks for a list element of `length` bytes. */
export function nodeBlocks(length: number): number {
  return blocksFor(NODE_PAYLOAD, length);
}
