// The Queue under corruption (issue 11): while two processes use a queue, the
// test writes garbage into it, at random offsets or into a named field (a
// cursor, a counter, a waiter count, a slot's claim words or lock word, a
// stamp, a LEN). Every call in both processes must return, or throw an error
// with a code, within its bound; no process may crash or spin. Seeded and
// reproducible: SHMKIT_FUZZ_SEED=<seed printed> node --test test/queue-fuzz.test.mjs
// After each trial, repair() (by a handle opened before the corruption) must
// leave the queue sound, or say that only a cursor is out of place; then
// the queue must drain, and take a message, without ERR_SHMKIT_CORRUPT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Queue } from 'shmkit';
import { trackedNames } from './fixtures/names.mjs';
import { fuzz } from './fixtures/fuzz-driver.mjs';
import {
  CAPACITY_OFF, CELL, CLAIM_OFF, CONSUMER_SLOTS_OFF, DATA_SEQ_OFF, DATA_WAITERS_OFF, HEAD_OFF, MAX_MSG_OFF, MUTEX_LENGTH, MUTEX_WORD_IN, ORPHANS_OFF,
  PRODUCER_SLOTS_OFF, RECEIVED_OFF, RESERVE_OFF, SENT_OFF, SLOT_CLAIMS_OFF, SLOT_COUNT, SPACE_SEQ_OFF, SPACE_WAITERS_OFF, stampOffset,
} from './fixtures/queue-layout.mjs';

const uniqueName = trackedNames();
const TRIALS = 100; // of each sort: random and targeted

// docs/LAYOUT.md (fixtures/queue-layout.mjs), capacity 4096: 64 cells.
const CAPACITY = 4096;
const slot = (r) => Math.floor(r() * SLOT_COUNT);
const cell = (r) => Math.floor(r() * (CAPACITY / CELL));
const FIELDS = [
  ['CAPACITY', () => CAPACITY_OFF], ['FLAGS', () => CAPACITY_OFF + 4], ['MAX_MSG', () => MAX_MSG_OFF],
  ['RESERVE', () => RESERVE_OFF], ['SENT', () => SENT_OFF], ['CLAIM', () => CLAIM_OFF], ['ORPHANS', () => ORPHANS_OFF], ['HEAD', () => HEAD_OFF],
  ['RECEIVED', () => RECEIVED_OFF], ['DATA_SEQ', () => DATA_SEQ_OFF], ['DATA_WAITERS', () => DATA_WAITERS_OFF],
  ['SPACE_SEQ', () => SPACE_SEQ_OFF], ['SPACE_WAITERS', () => SPACE_WAITERS_OFF],
  ['AT', (r) => SLOT_CLAIMS_OFF + 8 * slot(r)], ['CELLS', (r) => SLOT_CLAIMS_OFF + 4 + 8 * slot(r)],
  ['producer slot word', (r) => PRODUCER_SLOTS_OFF + MUTEX_LENGTH * slot(r) + MUTEX_WORD_IN],
  ['consumer slot word', (r) => CONSUMER_SLOTS_OFF + MUTEX_LENGTH * slot(r) + MUTEX_WORD_IN],
  ['STAMP', (r) => stampOffset(cell(r), CAPACITY)], ['LEN', (r) => stampOffset(cell(r), CAPACITY) + 4],
];

// What repair() may leave: a cursor out of place (docs/API.md, queue.repair()).
const CURSOR_LEFT = /: no cursor can be moved back safely while the queue may be in use; recreate the queue \(unlink and create\)$/;

/** After a trial (both peers done): repair(), then check(), a drain and a send; the problems found. */
function repairAndDrain(q) {
  let report;
  try {
    report = q.repair();
  } catch (err) {
    return [`repair() threw ${err.code}: ${err.message}`];
  }
  const left = report.remaining.filter((p) => !CURSOR_LEFT.test(p));
  if (left.length > 0) return [`repair() left ${JSON.stringify(left)} (found ${JSON.stringify(report.found)})`];
  if (report.remaining.length > 0) return []; // only a cursor: the queue is to be recreated
  const problems = [];
  const again = q.check();
  if (again.length > 0) problems.push(`check() after repair(): ${JSON.stringify(again)} (repaired ${JSON.stringify(report.repaired)})`);
  const corrupt = (what) => (err) => {
    // Other coded errors (a lock word overwritten, the queue ended) are the fuzz's; corruption must be gone.
    if (err.code === 'ERR_SHMKIT_CORRUPT') problems.push(`${what} after repair(): ${err.message} (found ${JSON.stringify(report.found)})`);
  };
  try {
    for (let i = 0; i <= CAPACITY / CELL && q.tryReceive() !== undefined; i++);
  } catch (err) {
    corrupt('draining')(err);
  }
  try {
    if (!q.ended && q.trySend('after repair')) q.tryReceive();
  } catch (err) {
    corrupt('a send and receive')(err);
  }
  return problems;
}

test(`a queue corrupted while two processes use it (${TRIALS} random and ${TRIALS} targeted writes): every call returns or throws a coded error in time; no crash, no hang`, { timeout: 600000 }, async (t) => {
  const { seed, calls, codes, problems, ends } = await fuzz({
    kind: 'queue', name: (trial) => uniqueName(`qfuzz-${trial}`), make: (name) => Queue.create(name, { capacity: CAPACITY }).close(),
    fields: FIELDS, trials: TRIALS, trialMs: 120, capacity: CAPACITY,
    open: (name) => Queue.open(name), afterTrial: repairAndDrain,
  });
  t.diagnostic(`seed ${seed} (SHMKIT_FUZZ_SEED=${seed} reproduces this run); ${calls} calls; error codes seen: ${JSON.stringify(codes)}; peers ended: ${JSON.stringify(ends)}`);
  assert.deepEqual(problems, [], `seed ${seed}: ${problems.length} problems`);
});
