/**
 * The Dict's memory (dict-layout.ts): views created once, the block pool,
 * chains of blocks, the bucket chains and the LRU list. Callers hold the
 * write lock for everything that writes; readers use only the read helpers,
 * which check every index they follow.
 */
import { ShmkitError } from '../errors.js';
import {
  BLOCK_SIZE, HEADER_CELLS, CLOCK, E_HASH, E_KEY_TYPE, E_LRU_NEXT, E_LRU_PREV, E_MORE, E_NEXT, E_STAMP, E_TYPE_BYTE, E_VAL_LEN, ENTRIES,
  ENTRY_PAYLOAD, FREE_COUNT, FREE_HEAD, L_NEXT, LIST_HEAD, LRU_HEAD, LRU_TAIL, MORE_PAYLOAD, SEQS_OFFSET, SEQ_STRIDE, SHARD_COUNT, STATS_LENGTH, STATS_OFFSET,
  T_BYTES, T_LIST,
  T_STRING,
  dictGeometry, entryBlocks, type DictGeometry,
} from './dict-layout.js';

// Buffer#latin1Slice skips toString()'s argument handling (a third of a short
// get); it has been on Buffer.prototype since Node 0.x, but is not documented,
// so fall back to toString() if it is ever gone.
type Latin1Buffer = Buffer & { latin1Slice(start: number, end: number): string };
const HAS_LATIN1_SLICE = typeof (Buffer.prototype as Partial<Latin1Buffer>).latin1Slice === 'function';
function latin1(buf: Buffer, start: number, end: number): string {
  return HAS_LATIN1_SLICE ? (buf as Latin1Buffer).latin1Slice(start, end) : buf.toString('latin1', start, end);
}

/**
 * Thrown inside a read when what it follows makes no sense; the reader
 * re-checks its SEQ. Control flow inside the Dict: callers turn it into an
 * error naming the Dict, but it carries a code so it can never escape bare.
 */
export class TornRead extends ShmkitError {
  constructor() {
    super('ERR_SHMKIT_CORRUPT', 'Dict: an entry chain makes no sense (torn read or corrupt memory; run check())');
  }
}
/** The one instance thrown (control flow: no stack to capture per torn read). */
export const TORN = new TornRead();

const MORE_ROOM = BLOCK_SIZE - MORE_PAYLOAD; // 56
const INTS_PER_BLOCK = BLOCK_SIZE / 4;
/** Float64 elements per block (f64 index of block b's field f: b * F64_PER_BLOCK + f). */
export const F64_PER_BLOCK = BLOCK_SIZE / 8;
/** Up to this many bytes a loop copies faster than set() over a new subarray. */
const SMALL_COPY = 8;
/** From this many bytes a copy goes a word at a time when both sides sit at the same offset modulo 4. */
export const WORD_COPY_MIN = 256;

// An Int32 view of the words that hold buf's bytes (from the word its first byte is in).
function wordsOver(buf: Uint8Array): Int32Array {
  const from = buf.byteOffset & ~3;
  return new Int32Array(buf.buffer, from, (buf.byteOffset + buf.byteLength - from) >> 2);
}

export class DictStore {
  readonly geometry: DictGeometry;
  readonly cells: Int32Array; // header, geometry, state
  readonly seqs: Int32Array; // SEQ of shard s at s * SEQ_STRIDE / 4
  readonly stats: Int32Array; // the read counters: line l's field f at l * STAT_LINE_INTS + f
  readonly buckets: Int32Array;
  readonly words: Int32Array; // all blocks; block b's Int32 field f at b * 16 + f
  readonly f64: Float64Array;
  readonly i64: BigInt64Array;
  readonly bytes: Uint8Array;
  readonly #text: Buffer; // the blocks again, for decoding text in place
  readonly blockCount: number;
  readonly bucketMask: number;
  /** The Dict in messages (`Dict '/name'`, `Dict at offset 64`). */
  readonly what: string;

  constructor(buffer: SharedArrayBuffer, byteOffset: number, blocks: number, buckets: number, what = 'Dict') {
    this.what = what;
    this.geometry = dictGeometry(blocks, buckets);
    const g = this.geometry;
    this.cells = new Int32Array(buffer, byteOffset, HEADER_CELLS);
    this.seqs = new Int32Array(buffer, byteOffset + SEQS_OFFSET, (SHARD_COUNT * SEQ_STRIDE) / 4);
    this.stats = new Int32Array(buffer, byteOffset + STATS_OFFSET, STATS_LENGTH / 4);
    this.buckets = new Int32Array(buffer, byteOffset + g.bucketsOffset, buckets);
    this.words = new Int32Array(buffer, byteOffset + g.blocksOffset, blocks * INTS_PER_BLOCK);
    this.f64 = new Float64Array(buffer, byteOffset + g.blocksOffset, blocks * (BLOCK_SIZE / 8));
    this.i64 = new BigInt64Array(buffer, byteOffset + g.blocksOffset, blocks * (BLOCK_SIZE / 8));
    this.bytes = new Uint8Array(buffer, byteOffset + g.blocksOffset, blocks * BLOCK_SIZE);
    this.#text = Buffer.from(buffer, byteOffset + g.blocksOffset, blocks * BLOCK_SIZE);
    this.blockCount = blocks;
    this.bucketMask = buckets - 1;
  }

  /** Formats a new dict: every block but 0 on the free list, read counters zero. */
  format(): void {
    this.stats.fill(0);
    const w = this.words;
    for (let b = 1; b < this.blockCount; b++) w[b * INTS_PER_BLOCK + E_MORE] = b + 1 < this.blockCount ? b + 1 : 0;
    this.cells[FREE_HEAD] = this.blockCount > 1 ? 1 : 0;
    this.cells[FREE_COUNT] = this.blockCount - 1;
  }

  // ---- fields ---------------------------------------------------------------------

  field(block: number, f: number): number {
    return this.words[block * INTS_PER_BLOCK + f] as number;
  }

  setField(block: number, f: number, v: number): void {
    this.words[block * INTS_PER_BLOCK + f] = v;
  }

  /** The one store that makes a change visible to readers. */
  publishField(block: number, f: number, v: number): void {
    Atomics.store(this.words, block * INTS_PER_BLOCK + f, v);
  }

  type(block: number): number {
    return this.bytes[block * BLOCK_SIZE + E_TYPE_BYTE] as number;
  }

  keyLen(block: number): number {
    return (this.words[block * INTS_PER_BLOCK + E_KEY_TYPE] as number) & 0xffff;
  }

  // The key buffer keyEquals last saw, and an Int32 view of it (null if unaligned).
  #keyBytes: Uint8Array | null = null;
  #keyWords: Int32Array | null = null;

  /**
   * Where the key starts in entry e's payload: strings and bytes come after
   * their key (so a lookup compares the key in the first block), fixed-size
   * values (numbers, bigints, booleans, list heads) before it (8-aligned).
   */
  keyOffset(e: number): number {
    const type = this.type(e);
    return type === T_STRING || type === T_BYTES ? 0 : this.field(e, E_VAL_LEN);
  }

  valueOffset(e: number): number {
    const type = this.type(e);
    return type === T_STRING || type === T_BYTES ? this.keyLen(e) : 0;
  }

  /** The LRU stamp of the entry starting at `block`. */
  stamp(block: number): number {
    return this.words[block * INTS_PER_BLOCK + E_STAMP] as number;
  }

  setStamp(block: number, stamp: number): void {
    this.words[block * INTS_PER_BLOCK + E_STAMP] = stamp;
  }

  /** A block index a reader may follow (0 excluded), or a torn read. */
  valid(block: number): number {
    if (block <= 0 || block >= this.blockCount) throw TORN;
    return block;
  }

  // ---- pool -----------------------------------------------------------------------

  get freeBlocks(): number {
    return this.cells[FREE_COUNT] as number;
  }

  /** Takes `n` blocks (already chained through MORE, the last one's MORE = 0). */
  alloc(n: number): number {
    const cells = this.cells;
    const first = cells[FREE_HEAD] as number;
    let last = first;
    for (let i = 1; i < n; i++) last = this.field(last, E_MORE);
    cells[FREE_HEAD] = this.field(last, E_MORE);
    cells[FREE_COUNT] = (cells[FREE_COUNT] as number) - n;
    this.setField(last, E_MORE, 0);
    return first;
  }

  /** Gives a chain back (walks it to its end). Returns how many blocks. */
  free(first: number): number {
    let last = first;
    let n = 1;
    for (let next = this.field(last, E_MORE); next !== 0; next = this.field(last, E_MORE)) {
      last = next;
      if (++n > this.blockCount) throw new ShmkitError('ERR_SHMKIT_CORRUPT', `${this.what}: a chain of blocks loops (run repair())`);
    }
    const cells = this.cells;
    this.setField(last, E_MORE, cells[FREE_HEAD] as number);
    cells[FREE_HEAD] = first;
    cells[FREE_COUNT] = (cells[FREE_COUNT] as number) + n;
    return n;
  }

  // ---- payload bytes ----------------------------------------------------------------

  // Payload byte `offset` of the chain at `first` (whose first block's payload
  // starts at `start`): returns the absolute byte index, walking MORE links.
  // Checks every link (readers may see a chain being changed).
  payloadAt(first: number, start: number, offset: number): number {
    const firstRoom = BLOCK_SIZE - start;
    if (offset < firstRoom) {
      this.#cursor = first;
      return first * BLOCK_SIZE + start + offset;
    }
    let block = first;
    let rest = offset - firstRoom;
    for (;;) {
      block = this.valid(this.field(block, E_MORE));
      if (rest < MORE_ROOM) {
        this.#cursor = block;
        return block * BLOCK_SIZE + MORE_PAYLOAD + rest;
      }
      rest -= MORE_ROOM;
    }
  }

  // The block of the last payloadAt()/nextPayload() answer: a copy loop steps
  // from it to the next block instead of walking the chain from its start
  // again for every block (which made a 64 KiB value cost milliseconds).
  #cursor = 0;

  /** The first payload byte of the block after the cursor's (which the copy filled to its end). */
  nextPayload(): number {
    const block = this.valid(this.field(this.#cursor, E_MORE));
    this.#cursor = block;
    return block * BLOCK_SIZE + MORE_PAYLOAD;
  }


  /** Copies `length` payload bytes from `src` into the chain at payload `offset`. */
  writePayload(first: number, start: number, offset: number, src: Uint8Array, length: number): void {
    if (length === 0) return; // (offset may then be the end of the chain: no block to find)
    const bytes = this.bytes;
    let done = 0;
    let at = this.payloadAt(first, start, offset);
    // Long, and at the same offset modulo 4 on both sides: a word at a time through one view
    // of the whole source (a view per 56-byte piece costs twice the word loop).
    const srcWords = length >= WORD_COPY_MIN && ((src.byteOffset - at) & 3) === 0 ? wordsOver(src) : null;
    const base = src.byteOffset & 3;
    while (done < length) {
      const room = BLOCK_SIZE - (at % BLOCK_SIZE);
      const n = room < length - done ? room : length - done;
      if (srcWords !== null) {
        let i = 0;
        for (; i < n && ((at + i) & 3) !== 0; i++) bytes[at + i] = src[done + i] as number;
        const words = this.words;
        for (; i + 4 <= n; i += 4) words[(at + i) >> 2] = srcWords[(base + done + i) >> 2] as number;
        for (; i < n; i++) bytes[at + i] = src[done + i] as number;
      } else if (n <= SMALL_COPY) {
        for (let i = 0; i < n; i++) bytes[at + i] = src[done + i] as number;
      } else {
        bytes.set(new Uint8Array(src.buffer, src.byteOffset + done, n), at); // not src.subarray(): a Buffer's is slower
      }
      done += n;
      if (done < length) at = this.nextPayload();
    }
  }

  /**
   * Writes a string into the chain's payload at `offset`, one byte per
   * character. Returns false (having written garbage) if a character is not
   * ASCII.
   */
  writeAscii(first: number, start: number, offset: number, text: string): boolean {
    const bytes = this.bytes;
    const length = text.length;
    if (length === 0) return true;
    let seen = 0;
    let done = 0;
    let at = this.payloadAt(first, start, offset);
    while (done < length) {
      const room = BLOCK_SIZE - (at % BLOCK_SIZE);
      const n = room < length - done ? room : length - done;
      let i = 0;
      for (; i < n && ((at + i) & 3) !== 0; i++) {
        const c = text.charCodeAt(done + i);
        seen |= c;
        bytes[at + i] = c;
      }
      // Four characters per store where aligned (little-endian: the first is the low byte).
      const words = this.words;
      for (; i + 4 <= n; i += 4) {
        const k = done + i;
        const a = text.charCodeAt(k);
        const b = text.charCodeAt(k + 1);
        const c = text.charCodeAt(k + 2);
        const d = text.charCodeAt(k + 3);
        seen |= a | b | c | d;
        words[(at + i) >> 2] = a | (b << 8) | (c << 16) | (d << 24);
      }
      for (; i < n; i++) {
        const c = text.charCodeAt(done + i);
        seen |= c;
        bytes[at + i] = c;
      }
      done += n;
      if (done < length) at = this.nextPayload();
    }
    return seen < 0x80;
  }

  /** Copies `length` payload bytes at `offset` of the chain into `dst`. */
  readPayload(first: number, start: number, offset: number, dst: Uint8Array, length: number): void {
    if (length === 0) return;
    const bytes = this.bytes;
    let done = 0;
    let at = this.payloadAt(first, start, offset);
    const dstWords = length >= WORD_COPY_MIN && ((dst.byteOffset - at) & 3) === 0 ? wordsOver(dst) : null;
    const base = dst.byteOffset & 3;
    while (done < length) {
      const room = BLOCK_SIZE - (at % BLOCK_SIZE);
      const n = room < length - done ? room : length - done;
      if (dstWords !== null) {
        let i = 0;
        for (; i < n && ((at + i) & 3) !== 0; i++) dst[done + i] = bytes[at + i] as number;
        const words = this.words;
        for (; i + 4 <= n; i += 4) dstWords[(base + done + i) >> 2] = words[(at + i) >> 2] as number;
        for (; i < n; i++) dst[done + i] = bytes[at + i] as number;
      } else if (n <= SMALL_COPY) {
        for (let i = 0; i < n; i++) dst[done + i] = bytes[at + i] as number;
      } else {
        dst.set(bytes.subarray(at, at + n), done);
      }
      done += n;
      if (done < length) at = this.nextPayload();
    }
  }

  /**
   * Writes the encoded key (`key`: own memory, 4-aligned, as compared by
   * keyEquals) into the chain at payload `offset`, a word at a time where
   * the payload is aligned: the key's characters were already read once, to
   * hash it.
   */
  writeKey(first: number, offset: number, key: Uint8Array, length: number): void {
    if (length === 0) return;
    const keyWords = this.#wordsOf(key);
    const bytes = this.bytes;
    const words = this.words;
    let done = 0;
    let at = this.payloadAt(first, ENTRY_PAYLOAD, offset);
    while (done < length) {
      const room = BLOCK_SIZE - (at % BLOCK_SIZE);
      const n = room < length - done ? room : length - done;
      let i = 0;
      if (keyWords !== null && ((at | done) & 3) === 0) for (; i + 4 <= n; i += 4) words[(at + i) >> 2] = keyWords[(done + i) >> 2] as number;
      for (; i < n; i++) bytes[at + i] = key[done + i] as number;
      done += n;
      if (done < length) at = this.nextPayload();
    }
  }

  // An Int32 view of the key scratch buffer (made when the buffer changes, not per call).
  #wordsOf(key: Uint8Array): Int32Array | null {
    if (key !== this.#keyBytes) {
      this.#keyBytes = key;
      this.#keyWords = (key.byteOffset & 3) === 0 ? new Int32Array(key.buffer, key.byteOffset, key.byteLength >> 2) : null;
    }
    return this.#keyWords;
  }

  /** An ASCII string value of `length` bytes, decoded from the blocks without copying them first. */
  asciiPayload(e: number, offset: number, length: number): string {
    if (length === 0) return '';
    const first = this.payloadAt(e, ENTRY_PAYLOAD, offset);
    if (first % BLOCK_SIZE + length <= BLOCK_SIZE) return latin1(this.#text, first, first + length);
    // Spread over blocks: gather it, then decode once. The copy starts at the value's offset
    // modulo 4 in the blocks, so it goes a word at a time whatever the key's length.
    const shift = first & 3;
    if (length + shift > this.#gather.length) {
      this.#gather = Buffer.from(new ArrayBuffer((length + shift + 3) & ~3));
      this.#gatherWords = new Int32Array(this.#gather.buffer);
    }
    const out = this.#gather;
    const outWords = this.#gatherWords;
    const bytes = this.bytes;
    const words = this.words;
    let done = 0;
    let at = first;
    while (done < length) {
      const room = BLOCK_SIZE - (at % BLOCK_SIZE);
      const n = room < length - done ? room : length - done;
      const to = shift + done; // same offset modulo 4 as `at`
      let i = 0;
      for (; i < n && ((at + i) & 3) !== 0; i++) out[to + i] = bytes[at + i] as number;
      for (; i + 4 <= n; i += 4) outWords[(to + i) >> 2] = words[(at + i) >> 2] as number;
      for (; i < n; i++) out[to + i] = bytes[at + i] as number;
      done += n;
      if (done < length) at = this.nextPayload();
    }
    return latin1(out, shift, shift + length);
  }

  // Scratch for asciiPayload (own memory, 4-aligned), and its words (views made once).
  #gather = Buffer.from(new ArrayBuffer(256));
  #gatherWords = new Int32Array(this.#gather.buffer);

  /** Whether the key stored in entry `e` equals key[0, length). */
  keyEquals(e: number, key: Uint8Array, length: number): boolean {
    if (this.keyLen(e) !== length) return false;
    const keyAt = this.keyOffset(e);
    if (keyAt < 0 || keyAt > 0x7fffffff - length) throw TORN;
    if (length === 0) return true;
    const keyWords = this.#wordsOf(key);
    const words = this.words;
    let done = 0;
    const bytes = this.bytes;
    let at = this.payloadAt(e, ENTRY_PAYLOAD, keyAt);
    while (done < length) {
      const room = BLOCK_SIZE - (at % BLOCK_SIZE);
      const n = room < length - done ? room : length - done;
      let i = 0;
      if (keyWords !== null && ((at | done) & 3) === 0) {
        // A word at a time where both sides are aligned.
        const w = at >> 2;
        const k = done >> 2;
        for (; i + 4 <= n; i += 4) if (words[w + (i >> 2)] !== keyWords[k + (i >> 2)]) return false;
      }
      for (; i < n; i++) if (bytes[at + i] !== key[done + i]) return false;
      done += n;
      if (done < length) at = this.nextPayload();
    }
    return true;
  }

  // ---- buckets --------------------------------------------------------------------

  /** The entry for (hash, key) in its bucket chain, or 0; #prev holds its predecessor (0: the bucket). */
  prev = 0;

  find(hash: number, key: Uint8Array, length: number): number {
    let prev = 0;
    let steps = 0;
    // A plain read (Atomics.load is a builtin call in Node 20, not inlined:
    // ~20 ns, a tenth of an incr). Writers read under the lock; a reader
    // reads an aligned word whole, follows it by an address dependency (so
    // the entry is read after it, as link()'s release store published it),
    // checks every block it reaches, and lets the seqlock judge the rest,
    // as it does for every NEXT it follows with field().
    for (let e = this.buckets[hash & this.bucketMask] as number; e !== 0; e = this.field(e, E_NEXT)) {
      this.valid(e);
      if (this.field(e, E_HASH) === hash && this.keyEquals(e, key, length)) {
        this.prev = prev;
        return e;
      }
      prev = e;
      if (++steps > this.blockCount) throw TORN;
    }
    this.prev = prev;
    return 0;
  }

  /** Links entry `e` (NEXT already set) in place of what `prev` (0: the bucket) pointed to. */
  link(bucket: number, prev: number, e: number): void {
    if (prev === 0) Atomics.store(this.buckets, bucket, e);
    else this.publishField(prev, E_NEXT, e);
  }

  // ---- shard sequence (seqlock) ------------------------------------------------------

  shardOf(hash: number): number {
    return hash & this.bucketMask & (SHARD_COUNT - 1);
  }

  seq(shard: number): number {
    return Atomics.load(this.seqs, shard * (SEQ_STRIDE / 4));
  }

  /**
   * Holding the write lock, before changing shard `shard`'s entries: SEQ
   * goes odd. One already odd (a stray write into the Dict: nobody else
   * changes SEQs under the lock) moves by 2, so it still changes and stays
   * odd, and the pair keeps readers' parity right from then on.
   */
  beginShard(shard: number): void {
    const i = shard * (SEQ_STRIDE / 4);
    Atomics.add(this.seqs, i, (Atomics.load(this.seqs, i) & 1) === 0 ? 1 : 2);
  }

  /** Holding the write lock, after changing shard `shard`'s entries: SEQ goes even. */
  endShard(shard: number): void {
    Atomics.add(this.seqs, shard * (SEQ_STRIDE / 4), 1);
  }

  /**
   * Holding the write lock, with no change under way: a SEQ left odd (a
   * writer that died mid-change, or a stray write) goes even, else readers
   * of the shard would retry on it for ever.
   */
  settleShard(shard: number): void {
    if ((this.seq(shard) & 1) !== 0) this.endShard(shard);
  }

  // ---- counters ---------------------------------------------------------------------

  /** Holding the write lock: adds `n` to writers' counter `word` (SETS, ..., u32 wrapping). */
  count(word: number, n = 1): void {
    this.cells[word] = ((this.cells[word] as number) + n) | 0;
  }

  // ---- LRU ------------------------------------------------------------------------

  /**
   * Stamp for a use that is not a write to the LRU order (odd: "used after
   * write CLOCK"): a read, or a number changed in place. CLOCK is only read,
   * so the state line is not written: counters (incr), the hottest writes,
   * would otherwise pull it from every other writer's cache on every call.
   */
  useStamp(): number {
    // A plain read: the stamp is an LRU hint, and an aligned word is read whole.
    return ((this.cells[CLOCK] as number) * 2 + 1) | 0;
  }

  /** Stamp for a write (even) after advancing CLOCK. */
  tick(): number {
    const c = ((this.cells[CLOCK] as number) + 1) | 0;
    this.cells[CLOCK] = c;
    return (c * 2) | 0;
  }

  lruPushHead(e: number, stamp: number): void {
    const cells = this.cells;
    const head = cells[LRU_HEAD] as number;
    this.setField(e, E_LRU_PREV, 0);
    this.setField(e, E_LRU_NEXT, head);
    if (head !== 0) this.setField(head, E_LRU_PREV, e);
    else cells[LRU_TAIL] = e;
    cells[LRU_HEAD] = e;
    this.setStamp(e, stamp);
  }

  lruUnlink(e: number): void {
    const cells = this.cells;
    const prev = this.field(e, E_LRU_PREV);
    const next = this.field(e, E_LRU_NEXT);
    if (prev !== 0) this.setField(prev, E_LRU_NEXT, next);
    else cells[LRU_HEAD] = next;
    if (next !== 0) this.setField(next, E_LRU_PREV, prev);
    else cells[LRU_TAIL] = prev;
  }

  /**
   * The least recently used entry other than `protect`, giving a second
   * chance (a move to the head) to ones read since their newer neighbour was
   * written. 0 when there is none.
   */
  victim(protect: number): number {
    const cells = this.cells;
    let moves = cells[ENTRIES] as number;
    for (;;) {
      const t = cells[LRU_TAIL] as number;
      if (t === 0) return 0;
      const newer = this.field(t, E_LRU_PREV);
      if (newer === 0) return t === protect ? 0 : t;
      const st = this.stamp(t);
      const readSince = (st - this.stamp(newer)) | 0;
      // Odd stamps are reads: equal odd stamps were both read after the same write, so after `newer` was written.
      const used = readSince > 0 || (readSince === 0 && (st & 1) === 1);
      if (t !== protect && (!used || moves <= 0)) return t;
      // Read after its neighbour was written (or protected): move it to the head.
      this.lruUnlink(t);
      this.lruPushHead(t, st);
      if (--moves < -1) return 0;
    }
  }

  /** Entries' blocks: the entry's own chain (and, for a list, its elements'). */
  freeEntry(e: number): void {
    if (this.type(e) === T_LIST) {
      let node = this.field(e, LIST_HEAD);
      let n = 0;
      while (node !== 0 && n++ < this.blockCount) {
        const next = this.field(node, L_NEXT);
        this.free(node);
        node = next;
      }
    }
    this.freeBlocksOf(e, entryBlocks(this.field(e, E_VAL_LEN), this.keyLen(e)));
  }

  /**
   * Gives back a chain of `n` blocks. Knowing n, it never reads the last
   * block (the one read that would miss the cache): it only writes it.
   */
  freeBlocksOf(first: number, n: number): void {
    let last = first;
    for (let i = 1; i < n; i++) last = this.field(last, E_MORE);
    const cells = this.cells;
    this.setField(last, E_MORE, cells[FREE_HEAD] as number);
    cells[FREE_HEAD] = first;
    cells[FREE_COUNT] = (cells[FREE_COUNT] as number) + n;
  }
}
