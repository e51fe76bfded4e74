// Dict repair() (issue 11): what check() finds in overwritten memory is
// repaired: a broken list is cut at its first bad element (the elements
// before it kept), a broken bucket chain at its first bad entry, and the
// free list, LRU list and counts are derived again. A writer that finds its
// predecessor died over such damage repairs it the same way and goes on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Dict, Segment } from 'shmkit';
import { trackedNames } from './fixtures/names.mjs';
import { STEP_MS, unlinkQuietly, withTimeout } from './fixtures/helpers.mjs';
import { reap, startNode } from './fixtures/proc.mjs';

const uniqueName = trackedNames();
const HOLDER = fileURLToPath(new URL('./fixtures/dict-lock-holder.mjs', import.meta.url));
const MEMORY = 65536;

// docs/LAYOUT.md, Dict (kind 9, version 3).
const T_LIST = 6;
const raw = (seg) => {
  const v = new DataView(seg.buffer);
  const buckets = v.getUint32(68, true);
  const blocksAt = (8576 + 4 * buckets + 63) & ~63;
  const at = (block, byte) => blocksAt + 64 * block + byte;
  /** Entry indexes of every entry the bucket chains hold, with their bucket. */
  const entries = () => {
    const out = [];
    for (let b = 0; b < buckets; b++) {
      for (let e = v.getUint32(8576 + 4 * b, true), n = 0; e !== 0 && n < 1000; e = v.getUint32(at(e, 8), true), n++) out.push({ e, b });
    }
    return out;
  };
  const listEntry = () => entries().find(({ e }) => v.getUint8(at(e, 22)) === T_LIST).e;
  /** Block indexes of a list's elements, head to tail. */
  const elements = (e) => {
    const out = [];
    for (let n = v.getUint32(at(e, 40), true); n !== 0 && out.length < 1000; n = v.getUint32(at(n, 8), true)) out.push(n);
    return out;
  };
  return { v, at, entries, listEntry, elements, buckets };
};

/** Starts a process that takes the write lock, makes every shard odd as a writer mid-change, and is SIGKILLed there; resolves with its exit once it is gone. */
async function killWriterMidChange(holder) {
  await holder.output(/locked/);
  holder.child.stdin.write('odd\n');
  await holder.output(/odd/);
  holder.child.kill('SIGKILL');
  return withTimeout(holder.done, STEP_MS, 'the holder to die');
}

function withDict(label, fn) {
  const name = uniqueName(label);
  const d = Dict.create(name, { memory: MEMORY, timeout: 2000 });
  const seg = Segment.open(name);
  return Promise.resolve()
    .then(() => fn({ name, d, seg, r: raw(seg) }))
    .finally(() => {
      seg.close();
      d.close();
      unlinkQuietly(name);
    });
}

const fill = (d) => {
  for (let i = 0; i < 50; i++) d.set(`key${i}`, `value ${i}`.repeat(1 + (i % 5)));
  for (let i = 0; i < 6; i++) d.rpush('list', `element ${i}`);
};
const popAll = (d, key) => {
  const out = [];
  for (let x = d.lpop(key); x !== undefined; x = d.lpop(key)) out.push(x);
  return out;
};
const others = (d) => Array.from({ length: 50 }, (_, i) => d.get(`key${i}`));
const expectedOthers = Array.from({ length: 50 }, (_, i) => `value ${i}`.repeat(1 + (i % 5)));

test('a sound Dict: repair() finds nothing and changes nothing', () => withDict('drep-sound', ({ d }) => {
  fill(d);
  assert.deepEqual(d.repair(), { found: [], repaired: [], remaining: [] });
  assert.deepEqual(others(d), expectedOthers);
  assert.deepEqual(popAll(d, 'list'), ['element 0', 'element 1', 'element 2', 'element 3', 'element 4', 'element 5']);
}));

test('a list whose fourth element links out of range: check() names it, repair() keeps the first three, every other key, and a sound Dict', () => withDict('drep-list', ({ d, r }) => {
  fill(d);
  const e = r.listEntry();
  const els = r.elements(e);
  assert.equal(els.length, 6);
  r.v.setUint32(r.at(els[2], 8), 0x7fff0000, true); // the third element's NEXT
  const problems = d.check();
  assert.ok(problems.some((p) => p === `list ${e}: element index ${0x7fff0000} out of range`), JSON.stringify(problems));
  const report = d.repair();
  assert.deepEqual(report.found, problems);
  assert.ok(report.repaired.some((line) => /the list now ends after its first 3 element\(s\)$/.test(line)), JSON.stringify(report.repaired));
  assert.deepEqual(report.remaining, []);
  assert.deepEqual(d.check(), []);
  assert.equal(d.llen('list'), 3);
  assert.deepEqual(others(d), expectedOthers);
  d.rpush('list', 'after');
  assert.deepEqual(popAll(d, 'list'), ['element 0', 'element 1', 'element 2', 'after']);
  // The three lost elements' blocks went back to the free list: the Dict can fill up to where it was.
  assert.deepEqual(d.check(), []);
}));

test('a list element that loops back to the head, and one with a bad type: cut there, the rest kept', () => withDict('drep-loop', ({ d, r }) => {
  fill(d);
  const e = r.listEntry();
  const els = r.elements(e);
  r.v.setUint32(r.at(els[4], 8), els[1], true); // the fifth element's NEXT back to the second
  assert.notDeepEqual(d.check(), []);
  assert.deepEqual(d.repair().remaining, []);
  assert.equal(d.llen('list'), 5);
  r.v.setUint8(r.at(r.elements(e)[1], 20), 99); // the second element's TYPE
  assert.deepEqual(d.repair().remaining, []);
  assert.deepEqual(popAll(d, 'list'), ['element 0']);
  assert.deepEqual(others(d), expectedOthers);
}));

test('a bucket chain link out of range: the chain ends before it, other buckets untouched, the Dict is sound and writable', () => withDict('drep-chain', ({ d, r }) => {
  fill(d);
  const byBucket = new Map();
  for (const { e, b } of r.entries()) byBucket.set(b, [...(byBucket.get(b) ?? []), e]);
  const [bucket, chain] = [...byBucket].find(([, c]) => c.length >= 2) ?? [];
  assert.ok(chain, 'some bucket holds two entries');
  r.v.setUint32(r.at(chain[0], 8), 0x7fff0000, true); // the first entry's NEXT
  const report = d.repair();
  assert.ok(report.found.length > 0);
  assert.ok(report.repaired.some((line) => line.includes(`bucket ${bucket}'s chain now ends before it`)), JSON.stringify(report.repaired));
  assert.deepEqual(report.remaining, []);
  const kept = others(d).filter((v, i) => v === expectedOthers[i]).length;
  assert.ok(kept >= 50 - (chain.length - 1) - 1 && kept < 50, `${kept} of 50 keys kept`);
  for (let i = 0; i < 200; i++) d.set(`new${i}`, 'x'.repeat(100)); // evicts: every block is usable again
  assert.deepEqual(d.check(), []);
}));

test('a shard SEQ left odd: repair() evens it; readers that waited on it read again', () => withDict('drep-seq', ({ d, r }) => {
  fill(d);
  r.v.setInt32(320 + 64 * 5, r.v.getInt32(320 + 64 * 5, true) | 1, true);
  const report = d.repair();
  assert.deepEqual(report.found, ['shard 5: SEQ is odd (a write never finished)']);
  assert.deepEqual(report.remaining, []);
  assert.deepEqual(others(d), expectedOthers);
}));

test('a writer killed holding the lock over a broken list: the next writer (another process\'s death cleaned up here) repairs it and goes on; check() is clean', async () => withDict('drep-dead', async ({ name, d, r }) => {
  fill(d);
  const els = r.elements(r.listEntry());
  r.v.setUint32(r.at(els[3], 8), 0x7fff0000, true);
  const holder = startNode(HOLDER, [name, 0]);
  try {
    const exit = await killWriterMidChange(holder);
    assert.equal(exit.signal, 'SIGKILL');
    d.set('after', 'the death'); // takes the lock: OWNER_DIED, the rebuild
    assert.deepEqual(d.check(), []);
    assert.equal(d.get('after'), 'the death');
    assert.equal(d.llen('list'), 4);
    assert.deepEqual(others(d), expectedOthers);
  } finally {
    await reap(holder);
  }
}));

test('repair() after a writer died holding the lock reports what the rebuild did', async () => withDict('drep-dead2', async ({ name, d }) => {
  fill(d);
  const holder = startNode(HOLDER, [name, 0]);
  try {
    assert.equal((await killWriterMidChange(holder)).signal, 'SIGKILL');
    const report = d.repair();
    assert.equal(report.found.length, 64, JSON.stringify(report.found.slice(0, 3))); // every shard odd
    assert.ok(report.repaired.length >= 1);
    assert.deepEqual(report.remaining, []);
    assert.deepEqual(others(d), expectedOthers);
  } finally {
    await reap(holder);
  }
}));
