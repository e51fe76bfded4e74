// The Dict under corruption (issue 11): while two processes set, get,
// delete, incr, push, pop, list keys, flush and check, the test writes
// garbage into the Dict, at random offsets or into a named field (the pool
// counters, the LRU ends, the write lock's word, a shard's sequence word, a
// bucket, an entry's links and lengths). Every call must return, or throw an
// error with a code, within its bound; no process may crash or spin, whether
// it ends naturally, by process.exit(), by SIGKILL, or runs the calls in a
// worker thread it terminates. After each trial, repair() must leave a sound
// Dict that takes a write. Seeded
// and reproducible: SHMKIT_FUZZ_SEED=<seed printed> node --test test/dict-fuzz.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dict, Segment } from 'shmkit';
import { trackedNames } from './fixtures/names.mjs';
import { fuzz, repairAfterTrial } from './fixtures/fuzz-driver.mjs';
import { unlinkQuietly } from './fixtures/helpers.mjs';

const uniqueName = trackedNames();
const TRIALS = 100; // of each sort: random and targeted
const MEMORY = 65536;

test(`a Dict corrupted while two processes use it (${TRIALS} random and ${TRIALS} targeted writes): every call returns or throws a coded error in time; no crash, no hang`, { timeout: 600000 }, async (t) => {
  // docs/LAYOUT.md, Dict (kind 9, version 3): the geometry of this memory size.
  const probe = uniqueName('dfuzz-probe');
  Dict.create(probe, { memory: MEMORY }).close();
  const seg = Segment.open(probe);
  const v = new DataView(seg.buffer);
  const BLOCKS = v.getUint32(64, true);
  const BUCKETS = v.getUint32(68, true);
  seg.close();
  unlinkQuietly(probe);
  const blocksAt = (8576 + 4 * BUCKETS + 63) & ~63;
  const block = (r) => blocksAt + 64 * (1 + Math.floor(r() * (BLOCKS - 1)));
  const FIELDS = [
    ['BLOCKS', () => 64], ['BUCKETS', () => 68], ['SHARDS', () => 72],
    ['FREE_HEAD', () => 128], ['FREE_COUNT', () => 132], ['ENTRIES', () => 136], ['LRU_HEAD', () => 140], ['LRU_TAIL', () => 144], ['CLOCK', () => 148],
    ['lock word', () => 192 + 64], ['shard SEQ', (r) => 320 + 64 * Math.floor(r() * 64)], ['bucket', (r) => 8576 + 4 * Math.floor(r() * BUCKETS)],
    ['MORE', (r) => block(r)], ['NEXT', (r) => block(r) + 8], ['HASH', (r) => block(r) + 12], ['VAL_LEN', (r) => block(r) + 16],
    ['KEY_LEN/TYPE', (r) => block(r) + 20], ['LRU_PREV', (r) => block(r) + 24], ['LRU_NEXT', (r) => block(r) + 28],
    ['EXPIRES', (r) => block(r) + 36], ['list HEAD/TAIL/COUNT', (r) => block(r) + 40 + 4 * Math.floor(r() * 3)],
    // Counters: writers' on the state line, readers' in the 65 lines at 4416 (OVERFLOW, then the slots).
    ['SLOTS', () => 76], ['SETS/DELETES/EVICTIONS/EXPIRATIONS', (r) => 152 + 4 * Math.floor(r() * 4)],
    ['reader slot OWNER', (r) => 4416 + 64 * Math.floor(r() * 65)], ['reader slot HITS/MISSES', (r) => 4416 + 64 * Math.floor(r() * 65) + 4 + 4 * Math.floor(r() * 2)],
  ];
  // After each trial: repair() leaves a sound Dict that takes a write and reads it back.
  const tally = { repaired: 0, unopenable: 0, locked: 0 };
  const usable = (d) => {
    d.set('probe', 'after the repair', { timeout: 200 });
    const got = d.get('probe');
    return got === 'after the repair' ? [] : [`a value set after the repair read back as ${got}`];
  };
  const { seed, calls, codes, problems, ends } = await fuzz({
    kind: 'dict', name: (trial) => uniqueName(`dfuzz-${trial}`), make: (name) => Dict.create(name, { memory: MEMORY }).close(),
    fields: FIELDS, trials: TRIALS, trialMs: 120, capacity: 64 * BLOCKS,
    afterTrial: repairAfterTrial((name) => Dict.open(name, { timeout: 200 }), usable, tally),
  });
  t.diagnostic(`seed ${seed} (SHMKIT_FUZZ_SEED=${seed} reproduces this run); ${calls} calls; error codes seen: ${JSON.stringify(codes)}; ` +
    `after the trials: ${JSON.stringify(tally)}; peers ended: ${JSON.stringify(ends)}`);
  assert.deepEqual(problems, [], `seed ${seed}: ${problems.length} problems`);
});
