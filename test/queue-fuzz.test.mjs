// The Queue under corruption (issue 11): while two processes use a queue, the
// test writes garbage into it, at random offsets or into a named field (a
// cursor, a counter, a waiter count, a slot's claim words or lock word, a
// stamp, a LEN). Every call in both processes must return, or throw an error
// with a code, within its bound; no process may crash or spin. Seeded and
// reproducible: SHMKIT_FUZZ_SEED=<seed printed> node --test test/queue-fuzz.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Queue } from 'shmkit';
import { trackedNames } from './fixtures/names.mjs';
import { fuzz } from './fixtures/fuzz-driver.mjs';

const uniqueName = trackedNames();
const TRIALS = 100; // of each sort: random and targeted

// docs/LAYOUT.md, Queue (kind 7, version 3), capacity 4096 (64 cells).
const CAPACITY = 4096;
const META = 640 + 2 * 16 * 128;
const metaEntry = (cell) => META + 8 * ((cell % 8) * 8 + Math.floor(cell / 8)); // L = cells / 8 = 8
const FIELDS = [
  ['CAPACITY', () => 64], ['FLAGS', () => 68], ['MAX_MSG', () => 72],
  ['RESERVE', () => 128], ['SENT', () => 192], ['CLAIM', () => 256], ['ORPHANS', () => 260], ['HEAD', () => 264],
  ['RECEIVED', () => 320], ['DATA_SEQ', () => 384], ['DATA_WAITERS', () => 388], ['SPACE_SEQ', () => 392], ['SPACE_WAITERS', () => 396],
  ['AT', (r) => 448 + 8 * Math.floor(r() * 16)], ['CELLS', (r) => 452 + 8 * Math.floor(r() * 16)],
  ['producer slot word', (r) => 640 + 128 * Math.floor(r() * 16) + 64], ['consumer slot word', (r) => 2688 + 128 * Math.floor(r() * 16) + 64],
  ['STAMP', (r) => metaEntry(Math.floor(r() * 64))], ['LEN', (r) => metaEntry(Math.floor(r() * 64)) + 4],
];

test(`a queue corrupted while two processes use it (${TRIALS} random and ${TRIALS} targeted writes): every call returns or throws a coded error in time; no crash, no hang`, { timeout: 600000 }, async (t) => {
  const { seed, calls, codes, problems } = await fuzz({
    kind: 'queue', name: (trial) => uniqueName(`qfuzz-${trial}`), make: (name) => Queue.create(name, { capacity: CAPACITY }).close(),
    fields: FIELDS, trials: TRIALS, trialMs: 120, capacity: CAPACITY,
  });
  t.diagnostic(`seed ${seed} (SHMKIT_FUZZ_SEED=${seed} reproduces this run); ${calls} calls; error codes seen: ${JSON.stringify(codes)}`);
  assert.deepEqual(problems, [], `seed ${seed}: ${problems.length} problems`);
});
