/**
 * Dict: a key-value store shared by processes and threads, with a fixed
 * memory budget: OpenResty's `ngx.shared.DICT` (get/set/add/replace/incr,
 * ttl, LRU eviction, lists) plus typed values, compare-and-set, and reads
 * that take no lock. See dict-layout.ts for the format and the rules.
 */
import { checkInteger, checkObject, checkTimeout } from '../args.js';
import { ShmkitError, invalidArgType, invalidArgValue, mismatchError, outOfRange } from '../errors.js';
import { Segment } from '../segment/segment.js';
import { objectBytesAt } from '../layout/header.js';
import { Mutex, lockContended, type LockResult } from '../sync/mutex.js';
import { SharedObject } from '../object/shared-object.js';
import { adoptNamed, attachObject, createNamed, initObject, openNamed, openOrCreateNamed, type NamedCreateOptions, type NamedOpenOptions, type ObjectSpec, unlinkNamed } from '../object/named.js';
import {
  BLOCKS, HEADER_CELLS, BUCKETS, CREATED_F64, DICT_KIND, DICT_VERSION, E_EXPIRES_F64, E_FLAGS_BYTE, E_HASH, E_KEY_TYPE, E_NEXT, E_VAL_LEN, F_ASCII,
  DELETES, ENTRIES, ENTRY_PAYLOAD, EVICTIONS, EXPIRATIONS, SETS, L_LEN, L_NEXT, L_PREV, L_TYPE_BYTE, LIST_COUNT, LIST_HEAD, LIST_TAIL, LIST_VALUE_BYTES, LOCK_OFFSET, MAX_KEY_BYTES, MAX_MEMORY, MIN_MEMORY, NODE_PAYLOAD,
  FREE_COUNT, OVERFLOW_LINE, READER_SLOTS, SEQS_OFFSET, SHARDS, SHARD_COUNT, SLOTS, STAT_LINE_INTS, S_HITS, S_MISSES, statLineOffset, T_BIGINT, T_BOOLEAN, T_BYTES, T_LIST, T_NUMBER, T_STRING, BLOCK_SIZE, geometryFor, dictGeometry, entryBlocks, nodeBlocks,
} from './dict-layout.js';
import { DictStore, F64_PER_BLOCK, TORN, TornRead, WORD_COPY_MIN } from './dict-store.js';
import { checkDict, rebuildDict, rebuildOrRefuse } from './dict-check.js';
import { claimSlot, releaseSlot, sumReads } from './dict-stats.js';
import type { RepairReport } from '../object/repair-report.js';
import type { AsyncDict, DictCapabilities } from '../object/async-interfaces.js';

/** What a Dict stores. */
export type DictValue = string | number | bigint | boolean | Uint8Array;

/** Geometry of a Dict. */
export interface DictOptions {
  /**
   * Bytes for entries (keys, values and their 64-byte blocks). At least
   * 4096, at most 2^31; used in whole 64-byte blocks (rounded down).
   */
  memory: number;
}

/** Options of a Dict handle (create, open, openOrCreate, init, attach). */
export interface DictHandleOptions {
  /**
   * Longest wait, in milliseconds, for the write lock (every write, `check()`,
   * and a read that finds a writer stopped mid-change): past it the call
   * throws ETIMEDOUT naming the Dict and the key. Default: 5000 plus 50 per
   * MiB of `memory` (longer than a healthy holder ever keeps it: see
   * docs/API.md); `Infinity` waits forever. Writes override it per call with
   * `{ timeout }`.
   */
  timeout?: number;
}

/** The per-call bound of every write: see {@link DictHandleOptions.timeout}. */
export interface DictWriteOptions {
  /** Longest wait (ms) for the write lock in this call (default: the handle's). */
  timeout?: number;
}

/** Options of set/add/replace/compareAndSet. */
export interface DictSetOptions extends DictWriteOptions {
  /** Time to live in milliseconds (0 or absent: never expires). */
  ttl?: number;
  /** When full, evict least-recently-used entries (default), or fail with ENOSPC (false). */
  evict?: boolean;
}

/**
 * A snapshot of a Dict's counters and gauges (`dict.stats()`). Counters are
 * totals since the Dict was created, over every process, as u32 that wrap
 * at 2^32 (a rate is a difference modulo 2^32).
 */
export interface DictStats {
  /** get() and getStale() calls that returned (`hits + misses`). */
  gets: number;
  /** get() and getStale() calls that returned a value (getStale: stale ones too). */
  hits: number;
  /** get() and getStale() calls that returned undefined (missing or, for get(), expired). */
  misses: number;
  /** Values stored by set, add, replace and compareAndSet (the calls that stored). */
  sets: number;
  /** Live entries removed by delete(). */
  deletes: number;
  /** Entries evicted to make room. */
  evictions: number;
  /** Expired entries reclaimed: by flushExpired(), or by a write or delete() that found its key expired. */
  expirations: number;
  /** Entries stored (expired ones not yet reclaimed included): `dict.size`. */
  entries: number;
  /** Bytes of entry memory: `dict.capacity`. */
  capacity: number;
  /** Bytes of entry memory free: `dict.freeSpace()`. */
  freeSpace: number;
  /** The pid of the process holding the write lock, or null when it is free. */
  lockHolder: number | null;
}

/** Options of incr. */
export interface DictIncrOptions extends DictWriteOptions {
  /** The value a missing key starts from; without it, incr of a missing key returns undefined. */
  init?: number | bigint;
  /** Time to live (ms) of an entry incr creates (ngx's init_ttl). */
  ttl?: number;
}

/**
 * The default bound (ms) on the wait for the write lock: 5 s, plus 50 ms per
 * MiB of entry memory. Writes hold the lock for microseconds; `check()`,
 * `flushExpired()`, `flushAll()` and the repair after a writer died walk the
 * whole Dict, which took up to 33 ms per MiB (check(), 256 MiB holding 1 M
 * entries, on a loaded 2-CPU VM): a healthy holder never makes a waiter time
 * out, and a stopped one (SIGSTOP, a debugger) gives an error naming the
 * Dict instead of every writer hanging silently.
 * @internal
 */
export function defaultDictTimeout(capacity: number): number {
  return DEFAULT_TIMEOUT_BASE + Math.ceil(capacity / 2 ** 20) * DEFAULT_TIMEOUT_PER_MIB;
}
const DEFAULT_TIMEOUT_BASE = 5000;
const DEFAULT_TIMEOUT_PER_MIB = 50;
/** handleTimeout()'s answer when no timeout was given: the constructor derives it from the size. */
const DEFAULT_TIMEOUT = -2;

const SPEC: ObjectSpec<DictOptions & DictHandleOptions> = {
  kind: DICT_KIND,
  version: DICT_VERSION,
  what: 'Dict',
  byteLength: (options) => geometryFor(checkMemory(options)).byteLength,
  checkOptions: (options) => {
    checkMemory(options);
    handleTimeout(options);
  },
  // The openOrCreate rule. The Dict records its memory as whole 64-byte
  // blocks (BLOCKS = floor(memory / 64)): a request that gives the same
  // blocks is the same Dict.
  checkExisting: (buffer, byteOffset, options, name) => {
    if (options.memory === undefined || objectBytesAt(buffer, byteOffset) < SEQS_OFFSET) return; // the constructor reports a bad layout
    const blocks = new Int32Array(buffer, byteOffset, HEADER_CELLS)[BLOCKS] as number;
    const wanted = geometryFor(checkMemory(options)).blocks;
    if (blocks !== wanted) throw mismatchError('Dict', name, 'memory', blocks * BLOCK_SIZE, options.memory);
  },
  initFields: (buffer, byteOffset, options) => {
    const g = geometryFor(checkMemory(options));
    const cells = new Int32Array(buffer, byteOffset, HEADER_CELLS);
    cells[BLOCKS] = g.blocks;
    cells[BUCKETS] = g.buckets;
    cells[SHARDS] = SHARD_COUNT;
    cells[SLOTS] = READER_SLOTS;
    new Float64Array(buffer, byteOffset, 16)[CREATED_F64] = Date.now();
    Mutex.init(buffer, byteOffset + LOCK_OFFSET).close();
    new DictStore(buffer, byteOffset, g.blocks, g.buckets).format();
  },
};

/** The handle's lock timeout: ms, -1 (FOREVER) for Infinity, DEFAULT_TIMEOUT when not given. */
function handleTimeout(options: DictHandleOptions | undefined): number {
  const t = options === undefined ? undefined : checkObject<DictHandleOptions>('options', options).timeout;
  if (t === undefined) return DEFAULT_TIMEOUT;
  return checkTimeoutOption(t);
}

function checkTimeoutOption(t: unknown): number {
  return checkTimeout(t, 'options.timeout');
}

// Views at byte offsets 0..3 of one own buffer, each with room for at least n bytes.
function valViews(n: number): Buffer[] {
  const area = new ArrayBuffer((n + 3 + 7) & ~7);
  return [0, 1, 2, 3].map((r) => Buffer.from(area, r, area.byteLength - 3));
}

function checkMemory(options: DictOptions | undefined): number {
  const opts = checkObject<DictOptions>('options', options);
  if (opts.memory === undefined) throw invalidArgType('options.memory', 'of type number', undefined);
  return checkInteger('options.memory', opts.memory, MIN_MEMORY, MAX_MEMORY);
}

function checkTtl(ttl: unknown, name = 'options.ttl'): number {
  if (ttl === undefined) return 0;
  if (typeof ttl !== 'number') throw invalidArgType(name, 'of type number', ttl);
  if (!(ttl >= 0) || ttl === Infinity) throw outOfRange(name, '>= 0 and finite (milliseconds)', ttl);
  return ttl;
}

function wrongType(dict: string, key: string, what: string): ShmkitError {
  return new ShmkitError('ERR_SHMKIT_WRONG_TYPE', `${dict}: the value of '${key}' is not ${what}`);
}

/**
 * Gives back the reader slot of a handle dropped without close() (the
 * held value keeps only the counters' view, never the handle).
 */
const SLOT_REAPER = new FinalizationRegistry<{ stats: Int32Array; line: number; pid: number }>((held) => {
  releaseSlot(held.stats, held.line, held.pid);
});

/** Reads retried this often without seeing a stable shard take the write lock instead. */
const READ_RETRIES = 1000;
/** Strings up to this long are first tried as ASCII, written straight from the string. */
const ASCII_SCAN = 4096;
/** Reads that found nonsense while no writer was at it: the memory is corrupt. */
const CORRUPT_AFTER = 4;
// What a lock-free read returns (#readBody's op).
const OP_GET = 0;
const OP_STALE = 1;
const OP_TTL = 2;
const OP_LLEN = 3;
/** The public name of each read op, for messages. */
const OP_NAMES = ['get', 'getStale', 'ttl', 'llen'];
// What #put does.
const PUT_SET = 0;
const PUT_ADD = 1;
const PUT_REPLACE = 2;

/**
 * A shared key-value store: named (`create`/`open`/`openOrCreate`) or
 * embedded in memory you own (`byteLength`/`init`/`attach`).
 */
export class Dict extends SharedObject implements AsyncDict {
  readonly #store: DictStore;
  readonly #lock: Mutex;
  readonly #capacity: number;
  /** `Dict '/name'` or `Dict at offset N`, for messages. */
  readonly #what: string;
  /** The handle's default bound on the write lock (ms; -1: forever). */
  readonly #timeout: number;
  /** The bound of the write being prepared (ms; -1: forever). */
  #wait = -1;
  // Scratch for a key's UTF-8 bytes and a value's encoded bytes (grown as needed).
  #keyBuf = Buffer.from(new ArrayBuffer(256)); // own memory, 4-aligned: DictStore compares keys a word at a time
  #keyLen = 0;
  #hash = 0;
  // A value's bytes: own memory seen through four views, at byte offsets 0..3, so that a
  // long value can sit at the same offset modulo 4 as in the blocks (the copy then goes a
  // word at a time); #valBuf is the view in use.
  #valViews = valViews(256);
  #valBuf = this.#valViews[0] as Buffer;
  #valLen = 0;
  #valType = 0;
  #valAscii = false;
  // An ASCII string value is written straight into the blocks from here (null: use #valBuf).
  #valStr: string | null = null;
  readonly #num = new Float64Array(1);
  readonly #numBytes = new Uint8Array(this.#num.buffer);
  readonly #big = new BigInt64Array(this.#num.buffer);
  // Evictions done by the last write; options of the write being prepared.
  #evicted = 0;
  /** incrWithTtl's ttl: the time the key had left when #incr last counted (ms; 0: none). */
  #incrTtl = 0;
  #ttl = 0;
  #evict = true;
  // This handle's read counters: a view of its reader slot's line (claimed at
  // the first counted read; null before), counted into with plain stores, or
  // of OVERFLOW (#countsShared: atomic adds) when every slot was taken.
  #counts: Int32Array | null = null;
  #countsShared = false;
  #countLine = -1;

  private constructor(buffer: SharedArrayBuffer, byteOffset: number, segment: Segment | null, timeout: number) {
    super(buffer, byteOffset, segment, 'Dict');
    const what = this.subject; // "Dict '/name'" or "Dict at offset 64", as the base names it
    this.#what = what;
    if (objectBytesAt(buffer, byteOffset) < SEQS_OFFSET) {
      throw new ShmkitError('ERR_SHMKIT_BAD_LAYOUT', `${what}: claims ${objectBytesAt(buffer, byteOffset)} bytes, less than its ${SEQS_OFFSET}-byte header`);
    }
    const cells = new Int32Array(buffer, byteOffset, HEADER_CELLS);
    const blocks = cells[BLOCKS] as number;
    const buckets = cells[BUCKETS] as number;
    const g = dictGeometry(blocks, buckets);
    if (blocks < 2 || buckets < SHARD_COUNT || (buckets & (buckets - 1)) !== 0 || cells[SHARDS] !== SHARD_COUNT || cells[SLOTS] !== READER_SLOTS ||
      g.byteLength > buffer.byteLength - byteOffset || g.byteLength !== objectBytesAt(buffer, byteOffset)) {
      throw new ShmkitError('ERR_SHMKIT_BAD_LAYOUT', `${what}: bad geometry (${blocks} blocks, ${buckets} buckets)`);
    }
    this.#store = new DictStore(buffer, byteOffset, blocks, buckets, what);
    this.#lock = Mutex.attach(buffer, byteOffset + LOCK_OFFSET);
    this.#capacity = (blocks - 1) * BLOCK_SIZE;
    this.#timeout = timeout === DEFAULT_TIMEOUT ? defaultDictTimeout(this.#capacity) : timeout;
    this.#wait = this.#timeout;
  }

  /**
   * Bytes an embedded Dict with `memory` bytes of entry memory occupies
   * (header, lock, shard counters and buckets included).
   */
  static byteLength(options: DictOptions): number {
    return SPEC.byteLength(options);
  }

  /**
   * Formats an empty Dict at `byteOffset` (a multiple of 8) of `buffer` and
   * returns a handle. Any process that maps the same memory can `attach`.
   */
  static init(buffer: SharedArrayBuffer, byteOffset: number, options: DictOptions & DictHandleOptions): Dict {
    const timeout = handleTimeout(options);
    initObject(SPEC, buffer, byteOffset, options);
    return new Dict(buffer, byteOffset, null, timeout);
  }

  /** Uses a Dict formatted by anyone (`init`, another process) at `byteOffset` of `buffer`. */
  static attach(buffer: SharedArrayBuffer, byteOffset: number, options?: DictHandleOptions): Dict {
    const timeout = handleTimeout(options);
    attachObject(SPEC as ObjectSpec<unknown>, buffer, byteOffset);
    return new Dict(buffer, byteOffset, null, timeout);
  }

  /** Creates a named Dict (`EEXIST` if the name is taken). */
  static create(name: string, options: DictOptions & DictHandleOptions & NamedCreateOptions & NamedOpenOptions): Dict {
    const timeout = handleTimeout(options);
    return adoptNamed(createNamed(SPEC, name, options), (seg) => new Dict(seg.buffer, 0, seg, timeout), true);
  }

  /** Opens a named Dict (`ENOENT` if missing; ERR_SHMKIT_BAD_LAYOUT for another kind). */
  static open(name: string, options?: DictHandleOptions & NamedOpenOptions): Dict {
    const timeout = handleTimeout(options);
    return adoptNamed(openNamed(SPEC as ObjectSpec<unknown>, name, options), (seg) => new Dict(seg.buffer, 0, seg, timeout));
  }

  /**
   * Opens the named Dict, creating it if it does not exist. An existing one
   * must have the `memory` asked for, compared as whole 64-byte blocks
   * (ERR_SHMKIT_MISMATCH otherwise; `open` accepts any).
   */
  static openOrCreate(name: string, options: DictOptions & DictHandleOptions & NamedCreateOptions & NamedOpenOptions): Dict {
    const timeout = handleTimeout(options);
    return adoptNamed(openOrCreateNamed(SPEC, name, options), (seg) => new Dict(seg.buffer, 0, seg, timeout));
  }

  /** Removes the name of a Dict (ERR_SHMKIT_BAD_LAYOUT for another kind); handles keep working. */
  static unlink(name: string): void {
    unlinkNamed(SPEC as ObjectSpec<never>, name);
  }

  /** What this backend guarantees (the async interface's capability flags). */
  get capabilities(): DictCapabilities {
    this.#checkOpen();
    return { backend: 'shm', scope: 'host', eviction: 'lru', ttlPrecision: 1, maxValue: this.#capacity, consistency: 'atomic' };
  }

  /** Bytes of entry memory (blocks). */
  get capacity(): number {
    this.#checkOpen();
    return this.#capacity;
  }

  /** The handle's bound (ms) on the wait for the write lock; `Infinity`: forever. */
  get timeout(): number {
    this.#checkOpen();
    return this.#timeout < 0 ? Infinity : this.#timeout;
  }

  /** Entries stored (expired ones not yet reclaimed included). */
  get size(): number {
    this.#checkOpen();
    return Atomics.load(this.#store.cells, ENTRIES);
  }

  /** Bytes of entry memory free right now (whole 64-byte blocks; any of them serves any entry). */
  freeSpace(): number {
    this.#checkOpen();
    return this.#store.freeBlocks * BLOCK_SIZE;
  }

  // ---- reads (no lock) -------------------------------------------------------------

  /** The value of `key`, or undefined if it is missing or expired. */
  get(key: string): DictValue | undefined {
    this.#key(key);
    const value = this.#readLoop(OP_GET, key) as DictValue | undefined;
    this.#countRead(value === undefined ? S_MISSES : S_HITS);
    return value;
  }

  /** The value even if expired (until its memory is reclaimed), with `stale: true` then. */
  getStale(key: string): { value: DictValue; stale: boolean } | undefined {
    this.#key(key);
    const found = this.#readLoop(OP_STALE, key) as { value: DictValue; stale: boolean } | undefined;
    this.#countRead(found === undefined ? S_MISSES : S_HITS);
    return found;
  }

  /** Milliseconds `key` has left; 0 if it never expires; undefined if missing or expired. */
  ttl(key: string): number | undefined {
    this.#key(key);
    return this.#readLoop(OP_TTL, key) as number | undefined;
  }

  /** Elements of the list at `key` (0 if missing). */
  llen(key: string): number {
    this.#key(key);
    return this.#readLoop(OP_LLEN, key) as number;
  }

  /**
   * Keys of live entries, at most `max` (0: all; default 1024). Reads one
   * shard at a time without a lock: it never stops the others.
   */
  keys(max = 1024): string[] {
    this.#checkOpen();
    checkInteger('max', max, 0, 2 ** 31 - 1);
    const store = this.#store;
    const out: string[] = [];
    const now = Date.now();
    for (let shard = 0; shard < SHARD_COUNT && (max === 0 || out.length < max); shard++) {
      let corrupt = 0;
      for (let attempt = 0; ; attempt++) {
        const seq = store.seq(shard);
        const found: string[] = [];
        let torn = (seq & 1) !== 0;
        if (!torn) {
          try {
            for (let b = shard; b <= store.bucketMask; b += SHARD_COUNT) {
              let steps = 0;
              for (let e = Atomics.load(store.buckets, b); e !== 0; e = store.field(e, E_NEXT)) {
                store.valid(e);
                const expires = store.f64[e * F64_PER_BLOCK + E_EXPIRES_F64] as number;
                if (expires === 0 || expires > now) found.push(this.#keyOf(e));
                if (++steps > store.blockCount) throw TORN;
              }
            }
          } catch (err) {
            if (!(err instanceof TornRead) && !(err instanceof RangeError)) throw err;
            torn = true;
          }
        }
        if (store.seq(shard) === seq && (seq & 1) === 0) {
          if (!torn) {
            for (const k of found) if (max === 0 || out.length < max) out.push(k);
            break;
          }
          // Nonsense while no writer was at it: the memory is corrupt.
          if (++corrupt >= CORRUPT_AFTER) throw new ShmkitError('ERR_SHMKIT_CORRUPT', `${this.#what}: corrupt entry chain in shard ${shard} (run repair())`);
          continue;
        }
        if (attempt > READ_RETRIES) this.#settle('keys', null, shard);
      }
    }
    return out;
  }

  // ---- writes (under the write lock) -----------------------------------------------------

  /** Stores `value` under `key`. When full, evicts least-recently-used entries (or, with `evict: false`, throws ENOSPC). */
  set(key: string, value: DictValue, options?: DictSetOptions): { evicted: number } {
    this.#prepare(key, value, options);
    this.#begin('set', key, this.#wait);
    try {
      this.#put(this.#ttl, this.#evict, PUT_SET);
      this.#store.count(SETS);
      return { evicted: this.#evicted };
    } catch (err) {
      throw this.#internal(err, key);
    } finally {
      this.#end();
    }
  }

  /** Stores `value` only if `key` is missing (or expired). Returns whether it did. */
  add(key: string, value: DictValue, options?: DictSetOptions): boolean {
    this.#prepare(key, value, options);
    this.#begin('add', key, this.#wait);
    try {
      return this.#stored(this.#put(this.#ttl, this.#evict, PUT_ADD));
    } catch (err) {
      throw this.#internal(err, key);
    } finally {
      this.#end();
    }
  }

  /** Stores `value` only if `key` is present (and not expired). Returns whether it did. */
  replace(key: string, value: DictValue, options?: DictSetOptions): boolean {
    this.#prepare(key, value, options);
    this.#begin('replace', key, this.#wait);
    try {
      return this.#stored(this.#put(this.#ttl, this.#evict, PUT_REPLACE));
    } catch (err) {
      throw this.#internal(err, key);
    } finally {
      this.#end();
    }
  }

  /**
   * Stores `value` only if the current value equals `expected` (same type
   * and value; `undefined`: the key is missing or expired). Returns whether
   * it did.
   */
  compareAndSet(key: string, expected: DictValue | undefined, value: DictValue, options?: DictSetOptions): boolean {
    this.#checkOpen();
    if (expected !== undefined) this.#encodeValue(expected, 'expected');
    const expType = expected === undefined ? 0 : this.#valType;
    const expBytes = expected === undefined ? null
      : this.#valStr !== null ? Buffer.from(this.#valStr, 'utf8') : Buffer.from(this.#valBuf.subarray(0, this.#valLen));
    this.#prepare(key, value, options);
    this.#begin('compareAndSet', key, this.#wait);
    try {
      const store = this.#store;
      const e = store.find(this.#hash, this.#keyBuf, this.#keyLen);
      const live = e !== 0 && !this.#expired(e);
      if (expBytes === null ? live : !live || !this.#valueEquals(e, expType, expBytes)) return false;
      return this.#stored(this.#put(this.#ttl, this.#evict, PUT_SET));
    } catch (err) {
      throw this.#internal(err, key);
    } finally {
      this.#end();
    }
  }

  /** Removes `key`. Returns whether it was there (and live). */
  delete(key: string, options?: DictWriteOptions): boolean {
    this.#key(key);
    this.#begin('delete', key, this.#waitOf(options));
    try {
      const store = this.#store;
      const e = store.find(this.#hash, this.#keyBuf, this.#keyLen);
      if (e === 0) return false;
      const live = !this.#expired(e);
      this.#remove(e, store.prev, this.#hash);
      store.count(live ? DELETES : EXPIRATIONS);
      return live;
    } catch (err) {
      throw this.#internal(err, key);
    } finally {
      this.#end();
    }
  }

  /**
   * Adds `delta` to the number (or bigint) at `key` and returns the result.
   * A missing or expired key starts from `init` (with `ttl`), or, without
   * `init`, stays missing and undefined is returned. The result has
   * `delta`'s type (a number value with a bigint delta, or the other way
   * round, is ERR_SHMKIT_NOT_A_NUMBER).
   */
  incr(key: string, delta: number, options: DictIncrOptions & { init: number }): number;
  incr(key: string, delta: bigint, options: DictIncrOptions & { init: bigint }): bigint;
  incr(key: string, delta: number, options?: DictIncrOptions): number | undefined;
  incr(key: string, delta: bigint, options?: DictIncrOptions): bigint | undefined;
  incr(key: string, delta: number | bigint, options?: DictIncrOptions): number | bigint | undefined;
  incr(key: string, delta: number | bigint, options?: DictIncrOptions): number | bigint | undefined {
    return this.#incr('incr', key, delta, options);
  }

  /**
   * {@link Dict.incr}, and how long `key` has left to live after it (ms; 0:
   * no TTL), from one hold of the write lock: `{ value, ttl }`, or undefined
   * where `incr` returns undefined. What a fixed-window rate limiter needs:
   * the count and the end of the window it was counted in. `incr` then
   * `ttl` may see the key expire between the two calls, or the next window
   * start; this cannot.
   */
  incrWithTtl(key: string, delta: number, options: DictIncrOptions & { init: number }): { value: number; ttl: number };
  incrWithTtl(key: string, delta: bigint, options: DictIncrOptions & { init: bigint }): { value: bigint; ttl: number };
  incrWithTtl(key: string, delta: number, options?: DictIncrOptions): { value: number; ttl: number } | undefined;
  incrWithTtl(key: string, delta: bigint, options?: DictIncrOptions): { value: bigint; ttl: number } | undefined;
  incrWithTtl(key: string, delta: number | bigint, options?: DictIncrOptions): { value: number | bigint; ttl: number } | undefined;
  incrWithTtl(key: string, delta: number | bigint, options?: DictIncrOptions): { value: number | bigint; ttl: number } | undefined {
    const value = this.#incr('incrWithTtl', key, delta, options);
    return value === undefined ? undefined : { value, ttl: this.#incrTtl };
  }

  // incr and incrWithTtl (`op` names the call in errors). Leaves the key's
  // time left in #incrTtl, read under the lock with the value.
  #incr(op: string, key: string, delta: number | bigint, options: DictIncrOptions | undefined): number | bigint | undefined {
    this.#key(key);
    if (typeof delta !== 'number' && typeof delta !== 'bigint') throw invalidArgType('delta', 'of type number or bigint', delta);
    const opts = options === undefined ? undefined : checkObject<DictIncrOptions>('options', options);
    const init = opts?.init;
    if (init !== undefined && typeof init !== typeof delta) throw invalidArgType('options.init', `of type ${typeof delta} (like delta)`, init);
    const ttl = checkTtl(opts?.ttl);
    const t = opts?.timeout;
    const wait = t === undefined ? this.#timeout : checkTimeoutOption(t);
    if (typeof delta === 'bigint' && BigInt.asIntN(64, delta) !== delta) throw outOfRange('delta', 'a signed 64-bit integer', delta);
    this.#begin(op, key, wait);
    try {
      const store = this.#store;
      const e = store.find(this.#hash, this.#keyBuf, this.#keyLen);
      const expires = e === 0 ? 0 : store.f64[e * F64_PER_BLOCK + E_EXPIRES_F64] as number;
      const now = expires === 0 ? 0 : Date.now();
      if (e === 0 || (expires !== 0 && expires <= now)) {
        if (init === undefined) return undefined;
        const result = typeof delta === 'number' ? (init as number) + delta : BigInt.asIntN(64, (init as bigint) + delta);
        this.#encodeValue(result, 'value');
        this.#put(ttl, true, PUT_SET);
        this.#incrTtl = ttl; // #put wrote now + ttl (or no expiry)
        return result;
      }
      this.#incrTtl = expires === 0 ? 0 : expires - now;
      // The number changes in place with one aligned 8-byte store, which a reader sees whole,
      // old or new, and which changes nothing a reader follows: so no seqlock bump around it
      // (two locked instructions, a quarter of an incr on a cached key).
      const type = store.type(e);
      if (type === T_NUMBER && typeof delta === 'number') {
        const at = (e * BLOCK_SIZE + ENTRY_PAYLOAD) / 8;
        const result = (store.f64[at] as number) + delta;
        store.f64[at] = result;
        store.setStamp(e, store.useStamp()); // a use, as a read stamps it (see DictStore.useStamp)
        return result;
      }
      if (type === T_BIGINT && typeof delta === 'bigint') {
        const at = (e * BLOCK_SIZE + ENTRY_PAYLOAD) / 8;
        const result = BigInt.asIntN(64, (store.i64[at] as bigint) + delta);
        store.i64[at] = result;
        store.setStamp(e, store.useStamp()); // a use, as a read stamps it (see DictStore.useStamp)
        return result;
      }
      throw new ShmkitError('ERR_SHMKIT_NOT_A_NUMBER', `${this.#what}: ${op} '${key}': the value is not a ${typeof delta}`);
    } catch (err) {
      throw this.#internal(err, key);
    } finally {
      this.#end();
    }
  }

  /** Sets how long `key` lives from now (0: forever). Returns false if it is missing or expired. */
  expire(key: string, ttl: number, options?: DictWriteOptions): boolean {
    this.#key(key);
    const ms = checkTtl(ttl, 'ttl');
    this.#begin('expire', key, this.#waitOf(options));
    try {
      const store = this.#store;
      const e = store.find(this.#hash, this.#keyBuf, this.#keyLen);
      if (e === 0 || this.#expired(e)) return false;
      const shard = store.shardOf(this.#hash);
      store.beginShard(shard);
      store.f64[e * F64_PER_BLOCK + E_EXPIRES_F64] = ms === 0 ? 0 : Date.now() + ms;
      store.endShard(shard);
      return true;
    } catch (err) {
      throw this.#internal(err, key);
    } finally {
      this.#end();
    }
  }

  /** Marks every entry expired (ngx semantics: memory is reclaimed by flushExpired or eviction). */
  flushAll(options?: DictWriteOptions): void {
    this.#checkOpen();
    this.#begin('flushAll', null, this.#waitOf(options));
    try {
      const store = this.#store;
      for (let shard = 0; shard < SHARD_COUNT; shard++) {
        // Every chain of the shard checked first: corrupt memory throws before SEQ goes odd.
        for (let b = shard; b <= store.bucketMask; b += SHARD_COUNT) this.#chainLength(b);
        store.beginShard(shard);
        for (let b = shard; b <= store.bucketMask; b += SHARD_COUNT) {
          for (let e = store.buckets[b] as number; e !== 0; e = store.field(e, E_NEXT)) store.f64[e * F64_PER_BLOCK + E_EXPIRES_F64] = 1;
        }
        store.endShard(shard);
      }
    } catch (err) {
      throw this.#internal(err, null);
    } finally {
      this.#end();
    }
  }

  /** Frees up to `max` expired entries (0: all). Returns how many. */
  flushExpired(max = 0, options?: DictWriteOptions): number {
    this.#checkOpen();
    checkInteger('max', max, 0, 2 ** 31 - 1);
    this.#begin('flushExpired', null, this.#waitOf(options));
    try {
      const store = this.#store;
      const now = Date.now();
      let n = 0;
      for (let b = 0; b <= store.bucketMask && (max === 0 || n < max); b++) {
        this.#chainLength(b); // corrupt memory throws before anything changes
        let prev = 0;
        let e = store.buckets[b] as number;
        while (e !== 0 && (max === 0 || n < max)) {
          const next = store.field(e, E_NEXT);
          const expires = store.f64[e * F64_PER_BLOCK + E_EXPIRES_F64] as number;
          if (expires !== 0 && expires <= now) {
            this.#remove(e, prev, b);
            store.count(EXPIRATIONS);
            n++;
          } else {
            prev = e;
          }
          e = next;
        }
      }
      return n;
    } catch (err) {
      throw this.#internal(err, null);
    } finally {
      this.#end();
    }
  }

  // ---- lists ------------------------------------------------------------------------

  /** Inserts `value` at the head of the list at `key` (created if missing). Returns the new length. */
  lpush(key: string, value: string | number, options?: DictWriteOptions): number {
    return this.#push('lpush', key, value, true, options);
  }

  /** Inserts `value` at the tail of the list at `key`. Returns the new length. */
  rpush(key: string, value: string | number, options?: DictWriteOptions): number {
    return this.#push('rpush', key, value, false, options);
  }

  /** Removes and returns the head of the list at `key` (undefined if empty or missing). */
  lpop(key: string, options?: DictWriteOptions): string | number | undefined {
    return this.#pop('lpop', key, true, options);
  }

  /** Removes and returns the tail of the list at `key`. */
  rpop(key: string, options?: DictWriteOptions): string | number | undefined {
    return this.#pop('rpop', key, false, options);
  }

  /** Verifies the whole structure; returns the problems found (none: an empty array). Takes the write lock. */
  check(options?: DictWriteOptions): string[] {
    this.#checkOpen();
    this.#begin('check', null, this.#waitOf(options));
    try {
      return checkDict(this.#store);
    } catch (err) {
      throw this.#internal(err, null);
    } finally {
      this.#end();
    }
  }

  /**
   * Repairs what `check()` finds, under the write lock, and returns
   * `{ found, repaired, remaining }`. The bucket chains are kept up to the
   * first entry that makes no sense (that entry and the rest of its chain
   * are lost: a broken link cannot be followed), a list up to its first
   * element that makes no sense; the free list, the LRU list and the counts
   * are derived again, and a shard SEQ left odd goes even. Readers retry
   * meanwhile and never see a half-cut chain.
   */
  repair(options?: DictWriteOptions): RepairReport {
    this.#checkOpen();
    const died = this.#begin('repair', null, this.#waitOf(options), false);
    try {
      const store = this.#store;
      const found = checkDict(store);
      if (found.length === 0 && !died) return { found, repaired: [], remaining: [] };
      const repaired = rebuildDict(store);
      return { found, repaired, remaining: checkDict(store) };
    } catch (err) {
      throw this.#internal(err, null);
    } finally {
      this.#end();
    }
  }

  /**
   * The Dict's counters (every process's reads and writes since it was
   * created) and gauges, sampled without a lock: a fresh object each call.
   */
  stats(): DictStats {
    this.#checkOpen();
    const store = this.#store;
    const cells = store.cells;
    const reads = { hits: 0, misses: 0 };
    sumReads(store.stats, reads);
    const holder = this.#lock.holder;
    return {
      gets: (reads.hits + reads.misses) >>> 0,
      hits: reads.hits,
      misses: reads.misses,
      sets: Atomics.load(cells, SETS) >>> 0,
      deletes: Atomics.load(cells, DELETES) >>> 0,
      evictions: Atomics.load(cells, EVICTIONS) >>> 0,
      expirations: Atomics.load(cells, EXPIRATIONS) >>> 0,
      entries: Atomics.load(cells, ENTRIES),
      capacity: this.#capacity,
      freeSpace: Atomics.load(cells, FREE_COUNT) * BLOCK_SIZE,
      lockHolder: holder === null ? null : holder.pid,
    };
  }

  override close(): void {
    if (this.closed) return;
    if (this.#counts !== null && !this.#countsShared) {
      SLOT_REAPER.unregister(this);
      releaseSlot(this.#store.stats, this.#countLine, process.pid);
    }
    this.#counts = null;
    this.#lock.close();
    super.close();
  }

  // ---- internals ----------------------------------------------------------------------

  // Counts a get()/getStale() in this handle's slot (`field`: S_HITS or S_MISSES):
  // no allocation, no atomic, one line only this handle writes.
  #countRead(field: number): void {
    const c = this.#counts ?? this.#claimCounts();
    if (this.#countsShared) Atomics.add(c, field, 1);
    else c[field] = ((c[field] as number) + 1) | 0;
  }

  // The first counted read: claims a reader slot (or falls back to OVERFLOW) and makes its view, once.
  #claimCounts(): Int32Array {
    const store = this.#store;
    const pid = process.pid;
    const line = claimSlot(store.stats, pid);
    this.#countLine = line;
    this.#countsShared = line === OVERFLOW_LINE;
    const c = new Int32Array(this.buffer, this.byteOffset + statLineOffset(line), STAT_LINE_INTS);
    this.#counts = c;
    if (line !== OVERFLOW_LINE) SLOT_REAPER.register(this, { stats: store.stats, line, pid }, this);
    return c;
  }

  #checkOpen(): void {
    if (this.closed) throw this.closedError();
  }

  // Validates `key`, encodes it into #keyBuf and hashes it (FNV-1a).
  #key(key: string): void {
    this.#checkOpen();
    if (typeof key !== 'string') throw invalidArgType('key', 'of type string', key);
    if (key.length === 0) throw invalidArgValue('key', 'must not be empty', key);
    let buf = this.#keyBuf;
    let h = 0x811c9dc5;
    let n = key.length;
    if (n <= buf.length && n <= MAX_KEY_BYTES) {
      // ASCII (the usual key) is its own UTF-8: encode and hash in one pass.
      let i = 0;
      for (; i < n; i++) {
        const c = key.charCodeAt(i);
        if (c >= 0x80) break;
        buf[i] = c;
        h = Math.imul(h ^ c, 0x01000193);
      }
      if (i === n) {
        this.#keyLen = n;
        this.#hash = h | 0;
        return;
      }
      h = 0x811c9dc5;
    }
    if (key.length * 3 > buf.length) {
      const bytes = Buffer.byteLength(key);
      if (bytes > MAX_KEY_BYTES) throw outOfRange('key', `at most ${MAX_KEY_BYTES} bytes (UTF-8)`, `${bytes} bytes`);
      if (bytes > buf.length) this.#keyBuf = buf = Buffer.from(new ArrayBuffer((bytes + 3) & ~3));
    }
    n = buf.write(key, 0, 'utf8');
    for (let i = 0; i < n; i++) h = Math.imul(h ^ (buf[i] as number), 0x01000193);
    this.#keyLen = n;
    this.#hash = h | 0;
  }

  #keyOf(e: number): string {
    const store = this.#store;
    const len = store.keyLen(e);
    if (len <= 0 || len > MAX_KEY_BYTES) throw TORN;
    const out = Buffer.allocUnsafe(len);
    store.readPayload(e, ENTRY_PAYLOAD, store.keyOffset(e), out, len);
    return out.toString('utf8');
  }

  // Encodes `value` into #valBuf / #valLen / #valType.
  #encodeValue(value: unknown, name: string): void {
    switch (typeof value) {
      case 'string': {
        const n = value.length;
        if (n <= ASCII_SCAN) {
          // Taken to be ASCII (the usual value, its own UTF-8): #put copies it into
          // the blocks straight from the string, checking as it goes, and comes
          // back to #encodeUtf8 if it was not.
          this.#valStr = value;
          this.#valLen = n;
          this.#valType = T_STRING;
          this.#valAscii = true;
          return;
        }
        this.#encodeUtf8(value);
        return;
      }
      case 'number':
        this.#num[0] = value;
        this.#setVal(this.#numBytes, T_NUMBER);
        return;
      case 'bigint':
        if (BigInt.asIntN(64, value) !== value) throw outOfRange(name, 'a signed 64-bit integer', value);
        this.#big[0] = value;
        this.#setVal(this.#numBytes, T_BIGINT);
        return;
      case 'boolean':
        this.#valStr = null;
        this.#valBuf[0] = value ? 1 : 0;
        this.#valLen = 1;
        this.#valType = T_BOOLEAN;
        return;
      default:
        if (value instanceof Uint8Array) {
          this.#setVal(value, T_BYTES);
          return;
        }
        throw invalidArgType(name, 'a string, number, bigint, boolean or Uint8Array', value);
    }
  }

  // A string value as UTF-8 in #valBuf.
  #encodeUtf8(value: string): void {
    let buf = this.#valScratch(0, this.#keyLen);
    if (value.length * 3 > buf.length) {
      const n = Buffer.byteLength(value);
      if (n > buf.length) buf = this.#valScratch(n, this.#keyLen);
    }
    this.#valLen = buf.write(value, 0, 'utf8');
    this.#valType = T_STRING;
    this.#valStr = null;
    this.#valAscii = false;
  }

  #setVal(bytes: Uint8Array, type: number): void {
    this.#valStr = null;
    // Bytes follow their key in the blocks; numbers and booleans come first (offset 0).
    this.#valScratch(bytes.byteLength, type === T_BYTES ? this.#keyLen : 0).set(bytes, 0);
    this.#valLen = bytes.byteLength;
    this.#valType = type;
  }

  // #valBuf with room for n bytes, starting at (ENTRY_PAYLOAD + offset) modulo 4: where a
  // value at payload offset `offset` starts within a word in the blocks.
  #valScratch(n: number, offset: number): Buffer {
    if (n > (this.#valViews[3] as Buffer).length) this.#valViews = valViews(n);
    return (this.#valBuf = this.#valViews[(ENTRY_PAYLOAD + offset) & 3] as Buffer);
  }

  #prepare(key: string, value: DictValue, options: DictSetOptions | undefined): void {
    this.#key(key);
    const opts = options === undefined ? undefined : checkObject<DictSetOptions>('options', options);
    const ttl = checkTtl(opts?.ttl);
    const evict = opts?.evict;
    if (evict !== undefined && typeof evict !== 'boolean') throw invalidArgType('options.evict', 'of type boolean', evict);
    const t = opts?.timeout;
    const wait = t === undefined ? this.#timeout : checkTimeoutOption(t);
    this.#encodeValue(value, 'value');
    if (entryBlocks(this.#valLen, this.#keyLen) > this.#store.blockCount - 1) throw this.#neverFits(key);
    this.#ttl = ttl;
    this.#evict = evict !== false;
    this.#wait = wait;
  }

  #expired(e: number): boolean {
    const expires = this.#store.f64[e * F64_PER_BLOCK + E_EXPIRES_F64] as number;
    return expires !== 0 && expires <= Date.now();
  }

  // Takes the write lock (waiting at most `wait` ms, -1: forever); a writer
  // that died holding it is cleaned up after first. `op` and `key` name the
  // call in a timeout's message.
  // `rebuild` false (repair()): the caller rebuilds itself; returns whether
  // the previous holder died.
  #begin(op: string, key: string | null, wait: number, rebuild = true): boolean {
    let got = this.#lock.tryLock();
    if (got === false) got = this.#lockSlow(op, key, wait);
    this.#evicted = 0;
    if (got.ownerDied && rebuild) {
      try {
        rebuildOrRefuse(this.#store);
      } catch (err) {
        this.#lock.unlock();
        throw err;
      }
    }
    return got.ownerDied;
  }

  // The contended path of #begin (allocates the wait options only here).
  #lockSlow(op: string, key: string | null, wait: number): LockResult {
    const call = key === null ? `${op}()` : `${op} '${key}'`;
    return lockContended(this.#lock, wait, `${this.#what}: ${call}`, 'the write lock', this.name ?? undefined);
  }

  #end(): void {
    this.#lock.unlock();
  }

  // Takes and gives back the write lock: repairs a dead writer's leftovers
  // (#begin) so readers can go on, and an odd SEQ that a stray write left on
  // `shard` with nobody changing it (settleShard).
  #settle(op: string, key: string | null, shard: number): void {
    this.#begin(op, key, this.#timeout);
    try {
      this.#store.settleShard(shard);
    } finally {
      this.#end();
    }
  }

  // Entries in bucket b's chain, every index checked (TORN if one is out of
  // range or the chain loops). Under the write lock: before a walk that writes.
  #chainLength(b: number): number {
    const store = this.#store;
    let n = 0;
    for (let e = store.buckets[b] as number; e !== 0; e = store.field(e, E_NEXT)) {
      store.valid(e);
      if (++n > store.blockCount) throw TORN;
    }
    return n;
  }

  // The per-call bound of a write that takes only { timeout }.
  #waitOf(options: DictWriteOptions | undefined): number {
    if (options === undefined) return this.#timeout;
    const t = checkObject<DictWriteOptions>('options', options).timeout;
    return t === undefined ? this.#timeout : checkTimeoutOption(t);
  }

  // What a write lets out: shmkit's errors as they are; anything else (a torn
  // chain, a RangeError from a payload copy: the memory is corrupt) as
  // ERR_SHMKIT_CORRUPT naming the Dict and the key.
  #internal(err: unknown, key: string | null): unknown {
    if (err instanceof ShmkitError && !(err instanceof TornRead)) return err;
    if (err instanceof Error && typeof (err as { code?: unknown }).code === 'string' && !(err instanceof TornRead)) return err;
    const subject = key === null ? '' : ` near '${key}'`;
    return new ShmkitError('ERR_SHMKIT_CORRUPT', `${this.#what}: corrupt entry chain${subject} (run repair()): ${(err as Error)?.message ?? String(err)}`);
  }

  #neverFits(key: string): ShmkitError {
    return new ShmkitError('ENOSPC', `ENOSPC: ${this.#what}: '${key}': an entry of ${this.#valLen + this.#keyLen} bytes can never fit in ${this.#capacity} bytes`);
  }

  // Seqlock read of the key in #keyBuf: retried while a writer changes its
  // shard (what it read may be half-changed: #readBody checks what it follows).
  #readLoop(op: number, key: string): unknown {
    const store = this.#store;
    const shard = store.shardOf(this.#hash);
    let corrupt = 0;
    for (let attempt = 0; ; attempt++) {
      const seq = store.seq(shard);
      if ((seq & 1) === 0) {
        let result: unknown;
        try {
          result = this.#readBody(op, key);
        } catch (err) {
          const torn = err instanceof TornRead || err instanceof RangeError;
          if (store.seq(shard) === seq) {
            if (!torn) throw err;
            if (++corrupt >= CORRUPT_AFTER) throw new ShmkitError('ERR_SHMKIT_CORRUPT', `${this.#what}: corrupt entry chain for '${key}' (run repair())`);
          }
          continue;
        }
        if (store.seq(shard) === seq) return result;
      }
      // A writer is at it (or died at it): after a while, queue up behind it.
      if (attempt > READ_RETRIES) this.#settle(OP_NAMES[op] as string, key, shard);
    }
  }

  #readBody(op: number, key: string): unknown {
    const store = this.#store;
    const e = store.find(this.#hash, this.#keyBuf, this.#keyLen);
    if (e === 0) return op === OP_LLEN ? 0 : undefined;
    const expires = store.f64[e * F64_PER_BLOCK + E_EXPIRES_F64] as number;
    const now = expires === 0 ? 0 : Date.now();
    const expired = expires !== 0 && expires <= now;
    if (op === OP_TTL) return expires === 0 ? 0 : expired ? undefined : expires - now;
    if (op === OP_LLEN) {
      if (expired) return 0;
      if (store.type(e) !== T_LIST) throw wrongType(this.#what, key, 'a list');
      return store.field(e, LIST_COUNT);
    }
    if (expired && op === OP_GET) return undefined;
    if (store.type(e) === T_LIST) throw wrongType(this.#what, key, 'a single value: use lpop/rpop/llen');
    const value = this.#valueOf(e);
    // Used now: stamp it (only if it changed, so readers of one key do not fight over the line).
    const s = store.useStamp();
    if (store.stamp(e) !== s) store.setStamp(e, s);
    return op === OP_STALE ? { value, stale: expired } : value;
  }

  #valueOf(e: number): DictValue {
    const store = this.#store;
    const len = store.field(e, E_VAL_LEN);
    const at = e * BLOCK_SIZE + ENTRY_PAYLOAD;
    switch (store.type(e)) {
      case T_NUMBER:
        return store.f64[at / 8] as number;
      case T_BIGINT:
        return store.i64[at / 8] as bigint;
      case T_BOOLEAN:
        return store.bytes[at] === 1;
      case T_STRING: {
        if (len < 0 || len > store.blockCount * BLOCK_SIZE) throw TORN;
        const from = store.keyLen(e);
        if ((store.bytes[e * BLOCK_SIZE + E_FLAGS_BYTE] as number) & F_ASCII) return store.asciiPayload(e, from, len);
        const buf = this.#valScratch(len, from);
        store.readPayload(e, ENTRY_PAYLOAD, from, buf, len);
        return buf.toString('utf8', 0, len);
      }
      case T_BYTES: {
        if (len < 0 || len > store.blockCount * BLOCK_SIZE) throw TORN;
        const from = store.keyLen(e);
        let out = Buffer.allocUnsafe(len < WORD_COPY_MIN ? len : len + 3);
        if (len >= WORD_COPY_MIN) {
          // Long: start it at the bytes' offset modulo 4 in the blocks, so the copy goes by words.
          const skip = (ENTRY_PAYLOAD + from - out.byteOffset) & 3;
          out = out.subarray(skip, skip + len);
        }
        store.readPayload(e, ENTRY_PAYLOAD, from, out, len);
        return out;
      }
      default:
        throw TORN;
    }
  }

  // Whether entry e holds (type, bytes).
  #valueEquals(e: number, type: number, bytes: Buffer): boolean {
    const store = this.#store;
    if (store.type(e) !== type || store.field(e, E_VAL_LEN) !== bytes.byteLength) return false;
    if (type === T_NUMBER) {
      // Numbers compare as numbers (0 equals -0; NaN equals NaN, so a CAS loop on NaN can end).
      const v = store.f64[(e * BLOCK_SIZE + ENTRY_PAYLOAD) / 8] as number;
      const x = bytes.readDoubleLE(0);
      return v === x || (v !== v && x !== x);
    }
    const tmp = Buffer.allocUnsafe(bytes.byteLength);
    store.readPayload(e, ENTRY_PAYLOAD, store.valueOffset(e), tmp, bytes.byteLength);
    return tmp.equals(bytes);
  }

  // A conditional store's answer, counted in SETS when it stored.
  #stored(done: boolean): boolean {
    if (done) this.#store.count(SETS);
    return done;
  }

  // Room for `need` blocks: evicts LRU entries (never `protect`) unless told not to.
  #makeRoom(need: number, evict: boolean, protect: number): void {
    const store = this.#store;
    while (store.freeBlocks < need) {
      if (!evict) throw new ShmkitError('ENOSPC', `ENOSPC: ${this.#what}: no room for ${need} blocks (${store.freeBlocks} free) and eviction is off`);
      const v = store.victim(protect);
      if (v === 0) throw new ShmkitError('ENOSPC', `ENOSPC: ${this.#what}: no room for ${need} blocks even after evicting everything else`);
      const hash = store.field(v, E_HASH);
      this.#unlinkFromBucket(v, hash);
      store.count(EVICTIONS);
      this.#evicted++;
    }
  }

  // Finds `e`'s predecessor in its bucket and removes it.
  #unlinkFromBucket(e: number, hash: number): void {
    const store = this.#store;
    let prev = 0;
    for (let x = store.buckets[hash & store.bucketMask] as number; x !== 0 && x !== e; x = store.field(x, E_NEXT)) prev = x;
    this.#remove(e, prev, hash);
  }

  // Unlinks entry e (predecessor `prev`, 0: the bucket) and frees it.
  #remove(e: number, prev: number, hash: number): void {
    const store = this.#store;
    const shard = store.shardOf(hash);
    store.beginShard(shard);
    store.link(hash & store.bucketMask, prev, store.field(e, E_NEXT));
    store.lruUnlink(e);
    store.freeEntry(e);
    store.endShard(shard);
    store.cells[ENTRIES] = (store.cells[ENTRIES] as number) - 1;
  }

  // Writes the encoded key and value: PUT_SET, PUT_ADD (only if missing), PUT_REPLACE (only if present).
  #put(ttl: number, evict: boolean, mode: number): boolean {
    const store = this.#store;
    const hash = this.#hash;
    let e = store.find(hash, this.#keyBuf, this.#keyLen);
    const live = e !== 0 && !this.#expired(e);
    if ((mode === PUT_ADD && live) || (mode === PUT_REPLACE && !live)) return false;
    const need = entryBlocks(this.#valLen, this.#keyLen);
    this.#makeRoom(need, evict, e);
    // Eviction may have changed the chain: find the entry (and its predecessor) again.
    if (this.#evicted > 0) e = store.find(hash, this.#keyBuf, this.#keyLen);
    const prev = store.prev;
    const n = store.alloc(need);
    // Out of the LRU list now, not after linking: the stores into its neighbours (random lines,
    // usually not in cache) then complete while the value is copied, instead of stalling the
    // shard's atomic bump. Readers never follow LRU links, and a crash rebuilds them.
    if (e !== 0) store.lruUnlink(e);
    store.setField(n, E_HASH, hash);
    store.setField(n, E_VAL_LEN, this.#valLen);
    const flags = this.#valType === T_STRING && this.#valAscii ? F_ASCII : 0;
    store.setField(n, E_KEY_TYPE, this.#keyLen | (this.#valType << 16) | (flags << 24));
    store.f64[n * F64_PER_BLOCK + E_EXPIRES_F64] = ttl === 0 ? 0 : Date.now() + ttl;
    if (this.#valType === T_NUMBER) {
      store.f64[(n * BLOCK_SIZE + ENTRY_PAYLOAD) / 8] = this.#num[0] as number;
    } else if (this.#valType === T_BIGINT) {
      store.i64[(n * BLOCK_SIZE + ENTRY_PAYLOAD) / 8] = this.#big[0] as bigint; // not through f64: NaN bits may change
    } else {
      const variable = this.#valType === T_STRING || this.#valType === T_BYTES;
      const at = variable ? this.#keyLen : 0;
      if (this.#valStr !== null) {
        if (!store.writeAscii(n, ENTRY_PAYLOAD, at, this.#valStr)) {
          // Not ASCII after all: give the blocks back (nothing links them), put the old entry
          // back in the LRU list (the retry unlinks it again), and write the value as UTF-8.
          store.freeBlocksOf(n, need);
          if (e !== 0) store.lruPushHead(e, store.stamp(e));
          this.#encodeUtf8(this.#valStr);
          if (entryBlocks(this.#valLen, this.#keyLen) > store.blockCount - 1) throw this.#neverFits(this.#keyBuf.toString('utf8', 0, this.#keyLen));
          return this.#put(ttl, evict, mode);
        }
      } else {
        store.writePayload(n, ENTRY_PAYLOAD, at, this.#valBuf, this.#valLen);
      }
    }
    // Strings and bytes after their key; fixed-size values before it (see DictStore.keyOffset).
    const variable = this.#valType === T_STRING || this.#valType === T_BYTES;
    const keyAt = variable ? 0 : this.#valLen;
    store.writeKey(n, keyAt, this.#keyBuf, this.#keyLen);
    const bucket = hash & store.bucketMask;
    const shard = store.shardOf(hash);
    store.beginShard(shard);
    store.setField(n, E_NEXT, e !== 0 ? store.field(e, E_NEXT) : (store.buckets[bucket] as number));
    store.link(bucket, e !== 0 ? prev : 0, n); // the store that makes it visible
    if (e !== 0) {
      store.freeEntry(e);
      if (!live) store.count(EXPIRATIONS); // an expired entry replaced: reclaimed now
    } else {
      store.cells[ENTRIES] = (store.cells[ENTRIES] as number) + 1;
    }
    store.endShard(shard);
    store.lruPushHead(n, store.tick());
    return true;
  }

  #push(op: string, key: string, value: string | number, head: boolean, options: DictWriteOptions | undefined): number {
    this.#key(key);
    if (typeof value !== 'string' && typeof value !== 'number') throw invalidArgType('value', 'of type string or number', value);
    this.#begin(op, key, this.#waitOf(options));
    try {
      const store = this.#store;
      let e = store.find(this.#hash, this.#keyBuf, this.#keyLen);
      if (e !== 0 && !this.#expired(e) && store.type(e) !== T_LIST) throw wrongType(this.#what, key, 'a list');
      if (e === 0 || this.#expired(e)) {
        // A new empty list (replacing an expired entry, if any).
        this.#valType = T_LIST;
        this.#valStr = null;
        this.#valLen = LIST_VALUE_BYTES;
        this.#valBuf.fill(0, 0, LIST_VALUE_BYTES);
        this.#put(0, true, PUT_SET);
        e = store.find(this.#hash, this.#keyBuf, this.#keyLen);
      }
      // The element.
      let len: number;
      let type: number;
      if (typeof value === 'number') {
        this.#num[0] = value;
        len = 8;
        type = T_NUMBER;
      } else {
        const bytes = Buffer.byteLength(value);
        len = this.#valScratch(bytes, 0).write(value, 0, 'utf8');
        type = T_STRING;
      }
      const need = nodeBlocks(len);
      this.#makeRoom(need, true, e);
      const node = store.alloc(need);
      store.setField(node, L_LEN, len);
      store.bytes[node * BLOCK_SIZE + L_TYPE_BYTE] = type;
      if (type === T_NUMBER) store.f64[(node * BLOCK_SIZE + NODE_PAYLOAD) / 8] = this.#num[0] as number;
      else store.writePayload(node, NODE_PAYLOAD, 0, this.#valBuf, len);
      const shard = store.shardOf(this.#hash);
      store.beginShard(shard);
      const first = store.field(e, LIST_HEAD);
      const last = store.field(e, LIST_TAIL);
      if (head) {
        store.setField(node, L_PREV, 0);
        store.setField(node, L_NEXT, first);
        store.publishField(e, LIST_HEAD, node); // commit
        if (first !== 0) store.setField(first, L_PREV, node);
        else store.setField(e, LIST_TAIL, node);
      } else {
        store.setField(node, L_NEXT, 0);
        store.setField(node, L_PREV, last);
        if (last !== 0) store.publishField(last, L_NEXT, node); // commit
        else store.publishField(e, LIST_HEAD, node);
        store.setField(e, LIST_TAIL, node);
      }
      const count = store.field(e, LIST_COUNT) + 1;
      store.setField(e, LIST_COUNT, count);
      store.endShard(shard);
      store.setStamp(e, store.tick());
      return count;
    } catch (err) {
      throw this.#internal(err, key);
    } finally {
      this.#end();
    }
  }

  #pop(op: string, key: string, head: boolean, options: DictWriteOptions | undefined): string | number | undefined {
    this.#key(key);
    this.#begin(op, key, this.#waitOf(options));
    try {
      const store = this.#store;
      const e = store.find(this.#hash, this.#keyBuf, this.#keyLen);
      if (e === 0 || this.#expired(e)) return undefined;
      if (store.type(e) !== T_LIST) throw wrongType(this.#what, key, 'a list');
      const node = store.field(e, head ? LIST_HEAD : LIST_TAIL);
      if (node === 0) return undefined;
      const len = store.field(node, L_LEN);
      let value: string | number;
      if (store.bytes[node * BLOCK_SIZE + L_TYPE_BYTE] === T_NUMBER) {
        value = store.f64[(node * BLOCK_SIZE + NODE_PAYLOAD) / 8] as number;
      } else {
        const buf = Buffer.allocUnsafe(len);
        store.readPayload(node, NODE_PAYLOAD, 0, buf, len);
        value = buf.toString('utf8');
      }
      const count = store.field(e, LIST_COUNT) - 1;
      if (count <= 0) {
        this.#remove(e, store.prev, this.#hash); // an emptied list goes away with its key
        return value;
      }
      const shard = store.shardOf(this.#hash);
      store.beginShard(shard);
      if (head) {
        const next = store.field(node, L_NEXT);
        store.publishField(e, LIST_HEAD, next); // commit
        store.setField(next, L_PREV, 0);
      } else {
        const prev = store.field(node, L_PREV);
        store.publishField(prev, L_NEXT, 0); // commit
        store.setField(e, LIST_TAIL, prev);
      }
      store.setField(e, LIST_COUNT, count);
      store.free(node);
      store.endShard(shard);
      store.setStamp(e, store.tick());
      return value;
    } catch (err) {
      throw this.#internal(err, key);
    } finally {
      this.#end();
    }
  }
}
