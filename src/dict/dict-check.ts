/**
 * Checking and rebuilding a Dict (both with the write lock held).
 *
 * The bucket chains are the truth: every change becomes visible with one
 * store into them (or into a list's NEXT chain), so after a writer died at
 * any instant they still hold every key with its old or its new value.
 * Everything else (free list, LRU list, counts, lists' back links) is
 * derived, and rebuildDict() derives it again.
 */
import { ShmkitError } from '../errors.js';
import {
  BLOCK_SIZE, CLOCK, E_HASH, E_LRU_NEXT, E_LRU_PREV, E_MORE, E_NEXT, E_VAL_LEN, ENTRIES, FREE_COUNT, FREE_HEAD,
  L_LEN, L_NEXT, L_PREV, L_TYPE_BYTE, LIST_COUNT, LIST_HEAD, LIST_TAIL, LIST_VALUE_BYTES, LRU_HEAD, LRU_TAIL, MAX_KEY_BYTES, SEQ_STRIDE, SHARD_COUNT, T_BIGINT, T_BOOLEAN, T_BYTES, T_LIST,
  T_NUMBER, T_STRING, entryBlocks, nodeBlocks,
} from './dict-layout.js';
import { type DictStore } from './dict-store.js';
import { checkSlots, repairSlots } from './dict-stats.js';


// Whether entry e's header makes sense for bucket b (returns the problem, or '').
function entryProblem(store: DictStore, e: number, b: number): string {
  if (e <= 0 || e >= store.blockCount) return `bucket ${b}: entry index ${e} out of range`;
  if ((store.field(e, E_HASH) & store.bucketMask) !== b) return `entry ${e}: hash does not belong to bucket ${b}`;
  const keyLen = store.keyLen(e);
  const valLen = store.field(e, E_VAL_LEN);
  if (keyLen <= 0 || keyLen > MAX_KEY_BYTES) return `entry ${e}: key length ${keyLen}`;
  const type = store.type(e);
  const fixed = type === T_NUMBER || type === T_BIGINT ? 8 : type === T_BOOLEAN ? 1 : type === T_LIST ? LIST_VALUE_BYTES : -1;
  if (type !== T_STRING && type !== T_BYTES && fixed < 0) return `entry ${e}: unknown type ${type}`;
  if (fixed >= 0 ? valLen !== fixed : valLen < 0 || valLen > store.blockCount * BLOCK_SIZE) return `entry ${e}: value length ${valLen} for type ${type}`;
  return '';
}

// Marks the chain at `first` (expected `n` blocks) in `owner` as owned by `by`.
// Returns the problem, or '' ; on a problem, what this call marked is unmarked.
function claimChain(store: DictStore, owner: Int32Array, first: number, n: number, by: number): string {
  let block = first;
  let problem = '';
  let i = 0;
  for (; i < n; i++) {
    if (block <= 0 || block >= store.blockCount) { problem = `entry ${by}: chain block ${i} index ${block} out of range`; break; }
    if (owner[block] !== 0) { problem = `entry ${by}: block ${block} also belongs to ${owner[block] === -1 ? 'the free list' : `entry ${owner[block]}`}`; break; }
    owner[block] = by;
    block = store.field(block, E_MORE);
  }
  if (problem === '' && block !== 0) problem = `entry ${by}: chain longer than its ${n} blocks`;
  if (problem !== '') {
    // The same i blocks again (nothing changed them): give them back.
    block = first;
    for (let j = 0; j < i; j++) {
      owner[block] = 0;
      block = store.field(block, E_MORE);
    }
  }
  return problem;
}

// Walks a list's elements; marks their blocks. Returns [count, last, problem]:
// on a problem, count and last describe the sound elements before it, and
// the failing element's blocks are left unmarked (a repair cuts the list there).
function walkList(store: DictStore, owner: Int32Array, e: number, fix: boolean): [number, number, string] {
  let prev = 0;
  let count = 0;
  for (let node = store.field(e, LIST_HEAD); node !== 0; node = store.field(node, L_NEXT)) {
    if (node <= 0 || node >= store.blockCount) return [count, prev, `list ${e}: element index ${node} out of range`];
    const len = store.field(node, L_LEN);
    const type = store.bytes[node * BLOCK_SIZE + L_TYPE_BYTE];
    if ((type !== T_NUMBER && type !== T_STRING) || len < 0 || (type === T_NUMBER && len !== 8)) return [count, prev, `list ${e}: element ${node} bad type/length`];
    const problem = claimChain(store, owner, node, nodeBlocks(len), e);
    if (problem !== '') return [count, prev, problem];
    if (fix) store.setField(node, L_PREV, prev);
    else if (store.field(node, L_PREV) !== prev) return [count, prev, `list ${e}: element ${node} PREV is ${store.field(node, L_PREV)}, not ${prev}`];
    prev = node;
    count++;
  }
  return [count, prev, ''];
}

/** Every problem found (an empty array when the dict is sound). */
export function checkDict(store: DictStore): string[] {
  const problems: string[] = [];
  const owner = new Int32Array(store.blockCount);
  const live: number[] = [];
  // Free list first, so a block both free and used is reported once.
  let free = 0;
  for (let b = store.cells[FREE_HEAD] as number; b !== 0; b = store.field(b, E_MORE)) {
    if (b <= 0 || b >= store.blockCount) { problems.push(`free list: index ${b} out of range`); break; }
    if (owner[b] !== 0) { problems.push(`free list: block ${b} twice (a loop)`); break; }
    owner[b] = -1;
    free++;
  }
  if (free !== store.cells[FREE_COUNT]) problems.push(`FREE_COUNT is ${store.cells[FREE_COUNT]}, the free list has ${free}`);
  for (let b = 0; b <= store.bucketMask; b++) {
    let steps = 0;
    for (let e = store.buckets[b] as number; e !== 0; e = store.field(e, E_NEXT)) {
      const bad = entryProblem(store, e, b);
      if (bad !== '') { problems.push(bad); break; }
      if (owner[e] > 0 && owner[e] === e) { problems.push(`bucket ${b}: chain loops at entry ${e}`); break; }
      const chain = claimChain(store, owner, e, entryBlocks(store.field(e, E_VAL_LEN), store.keyLen(e)), e);
      if (chain !== '') { problems.push(chain); break; }
      if (store.type(e) === T_LIST) {
        const [count, last, listProblem] = walkList(store, owner, e, false);
        if (listProblem !== '') problems.push(listProblem);
        else if (count !== store.field(e, LIST_COUNT) || last !== store.field(e, LIST_TAIL)) problems.push(`list ${e}: COUNT/TAIL ${store.field(e, LIST_COUNT)}/${store.field(e, LIST_TAIL)}, found ${count}/${last}`);
      }
      live.push(e);
      if (++steps > store.blockCount) { problems.push(`bucket ${b}: chain too long`); break; }
    }
  }
  if (live.length !== store.cells[ENTRIES]) problems.push(`ENTRIES is ${store.cells[ENTRIES]}, the buckets hold ${live.length}`);
  let used = 0;
  for (let b = 1; b < store.blockCount; b++) if (owner[b] > 0) used++;
  const lost = store.blockCount - 1 - used - free;
  if (lost !== 0) problems.push(`${lost} block(s) neither free nor used`);
  // LRU list: every live entry once, links both ways.
  const inLru = new Set<number>();
  let prev = 0;
  for (let e = store.cells[LRU_HEAD] as number; e !== 0; e = store.field(e, E_LRU_NEXT)) {
    if (e <= 0 || e >= store.blockCount || inLru.has(e)) { problems.push(`LRU list: bad or repeated entry ${e}`); break; }
    if (store.field(e, E_LRU_PREV) !== prev) problems.push(`LRU list: entry ${e} PREV is ${store.field(e, E_LRU_PREV)}, not ${prev}`);
    inLru.add(e);
    prev = e;
  }
  if (prev !== store.cells[LRU_TAIL]) problems.push(`LRU_TAIL is ${store.cells[LRU_TAIL]}, the list ends at ${prev}`);
  if (inLru.size !== live.length || live.some((e) => !inLru.has(e))) problems.push(`LRU list holds ${inLru.size} entries, the buckets ${live.length}`);
  for (let s = 0; s < SHARD_COUNT; s++) if ((store.seqs[s * (SEQ_STRIDE / 4)] as number) & 1) problems.push(`shard ${s}: SEQ is odd (a write never finished)`);
  for (const p of checkSlots(store.stats)) problems.push(p);
  return problems;
}

/**
 * After a writer died holding the lock, and for repair(): keeps every entry
 * its bucket chains reach, and derives the rest again. A chain link that
 * makes no sense (it cannot come from a crash, only from overwritten
 * memory) ends that chain; a list element that makes no sense ends that
 * list. Returns what it cut, one line each.
 */
export function rebuildDict(store: DictStore): string[] {
  const done: string[] = [];
  const owner = new Int32Array(store.blockCount);
  const live: number[] = [];
  // Readers retry while every shard is odd: they never see a chain or a list
  // half-cut. (A SEQ already odd moves by 2 and ends even.)
  for (let s = 0; s < SHARD_COUNT; s++) store.beginShard(s);
  for (let b = 0; b <= store.bucketMask; b++) {
    let prev = 0;
    for (let e = store.buckets[b] as number; e !== 0; e = store.field(e, E_NEXT)) {
      let problem = entryProblem(store, e, b);
      if (problem === '' && owner[e] !== 0) problem = `bucket ${b}: chain loops at entry ${e}`;
      if (problem === '') problem = claimChain(store, owner, e, entryBlocks(store.field(e, E_VAL_LEN), store.keyLen(e)), e);
      if (problem !== '') {
        if (prev === 0) Atomics.store(store.buckets, b, 0);
        else store.publishField(prev, E_NEXT, 0);
        done.push(`${problem}: bucket ${b}'s chain now ends before it (that entry and any after it are lost)`);
        break;
      }
      if (store.type(e) === T_LIST) {
        const [count, last, listProblem] = walkList(store, owner, e, true);
        if (listProblem !== '') {
          if (last === 0) store.setField(e, LIST_HEAD, 0);
          else store.setField(last, L_NEXT, 0);
          done.push(`${listProblem}: the list now ends after its first ${count} element(s)`);
        }
        store.setField(e, LIST_TAIL, last);
        store.setField(e, LIST_COUNT, count);
      }
      live.push(e);
      prev = e;
    }
  }
  // LRU: oldest stamp at the tail.
  const clock2 = ((store.cells[CLOCK] as number) * 2) | 0;
  live.sort((a, b) => ((store.stamp(a) - clock2) | 0) - ((store.stamp(b) - clock2) | 0));
  store.cells[LRU_HEAD] = 0;
  store.cells[LRU_TAIL] = 0;
  for (const e of live) store.lruPushHead(e, store.stamp(e));
  // Free list: every block nobody owns.
  let head = 0;
  let free = 0;
  for (let b = store.blockCount - 1; b >= 1; b--) {
    if (owner[b] !== 0) continue;
    store.setField(b, E_MORE, head);
    head = b;
    free++;
  }
  store.cells[FREE_HEAD] = head;
  store.cells[FREE_COUNT] = free;
  store.cells[ENTRIES] = live.length;
  for (let s = 0; s < SHARD_COUNT; s++) store.endShard(s);
  for (const d of repairSlots(store.stats)) done.push(d);
  done.push(`free list (${free} blocks), LRU list and ENTRIES (${live.length}) derived again from the bucket chains`);
  return done;
}

/** rebuildDict() for a writer that found its predecessor dead: refuses to go on over damage it could not repair. */
export function rebuildOrRefuse(store: DictStore): void {
  rebuildDict(store);
  const left = checkDict(store);
  if (left.length !== 0) throw new ShmkitError('ERR_SHMKIT_CORRUPT', `${store.what}: could not be repaired: ${left.join('; ')}`);
}
